"""The Midtrans gateway: the one module that imports midtransclient (Snap, the status API, cancel and expire).

midtransclient makes its requests with no timeout; every call here has one. With no server key
configured the portal runs on its own payment simulator, which answers the same two questions.
"""
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass

import midtransclient
import requests
from flask import current_app
from midtransclient.error_midtrans import JSONDecodeError, MidtransAPIError

SNAP_JS = {False: "https://app.sandbox.midtrans.com/snap/snap.js", True: "https://app.midtrans.com/snap/snap.js"}


def snap_origins(config) -> list[str]:
    """The origin Snap's script and frame come from, when real payments are on (the security headers allow it)."""
    if not config.get("MIDTRANS_SERVER_KEY"):
        return []
    return [SNAP_JS[bool(config.get("MIDTRANS_IS_PRODUCTION"))].split("/snap/")[0]]


class PaymentGatewayUnavailable(Exception):
    """Midtrans could not be reached or answered with a server error: try again later."""


class PaymentRejected(Exception):
    """Midtrans refused the request itself (bad key, duplicate order id, wrong amounts)."""


def signature(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    """SHA512(order_id + status_code + gross_amount + server_key), strings exactly as sent."""
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{server_key}".encode()).hexdigest()


def signature_matches(payload: dict, server_key: str) -> bool:
    expected = signature(str(payload.get("order_id", "")), str(payload.get("status_code", "")),
                         str(payload.get("gross_amount", "")), server_key)
    # Compared as bytes: compare_digest refuses non-ASCII strings, and a signature is only ever hex.
    given = str(payload.get("signature_key", "")).encode("utf-8", "replace")
    return hmac.compare_digest(expected.encode(), given)


class NumberText(str):
    """A JSON number as the text it was written in: 10000.00 stays "10000.00" (a float would say 10000.0)."""


def notification_json(raw: bytes):
    """A notification body with every JSON number kept as its literal text.

    Midtrans signs the text it sends, and its payment-link notifications write `status_code` and `gross_amount`
    as numbers (200, 10000.00): reading them as floats would lose the ".00" the signature covers. Raises
    ValueError for a body that is not JSON (RecursionError for one nested deeper than the decoder goes)."""
    return json.loads(raw, parse_float=NumberText, parse_int=NumberText, parse_constant=NumberText)


def simulator_server_key(secret_key: str) -> str:
    """The key the simulator signs with: derived from SECRET_KEY, so it is stable and not guessable."""
    return "SIM-" + hmac.new(secret_key.encode(), b"portal-payment-simulator", hashlib.sha256).hexdigest()[:32]


class _TimedSession(requests.Session):
    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


@dataclass(frozen=True)
class SnapTransaction:
    token: str
    redirect_url: str


class Midtrans:
    """Snap (create a payment page) and the status API (what really happened to an order)."""

    def __init__(self, *, server_key: str, client_key: str, is_production: bool, timeout: float,
                 snap_base_url: str | None = None, core_base_url: str | None = None):
        self.server_key, self.client_key, self.is_production = server_key, client_key, is_production
        self.snap = midtransclient.Snap(is_production=is_production, server_key=server_key, client_key=client_key)
        self.core = midtransclient.CoreApi(is_production=is_production, server_key=server_key, client_key=client_key)
        for api in (self.snap, self.core):
            api.http_client.http_client = _TimedSession(timeout)
            if snap_base_url:
                api.api_config.SNAP_SANDBOX_BASE_URL = api.api_config.SNAP_PRODUCTION_BASE_URL = snap_base_url
            if core_base_url:
                api.api_config.CORE_SANDBOX_BASE_URL = api.api_config.CORE_PRODUCTION_BASE_URL = core_base_url

    @property
    def snap_js_url(self) -> str:
        return SNAP_JS[self.is_production]

    def create_transaction(self, payload: dict) -> SnapTransaction:
        try:
            answer = self.snap.create_transaction(payload)
        except MidtransAPIError as exc:
            if (exc.http_status_code or 0) >= 500:
                raise PaymentGatewayUnavailable(f"Midtrans answered {exc.http_status_code}") from exc
            raise PaymentRejected(str(exc.api_response_dict or exc.message)) from exc
        except (requests.RequestException, JSONDecodeError) as exc:
            raise PaymentGatewayUnavailable(f"Midtrans could not be reached: {type(exc).__name__}") from exc
        return SnapTransaction(token=answer["token"], redirect_url=answer["redirect_url"])

    def transaction_cancel(self, order_id: str) -> dict:
        """Cancel a transaction not yet settled (pending, or a card payment authorized or held in review)."""
        return self._action(self.core.transactions.cancel, order_id)

    def transaction_expire(self, order_id: str) -> dict:
        """Expire a pending transaction now (Midtrans answers status_code 407, transaction_status expire)."""
        return self._action(self.core.transactions.expire, order_id)

    @staticmethod
    def _action(call, order_id: str) -> dict:
        try:
            return call(order_id)
        except MidtransAPIError as exc:
            if (exc.http_status_code or 0) >= 500 or (exc.http_status_code or 0) == 0:
                raise PaymentGatewayUnavailable(f"Midtrans answered {exc.http_status_code}") from exc
            raise PaymentRejected(str(exc.api_response_dict or exc.message)) from exc
        except (requests.RequestException, JSONDecodeError) as exc:
            raise PaymentGatewayUnavailable(f"Midtrans could not be reached: {type(exc).__name__}") from exc

    def transaction_status(self, order_id: str) -> dict | None:
        """The status API's answer for an order, or None when Midtrans has no such transaction."""
        try:
            return self.core.transactions.status(order_id)
        except MidtransAPIError as exc:
            body = exc.api_response_dict or {}
            if exc.http_status_code == 404 or str(body.get("status_code")) == "404":
                return None
            if (exc.http_status_code or 0) >= 500 or (exc.http_status_code or 0) == 0:
                raise PaymentGatewayUnavailable(f"Midtrans status API answered {exc.http_status_code}") from exc
            raise PaymentRejected(str(body or exc.message)) from exc
        except (requests.RequestException, JSONDecodeError) as exc:
            raise PaymentGatewayUnavailable(f"Midtrans could not be reached: {type(exc).__name__}") from exc


def payments_simulated(config=None) -> bool:
    config = config or current_app.config
    return not config.get("MIDTRANS_SERVER_KEY")


def server_key(config=None) -> str:
    config = config or current_app.config
    return config["MIDTRANS_SERVER_KEY"] or simulator_server_key(config["SECRET_KEY"])


_clients = threading.local()


def midtrans_for(config=None) -> Midtrans:
    """The Midtrans client for this configuration: one per thread, kept, so its HTTP session keeps the connection
    to Midtrans alive between calls (a new client per call opened a new TCP connection, and TLS in production,
    for every webhook). Per thread because a requests.Session is not promised to be thread-safe."""
    config = config or current_app.config
    key = (config["MIDTRANS_SERVER_KEY"], config["MIDTRANS_CLIENT_KEY"] or "", config["MIDTRANS_IS_PRODUCTION"],
           config["MIDTRANS_TIMEOUT_SECONDS"], config["MIDTRANS_SNAP_BASE_URL"], config["MIDTRANS_CORE_BASE_URL"])
    clients = getattr(_clients, "by_config", None)
    if clients is None or len(clients) > 8:  # a handful of configurations at most (tests make many)
        clients = _clients.by_config = {}
    client = clients.get(key)
    if client is None:
        client = clients[key] = Midtrans(server_key=key[0], client_key=key[1], is_production=key[2], timeout=key[3],
                                         snap_base_url=key[4], core_base_url=key[5])
    return client

"""MidtransEmulator: Snap and the Core status API emulated on loopback, and their Python controls."""
import json
from typing import NamedTuple

import requests as http

from ..serving import LoopbackServer
from .ledger import Ledger
from .server import MidtransApp

NOTIFICATION_TIMEOUT = 10.0  # seconds; Midtrans itself gives up on a webhook after 15


class SentNotification(NamedTuple):
    url: str
    body: dict
    http_status: int
    response: str


class MidtransEmulator(LoopbackServer):
    """Midtrans Snap + Core API emulated in-process, served over HTTP for the real `midtransclient`.

    Nothing happens on its own: a Snap transaction has no payment (status 404) until a test scripts one
    with set_status(), and notifications are posted only when post_notification() is called.
    """

    def __init__(self, server_key: str = "SB-Mid-server-emulator", merchant_id: str = "G000000000", *,
                 timeout_sleep: float = 5.0, verbose: bool = False):
        super().__init__(verbose=verbose)
        self.server_key = server_key
        self.merchant_id = merchant_id
        self.ledger = Ledger(server_key, merchant_id)
        self.timeout_sleep = float(timeout_sleep)
        self.requests: list = []  # ApiRequest(method, path, body) for every API call, controls excluded
        self.notifications_sent: list[SentNotification] = []

    # --- serving (LoopbackServer) -----------------------------------------------------------------------

    thread_name = "emulated-midtrans"

    def wsgi_app(self):
        return MidtransApp(self)

    # --- scripting payments ------------------------------------------------------------------------------

    @property
    def transactions(self) -> dict[str, dict]:
        """order_id -> a copy of its record: Snap request, token, redirect_url, created_at, current status fields."""
        return self.ledger.snapshot()

    def set_status(self, order_id: str, transaction_status: str, fraud_status: str | None = None,
                   payment_type: str = "bank_transfer", gross_amount=None, *, bank: str | None = None) -> dict:
        """Script what the status API answers for an order from now on; returns that status body.

        An order Snap never saw is created, and then needs gross_amount. fraud_status defaults to "accept"
        ("deny" for a denied credit card); bank picks the VA bank (bca) or card-issuing bank (bni)."""
        with self.ledger.lock:
            record = self.ledger.set_status(order_id, transaction_status, fraud_status, payment_type,
                                            gross_amount, bank)
            return self.ledger.body(record)

    def notification(self, order_id: str, transaction_status: str | None = None, fraud_status: str | None = None,
                     status_code: str | None = None, gross_amount=None, server_key: str | None = None) -> dict:
        """The JSON body Midtrans would POST to the webhook for the order's current state, or the given one.

        Overrides affect only this body; the signature is computed over the body's own order_id,
        status_code and gross_amount with the emulator's server key (or `server_key`, to forge one)."""
        with self.ledger.lock:
            return self.ledger.notification(order_id, transaction_status=transaction_status,
                                            fraud_status=fraud_status, status_code=status_code,
                                            gross_amount=gross_amount, server_key=server_key)

    def notification_text(self, order_id: str, *, numbers: bool = False, **overrides) -> str:
        """notification(order_id, **overrides) as the JSON text Midtrans posts. With `numbers`, `status_code` and
        `gross_amount` are written as JSON numbers (200, 99000.00), as Midtrans' payment links send them; the
        signature is over the same text (the number's digits, trailing zeros included)."""
        body = self.notification(order_id, **overrides)
        text = json.dumps(body)
        if numbers:
            for field in ("status_code", "gross_amount"):
                float(body[field])  # only a number can be written as one
                text = text.replace(f'"{field}": {json.dumps(body[field])}', f'"{field}": {body[field]}', 1)
        return text

    def post_notification(self, webhook_url: str, order_id: str, **overrides) -> tuple[int, str]:
        """POST notification(order_id, **overrides) as JSON to webhook_url; (HTTP status, response text).

        Connection errors and timeouts (10 s) propagate as `requests` exceptions."""
        return self.deliver(webhook_url, self.notification(order_id, **overrides))

    def deliver(self, webhook_url: str, body: dict | str) -> tuple[int, str]:
        """POST any notification body (e.g. one a test tampered with, or notification_text's) the way Midtrans
        does: a dict is sent as JSON, a str as the JSON text it is."""
        text = body if isinstance(body, str) else json.dumps(body)
        # Midtrans does not follow redirects from a webhook; neither do we, so a redirecting handler shows up.
        response = http.post(webhook_url, data=text.encode(), headers={"Content-Type": "application/json"},
                             timeout=NOTIFICATION_TIMEOUT, allow_redirects=False)
        sent = json.loads(text) if isinstance(body, str) else body
        self.notifications_sent.append(SentNotification(webhook_url, sent, response.status_code, response.text))
        return response.status_code, response.text

    # --- faults and housekeeping -----------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status=500, path_contains: str | None = None, method: str | None = None) -> None:
        """The next n API calls matching method/path fail with no effect: 500 or 503 with a Midtrans-shaped
        error body, or "timeout": the answer (504) comes only after `timeout_sleep` seconds."""
        with self.ledger.lock:
            self.ledger.faults.fail_next(n, status, method, path_contains)

    def clear_faults(self) -> None:
        with self.ledger.lock:
            self.ledger.faults.clear()

    def reset(self) -> None:
        """Forget transactions, faults, the request log and sent notifications (settings and URL stay)."""
        self.ledger.reset()
        self.requests.clear()
        self.notifications_sent.clear()

    def describe(self) -> dict:
        with self.ledger.lock:
            return {"emulator": "midtrans", "url": self.url, "merchant_id": self.merchant_id,
                    "snap_base_url": f"{self.url}/snap/v1", "core_base_url": self.url,
                    "settings": {"timeoutSleep": self.timeout_sleep},
                    "faults": self.ledger.faults.describe(), "transactions": len(self.ledger.records),
                    "requests": len(self.requests), "notifications_sent": len(self.notifications_sent)}

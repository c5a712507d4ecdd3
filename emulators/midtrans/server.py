"""HTTP routing of the emulated Midtrans: Snap, the Core status API and its actions, and injected failures."""
import html
import json
import sys
import traceback
import uuid
from typing import NamedTuple

from werkzeug.wrappers import Request, Response

from . import controls, snap
from .ledger import ACTIONS, RefundRefused, status_code_for

UNAUTHORIZED = "Access denied due to unauthorized transaction, please check client or server key"
CANNOT_MODIFY = "Merchant cannot modify the status of the transaction"
_INJECTED = {
    500: "Sorry. Our system is recovering from unexpected issues. Please retry. (portal emulator fail_next)",
    503: "Sorry, the service is temporarily unavailable. Please retry. (portal emulator fail_next)",
    504: "Sorry, the request could not be processed in time. Please retry. (portal emulator fail_next)",
}


class ApiRequest(NamedTuple):
    """One API call as received: the parsed JSON body, or None when there was none (or it was not JSON)."""
    method: str
    path: str
    body: object


class ApiError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _json(body, code: int = 200) -> Response:
    return Response(json.dumps(body), status=code, content_type="application/json")


def _parse(raw: bytes):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _is_snap(path: str) -> bool:
    return path.startswith("/snap/")


def error_response(path: str, code: int, message: str) -> Response:
    """Snap answers {"error_messages": [...]}; the Core API {"status_code", "status_message", "id"}."""
    if _is_snap(path):
        return _json({"error_messages": [message]}, code)
    return _json({"status_code": str(code), "status_message": message, "id": str(uuid.uuid4())}, code)


class MidtransApp:
    """The WSGI application; `emulator` is the MidtransEmulator that owns the ledger and the controls."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.ledger = emulator.ledger

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path == "/_emulator" or request.path.startswith("/_emulator/"):
            response = controls.handle(self.emulator, request)
        else:
            self.emulator.requests.append(ApiRequest(request.method, request.path, _parse(request.get_data())))
            response = self._serve(request)
        return response(environ, start_response)

    def _serve(self, request: Request) -> Response:
        with self.ledger.lock:
            rule = self.ledger.faults.take_failure(request.method, request.path)
        if rule is not None:
            if rule.status == "timeout":
                # Hang like an overloaded gateway; stop() wakes the sleeper so shutdown stays quick.
                self.emulator.stopping.wait(self.emulator.timeout_sleep)
                return error_response(request.path, 504, _INJECTED[504])
            return error_response(request.path, rule.status, _INJECTED[rule.status])
        try:
            return self._route(request)
        except ApiError as error:
            return error_response(request.path, error.code, error.message)
        except Exception as error:  # noqa: BLE001 - a bug must reach the client as a 500, not a hang-up
            traceback.print_exc(file=sys.stderr)
            return error_response(request.path, 500, f"emulator bug: {type(error).__name__}: {error}")

    def _route(self, request: Request) -> Response:
        path, method = request.path, request.method
        parts = path.strip("/").split("/")
        if parts == ["snap", "v1", "transactions"]:
            self._require(method, "POST")
            self._authorize(request)
            return self._create(request)
        if len(parts) == 4 and parts[:3] == ["snap", "v4", "redirection"]:
            self._require(method, "GET")
            return self._redirection_page(parts[3])
        if len(parts) == 3 and parts[0] == "v2" and parts[2] == "status":
            self._require(method, "GET")
            self._authorize(request)
            return self._status(parts[1])
        if parts[:1] == ["v2"] and len(parts) >= 3 and parts[2:] in (["refund"], ["refund", "online", "direct"]):
            self._require(method, "POST")
            self._authorize(request)
            return self._refund(parts[1], request)
        if len(parts) == 3 and parts[0] == "v2" and parts[2] in ACTIONS:
            self._require(method, "POST")
            self._authorize(request)
            return self._action(parts[1], parts[2])
        raise ApiError(404, "The requested resource is not found")

    @staticmethod
    def _require(method: str, allowed: str) -> None:
        if method != allowed:
            raise ApiError(405, "HTTP method is not allowed")

    def _authorize(self, request: Request) -> None:
        """HTTP Basic with the server key as user name and an empty password, as Midtrans expects."""
        auth = request.authorization
        if auth is None or auth.type != "basic" or auth.username != self.emulator.server_key or auth.password:
            raise ApiError(401, UNAUTHORIZED)

    # --- Snap ----------------------------------------------------------------------------------------------

    def _create(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            raise ApiError(400, "Request body is not valid JSON") from None
        with self.ledger.lock:
            errors = snap.validate(body, self.ledger.records)
            if errors:
                return _json({"error_messages": errors}, 400)
            record = self.ledger.create_snap(body, self.emulator.url)
            return _json({"token": record["token"], "redirect_url": record["redirect_url"]}, 201)

    def _redirection_page(self, token: str) -> Response:
        with self.ledger.lock:
            record = self.ledger.by_token(token)
            record = dict(record) if record is not None else None
        if record is None:
            return Response(_page("Transaction not found", "<p>This payment link is unknown to the emulator.</p>"),
                            status=404, content_type="text/html; charset=utf-8")
        amount = f"Rp {int(float(record['gross_amount'])):,}".replace(",", ".")  # Indonesian thousands separator
        status = record["transaction_status"] or "waiting for the customer to choose a payment method"
        rows = (f"<p>Order <strong>{html.escape(record['order_id'])}</strong></p>"
                f"<p>Amount <strong>{amount}</strong></p><p>Status: {html.escape(status)}</p>")
        finish = (record["callbacks"] or {}).get("finish")
        if finish:
            # Snap sends the customer back with these query parameters once the payment flow ends.
            query = f"order_id={record['order_id']}"
            if record["transaction_status"]:
                query += (f"&status_code={status_code_for(record['transaction_status'], record['fraud_status'])}"
                          f"&transaction_status={record['transaction_status']}")
            joiner = "&" if "?" in finish else "?"
            rows += f'<p><a href="{html.escape(finish + joiner + query)}">Back to the merchant</a></p>'
        return Response(_page("Midtrans emulator", rows), content_type="text/html; charset=utf-8")

    # --- Core API --------------------------------------------------------------------------------------------

    def _known(self, order_or_transaction_id: str) -> dict:
        record = self.ledger.find(order_or_transaction_id)
        if record is None or record["transaction_status"] is None:
            # Like Snap: an order whose customer has not picked a payment method has no transaction yet.
            raise ApiError(404, "Transaction doesn't exist.")
        return record

    def _status(self, order_or_transaction_id: str) -> Response:
        with self.ledger.lock:
            return _json(self.ledger.body(self._known(order_or_transaction_id)))

    def _action(self, order_or_transaction_id: str, action: str) -> Response:
        with self.ledger.lock:
            record = self._known(order_or_transaction_id)
            try:
                body = self.ledger.act(record, action)
            except ValueError:
                raise ApiError(412, CANNOT_MODIFY) from None
        # Midtrans notifies the merchant of the change, as of any other (after this call has answered).
        self.emulator.notify_later(record["order_id"])
        return _json(body)


    def _refund(self, order_or_transaction_id: str, request: Request) -> Response:
        """The refund API (and the direct refund, which behaves alike here): refund_key, amount, reason, all optional.
        Its notification goes to the emulator's notification URL, when one is set, before the answer."""
        body = _parse(request.get_data())
        if body is not None and not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        body = body or {}
        try:
            answer = self.emulator.refund(order_or_transaction_id, amount=body.get("amount"),
                                          refund_key=body.get("refund_key"), reason=body.get("reason"))
        except RefundRefused as refusal:
            raise ApiError(refusal.code, refusal.message) from None
        return _json(answer)


def _page(title: str, body: str) -> bytes:
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>This is the Midtrans emulator (portal tests and local "
            f"development); no real payment happens here.</p>{body}</body></html>").encode()

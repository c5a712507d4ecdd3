"""MidtransEmulator: Snap and the Core status API emulated on loopback, and their Python controls."""
import json
import queue
import threading
import time
from typing import NamedTuple

import requests as http

from ..serving import LoopbackServer
from .ledger import REFUND_APPROVED, Ledger
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
    with set_status(), and notifications are posted only when post_notification() is called, or, as Midtrans
    does, when a transaction changes through the Core API (cancel, expire, approve, deny) or the merchant's
    dashboard (decide()) while a `notification_url` (the dashboard's Payment Notification URL) is set: then
    the notification goes out from a thread of its own, after the API call has answered.
    """

    def __init__(self, server_key: str = "SB-Mid-server-emulator", merchant_id: str = "G000000000", *,
                 timeout_sleep: float = 5.0, verbose: bool = False, notification_url: str | None = None):
        super().__init__(verbose=verbose)
        # Where Midtrans posts notifications of changes made through its API or dashboard (the merchant's setting):
        # refunds and chargebacks are sent there; scripted statuses only when a test asks.
        self.notification_url = notification_url
        self.server_key = server_key
        self.merchant_id = merchant_id
        self.ledger = Ledger(server_key, merchant_id)
        self.timeout_sleep = float(timeout_sleep)
        self.requests: list = []  # ApiRequest(method, path, body) for every API call, controls excluded
        self.notifications_sent: list[SentNotification] = []
        self.notification_url = notification_url
        self._sent = threading.Condition()
        self._outbox: queue.Queue = queue.Queue()
        self._outbox_lock = threading.Lock()
        self._sender: threading.Thread | None = None

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

    def refund(self, order_id: str, amount=None, refund_key: str | None = None, reason: str | None = None, *,
               chargeback: bool = False) -> dict:
        """Refund (all that is left, or `amount`) as the refund API does, or with `chargeback` have the customer's bank
        reverse it, as Midtrans' dashboard then reports; returns the refund API's answer. The notification is posted
        to `notification_url` (when set) before this returns. Raises RefundRefused when Midtrans would refuse."""
        with self.ledger.lock:
            record, entry = self.ledger.refund(order_id, amount=amount, refund_key=refund_key, reason=reason,
                                               chargeback=chargeback)
            answer = self.ledger.body(record, "Success, chargeback is recorded" if chargeback else REFUND_APPROVED)
            notification = self.ledger.notification(record["order_id"])
        for key in ("refunds", "signature_key", "expiry_time"):
            answer.pop(key, None)
        answer.update(refund_chargeback_id=entry["refund_chargeback_id"], refund_amount=entry["refund_amount"],
                      refund_key=entry["refund_key"])
        if self.notification_url:
            try:
                self.deliver(self.notification_url, notification)
            except http.RequestException:
                pass  # unreachable webhook: Midtrans would retry later; nothing is recorded as sent
        return answer
    def challenge(self, order_id: str, gross_amount=None) -> dict:
        """The customer pays by card and Midtrans' fraud detection holds it: capture + challenge (status_code 201),
        notified like any payment. The merchant then approves or denies it (decide(), or the Core API)."""
        status = self.set_status(order_id, "capture", fraud_status="challenge", payment_type="credit_card",
                                 gross_amount=gross_amount)
        self.notify_later(order_id)
        return status

    def decide(self, order_id: str, decision: str) -> dict:
        """What the merchant's staff do in the dashboard for a challenged card payment: "approve" (capture +
        accept) or "deny" (deny + deny); the notification follows. ValueError when it is not challenged."""
        if decision not in ("approve", "deny"):
            raise ValueError("decision must be approve or deny")
        with self.ledger.lock:
            record = self.ledger.find(order_id)
            if record is None or (record["transaction_status"], record["fraud_status"]) != ("capture", "challenge"):
                raise ValueError(f"order {order_id!r} is not a card payment held for review")
            body = self.ledger.act(record, decision)
        self.notify_later(order_id)
        return body

    def notify_later(self, order_id: str) -> None:
        """Post the order's current notification to `notification_url` from a thread, as Midtrans does after a
        change; nothing when no URL is set. A failed delivery is recorded with http_status 0."""
        if not self.notification_url:
            return
        body = self.notification(order_id)
        # One sender, in the order the changes happened (a challenge's notification before its decision's), as
        # a merchant sees them when nothing is retried.
        with self._outbox_lock:
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_forever, daemon=True,
                                                name="emulated-midtrans-notify")
                self._sender.start()
        self._outbox.put((self.notification_url, body))

    def _send_forever(self) -> None:
        while True:
            url, body = self._outbox.get()
            self._deliver_quietly(url, body)

    def _deliver_quietly(self, url: str, body: dict) -> None:
        try:
            self.deliver(url, body)
        except http.RequestException as error:
            self._record(SentNotification(url, body, 0, f"{type(error).__name__}: {error}"))

    def wait_for_notifications(self, count: int, timeout: float = 10.0) -> list["SentNotification"]:
        """Block until at least `count` notifications were sent (delivered or failed), or `timeout` passed."""
        deadline = time.monotonic() + timeout
        with self._sent:
            while len(self.notifications_sent) < count and time.monotonic() < deadline:
                self._sent.wait(deadline - time.monotonic())
            return list(self.notifications_sent)

    def _record(self, sent: "SentNotification") -> None:
        with self._sent:
            self.notifications_sent.append(sent)
            self._sent.notify_all()

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
        self._record(SentNotification(webhook_url, sent, response.status_code, response.text))
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
                    "settings": {"timeoutSleep": self.timeout_sleep, "notificationUrl": self.notification_url},
                    "faults": self.ledger.faults.describe(), "transactions": len(self.ledger.records),
                    "requests": len(self.requests), "notifications_sent": len(self.notifications_sent)}

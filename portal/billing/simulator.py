"""The payment simulator: with no Midtrans keys, a page of ours stands in for Snap and our own table
answers the status API, while every outcome still travels as a signed notification to the webhook."""
import json
from decimal import Decimal

import requests
from flask import current_app
from flask_babel import lazy_gettext as _l

from portal.billing.midtrans import SnapTransaction, server_key, signature
from portal.billing.models import SimulatedTransaction
from portal.extensions import db
from portal.links import absolute_url
from portal.timestamps import utcnow
from portal.unit_of_work import after_commit, use_case

# What the simulator page offers, as (transaction_status, fraud_status, payment_type).
OUTCOMES = {
    "settlement": ("settlement", None, "bank_transfer"),
    "pending": ("pending", None, "bank_transfer"),
    "deny": ("deny", None, "credit_card"),
    "expire": ("expire", None, "bank_transfer"),
    "cancel": ("cancel", None, "bank_transfer"),
    "capture_challenge": ("capture", "challenge", "credit_card"),
    "capture_accept": ("capture", "accept", "credit_card"),
    # A held card payment decided, as staff would in Midtrans' dashboard (approve or deny).
    "review_approve": ("capture", "accept", "credit_card"),
    "review_deny": ("deny", "deny", "credit_card"),
}
# What each choice means for the customer, in the words the simulator page shows (button, then effect).
OUTCOME_WORDS = {
    "settlement": (_l("Pay"), _l(
        "The payment succeeds: the invoice is marked paid and your instance is set up (for a renewal, your "
        "paid period is extended).")),
    "pending": (_l("Leave it pending"), _l(
        "Like choosing bank transfer and not transferring yet: nothing happens yet. The invoice keeps waiting"
        " and you can come back to pay.")),
    "deny": (_l("Card declined"), _l(
        "The bank refuses the payment: the invoice is marked failed and nothing is set up. Nothing is "
        "charged; you can try again from the invoice.")),
    "expire": (_l("Let it expire"), _l(
        "The payment window runs out: the invoice is marked failed and nothing is set up. You can try again "
        "from the invoice.")),
    "cancel": (_l("Cancel the payment"), _l(
        "You back out on the payment page: the invoice is marked failed and nothing is set up. You can pay "
        "again from the invoice.")),
    "capture_challenge": (_l("Card held for a fraud review"), _l(
        "The card payment waits for Midtrans' fraud review: the invoice shows it under review and nothing is "
        "set up until the review accepts it (choose a review answer below).")),
    "capture_accept": (_l("Card accepted"), _l(
        "The card is charged and the fraud check passes: the same as Pay, the invoice is paid and your "
        "instance is set up.")),
    "review_approve": (_l("Review: approve the held card"), _l(
        "What the merchant's staff do in Midtrans' dashboard for a card held for review: the payment is "
        "accepted, the invoice is paid and your instance is set up.")),
    "review_deny": (_l("Review: deny the held card"), _l(
        "The merchant's staff deny the held card payment in Midtrans' dashboard: the invoice is marked failed"
        " and you can pay again.")),
}
STATUS_CODES = {"settlement": "200", "capture": "200", "pending": "201", "deny": "202", "cancel": "200",
                "expire": "407", "refund": "200", "failure": "202"}


class PaymentSimulator:
    """Answers like the Midtrans gateway, from the simulated_transactions table."""
    is_production = False
    client_key = ""
    snap_js_url = None

    def create_transaction(self, payload: dict) -> SnapTransaction:
        order_id = payload["transaction_details"]["order_id"]
        return SnapTransaction(token="", redirect_url=absolute_url("billing.simulator", order_id=order_id))

    def transaction_cancel(self, order_id: str) -> dict:
        return self._close(order_id, "cancel")

    def transaction_expire(self, order_id: str) -> dict:
        return self._close(order_id, "expire")

    def _close(self, order_id: str, outcome: str) -> dict:
        row = db.session.get(SimulatedTransaction, order_id)
        simulator_record(order_id=order_id, outcome=outcome, amount_idr=row.gross_amount_idr)
        return self.transaction_status(order_id)

    def transaction_status(self, order_id: str) -> dict | None:
        row = db.session.get(SimulatedTransaction, order_id)
        if row is None:
            return None
        return notification_body(order_id=row.order_id, transaction_status=row.transaction_status,
                                 fraud_status=row.fraud_status, payment_type=row.payment_type,
                                 amount_idr=row.gross_amount_idr)


def notification_body(*, order_id: str, transaction_status: str, fraud_status: str | None, payment_type: str,
                      amount_idr: int) -> dict:
    """A notification shaped and signed as Midtrans sends it."""
    status_code = STATUS_CODES.get(transaction_status, "200")
    gross_amount = f"{Decimal(amount_idr):.2f}"
    now = utcnow().strftime("%Y-%m-%d %H:%M:%S")
    body = {"transaction_time": now, "transaction_status": transaction_status,
            "transaction_id": f"sim-{order_id}", "status_message": "midtrans payment notification (simulated)",
            "status_code": status_code, "signature_key": signature(order_id, status_code, gross_amount, server_key()),
            "payment_type": payment_type, "order_id": order_id, "merchant_id": "SIMULATOR",
            "gross_amount": gross_amount, "currency": "IDR"}
    if fraud_status:
        body["fraud_status"] = fraud_status
    if transaction_status in ("settlement", "capture"):
        body["settlement_time"] = now
    return body


@use_case
def simulator_record(*, order_id: str, outcome: str, amount_idr: int) -> None:
    """Remember the chosen outcome (the status API will answer it); the notification goes out after the commit."""
    transaction_status, fraud_status, payment_type = OUTCOMES[outcome]
    row = db.session.get(SimulatedTransaction, order_id) or SimulatedTransaction(order_id=order_id)
    row.transaction_status, row.fraud_status, row.payment_type = transaction_status, fraud_status, payment_type
    row.gross_amount_idr = amount_idr
    db.session.merge(row)
    after_commit("billing.simulator_notify", order_id=order_id)


def simulator_notify(*, order_id: str) -> int:
    """POST the signed notification over HTTP to our own webhook, as Midtrans would; returns the status."""
    body = PaymentSimulator().transaction_status(order_id)
    response = requests.post(absolute_url("billing.midtrans_notification"), data=json.dumps(body),
                             headers={"Content-Type": "application/json"},
                             timeout=current_app.config["MIDTRANS_TIMEOUT_SECONDS"] + 5)
    return response.status_code

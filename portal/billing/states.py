"""The invoice state machine: its states and transitions, named state sets, what its pages offer in each state
(invoice_actions), the one writer of Invoice.state; and which Midtrans statuses are still open (money may yet come)."""
from dataclasses import dataclass

# review: a card payment held by Midtrans' fraud detection (capture + challenge) waits for a person's decision.
# refund_due: money arrived for an order that can no longer be fulfilled; staff refund it.
STATES = ("pending", "review", "paid", "failed", "refunded", "cancelled", "refund_due")

# Invoice states may only move forward: a late or repeated notification never undoes a payment. The exceptions
# are the customer's retry (failed -> pending, a fresh Snap attempt) and the portal cancelling an unpaid order.
# A payment under review is never cancelled: only Midtrans' decision (accept or deny) moves it. Money that
# arrives on a cancelled order is never dropped: the order is revived (paid) or the money is owed back.
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"review", "paid", "failed", "cancelled", "refund_due"}),
    "review": frozenset({"paid", "failed", "refund_due"}),
    "failed": frozenset({"review", "paid", "pending", "cancelled", "refund_due"}),
    "paid": frozenset({"refunded"}),
    "refunded": frozenset(),
    "cancelled": frozenset({"review", "paid", "refund_due"}),
    "refund_due": frozenset({"refunded"}),
}
# What a Midtrans status may do: it never reopens an invoice nor cancels one.
PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    state: targets - {"pending", "cancelled"} for state, targets in TRANSITIONS.items()}

OPEN = ("pending", "failed")  # can still be paid: a retry opens a new attempt
UNSETTLED = ("pending", "review", "failed")  # no money kept yet, none refused for good: the order stays open
SYNCED = ("pending", "review")  # waiting on Midtrans' word: the sync asks its status API about these
# Money held: Midtrans may still refund it or see it charged back; the sync asks about these once a day for a while.
HELD_PAID = ("paid", "refund_due")
PAID_ONCE = ("paid", "refunded")  # money was taken: a receipt exists and revenue counts it
FINAL = ("paid", "failed", "refunded", "cancelled", "refund_due")  # the status page stops polling

# Midtrans statuses after which money may still arrive on that transaction (capture counts only when challenged):
# nothing of ours gives up on an order while one of its transactions is in one of these.
MIDTRANS_OPEN = ("pending", "authorize")
MIDTRANS_HELD = ("capture", "challenge")  # (transaction_status, fraud_status) of a payment under review


def midtrans_open(transaction_status: str | None, fraud_status: str | None) -> bool:
    """Whether Midtrans may still turn this transaction into money (pending, authorize, a challenged capture)."""
    return transaction_status in MIDTRANS_OPEN or (transaction_status, fraud_status) == MIDTRANS_HELD


@dataclass(frozen=True)
class InvoiceActions:
    """What an invoice's pages offer in its state (the services still check); templates read this, not the state."""
    receipt: bool = False  # paid: its receipt (a refunded invoice's stays at its address, unlinked)
    pay: bool = False  # open: the way to pay it (its page in the list, Snap's page at billing.pay)
    pay_now: bool = False  # waiting, and its attempt has Snap's page to go to
    retry: bool = False  # failed, or waiting with no Snap page: a fresh attempt
    waiting: bool = False  # pending: the page waits for the payment's answer
    under_review: bool = False  # a card payment held by Midtrans' fraud check: the page says what happens next
    refund_due: bool = False  # paid after the order was cancelled and cannot be fulfilled: the money goes back
    details: bool = False  # neither paid nor payable, but its page has something to tell (review, refund due)


def invoice_actions(invoice) -> InvoiceActions:
    state = invoice.state
    attempt = invoice.current_attempt if state == "pending" else None
    snap_page = bool(attempt and attempt.snap_redirect_url)
    return InvoiceActions(receipt=state == "paid", pay=state in OPEN, pay_now=snap_page,
                          retry=state == "failed" or (state == "pending" and not snap_page), waiting=state == "pending",
                          under_review=state == "review", refund_due=state == "refund_due",
                          details=state in ("review", "refund_due"))


class IllegalInvoiceTransition(Exception):
    """An invoice was asked to move where its state machine does not go."""

    def __init__(self, invoice_id: int | None, source: str, target: str):
        super().__init__(f"invoice {invoice_id} cannot move from {source} to {target}")
        self.invoice_id, self.source, self.target = invoice_id, source, target


@dataclass(frozen=True)
class PaymentResult:
    """What applying a payment status did to an invoice. Its text is what the webhook answers Midtrans."""
    changed: bool
    from_state: str
    to_state: str
    reason: str = ""
    refunded: str = ""  # what went back in all, when a refund or chargeback was recorded

    def __str__(self) -> str:
        if self.changed:
            moved = f"{self.from_state} -> {self.to_state}"
            return f"{moved}, {self.refunded}" if self.refunded else moved
        return f"unchanged ({self.reason})"


def invoice_transition(invoice, target: str) -> str:
    """Move the invoice to `target` (the only write of Invoice.state); returns the state it left."""
    source = invoice.state
    if target not in TRANSITIONS.get(source, ()):
        raise IllegalInvoiceTransition(invoice.id, source, target)
    invoice.state = target
    return source

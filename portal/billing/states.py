"""The invoice state machine: its states and transitions, named state sets, the one writer of Invoice.state;
and which Midtrans statuses are still open (money may yet come)."""
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
PAID_ONCE = ("paid", "refunded")  # money was taken: a receipt exists and revenue counts it
FINAL = ("paid", "failed", "refunded", "cancelled", "refund_due")  # the status page stops polling

# Midtrans statuses after which money may still arrive on that transaction (capture counts only when challenged):
# nothing of ours gives up on an order while one of its transactions is in one of these.
MIDTRANS_OPEN = ("pending", "authorize")
MIDTRANS_HELD = ("capture", "challenge")  # (transaction_status, fraud_status) of a payment under review


def midtrans_open(transaction_status: str | None, fraud_status: str | None) -> bool:
    """Whether Midtrans may still turn this transaction into money (pending, authorize, a challenged capture)."""
    return transaction_status in MIDTRANS_OPEN or (transaction_status, fraud_status) == MIDTRANS_HELD


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

    def __str__(self) -> str:
        if self.changed:
            return f"{self.from_state} -> {self.to_state}"
        return f"unchanged ({self.reason})"


def invoice_transition(invoice, target: str) -> str:
    """Move the invoice to `target` (the only write of Invoice.state); returns the state it left."""
    source = invoice.state
    if target not in TRANSITIONS.get(source, ()):
        raise IllegalInvoiceTransition(invoice.id, source, target)
    invoice.state = target
    return source

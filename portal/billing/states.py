"""The invoice state machine: its states and transitions, named state sets, what its pages offer in each state
(invoice_actions), and the one writer of Invoice.state."""
from dataclasses import dataclass

STATES = ("pending", "paid", "failed", "refunded", "cancelled")

# Invoice states may only move forward: a late or repeated notification never undoes a payment. The exceptions
# are the customer's retry (failed -> pending, a fresh Snap attempt) and the unpaid-order job's cancellation.
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"paid", "failed", "cancelled"}),
    "failed": frozenset({"paid", "pending", "cancelled"}),
    "paid": frozenset({"refunded"}),
    "refunded": frozenset(),
    "cancelled": frozenset(),
}
# What a Midtrans status may do: it never reopens an invoice nor cancels one.
PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    state: targets - {"pending", "cancelled"} for state, targets in TRANSITIONS.items()}

OPEN = ("pending", "failed")  # can still be paid: a retry opens a new attempt
PAID_ONCE = ("paid", "refunded")  # money was taken: a receipt exists and revenue counts it
FINAL = ("paid", "failed", "refunded", "cancelled")  # the status page stops polling


@dataclass(frozen=True)
class InvoiceActions:
    """What an invoice's pages offer in its state (the services still check); templates read this, not the state."""
    receipt: bool = False  # paid: its receipt (a refunded invoice's stays at its address, unlinked)
    pay: bool = False  # open: the way to pay it (its page in the list, Snap's page at billing.pay)
    pay_now: bool = False  # waiting, and its attempt has Snap's page to go to
    retry: bool = False  # failed, or waiting with no Snap page: a fresh attempt
    waiting: bool = False  # pending: the page waits for the payment's answer


def invoice_actions(invoice) -> InvoiceActions:
    state = invoice.state
    attempt = invoice.current_attempt if state == "pending" else None
    snap_page = bool(attempt and attempt.snap_redirect_url)
    return InvoiceActions(receipt=state == "paid", pay=state in OPEN, pay_now=snap_page,
                          retry=state == "failed" or (state == "pending" and not snap_page), waiting=state == "pending")


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

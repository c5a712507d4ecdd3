"""Invoices, their payment attempts and refunds, and every raw Midtrans payment notification."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Select,
    String,
    UniqueConstraint,
    and_,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.billing.states import FINAL, MIDTRANS_HELD, MIDTRANS_OPEN, STATES, UNSETTLED, midtrans_open
from portal.extensions import db, one_of, substring_index
from portal.timestamps import UtcDateTime

KINDS = ("new", "renewal")
# A refund of part of the payment, one that returns the rest of it, or the customer's bank reversing it.
REFUND_KINDS = ("partial", "full", "chargeback")


def invoice_number(invoice_id: int, created_at: datetime | None) -> str:
    """What customers and staff call an invoice: INV-2026-000042."""
    return f"INV-{created_at:%Y}-{invoice_id:06d}" if created_at else f"INV-{invoice_id:06d}"


class Invoice(db.Model):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("amount_idr >= 0", name="amount_non_negative"),
        CheckConstraint(one_of("kind", KINDS), name="kind_known"),
        CheckConstraint(one_of("state", STATES), name="state_known"),
        CheckConstraint("period_days > 0", name="period_positive"),
        Index("ix_invoices_state_created_at", "state", "created_at"),
        Index("ix_invoices_state_paid_at", "state", "paid_at"),
        substring_index("ix_invoices_order_id_trgm", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(String(50), unique=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_idr: Mapped[int] = mapped_column(BigInteger)
    period_days: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    midtrans_status: Mapped[str | None] = mapped_column(String(32))
    fraud_status: Mapped[str | None] = mapped_column(String(32))
    payment_type: Mapped[str | None] = mapped_column(String(32))
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Snap pages expire without a notification; past this the sync task settles the invoice.
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now(), onupdate=func.now())

    subscription = relationship("Subscription")
    user = relationship("User")
    notifications: Mapped[list["PaymentNotification"]] = relationship(back_populates="invoice")
    attempts: Mapped[list["PaymentAttempt"]] = relationship(back_populates="invoice", order_by="PaymentAttempt.id")
    refunds: Mapped[list["Refund"]] = relationship(back_populates="invoice", order_by="Refund.id")

    @property
    def number(self) -> str:
        return invoice_number(self.id, self.created_at)

    @property
    def current_attempt(self) -> "PaymentAttempt | None":
        """The attempt paying goes through now, the one holding the invoice's order id (home of the Snap page)."""
        return next((attempt for attempt in self.attempts if attempt.order_id == self.order_id), None)

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @property
    def refunded_idr(self) -> Decimal:
        """What went back to the customer so far (refunds and chargebacks)."""
        return sum((refund.amount for refund in self.refunds), Decimal(0))


class PaymentNotification(db.Model):
    """A notification as Midtrans posted it (a JSON number kept as the text it was written in), stored at the door
    once its signature, order and amount passed: the payment inbox. A worker confirms it with the status API and
    applies it once (applied_at, result); until then it waits, retried at next_attempt_at."""
    __tablename__ = "payment_notifications"
    __table_args__ = (
        # The same notification sent again (Midtrans retries until it gets a 2xx) is stored once.
        UniqueConstraint("order_id", "transaction_status", "fingerprint", name="uq_payment_notifications_once"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_payment_notifications_waiting", "received_at", postgresql_where=text("applied_at IS NULL"),
              sqlite_where=text("applied_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="RESTRICT"), index=True)
    order_id: Mapped[str] = mapped_column(String(100), index=True)
    transaction_status: Mapped[str] = mapped_column(String(32), default="")
    fraud_status: Mapped[str | None] = mapped_column(String(32))
    status_code: Mapped[str] = mapped_column(String(8), default="")
    gross_amount: Mapped[str] = mapped_column(String(32), default="")
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 of the body with its keys sorted: what makes two deliveries the same notification.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    result: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))

    invoice: Mapped[Invoice | None] = relationship(back_populates="notifications")

    @property
    def waiting(self) -> bool:
        return self.applied_at is None


class PaymentAttempt(db.Model):
    """One Snap transaction for an invoice. Midtrans never reuses an order id, so a retry is a new
    attempt; a late payment of an older attempt still finds its invoice here."""
    __tablename__ = "payment_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="RESTRICT"), index=True)
    order_id: Mapped[str] = mapped_column(String(50), unique=True)
    snap_token: Mapped[str | None] = mapped_column(String(255))
    snap_redirect_url: Mapped[str | None] = mapped_column(String(1000))
    # What Midtrans last said of this transaction (status API or a confirmed notification), word for word:
    # a challenged capture is told apart from a paid one only by its fraud status.
    transaction_status: Mapped[str | None] = mapped_column(String(32))
    fraud_status: Mapped[str | None] = mapped_column(String(32))
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())

    invoice: Mapped[Invoice] = relationship(back_populates="attempts")

    @property
    def midtrans_open(self) -> bool:
        return midtrans_open(self.transaction_status, self.fraud_status)


def subscriptions_awaiting_midtrans() -> Select:
    """Subscription ids (a subquery for the periodic jobs to leave alone) with an unsettled invoice under review or
    with a transaction Midtrans may still settle: pending, authorized, or a card held by its fraud check
    (states.midtrans_open, in SQL). Only Midtrans' own answer ends those. (A settled invoice's older attempts
    do not count: their money can no longer be for an open debt.)"""
    held_status, held_fraud = MIDTRANS_HELD
    open_attempt = or_(PaymentAttempt.transaction_status.in_(MIDTRANS_OPEN),
                       and_(PaymentAttempt.transaction_status == held_status,
                            PaymentAttempt.fraud_status == held_fraud))
    return (select(Invoice.subscription_id).outerjoin(PaymentAttempt, PaymentAttempt.invoice_id == Invoice.id)
            .where(Invoice.state.in_(UNSETTLED), or_(Invoice.state == "review", open_attempt)).distinct())


class Refund(db.Model):
    """Money that went back from a paid invoice, as Midtrans reported it: a refund of part or all of the payment, or
    a chargeback. An invoice may have several; each is recorded once, however often Midtrans reports it."""
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(one_of("kind", REFUND_KINDS), name="kind_known"),
        UniqueConstraint("invoice_id", "midtrans_id", name="uq_refunds_invoice_id_midtrans_id"),
        UniqueConstraint("invoice_id", "refund_key", name="uq_refunds_invoice_id_refund_key"),
        Index("ix_refunds_refunded_at", "refunded_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    kind: Mapped[str] = mapped_column(String(16))
    # Midtrans' refund_chargeback_id and the merchant's refund_key, when Midtrans gave them.
    midtrans_id: Mapped[str | None] = mapped_column(String(64))
    refund_key: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(255), default="")
    # When Midtrans says it happened, as it wrote it (Jakarta time, no zone).
    midtrans_time: Mapped[str | None] = mapped_column(String(32))
    # When the portal learned of it: the month revenue counts it in, as paid_at is for the payment.
    refunded_at: Mapped[datetime] = mapped_column(UtcDateTime)

    invoice: Mapped[Invoice] = relationship(back_populates="refunds")


class SimulatedTransaction(db.Model):
    """The payment simulator's memory: what its status API answers for an order (no Midtrans keys)."""
    __tablename__ = "simulated_transactions"
    __table_args__ = (CheckConstraint("gross_amount_idr >= 0", name="amount_non_negative"),)

    order_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    transaction_status: Mapped[str] = mapped_column(String(32))
    fraud_status: Mapped[str | None] = mapped_column(String(32))
    payment_type: Mapped[str] = mapped_column(String(32))
    gross_amount_idr: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now(), onupdate=func.now())

"""Billing: checkout, invoices and their Snap attempts, the payment state machine, renewals, sync."""
import hashlib
import json
import logging
import secrets
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal.accounts.services import checkout_allowed
from portal.audit.services import audit_record
from portal.billing.midtrans import (
    NumberText,
    PaymentGatewayUnavailable,
    PaymentRejected,
    midtrans_for,
    payments_simulated,
    server_key,
    signature_matches,
)
from portal.billing.models import Invoice, PaymentAttempt, PaymentNotification
from portal.billing.refunds import MONEY_BACK, money_returned, refunds_record
from portal.billing.simulator import PaymentSimulator
from portal.billing.states import (
    HELD_PAID,
    OPEN,
    PAID_ONCE,
    PAYMENT_TRANSITIONS,
    SYNCED,
    UNSETTLED,
    PaymentResult,
    invoice_transition,
)
from portal.catalog.models import Plan
from portal.extensions import db
from portal.links import absolute_url
from portal.notifications.services import email_queue, staff_alert, subscription_email
from portal.phrases import N_, day_of, phrase
from portal.rendering import format_idr
from portal.subscriptions import services as subscriptions
from portal.subscriptions.events import instance_event_record
from portal.subscriptions.models import Subscription
from portal.subscriptions.selectors import subdomain_held_by_another
from portal.subscriptions.states import HOLDS_RESOURCES
from portal.timestamps import utcnow
from portal.unit_of_work import after_commit, use_case

log = logging.getLogger(__name__)

REQUIRED_FIELDS = ("order_id", "status_code", "gross_amount", "signature_key", "transaction_status")
NUMERIC_FIELDS = ("status_code", "gross_amount")  # a JSON string or a JSON number, signed as written


class CheckoutError(Exception):
    """Checkout cannot go on; `message` says why in the customer's words."""

    def __init__(self, message: str):
        message = str(message)  # a lazy text in the reader's language now
        super().__init__(message)
        self.message = message


class TooManyUnpaidOrders(CheckoutError):
    pass


class PaymentDeferred(Exception):
    """The order is saved but Midtrans could not open a payment now; pay the invoice later."""

    def __init__(self, invoice_id: int):
        super().__init__(f"payment for invoice {invoice_id} could not be opened")
        self.invoice_id = invoice_id


class NotificationRejected(Exception):
    """A webhook call we refuse; `status` is the HTTP answer (4xx for bad input, 503 to be retried)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


UNDER_REVIEW = _l("Your card payment is under review. You will not be charged twice: wait for the review's answer "
                  "by email.")


def gateway():
    return PaymentSimulator() if payments_simulated() else midtrans_for()


def payment_state(transaction_status: str, fraud_status: str | None) -> str:
    """Midtrans' transaction_status (and fraud_status on card captures) in our invoice's words."""
    if transaction_status == "settlement":
        return "paid"
    if transaction_status == "capture":
        # challenge: Midtrans' fraud detection holds the charge until a person approves or denies it
        return {"accept": "paid", None: "paid", "deny": "failed", "challenge": "review"}.get(fraud_status, "pending")
    if transaction_status in ("deny", "cancel", "expire", "failure"):
        return "failed"
    if transaction_status == "partial_refund":
        return "paid"  # part of the money went back: the rest still pays for the service
    if transaction_status in ("refund", "chargeback", "partial_chargeback"):
        return "refunded"
    return "pending"  # pending, authorize, or something new: nothing to act on yet


def _order_id(invoice: Invoice) -> str:
    return f"PTL-{invoice.id}-{secrets.token_hex(4)}"


def _item_name(plan: Plan, kind: str) -> str:
    name = f"{plan.service.name} {plan.name} {plan.period_days} days" + (" renewal" if kind == "renewal" else "")
    return name[:50]


def unpaid_orders(user_id: int) -> int:
    return db.session.scalar(select(func.count(Subscription.id)).where(
        Subscription.user_id == user_id, Subscription.state == "pending_payment"))


@use_case(keep_on=(PaymentDeferred,))
def checkout_start(*, user_id: int, plan_id: int, subdomain: str, settings: dict) -> Invoice:
    """Create the order (subscription awaiting payment) and its invoice, then open a payment attempt: one transaction.

    The amount comes from the plan, here, never from a form. If Midtrans is down the order is kept
    and PaymentDeferred names its invoice; paying can be tried again from there. If Midtrans refuses
    the order, nothing of it is kept.
    """
    checkout_allowed(user_id=user_id)
    if unpaid_orders(user_id) >= current_app.config["MAX_UNPAID_ORDERS"]:
        raise TooManyUnpaidOrders(_("You have several unpaid orders. Pay or cancel one before ordering again."))
    plan = db.session.get(Plan, plan_id)
    if plan is None or not plan.active or not plan.service.active:
        raise CheckoutError(_("This plan is not for sale any more."))
    subscription = subscriptions.subscription_create(user_id=user_id, plan_id=plan.id, subdomain=subdomain,
                                                     settings=settings)
    invoice = _invoice_create(subscription, plan, kind="new")
    subscription_email(subscription, "order_received", key=f"order-received:{subscription.id}",
                       amount_idr=int(invoice.amount_idr), link=absolute_url("billing.invoice", invoice_id=invoice.id))
    try:
        payment_attempt_start(invoice_id=invoice.id)
    except PaymentGatewayUnavailable as exc:
        raise PaymentDeferred(invoice.id) from exc
    return invoice


def _invoice_create(subscription: Subscription, plan: Plan, *, kind: str) -> Invoice:
    invoice = Invoice(order_id=f"PENDING-{secrets.token_hex(8)}", subscription_id=subscription.id,
                      user_id=subscription.user_id, kind=kind, amount_idr=plan.price_idr,
                      period_days=plan.period_days, state="pending",
                      expires_at=utcnow() + timedelta(hours=current_app.config["INVOICE_EXPIRY_HOURS"]))
    db.session.add(invoice)
    db.session.flush()
    invoice.order_id = _order_id(invoice)
    db.session.add(PaymentAttempt(invoice_id=invoice.id, order_id=invoice.order_id))
    db.session.flush()
    return invoice


@use_case(keep_on=(PaymentGatewayUnavailable,))
def payment_attempt_start(*, invoice_id: int) -> PaymentAttempt:
    """A Snap transaction for the invoice: the current attempt if it has none yet, else a new one.
    With Midtrans unreachable the new attempt is kept (without a Snap page) and the error raised."""
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True, populate_existing=True)
    if invoice.state == "review":
        raise CheckoutError(UNDER_REVIEW)
    if invoice.state not in OPEN:
        raise CheckoutError(_("This invoice is already settled."))
    attempt = db.session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_id == invoice.order_id))
    if attempt.snap_redirect_url:  # used already: Midtrans never takes an order id twice
        invoice.order_id = _order_id(invoice)
        attempt = PaymentAttempt(invoice_id=invoice.id, order_id=invoice.order_id)
        db.session.add(attempt)
    if invoice.state == "failed":
        invoice_transition(invoice, "pending")  # a fresh try; a late payment of an old attempt still counts
    invoice.expires_at = utcnow() + timedelta(hours=current_app.config["INVOICE_EXPIRY_HOURS"])
    plan = invoice.subscription.plan
    user = invoice.user
    payload = {
        "transaction_details": {"order_id": attempt.order_id, "gross_amount": int(invoice.amount_idr)},
        "item_details": [{"id": f"{plan.service.slug}-{plan.slug}", "price": int(invoice.amount_idr), "quantity": 1,
                          "name": _item_name(plan, invoice.kind)}],
        "customer_details": {"first_name": user.name[:50], "email": user.email},
        "callbacks": {"finish": absolute_url("billing.invoice", invoice_id=invoice.id)},
        "expiry": {"unit": "hour", "duration": current_app.config["INVOICE_EXPIRY_HOURS"]},
    }
    try:
        snap = gateway().create_transaction(payload)
    except PaymentRejected as exc:
        log.error("Snap refused invoice %s: %s", invoice.id, exc)
        raise CheckoutError(_("The payment provider refused this order. Our team has been told.")) from exc
    except PaymentGatewayUnavailable:
        raise
    attempt.snap_token, attempt.snap_redirect_url = snap.token or None, snap.redirect_url
    return attempt


def _parse_amount(text) -> Decimal | None:
    """An amount as Midtrans writes it ("150000.00", or the number 150000.00 as its text); None for anything else,
    NaN and infinities included."""
    try:
        amount = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def _plain_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def _signed_text(payload: dict, field: str) -> str | None:
    """A signed field as the text Midtrans wrote; None when it is missing, empty or of a type it never sends.

    `status_code` and `gross_amount` may be JSON numbers (Midtrans' payment links send them so): the webhook keeps
    a number's literal text (NumberText), and a plain int or float from another caller is taken as Python writes
    it. Every other field must be a JSON string."""
    value = payload.get(field)
    if field in NUMERIC_FIELDS and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    elif type(value) is not str and not (field in NUMERIC_FIELDS and isinstance(value, NumberText)):
        return None
    return value or None


def _column_text(payload: dict, field: str) -> str | None:
    """An unsigned field kept in a column of its own: text a column can hold, else None (it stays in the payload)."""
    value = payload.get(field)
    return value if isinstance(value, str) and value and _plain_text(value) else None


def _attempt_for_order(order_id: str) -> PaymentAttempt | None:
    return db.session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_id == order_id)
                             .options(joinedload(PaymentAttempt.invoice)))


def notification_fingerprint(payload: dict) -> str:
    """What makes two deliveries the same notification: the body, keys sorted (a number and its text alike)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@use_case
def notification_receive(payload) -> str:
    """The webhook's door: check one Midtrans notification and store it in the payment inbox; returns "stored", or
    "duplicate" for one stored before (which stores nothing new). Raises NotificationRejected.

    Trust is earned in order: the signature (over the text Midtrans signed), our order id, the exact amount. Only
    then is the notification stored; a worker confirms it with the status API and applies it after this commits
    (billing.inbox), so Midtrans is answered at once and never waits on the status API.
    """
    if not isinstance(payload, dict):
        raise NotificationRejected(400, "body is not a JSON object")
    fields = {field: _signed_text(payload, field) for field in REQUIRED_FIELDS}
    missing = [field for field, text in fields.items() if text is None]
    if missing:
        raise NotificationRejected(400, f"missing or malformed fields: {', '.join(missing)}")
    unreadable = [field for field, text in fields.items() if not _plain_text(text)]
    if unreadable:  # NUL or lone surrogates: nothing Midtrans sends, and nothing a database column can hold
        raise NotificationRejected(400, f"unreadable characters in: {', '.join(unreadable)}")
    if not signature_matches(fields, server_key()):
        raise NotificationRejected(401, "signature does not match")
    order_id = fields["order_id"]
    attempt = _attempt_for_order(order_id)
    if attempt is None:
        raise NotificationRejected(404, f"unknown order id {order_id[:60]}")
    invoice = attempt.invoice
    if _parse_amount(fields["gross_amount"]) != Decimal(invoice.amount_idr):
        raise NotificationRejected(400, f"amount {fields['gross_amount'][:20]} does not match the invoice")
    fraud_status, transaction_id = _column_text(payload, "fraud_status"), _column_text(payload, "transaction_id")
    notification = PaymentNotification(
        invoice_id=invoice.id, order_id=order_id, transaction_status=fields["transaction_status"][:32],
        fraud_status=fraud_status and fraud_status[:32],
        status_code=fields["status_code"][:8], gross_amount=fields["gross_amount"][:32],
        transaction_id=transaction_id and transaction_id[:64],
        fingerprint=notification_fingerprint(payload), payload=payload, received_at=utcnow(), attempts=0)
    if not _inbox_store(notification):
        return "duplicate"
    after_commit("billing.notification_apply", notification_id=notification.id)
    return "stored"


def _inbox_store(notification: PaymentNotification) -> bool:
    """Add the notification unless the same one is stored already (False then), a concurrent delivery included."""
    stored = PaymentNotification
    same = select(stored.id).where(stored.order_id == notification.order_id,
                                   stored.transaction_status == notification.transaction_status,
                                   stored.fingerprint == notification.fingerprint)
    if db.session.scalar(same) is not None:
        return False
    try:
        with db.session.begin_nested():  # Midtrans' retry racing its first delivery: the unique key decides
            db.session.add(notification)
    except IntegrityError:
        return False
    return True


@use_case
def invoice_apply_status(*, invoice_id: int, order_id: str, transaction_status: str, fraud_status: str | None,
                         payment_type: str | None, notification: PaymentNotification | None = None,
                         answer: dict | None = None) -> PaymentResult:
    """Move the invoice forward under a row lock; act on a real change only (idempotent).

    A payment commits the invoice, the subscription's move and the receipt in one transaction. Refunds and
    chargebacks are read from `answer` (the status API's body) or else the stored notification, and each is
    recorded once.
    """
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True, populate_existing=True)
    attempt_status_record(order_id=order_id, transaction_status=transaction_status, fraud_status=fraud_status)
    target = payment_state(transaction_status, fraud_status)
    money_back = transaction_status in MONEY_BACK
    if target == "paid" and not _still_fulfillable(invoice):
        target = "refund_due"  # the money is owed back: the order it paid for cannot be delivered any more
    if target not in PAYMENT_TRANSITIONS[invoice.state]:
        if money_back and invoice.state in PAID_ONCE:
            # Another refund of a paid (or already refunded) invoice: the state stays, the refund is recorded.
            return _on_money_back(invoice, transaction_status, fraud_status, notification, answer, ended=False)
        return PaymentResult(False, invoice.state, invoice.state, f"{invoice.state}, {transaction_status}")
    if target == "failed" and order_id != invoice.order_id:
        # the customer is paying with a newer one
        return PaymentResult(False, invoice.state, invoice.state, "an older attempt failed")
    previous = invoice_transition(invoice, target)
    invoice.midtrans_status = transaction_status[:32]
    invoice.fraud_status = (fraud_status or "")[:32] or None
    invoice.payment_type = (payment_type or invoice.payment_type or "")[:32] or None
    if target in ("paid", "refund_due"):
        invoice.paid_at = utcnow()
        invoice.order_id = order_id
    if target == "paid":
        _on_paid(invoice, previous)
    elif target == "review":
        _on_review(invoice, order_id)
    elif target == "refund_due":
        _on_refund_due(invoice)
    elif target == "failed" and previous == "review":
        _on_review_denied(invoice)
    if money_back:
        # A refund seen before its settlement was: paid first (above), then the money that went back.
        _on_money_back(invoice, transaction_status, fraud_status, notification, answer, ended=target == "refunded")
    return PaymentResult(True, previous, target)


def _on_money_back(invoice: Invoice, transaction_status: str, fraud_status: str | None,
                   notification: PaymentNotification | None, answer: dict | None, *, ended: bool) -> PaymentResult:
    new = refunds_record(invoice, transaction_status=transaction_status, answer=answer,
                         notification_payload=notification.payload if notification is not None else None)
    if not new and not ended:
        return PaymentResult(False, invoice.state, invoice.state, f"{invoice.state}, {transaction_status}, "
                                                                  f"no new refund")
    invoice.midtrans_status = transaction_status[:32]
    invoice.fraud_status = (fraud_status or invoice.fraud_status or "")[:32] or None
    money_returned(invoice, transaction_status=transaction_status, new=new, ended=ended)
    total = format_idr(invoice.refunded_idr)
    return PaymentResult(True, invoice.state, invoice.state, refunded=f"{total} refunded")


def attempt_status_record(*, order_id: str, transaction_status: str, fraud_status: str | None) -> None:
    """Keep on the attempt what Midtrans said of it, word for word (in the caller's transaction)."""
    attempt = db.session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_id == order_id))
    fraud_status = (str(fraud_status)[:32] or None) if fraud_status else None
    if attempt is None or (attempt.transaction_status, attempt.fraud_status) == (transaction_status, fraud_status):
        return  # nothing new: status_at keeps when Midtrans first said it
    attempt.transaction_status = transaction_status[:32] or None
    attempt.fraud_status = fraud_status
    attempt.status_at = utcnow()


def _still_fulfillable(invoice: Invoice) -> bool:
    """Whether money for this invoice still buys what it was for: true unless it is a new order that was cancelled
    and either its address went to another order or its plan is no longer sold."""
    subscription = invoice.subscription
    if invoice.kind != "new" or subscription.state != "cancelled":
        return True
    plan = subscription.plan
    return plan.active and plan.service.active and not subdomain_held_by_another(subscription)


def _on_review(invoice: Invoice, order_id: str) -> None:
    """A card payment held for a fraud review: staff are told where to decide; the order waits for the answer."""
    instance_event_record(subscription_id=invoice.subscription_id, kind="payment_review",
                          message=N_("Card payment under review by Midtrans; nothing is set up until it is accepted."))
    staff_alert(key=f"payment-review:{invoice.id}:{order_id}",
                title=f"Payment under review: invoice {invoice.number}",
                message=f"Midtrans' fraud detection holds the card payment of order {order_id} "
                        f"({int(invoice.amount_idr)} IDR, {invoice.user.email}, "
                        f"subscription #{invoice.subscription_id}). Approve or deny it in the Midtrans dashboard "
                        f"(Transactions, search the order id); the portal follows the answer. "
                        f"Invoice: {absolute_url('admin.payment', invoice_id=invoice.id)}")


def _on_review_denied(invoice: Invoice) -> None:
    subscription_email(invoice.subscription, "payment_declined",
                       key=f"payment-declined:{invoice.id}:{invoice.order_id}", number=invoice.number,
                       amount_idr=int(invoice.amount_idr),
                       link=absolute_url("billing.invoice", invoice_id=invoice.id))


def _on_refund_due(invoice: Invoice) -> None:
    """Paid for an order that can no longer be delivered: the customer and staff are told the money goes back."""
    subscription = invoice.subscription
    plan = subscription.plan
    why = (N_("its address was taken by another order") if plan.active and plan.service.active
           else N_("its plan is no longer sold"))
    instance_event_record(subscription_id=subscription.id, kind="refund_due", level="warning",
                          message=phrase("Payment received after the order was cancelled; %(why)s. It will be "
                                         "refunded.", why=phrase(why)))
    subscription_email(subscription, "payment_refund_due", key=f"refund-due:{invoice.id}", number=invoice.number,
                       amount_idr=int(invoice.amount_idr), reason=why,
                       link=absolute_url("billing.invoice", invoice_id=invoice.id))
    staff_alert(key=f"refund-due:{invoice.id}", title=f"Refund due: invoice {invoice.number}",
                message=f"Order {invoice.order_id} was paid ({int(invoice.amount_idr)} IDR, {invoice.user.email}) "
                        f"after subscription #{subscription.id} was cancelled, and {why}. Refund it in the Midtrans "
                        f"dashboard. Invoice: {absolute_url('admin.payment', invoice_id=invoice.id)}")


def _on_paid(invoice: Invoice, previous: str) -> None:
    """Queue the receipt and move the subscription, in the paid invoice's transaction."""
    # No query on the inbox's path: notification_apply loaded the subscription with the invoice before taking the
    # row locks (_invoice_for_payment) and holds it; the sync and staff's re-check load it here, under the lock.
    subscription = invoice.subscription
    email_queue(template="payment_receipt", recipient=invoice.user.email, user_id=invoice.user_id,
                key=f"receipt:{invoice.id}", context=receipt_context(invoice))
    if invoice.kind == "new" and subscription.state == "pending_payment":
        # Locks the subscription after the invoice, as every payment does.
        subscriptions.subscription_paid(subscription_id=subscription.id, period_days=invoice.period_days)
    elif invoice.kind == "new" and subscription.state == "cancelled":
        # A late payment on an order we had given up on, which can still be fulfilled (_still_fulfillable).
        subscriptions.subscription_revive(subscription_id=subscription.id, period_days=invoice.period_days)
        staff_alert(key=f"revived:{invoice.id}", title=f"Cancelled order revived: invoice {invoice.number}",
                    message=f"Order {invoice.order_id} was paid after subscription #{subscription.id} was cancelled; "
                            f"its address was still free, so it is being set up now. Nothing to do.")
    elif invoice.kind == "renewal" and subscription.state in HOLDS_RESOURCES:
        subscription_renewal_paid(subscription_id=subscription.id, period_days=invoice.period_days)
    else:
        staff_alert(key=f"paid-without-service:{invoice.id}",
                    title=f"Payment for invoice {invoice.number} needs a look",
                    message=f"It was paid while its subscription #{subscription.id} is {subscription.state}. "
                            f"Refund it or restore the service.")


class OrderNotCancellable(CheckoutError):
    pass


def order_cancellable(invoice: Invoice) -> bool:
    """Whether the invoice page offers "Cancel this order": a new order still awaiting payment, none under review."""
    return invoice.kind == "new" and invoice.state in OPEN and invoice.subscription.state == "pending_payment"


@use_case
def order_cancel(*, subscription_id: int, reason: str) -> Subscription:
    """Cancel a new order awaiting payment, with its open invoices; after the commit its Midtrans transactions are
    closed (expired or cancelled through the Core API), so nobody pays for a dead order. An order whose card payment
    is under review is not cancelled: Midtrans' answer decides it."""
    subscription = db.session.get(Subscription, subscription_id, with_for_update=True, populate_existing=True)
    if subscription is None or subscription.state != "pending_payment":
        raise OrderNotCancellable(_("Only an order awaiting payment can be cancelled."))
    invoices = db.session.scalars(select(Invoice).where(Invoice.subscription_id == subscription_id)
                                  .order_by(Invoice.id).with_for_update()
                                  .execution_options(populate_existing=True)).all()
    if any(invoice.state == "review" for invoice in invoices):
        raise OrderNotCancellable(_("The payment of this order is under review: it cannot be cancelled until "
                                    "the review is decided."))
    for invoice in invoices:
        if invoice.state in OPEN:
            invoice_transition(invoice, "cancelled")
    subscriptions.subscription_cancel(subscription_id=subscription_id, reason=reason)
    opened = [attempt.order_id for invoice in invoices for attempt in invoice.attempts if attempt.snap_redirect_url]
    if opened:
        after_commit("billing.transactions_close", order_ids=opened)
    return subscription


def transaction_close(*, order_id: str) -> str:
    """Close one Midtrans transaction of a cancelled order: a pending one is expired, a card payment not yet
    settled (authorized, or held in review) is cancelled; anything else is left as it is. Returns what was done.
    Midtrans then posts the new status to the webhook like any other."""
    answer = gateway().transaction_status(order_id)
    if answer is None:
        return "no transaction"  # the payment page was never used
    status, fraud = str(answer.get("transaction_status", "")), answer.get("fraud_status")
    try:
        if status == "pending":
            closed = gateway().transaction_expire(order_id)
        elif status == "authorize" or (status, fraud) == ("capture", "challenge"):
            closed = gateway().transaction_cancel(order_id)
        else:
            return f"left {status}"
    except PaymentRejected as exc:  # it moved on meanwhile (paid, expired): its own notification tells us
        log.warning("Midtrans refused to close order %s: %s", order_id, exc)
        return "refused"
    _attempt_status_keep(order_id=order_id, transaction_status=str(closed.get("transaction_status", "")),
                         fraud_status=closed.get("fraud_status"))
    return str(closed.get("transaction_status", ""))


@use_case
def _attempt_status_keep(*, order_id: str, transaction_status: str, fraud_status: str | None) -> None:
    attempt_status_record(order_id=order_id, transaction_status=transaction_status, fraud_status=fraud_status)


def receipt_context(invoice: Invoice) -> dict:
    plan = invoice.subscription.plan
    return {"name": invoice.user.name, "number": invoice.number, "item": _item_name(plan, invoice.kind),
            "amount_idr": int(invoice.amount_idr), "paid_at": invoice.paid_at.isoformat(),
            "payment_type": (invoice.payment_type or "").replace("_", " "),
            "link": absolute_url("billing.receipt", invoice_id=invoice.id)}


@use_case
def subscription_renewal_paid(*, subscription_id: int, period_days: int) -> Subscription:
    """Extend from the later of now and the current end; lift a suspension for non-payment."""
    subscription = db.session.get(Subscription, subscription_id, with_for_update=True, populate_existing=True)
    end = subscriptions.subscription_period_extend(subscription_id=subscription.id, days=period_days)
    instance_event_record(subscription_id=subscription.id, kind="renewed",
                          message=phrase("Renewed until %(day)s.", day=day_of(end)))
    if subscription.state == "suspended" and subscription.suspension_reason == "non_payment":
        # In the renewal's transaction: a paid renewal never stays on a suspended instance.
        subscriptions.subscription_resume(subscription_id=subscription.id)
    return subscription


@use_case
def invoice_issue_renewal(*, subscription_id: int) -> Invoice:
    """The renewal invoice for a subscription: the open one if it exists, else a new one at today's price."""
    subscription = db.session.get(Subscription, subscription_id)
    if subscription.state not in HOLDS_RESOURCES:
        raise CheckoutError(_("This subscription cannot be renewed."))
    open_invoice = db.session.scalar(select(Invoice).where(
        Invoice.subscription_id == subscription_id, Invoice.kind == "renewal",
        Invoice.state.in_(UNSETTLED)))
    if open_invoice is not None:
        return open_invoice
    return _invoice_create(subscription, subscription.plan, kind="renewal")


@use_case(keep_on=(PaymentGatewayUnavailable,))
def renewal_payment_start(*, subscription_id: int) -> Invoice:
    """The customer's "renew now": the renewal invoice and its payment attempt, in one transaction (the invoice
    is kept when Midtrans is unreachable, to be paid later)."""
    invoice = invoice_issue_renewal(subscription_id=subscription_id)
    payment_attempt_start(invoice_id=invoice.id)
    return invoice


def _invoice_settle_from_gateway(invoice: Invoice) -> tuple[str | None, PaymentResult | None]:
    """Ask the status API about each attempt, the newest first (an older one may have been paid), and
    apply the first final answer. Returns (what Midtrans said, what was done), or (None, None)."""
    for attempt in reversed(invoice.attempts):
        answer = gateway().transaction_status(attempt.order_id)
        if not answer:
            continue
        status, fraud = str(answer.get("transaction_status", "")), answer.get("fraud_status")
        # Applied even while pending: the attempt records what Midtrans said (and nothing is made up).
        result = invoice_apply_status(invoice_id=invoice.id, order_id=attempt.order_id, transaction_status=status,
                                      fraud_status=fraud, payment_type=answer.get("payment_type"), answer=answer)
        if payment_state(status, fraud) != "pending":
            return status, result
    return None, None


class RecheckFailed(Exception):
    pass


@use_case
def invoice_recheck(*, invoice_id: int, actor_id: int, ip: str | None = None) -> str:
    """Staff's "re-check with Midtrans": the status API decides, as for a webhook; audited."""
    invoice = db.session.get(Invoice, invoice_id)
    if not invoice.attempts:
        raise RecheckFailed("No payment was ever opened for this invoice: there is nothing to ask Midtrans.")
    try:
        answer, result = _invoice_settle_from_gateway(invoice)
    except (PaymentGatewayUnavailable, PaymentRejected) as exc:
        raise RecheckFailed(f"Midtrans could not be asked: {exc}") from exc
    audit_record(action="invoice.rechecked", actor_id=actor_id, target_type="invoice", target_id=invoice_id, ip=ip,
                 details={"answer": answer, "result": str(result) if result else None})
    if answer is None:
        return "Midtrans has no final status for this invoice yet (still pending, or unknown to it)."
    return f"Midtrans says {answer}: {result}."


@use_case
def notification_rejection_record(*, status: int, reason: str, order_id: str | None, ip: str | None) -> None:
    """A refused webhook call is a security event: staff see it in the audit log."""
    readable = (order_id or "").encode("utf-8", "replace").decode().replace("\x00", "")[:64]
    audit_record(action="payment.notification_rejected", actor_id=None, target_type="order",
                 target_id=readable or None, ip=ip, details={"status": status, "reason": reason[:200]})


# How often the sync runs (tasks.invoices_sync): each run re-checks the paid invoices whose time of day of payment
# falls in its slice of the day, so each is asked about once a day.
SYNC_EVERY = timedelta(minutes=5)


def invoices_sync() -> dict:
    """Ask the status API about invoices waiting too long, pending or under review (a lost webhook loses nothing),
    and about recently paid ones once a day (a lost refund or chargeback notification is found within a day).

    Only what the status API says is applied. An invoice whose payment page expired with no transaction at
    Midtrans at all (it never saw a payment) is marked failed, so the customer may open a new one; one with a
    transaction Midtrans may still settle (pending, authorize, a challenged card) keeps waiting for Midtrans."""
    now = utcnow()
    older_than = timedelta(minutes=current_app.config["PAYMENT_SYNC_AFTER_MINUTES"])
    waiting = db.session.scalars(select(Invoice).where(Invoice.state.in_(SYNCED),
                                                       Invoice.updated_at < now - older_than).limit(200)).all()
    outcome = {"checked": 0, "applied": 0, "expired": 0, "paid_checked": 0, "money_back": 0}
    for invoice in waiting:
        outcome["checked"] += 1
        answer, result = _invoice_settle_from_gateway(invoice)
        if answer is not None:
            outcome["applied"] += result.changed
        elif invoice_payment_page_lapse(invoice_id=invoice.id, now=now):
            outcome["expired"] += 1
    for invoice in _paid_due_for_recheck(now):
        outcome["paid_checked"] += 1
        outcome["money_back"] += _invoice_money_back_from_gateway(invoice)
    db.session.rollback()
    return outcome


def _paid_due_for_recheck(now: datetime) -> list[Invoice]:
    """Paid invoices this run asks Midtrans about again: each once a day at the time of day it was paid, from a day
    after the payment until PAYMENT_SYNC_PAID_DAYS after it (0: never). A settled transaction can still go to
    refund, partial_refund, chargeback or partial_chargeback; Midtrans notifies that, and this is for the
    notification that never arrives. A run skipped or failed leaves its slice to the next day's run."""
    days = current_app.config["PAYMENT_SYNC_PAID_DAYS"]
    if days <= 0:
        return []
    day = timedelta(days=1)
    paid = db.session.execute(select(Invoice.id, Invoice.paid_at).where(
        Invoice.state.in_(HELD_PAID), Invoice.paid_at <= now - day,
        Invoice.paid_at > now - timedelta(days=days) - SYNC_EVERY)).all()
    due = [invoice_id for invoice_id, paid_at in paid if (now - paid_at) % day < SYNC_EVERY][:200]
    return list(db.session.scalars(select(Invoice).where(Invoice.id.in_(due)).order_by(Invoice.id))) if due else []


def _invoice_money_back_from_gateway(invoice: Invoice) -> int:
    """Apply a refund or chargeback the status API reports for the paid order (each refund is recorded once, so
    one already known changes nothing); 1 when something new was recorded."""
    try:
        answer = gateway().transaction_status(invoice.order_id)
    except (PaymentGatewayUnavailable, PaymentRejected) as exc:
        log.warning("payment sync: Midtrans not asked about paid invoice %s today: %s", invoice.id, exc)
        return 0
    status = str((answer or {}).get("transaction_status", ""))
    if status not in MONEY_BACK:
        return 0
    result = invoice_apply_status(invoice_id=invoice.id, order_id=invoice.order_id, transaction_status=status,
                                  fraud_status=answer.get("fraud_status"), payment_type=answer.get("payment_type"),
                                  answer=answer)
    return int(result.changed)


@use_case
def invoice_payment_page_lapse(*, invoice_id: int, now) -> bool:
    """The payment page expired and Midtrans never saw a transaction on any attempt (Snap sends no notification
    for that): the invoice fails in our words, with no Midtrans status, and the customer may try again."""
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True, populate_existing=True)
    if invoice.state != "pending" or not invoice.expires_at or invoice.expires_at >= now:
        return False
    if any(attempt.transaction_status for attempt in invoice.attempts):
        return False  # Midtrans knows a transaction: only its word settles it
    invoice_transition(invoice, "failed")
    return True

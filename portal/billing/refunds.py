"""Money going back from a paid invoice (refunds and chargebacks): read from Midtrans, recorded once each, acted on."""
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from portal.billing.models import Invoice, Refund
from portal.extensions import db
from portal.links import absolute_url
from portal.notifications.services import staff_alert, subscription_email
from portal.rendering import format_idr
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import Subscription
from portal.subscriptions.states import RUNNING
from portal.timestamps import utcnow

log = logging.getLogger(__name__)

# Midtrans' statuses of a settled payment whose money went back, in part or in full.
MONEY_BACK = ("partial_refund", "refund", "partial_chargeback", "chargeback")
# The customer's bank reversed the payment (a dispute), rather than the merchant refunding it.
CHARGEBACKS = ("partial_chargeback", "chargeback")
# Statuses that say the whole payment went back, whether or not the amounts are listed.
WHOLE = ("refund", "chargeback")


@dataclass(frozen=True)
class ReportedRefund:
    """One entry of Midtrans' `refunds` list, as far as it could be read."""
    amount: Decimal
    midtrans_id: str | None
    refund_key: str | None
    reason: str
    midtrans_time: str | None


def _amount(value) -> Decimal | None:
    """A positive amount as Midtrans writes it ("20000.00", or a JSON number); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount > 0 else None


def _text(value, limit: int) -> str | None:
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).replace("\x00", "").strip()
    return text[:limit] or None


def refunds_reported(body) -> tuple[list[ReportedRefund], Decimal | None]:
    """The refunds a Midtrans status or notification body lists, oldest first, and the total it says was refunded
    (`refund_amount`); entries that cannot be read are left out."""
    if not isinstance(body, dict):
        return [], None
    entries = []
    listed = body.get("refunds")
    for entry in listed if isinstance(listed, list) else []:
        amount = _amount(entry.get("refund_amount")) if isinstance(entry, dict) else None
        if amount is None:
            continue
        entries.append(ReportedRefund(amount=amount, midtrans_id=_text(entry.get("refund_chargeback_id"), 64),
                                      refund_key=_text(entry.get("refund_key"), 100),
                                      reason=_text(entry.get("reason"), 255) or "",
                                      midtrans_time=_text(entry.get("created_at"), 32)))
    return entries, _amount(body.get("refund_amount"))


def refunds_record(invoice: Invoice, *, transaction_status: str, answer: dict | None,
                   notification_payload: dict | None) -> list[Refund]:
    """Record what Midtrans reports of money going back that is not recorded yet; returns the new refunds.

    The status API's answer is the truth; the notification's fields count only when the answer lists nothing. A
    refund is known by Midtrans' id or the refund key; one listed without either is new only when the list's running
    total passes what is recorded. A full refund or chargeback with no amounts listed takes back what is left.
    Called under the invoice's row lock, so a notification seen twice records nothing the second time."""
    entries, total = refunds_reported(answer)
    if not entries and total is None:
        entries, total = refunds_reported(notification_payload)
    gross = Decimal(invoice.amount_idr)
    known = list(invoice.refunds)
    ids = {refund.midtrans_id for refund in known if refund.midtrans_id}
    keys = {refund.refund_key for refund in known if refund.refund_key}
    recorded = sum((refund.amount for refund in known), Decimal(0))
    new: list[Refund] = []
    listed = Decimal(0)
    for entry in entries:
        listed += entry.amount
        if entry.midtrans_id in ids or entry.refund_key in keys or listed <= recorded:
            continue
        if recorded + entry.amount > gross:
            log.warning("invoice %s: Midtrans lists more refunded than was paid; %s left out", invoice.id, entry)
            continue
        new.append(_refund(invoice, entry.amount, transaction_status, recorded + entry.amount, entry))
        recorded += entry.amount
        ids.add(entry.midtrans_id)
        keys.add(entry.refund_key)
    expected = gross if transaction_status in WHOLE else total
    if expected is not None and recorded < min(expected, gross):
        amount = min(expected, gross) - recorded
        new.append(_refund(invoice, amount, transaction_status, recorded + amount, None))
    for refund in new:
        invoice.refunds.append(refund)
    db.session.flush()
    return new


def _refund(invoice: Invoice, amount: Decimal, transaction_status: str, total_after: Decimal,
            entry: ReportedRefund | None) -> Refund:
    if transaction_status in CHARGEBACKS:
        kind = "chargeback"
    else:
        kind = "full" if total_after >= Decimal(invoice.amount_idr) else "partial"
    return Refund(invoice_id=invoice.id, amount=amount, kind=kind, refunded_at=utcnow(),
                  midtrans_id=entry.midtrans_id if entry else None, refund_key=entry.refund_key if entry else None,
                  reason=entry.reason if entry else "", midtrans_time=entry.midtrans_time if entry else None)


def money_returned(invoice: Invoice, *, transaction_status: str, new: list[Refund], ended: bool) -> None:
    """What follows money going back, in the invoice's transaction. Part of it: the service keeps running, staff are
    told the amount and the total so far, the customer gets a note. All of it (`ended`, the invoice is refunded) or a
    chargeback: a running subscription is suspended with that reason, for staff to resume or terminate, and the
    customer is told in words that fit."""
    subscription = db.session.get(Subscription, invoice.subscription_id)
    chargeback = transaction_status in CHARGEBACKS
    refunded, paid = invoice.refunded_idr, format_idr(invoice.amount_idr)
    amounts = ", ".join(format_idr(refund.amount) for refund in new) or "no amount reported"
    admin_link = absolute_url("admin.subscription", subscription_id=subscription.id)
    key = f"money-back:{invoice.id}:{invoice.state}:{len(invoice.refunds)}"
    if not ended:
        staff_alert(key=key, title=f"Invoice {invoice.number}: partial refund of {amounts}",
                    message=f"Midtrans reports a partial refund of {amounts} for order {invoice.order_id}: "
                            f"{format_idr(refunded)} of {paid} refunded so far. Subscription #{subscription.id} "
                            f"({subscription.subdomain}) keeps running: {subscription.state}.")
        for refund in new:
            subscription_email(subscription, "payment_refunded", key=f"refund:{invoice.id}:{refund.id}",
                               number=invoice.number, amount_idr=int(refund.amount), refunded_idr=int(refunded),
                               paid_idr=int(invoice.amount_idr), stopped=False)
        return
    reason = "chargeback" if chargeback else "refunded"
    stopped = subscription.state in RUNNING
    if stopped:
        subscriptions.subscription_suspend(
            subscription_id=subscription.id, reason=reason,
            note=f"Invoice {invoice.number}: {'charged back' if chargeback else 'refunded'} ({format_idr(refunded)}).")
    what = "a chargeback (the customer's bank reversed the payment)" if chargeback else "a full refund"
    staff_alert(key=key, title=f"Invoice {invoice.number}: {'chargeback' if chargeback else 'refunded in full'}",
                message=f"Midtrans reports {what} for order {invoice.order_id}: {format_idr(refunded)} of {paid} "
                        f"returned ({amounts} now). Subscription #{subscription.id} ({subscription.subdomain}) is "
                        f"{'now suspended' if stopped else subscription.state.replace('_', ' ')}; nothing deletes it "
                        f"on its own. Resume or terminate it: {admin_link}")
    subscription_email(subscription, "payment_chargeback" if chargeback else "payment_refunded",
                       key=f"money-back:{invoice.id}:{reason}", number=invoice.number,
                       amount_idr=int(refunded), refunded_idr=int(refunded), paid_idr=int(invoice.amount_idr),
                       stopped=stopped)

"""Payment → running, and event → email accepted by SMTP, over a run of real purchases.

On a database of its own (so the consumer's watch sweep looks only at these instances), customers check out
through the portal (Snap on the Midtrans emulator); then, one every `purchase_interval` seconds, the order's
settlement notification is posted to the webhook. A Huey consumer on Redis, started as `make run` starts it,
provisions on the emulated cluster (pods ready at once) and sends email to an aiosmtpd server on loopback.

- payment → applied: from the webhook's 200 to the instance's last provisioning step ("Address published",
  every object applied); payment → active is also shown (it waits for the next watch sweep, every 0.5 s here).
- event → email: from the payment notification being stored to the receipt being accepted by the SMTP server,
  and from the instance becoming ready to the "is ready" email being accepted.
"""
import statistics
import time

import requests
from sqlalchemy import func, select

from bench.loadgen import percentile

NAMES = ("payment_to_running", "event_to_email")
TARGET_SECONDS = 2.0
APPS = ("n8n", "ghost", "wordpress")


def _stats(values: list[float]) -> dict:
    if not values:
        return {"count": 0, "median_s": None, "p95_s": None, "max_s": None}
    return {"count": len(values), "median_s": round(statistics.median(values), 3),
            "p95_s": round(percentile(values, 95), 3), "max_s": round(max(values), 3)}


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not happen within {timeout:g} s")


def _orders(count: int) -> list:
    """One order per customer (ids 2..), spread over the apps; returns the invoices."""
    from portal.billing.services import checkout_start
    from portal.catalog.models import Plan, Service
    from portal.extensions import db

    plans = {slug: db.session.scalar(select(Plan.id).join(Service).where(Service.slug == slug, Plan.slug == "starter"))
             for slug in APPS}
    invoices = []
    for i in range(count):
        slug = APPS[i % len(APPS)]
        invoice = checkout_start(user_id=2 + i, plan_id=plans[slug], subdomain=f"buy{i}-{slug}", settings={})
        invoices.append((invoice.id, invoice.order_id, int(invoice.amount_idr), invoice.subscription_id,
                         invoice.user.email))
    return invoices


def _count(model, *conditions) -> int:
    from portal.extensions import db

    value = db.session.scalar(select(func.count()).select_from(model).where(*conditions))
    db.session.rollback()
    return value


def run(bench) -> dict:
    from portal.billing.models import PaymentNotification
    from portal.billing.simulator import notification_body
    from portal.extensions import db
    from portal.notifications.models import Email
    from portal.subscriptions.models import InstanceEvent, Subscription

    settings, stack = bench.settings, bench.stack
    count = settings.purchases
    url = bench.database("flow", customers=count)
    kube = stack.start_kube(ready_delay=0)
    web = stack.start_web(url, kube.url)
    consumer = stack.start_consumer(url, kube.url, web.url)
    env = stack.env(url, kube.url, web.url)
    app = bench.app(url, KUBE_EMULATOR_URL=kube.url, FRONTEND_URL=web.url,
                    **{key: env[key] for key in ("MIDTRANS_SERVER_KEY", "MIDTRANS_CLIENT_KEY", "MIDTRANS_SNAP_BASE_URL",
                                                 "MIDTRANS_CORE_BASE_URL")})
    try:
        with app.app_context():
            invoices = _orders(count)
            _wait(lambda: _count(Email, Email.template == "order_received", Email.state == "sent") >= count,
                  30 + count, "sending the order emails")
            session = requests.Session()
            paid_at = {}
            first = time.monotonic()
            for i, (_invoice_id, order_id, amount, subscription_id, _) in enumerate(invoices):
                session.post(f"{stack.midtrans_url}/_emulator/status", timeout=10, json={
                    "order_id": order_id, "transaction_status": "settlement", "gross_amount": amount,
                }).raise_for_status()
                body = notification_body(order_id=order_id, transaction_status="settlement", fraud_status=None,
                                         payment_type="bank_transfer", amount_idr=amount)
                delay = first + i * settings.purchase_interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                answer = session.post(f"{web.url}/billing/midtrans/notification", json=body, timeout=30)
                if answer.status_code != 200:
                    raise RuntimeError(f"webhook answered {answer.status_code}: {answer.text[:200]}")
                paid_at[subscription_id] = time.time()
            ids = list(paid_at)
            _wait(lambda: _count(Subscription, Subscription.id.in_(ids), Subscription.state == "active") == count,
                  60 + 2 * count, "every instance running")
            _wait(lambda: _count(Email, Email.template.in_(("payment_receipt", "instance_ready")),
                                 Email.state == "sent") >= 2 * count, 30, "the receipts and ready emails")
            events = {(sid, kind): at.timestamp() for sid, kind, at in db.session.execute(
                select(InstanceEvent.subscription_id, InstanceEvent.kind, func.max(InstanceEvent.created_at))
                .where(InstanceEvent.subscription_id.in_(ids), InstanceEvent.kind.in_(("step.ingress", "ready")))
                .group_by(InstanceEvent.subscription_id, InstanceEvent.kind))}
            stored = {order: at.timestamp() for order, at in db.session.execute(
                select(PaymentNotification.order_id, func.min(PaymentNotification.received_at))
                .where(PaymentNotification.order_id.in_([i[1] for i in invoices]))
                .group_by(PaymentNotification.order_id))}
            db.session.remove()
            db.engine.dispose()
    finally:
        for child in (consumer, web, kube):
            stack.stop(child)

    accepted = bench.smtp.messages()

    def first_mail(recipient: str, prefix: str) -> float | None:
        return min((m.at for m in accepted if recipient in m.recipients and m.subject.startswith(prefix)), default=None)

    applied, active, receipt, ready_mail = [], [], [], []
    for _invoice_id, order_id, _, sid, email in invoices:
        applied.append(events[(sid, "step.ingress")] - paid_at[sid])
        active.append(events[(sid, "ready")] - paid_at[sid])
        receipt.append(first_mail(email, "Payment received") - stored[order_id])
        ready_mail.append(first_mail(email, "Your ") - events[(sid, "ready")])
    to_applied, to_active = _stats(applied), _stats(active)
    to_receipt, to_ready = _stats(receipt), _stats(ready_mail)
    return {"scenarios": {
        "payment_to_running": {
            "purchases": count, "interval_s": settings.purchase_interval, "to_applied": to_applied,
            "to_active": to_active,
            "table": [{"figure": "payment 200 -> all objects applied, p95", "value": to_applied["p95_s"], "unit": "s"},
                      {"figure": "payment 200 -> active (watch sweep every 0.5 s), median / p95",
                       "value": f"{to_active['median_s']} / {to_active['p95_s']}", "unit": "s"}],
            "targets": [{"figure": f"payment 200 -> all objects applied, median over {count}",
                         "value": to_applied["median_s"], "unit": "s", "target": f"< {TARGET_SECONDS:g} s",
                         "met": to_applied["median_s"] is not None and to_applied["median_s"] < TARGET_SECONDS}]},
        "event_to_email": {
            "emails": len(receipt) + len(ready_mail), "payment_to_receipt": to_receipt, "ready_to_email": to_ready,
            "table": [{"figure": "instance ready -> email accepted, median / p95",
                       "value": f"{to_ready['median_s']} / {to_ready['p95_s']}", "unit": "s"}],
            "targets": [{"figure": "payment stored -> receipt accepted by SMTP, median / p95",
                         "value": f"{to_receipt['median_s']} / {to_receipt['p95_s']}", "unit": "s",
                         "target": f"< {TARGET_SECONDS:g} s",
                         "met": to_receipt["p95_s"] is not None and to_receipt["p95_s"] < TARGET_SECONDS
                         and to_ready["p95_s"] < TARGET_SECONDS}]},
    }}

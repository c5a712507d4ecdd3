"""Webhook throughput: signed Midtrans settlement notifications for distinct pending invoices, 20 % of them sent
twice, from 16 concurrent senders (each sends its next as soon as its last was answered).

The webhook is the payment inbox's door: signature, amount, the notification stored (a duplicate stores nothing)
and its apply enqueued on Redis, answered at once; that is what the rate measures. No consumer runs: afterwards
this process applies the inbox as the workers would (the status API on the Midtrans emulator over HTTP, the
row-locked state change, the subscription's move to provisioning and the receipt email, enqueued on Redis), timed
apart. The database must then show every invoice applied exactly once: paid, one "paid" event, one receipt, every
distinct notification stored once.
"""
import asyncio
import random
import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import requests
from sqlalchemy import func, select

from bench.loadgen import Target, open_loop, settle, summary
from bench.stack import cpu_lines, cpu_per_request_ms, cpu_seconds_by_part, server_side

NAME = "webhook"
DUPLICATE_SHARE = 0.20
PATH = "/billing/midtrans/notification"


def _pending_invoices(limit: int) -> list:
    from portal.billing.models import Invoice
    from portal.extensions import db
    from portal.subscriptions.models import Subscription

    return db.session.execute(
        select(Invoice.id, Invoice.order_id, Invoice.amount_idr, Invoice.subscription_id)
        .join(Subscription, Subscription.id == Invoice.subscription_id)
        .where(Invoice.state == "pending", Invoice.kind == "new", Subscription.state == "pending_payment")
        .order_by(Invoice.id).limit(limit)).all()


def _script_settlements(midtrans_url: str, invoices) -> None:
    """What the status API will confirm: each order settled, for its exact amount."""
    session = requests.Session()

    def one(row):
        response = session.post(f"{midtrans_url}/_emulator/status", timeout=10,
                                json={"order_id": row.order_id, "transaction_status": "settlement",
                                      "payment_type": "bank_transfer", "gross_amount": int(row.amount_idr)})
        response.raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, invoices))


async def _send_all(url: str, bodies: list[dict], senders: int) -> tuple[list, float]:
    """(status, latency s, answer) per notification, in sending order; and the wall time."""
    results = [None] * len(bodies)
    cursor = iter(range(len(bodies)))
    loop = asyncio.get_running_loop()

    async def sender(session):
        for index in cursor:
            began = loop.time()
            try:
                async with session.post(url, json=bodies[index]) as response:
                    answer = await response.json(content_type=None)
                    status = response.status
            except (TimeoutError, aiohttp.ClientError, ValueError) as error:
                status, answer = 0, {"error": str(error)}
            results[index] = (status, loop.time() - began, answer)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        began = loop.time()
        await asyncio.gather(*(sender(session) for _ in range(senders)))
        return results, loop.time() - began


def _apply_inbox(order_ids: list[str]) -> tuple[dict, float]:
    """Apply the stored notifications of these orders as the inbox's workers would, one by one; (results, wall)."""
    from portal.billing import inbox
    from portal.billing.models import PaymentNotification
    from portal.extensions import db

    waiting = db.session.scalars(select(PaymentNotification.id).where(
        PaymentNotification.order_id.in_(order_ids), PaymentNotification.applied_at.is_(None))
        .order_by(PaymentNotification.id)).all()
    db.session.rollback()
    results: dict[str, int] = {}
    began = time.monotonic()
    for notification_id in waiting:
        result = inbox.notification_apply(notification_id=notification_id)
        results[result] = results.get(result, 0) + 1
    return results, time.monotonic() - began


def _check_applied_once(invoices, sent_per_order: dict) -> dict:
    """Every invoice paid; exactly one "paid" event and one receipt each; every distinct notification kept once."""
    from portal.billing.models import Invoice, PaymentNotification
    from portal.extensions import db
    from portal.notifications.models import Email
    from portal.subscriptions.models import InstanceEvent

    ids = [row.id for row in invoices]
    subscription_ids = [row.subscription_id for row in invoices]
    paid = db.session.scalar(select(func.count()).where(Invoice.id.in_(ids), Invoice.state == "paid"))
    paid_events = dict(db.session.execute(
        select(InstanceEvent.subscription_id, func.count()).where(
            InstanceEvent.subscription_id.in_(subscription_ids), InstanceEvent.kind == "paid")
        .group_by(InstanceEvent.subscription_id)).all())
    receipts = dict(db.session.execute(
        select(Email.idempotency_key, func.count()).where(Email.idempotency_key.in_([f"receipt:{i}" for i in ids]))
        .group_by(Email.idempotency_key)).all())
    stored = dict(db.session.execute(
        select(PaymentNotification.order_id, func.count()).where(
            PaymentNotification.order_id.in_(list(sent_per_order)), PaymentNotification.applied_at.is_not(None))
        .group_by(PaymentNotification.order_id)).all())
    checks = {
        "invoices_paid": paid == len(ids),
        "one_paid_event_each": all(paid_events.get(s) == 1 for s in subscription_ids),
        "one_receipt_each": all(receipts.get(f"receipt:{i}") == 1 for i in ids),
        "every_notification_stored_once_and_applied": all(stored.get(order) == 1 for order in sent_per_order),
    }
    return {"paid": paid, "of": len(ids), **checks, "ok": all(checks.values())}


def run(bench) -> dict:
    from portal.billing.simulator import notification_body
    from portal.extensions import db

    settings = bench.settings
    web = bench.main_web()
    env = bench.stack.env(bench.main_url)
    # The workers' view: the same Midtrans emulator (status API) and Redis (the follow-ups of each payment).
    app = bench.app(bench.main_url, MIDTRANS_SERVER_KEY=env["MIDTRANS_SERVER_KEY"],
                    MIDTRANS_CORE_BASE_URL=env["MIDTRANS_CORE_BASE_URL"], REDIS_URL=env["REDIS_URL"])
    rng = random.Random(5)
    with app.app_context():
        invoices = _pending_invoices(settings.webhook_invoices)
        if not invoices:
            raise RuntimeError("the seed has no pending orders to pay")
        _script_settlements(bench.stack.midtrans_url, invoices)
        distinct = [notification_body(order_id=row.order_id, transaction_status="settlement", fraud_status=None,
                                      payment_type="bank_transfer", amount_idr=int(row.amount_idr))
                    for row in invoices]
        # Duplicates are 20 % of all that is sent: one for every four distinct notifications.
        duplicate_count = round(len(distinct) * DUPLICATE_SHARE / (1 - DUPLICATE_SHARE))
        duplicates = [rng.choice(distinct) for _ in range(duplicate_count)]
        bodies = distinct + duplicates
        rng.shuffle(bodies)
        db.session.remove()

    before = cpu_seconds_by_part(bench.stack)
    results, wall = asyncio.run(_send_all(web.url + PATH, bodies, settings.webhook_senders))
    cpu_ms = cpu_per_request_ms(before, cpu_seconds_by_part(bench.stack), len(bodies))

    ok = [latency for status, latency, _ in results if status == 200]
    errors = len(results) - len(ok)
    answers = {}
    for status, _, answer in results:
        if status == 200:
            answers[str(answer.get("result"))] = answers.get(str(answer.get("result")), 0) + 1
    sent_per_order = {}
    for body in bodies:
        sent_per_order[body["order_id"]] = sent_per_order.get(body["order_id"], 0) + 1
    with app.app_context():
        before_apply = cpu_seconds_by_part(bench.stack)
        applied, apply_wall = _apply_inbox(list(sent_per_order))
        # This process is the worker here: every process's CPU (its own, PostgreSQL's, the status API's) counts.
        apply_cpu_ms = cpu_per_request_ms(before_apply, cpu_seconds_by_part(bench.stack),
                                          max(sum(applied.values()), 1))
        apply_cpu_ms["worker"] = apply_cpu_ms.pop("generator", 0.0)
        check = _check_applied_once(invoices, sent_per_order)
        db.session.remove()
        db.engine.dispose()
    # Each distinct notification stored once, each repeat answered as a duplicate; each stored one applied once.
    check["answers"] = answers
    check["applied"] = applied
    check["ok"] = (check["ok"] and errors == 0 and answers.get("stored") == len(invoices)
                   and answers.get("duplicate") == len(duplicates) and applied.get("pending -> paid") == len(invoices))
    # The floor, on the same server in the same run: a bare hello at the pages' rate.
    settle(web.url)
    before = cpu_seconds_by_part(bench.stack)
    bare = open_loop(web.url, settings.pages_rate, settings.hello_seconds, lambda i: Target("hello", "/bench-hello"))
    hello_cpu_ms = cpu_per_request_ms(before, cpu_seconds_by_part(bench.stack), len(bare.all_latencies))
    hello_server = server_side(hello_cpu_ms)
    ingest_ratio = round(server_side(cpu_ms) / hello_server, 2) if hello_server else None
    apply_ratio = round(apply_cpu_ms["total"] / hello_server, 2) if hello_server else None
    rate = len(results) / wall if wall else 0.0
    latency = summary(ok, errors)
    statuses = {}
    for status, _, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "notifications": len(results), "distinct_invoices": len(invoices), "duplicates": len(duplicates),
        "senders": settings.webhook_senders, "wall_seconds": round(wall, 2), "per_second": round(rate, 1),
        "latency": latency, "statuses": statuses, "applied_exactly_once": check, "cpu_ms_per_notification": cpu_ms,
        "inbox_applied_per_second": round(len(invoices) / apply_wall, 1) if apply_wall else 0.0,
        "cpu_ms_per_apply": apply_cpu_ms, "cpu_ms_per_hello": hello_cpu_ms, "server_cpu_ms_per_hello": hello_server,
        "server_cpu_ms_per_notification": server_side(cpu_ms),
        "ratios": {"webhook_ingest_cpu": ingest_ratio, "payment_apply_cpu": apply_ratio},
        "table": [{"figure": "latency p50 / p99", "value": f"{latency['p50_ms']} / {latency['p99_ms']}", "unit": "ms"},
                  {"figure": f"notifications/s ({settings.webhook_senders} senders, 20% duplicates)",
                   "value": round(rate, 1), "unit": "/s"},
                  *cpu_lines("each notification at the door", cpu_ms),
                  *cpu_lines(f"bare hello at {settings.pages_rate:g}/s", hello_cpu_ms),
                  {"figure": "inbox applied by one worker, one at a time",
                   "value": round(len(invoices) / apply_wall, 1) if apply_wall else 0.0, "unit": "/s"},
                  *cpu_lines("applying one notification in a worker", apply_cpu_ms)],
        "targets": [
            {"figure": "every invoice applied exactly once", "value": "yes" if check["ok"] else "NO",
             "target": "yes", "met": check["ok"]},
        ],
    }

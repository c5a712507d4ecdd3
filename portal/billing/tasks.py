"""Billing tasks: applying the payment inbox (and its sweep), the lost-webhook sync, renewal invoices, unpaid orders
(and closing their Midtrans transactions), the monthly revenue summary, and the simulator's notification sent like
Midtrans sends one."""
import logging

from huey import crontab

from portal.billing import inbox, renewals, services, simulator
from portal.billing.revenue import revenue_summary_send
from portal.jobs.services import job_run
from portal.tasks import QUEUE_UNAVAILABLE, periodic_task, task
from portal.unit_of_work import follow_up_handler

log = logging.getLogger(__name__)


@task()
def payment_notification_apply(notification_id: int) -> str:
    return inbox.notification_apply(notification_id=notification_id)


def _apply_soon(*, notification_id: int) -> None:
    try:
        payment_notification_apply(notification_id)
    except QUEUE_UNAVAILABLE as exc:
        # The notification is stored and Midtrans gets its 200: the inbox sweep applies it once the queue is back.
        log.warning("payment notification %s stored, its task not queued (%s): the inbox sweep applies it",
                    notification_id, type(exc).__name__)


follow_up_handler("billing.notification_apply", _apply_soon)


@periodic_task(crontab(minute="*"))
def payment_inbox_sweep() -> dict:
    return job_run("payment-inbox", inbox.inbox_sweep).result


@periodic_task(crontab(minute=f"*/{services.SYNC_EVERY.seconds // 60}"))
def invoices_sync() -> dict:
    return job_run("payment-sync", services.invoices_sync).result


@periodic_task(crontab(minute="5"))
def renewals_issue() -> dict:
    return job_run("renewals", renewals.renewals_issue).result


@periodic_task(crontab(minute="25"))
def unpaid_orders_cancel() -> dict:
    return job_run("unpaid-orders", renewals.unpaid_orders_cancel).result


@periodic_task(crontab(minute="0", hour="6", day="1"))
def revenue_summary() -> dict:
    return job_run("revenue-summary", revenue_summary_send).result


@task(retries=5, retry_delay=60)
def transactions_close(order_ids: list[str]) -> dict:
    """Close the Midtrans transactions of an order the portal cancelled; Midtrans down is retried."""
    return {order_id: services.transaction_close(order_id=order_id) for order_id in order_ids}


@task(retries=3, retry_delay=2)
def simulator_send_notification(order_id: str) -> int:
    return simulator.simulator_notify(order_id=order_id)


follow_up_handler("billing.transactions_close", lambda *, order_ids: transactions_close(order_ids))
follow_up_handler("billing.simulator_notify", lambda *, order_id: simulator_send_notification(order_id))

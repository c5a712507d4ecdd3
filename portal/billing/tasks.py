"""Billing tasks: the lost-webhook sync, and the simulator's notification sent like Midtrans sends one."""
from huey import crontab

from portal.billing import services, simulator
from portal.jobs.services import job_run
from portal.tasks import periodic_task, task
from portal.unit_of_work import follow_up_handler


@periodic_task(crontab(minute="*/5"))
def invoices_sync() -> dict:
    return job_run("payment-sync", services.invoices_sync).result


@task(retries=3, retry_delay=2)
def simulator_send_notification(order_id: str) -> int:
    return simulator.simulator_notify(order_id=order_id)


follow_up_handler("billing.simulator_notify", lambda *, order_id: simulator_send_notification(order_id))

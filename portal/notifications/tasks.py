"""Email delivery tasks: send one email with backoff, and sweep the outbox for stragglers."""
from huey import crontab
from huey.exceptions import RetryTask

from portal.jobs.services import job_run
from portal.notifications import services
from portal.tasks import periodic_task, task
from portal.unit_of_work import follow_up_handler


@task()
def email_send(email_id: int) -> str:
    try:
        return services.email_deliver(email_id=email_id)
    except services.EmailDeliveryDeferred as exc:
        # The outbox row counts attempts and caps them; Huey only waits the backoff.
        raise RetryTask(str(exc), delay=exc.delay) from exc


follow_up_handler("email.send", lambda *, email_id: email_send(email_id))


@periodic_task(crontab(minute="*/5"))
def outbox_sweep() -> dict:
    return job_run("outbox-sweep", lambda: {"requeued": services.outbox_requeue()}).result

"""Custom domain work as Huey tasks: DNS checks after a domain is added (then every 10 minutes), and staff's daily
look at certificates close to their end."""
from flask import current_app
from huey import crontab

from portal.domains import selectors, services
from portal.jobs.services import job_run
from portal.tasks import periodic_task, task
from portal.unit_of_work import follow_up_handler


@task()
def check_domain(domain_id: int, attempt: int = 1) -> str:
    """Check now, then again every DOMAINS_CHECK_INTERVAL_SECONDS while the records are not right yet."""
    config = current_app.config
    outcome = services.domain_dns_check(domain_id=domain_id)
    if outcome in ("pending", "unavailable") and attempt < config["DOMAINS_CHECK_ATTEMPTS"]:
        check_domain.schedule((domain_id, attempt + 1), delay=config["DOMAINS_CHECK_INTERVAL_SECONDS"])
    return outcome


def _pending_check() -> dict:
    outcome = {"verified": 0, "pending": 0, "unavailable": 0}
    for domain_id in selectors.domains_pending_dns():
        result = services.domain_dns_check(domain_id=domain_id)
        outcome[result] = outcome.get(result, 0) + 1
    return outcome


@periodic_task(crontab(minute="*/10"))
def domains_dns_check() -> dict:
    return job_run("domains-dns", _pending_check).result


@periodic_task(crontab(minute="17", hour="1"))
def certificates_expiry_alert() -> dict:
    return job_run("certificate-expiry", lambda: {"alerts": services.domains_expiry_alert()}).result


follow_up_handler("domain.check", lambda *, domain_id: check_domain(domain_id))

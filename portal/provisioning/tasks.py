"""Cluster work as Huey tasks: one instance at a time (a lock per subscription), retried with backoff."""
from flask import current_app
from huey import crontab
from huey.exceptions import TaskLockedException

from portal.domains.selectors import subscriptions_with_certificates
from portal.extensions import db
from portal.jobs.services import job_run
from portal.phrases import phrase
from portal.provisioning import services
from portal.provisioning.cluster import ClusterError
from portal.subscriptions.events import instance_event_record
from portal.subscriptions.services import subscription_provisioning_failed
from portal.tasks import lock, periodic_task, task
from portal.unit_of_work import atomic, follow_up_handler

LOCK_RETRY_SECONDS = 2


def _instance_lock(subscription_id: int):
    return lock(f"instance-{subscription_id}", seconds=current_app.config["PROVISION_LOCK_SECONDS"])


def _run(this_task, subscription_id: int, attempt: int, work, give_up=None) -> str:
    """Run `work` under the instance's lock; retry transient cluster errors with exponential backoff.

    A permanent error, or the last attempt, ends in `give_up(reason)` when one is given.
    """
    config = current_app.config
    try:
        with _instance_lock(subscription_id):
            work(subscription_id=subscription_id)
    except TaskLockedException:
        this_task.schedule((subscription_id, attempt), delay=LOCK_RETRY_SECONDS)
        return "locked"
    except ClusterError as exc:
        db.session.rollback()
        reason = f"{exc.reason}: {exc.message}" if exc.reason else exc.message
        if exc.transient and attempt < config["PROVISION_MAX_ATTEMPTS"]:
            delay = config["PROVISION_RETRY_BASE_SECONDS"] * 2 ** (attempt - 1)
            with atomic():
                instance_event_record(subscription_id=subscription_id, kind="retry", level="warning",
                                      message=phrase("The cluster did not answer well (%(reason)s); trying again "
                                                     "in %(delay)s s (attempt %(attempt)d).",
                                                     reason=exc.reason or "error", delay=format(delay, "g"),
                                                     attempt=attempt + 1))
            this_task.schedule((subscription_id, attempt + 1), delay=delay)
            return "retrying"
        if give_up is not None:
            give_up(subscription_id=subscription_id, reason=reason)
        return "failed"
    return "done"


@task()
def provision_instance(subscription_id: int, attempt: int = 1) -> str:
    return _run(provision_instance, subscription_id, attempt, services.instance_provision,
                give_up=subscription_provisioning_failed)


@task()
def restart_instance(subscription_id: int, attempt: int = 1) -> str:
    return _run(restart_instance, subscription_id, attempt, services.instance_restart,
                give_up=services.instance_rollout_give_up)


@task()
def apply_settings(subscription_id: int, attempt: int = 1) -> str:
    return _run(apply_settings, subscription_id, attempt, services.instance_settings_apply,
                give_up=services.instance_rollout_give_up)


@task()
def suspend_instance(subscription_id: int, attempt: int = 1) -> str:
    return _run(suspend_instance, subscription_id, attempt, services.instance_suspend)


@task()
def terminate_instance(subscription_id: int, attempt: int = 1) -> str:
    return _run(terminate_instance, subscription_id, attempt, services.instance_terminate)


@task()
def apply_domains(subscription_id: int, attempt: int = 1) -> str:
    return _run(apply_domains, subscription_id, attempt, services.instance_domains_apply)


@task()
def detach_domain(subscription_id: int, domain_id: int, attempt: int = 1) -> str:
    def work(*, subscription_id: int) -> None:
        services.instance_domain_detach(subscription_id=subscription_id, domain_id=domain_id)

    return _run(_Retry(detach_domain, domain_id), subscription_id, attempt, work)


@task()
def renew_certificate(subscription_id: int, domain_id: int, attempt: int = 1) -> str:
    """A customer's "Try again": cert-manager asked for a new issuance, a busy cluster retried; refused or with the
    Certificate gone, the domain's certificate is failing again with the reason rather than pending for ever."""
    def work(*, subscription_id: int) -> None:
        services.instance_certificate_renew(subscription_id=subscription_id, domain_id=domain_id)

    def give_up(*, subscription_id: int, reason: str) -> None:
        services.instance_certificate_renew_give_up(domain_id=domain_id, reason=reason)

    return _run(_Retry(renew_certificate, domain_id), subscription_id, attempt, work, give_up=give_up)


class _Retry:
    """Reschedules a task with one argument more than `_run` knows of (the domain)."""

    def __init__(self, this_task, extra):
        self.this_task, self.extra = this_task, extra

    def schedule(self, args, delay):
        subscription_id, attempt = args
        self.this_task.schedule((subscription_id, self.extra, attempt), delay=delay)


@task()
def watch_certificates(subscription_id: int, attempt: int = 1) -> str:
    """Read the instance's certificates until cert-manager has issued or failed each (the periodic refresh
    carries on after DOMAINS_CERTIFICATE_POLL_ATTEMPTS)."""
    config = current_app.config
    try:
        waiting = services.instance_certificates_read(subscription_id=subscription_id)
    except ClusterError:
        db.session.rollback()
        waiting = True
    if waiting and attempt < config["DOMAINS_CERTIFICATE_POLL_ATTEMPTS"]:
        watch_certificates.schedule((subscription_id, attempt + 1), delay=config["DOMAINS_CERTIFICATE_POLL_SECONDS"])
        return "waiting"
    return "done"


def _certificates_refresh() -> dict:
    outcome = {"instances": 0, "waiting": 0, "errors": 0}
    for subscription_id in subscriptions_with_certificates():
        outcome["instances"] += 1
        try:
            outcome["waiting"] += services.instance_certificates_read(subscription_id=subscription_id)
        except ClusterError:
            db.session.rollback()
            outcome["errors"] += 1
    return outcome


@periodic_task(crontab(minute="*/5"))
def certificates_refresh() -> dict:
    """Every instance's certificates as cert-manager says now: renewals, expiries, late failures."""
    return job_run("certificates", _certificates_refresh).result


@periodic_task(crontab(minute="*"))
def nodes_refresh() -> dict:
    return job_run("nodes", lambda: {"changes": services.nodes_sync()}).result


@periodic_task(crontab(minute="*/10"))
def instances_reconcile() -> dict:
    return job_run("reconcile", services.instances_reconcile).result


for _name, _task in (("instance.provision", provision_instance), ("instance.restart", restart_instance),
                     ("instance.apply_settings", apply_settings), ("instance.suspend", suspend_instance),
                     ("instance.terminate", terminate_instance)):
    follow_up_handler(_name, lambda *, subscription_id, _task=_task: _task(subscription_id))
follow_up_handler("instance.domains_apply", lambda *, subscription_id: apply_domains(subscription_id))
follow_up_handler("instance.domains_detach",
                  lambda *, subscription_id, domain_id: detach_domain(subscription_id, domain_id))
follow_up_handler("instance.certificate_renew",
                  lambda *, subscription_id, domain_id: renew_certificate(subscription_id, domain_id))
follow_up_handler("domains.certificates_watch", lambda *, subscription_id: watch_certificates(subscription_id))

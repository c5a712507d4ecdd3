"""Putting instances on the cluster and changing them there: provision, restart, suspend, terminate, nodes."""
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import yaml
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal.audit.services import audit_record
from portal.catalog.models import Plan
from portal.catalog.parameters import secrets_generate, settings_defaults
from portal.catalog.selectors import template_for
from portal.catalog.templates import ServiceTemplate
from portal.domains import services as domains
from portal.domains.models import CustomDomain
from portal.domains.selectors import instance_domains
from portal.extensions import db
from portal.notifications.services import staff_alert
from portal.phrases import N_, nphrase, phrase
from portal.provisioning.cluster import (
    INSTANCE_KINDS,
    MANAGED_SELECTOR,
    WORKLOAD_KINDS,
    AccessDenied,
    Cluster,
    ManifestRejected,
    ObjectNotFound,
    cluster_for,
)
from portal.provisioning.mail import (
    OWN_PASSWORD_SECRET,
    MailServer,
    instance_mail_sender,
    mail_host_addresses,
)
from portal.provisioning.manifests import (
    MANAGED_BY,
    ClusterOptions,
    DomainRoute,
    InstanceNames,
    domain_certificate_name,
    domain_ingress_name,
    instance_manifests,
    instance_names,
    namespace_manifests,
    settings_from_config_map,
)
from portal.provisioning.models import Node
from portal.provisioning.velero import API_VERSION, schedule_manifest
from portal.subscriptions.events import instance_event_record
from portal.subscriptions.mail import instance_mail_server_of
from portal.subscriptions.models import InstanceEvent, Subscription
from portal.subscriptions.rollouts import instance_rollout_applied, instance_rollout_failed
from portal.subscriptions.states import ENDED, HOLDS_RESOURCES
from portal.timestamps import utcnow
from portal.unit_of_work import after_commit, atomic, use_case

# States in which a subscription's plan counts toward its namespace's quota.
STEPS = (("namespace", N_("Namespace prepared.")), ("secret", N_("Secrets stored.")),
         ("volumes", N_("Storage volumes created.")), ("workloads", N_("Workloads created.")),
         ("network", N_("Internal network set up.")), ("ingress", N_("Address published.")))
STEP_OF_KIND = {"Namespace": "namespace", "ResourceQuota": "namespace", "LimitRange": "namespace",
                "Secret": "secret", "ConfigMap": "secret", "PersistentVolumeClaim": "volumes",
                "Deployment": "workloads", "StatefulSet": "workloads", "Service": "network",
                "NetworkPolicy": "network", "Ingress": "ingress"}


def cluster() -> Cluster:
    return cluster_for(current_app.config)


@dataclass(frozen=True)
class InstanceTarget:
    subscription: Subscription
    template: ServiceTemplate
    names: InstanceNames
    options: ClusterOptions


def instance_target(subscription: Subscription) -> InstanceTarget:
    config = current_app.config
    template = template_for(subscription.plan.service.slug)
    if template is None:
        raise LookupError(f"no service template for {subscription.plan.service.slug!r}")
    names = instance_names(namespace_prefix=config["K8S_NAMESPACE_PREFIX"], user_id=subscription.user_id,
                           service_slug=template.slug, subscription_id=subscription.id,
                           subdomain=subscription.subdomain, cluster_domain=config["K8S_CLUSTER_DOMAIN"])
    if subscription.namespace:
        # Where the instance lives now: a restore moves it to a fresh namespace of its own.
        names = replace(names, namespace=subscription.namespace)
    return InstanceTarget(subscription, template, names, ClusterOptions.from_config(config))


def namespace_of(subscription: Subscription) -> str:
    """The namespace the instance is (or will be) in."""
    return subscription.namespace or instance_names(
        namespace_prefix=current_app.config["K8S_NAMESPACE_PREFIX"], user_id=subscription.user_id,
        service_slug="x", subscription_id=subscription.id, subdomain="x", cluster_domain="x").namespace


def _load(subscription_id: int) -> Subscription | None:
    return db.session.scalar(select(Subscription).where(Subscription.id == subscription_id)
                             .options(joinedload(Subscription.plan).joinedload(Plan.service)))


def _neighbours(user_id: int, namespace: str) -> list[Subscription]:
    """The customer's subscriptions that hold resources in this namespace."""
    return [s for s in db.session.scalars(select(Subscription).where(
        Subscription.user_id == user_id, Subscription.state.in_(HOLDS_RESOURCES))
        .options(joinedload(Subscription.plan))) if namespace_of(s) == namespace]


def _namespace_manifests(target: InstanceTarget, *, namespace: str | None = None) -> list[dict]:
    namespace = namespace or target.names.namespace
    plans = [s.plan for s in _neighbours(target.subscription.user_id, namespace)]
    if namespace != target.names.namespace:
        plans.append(target.subscription.plan)  # a restore's namespace, made for this instance
    return namespace_manifests(namespace=namespace, user_id=target.subscription.user_id, plans=plans,
                               options=target.options)


def instance_provision(*, subscription_id: int) -> str:
    """Apply everything the instance needs, step by step, each step an event; idempotent.

    Returns "applied", or "skipped" when the subscription is no longer provisioning. Cluster errors
    propagate: the task decides between retrying and giving up.
    """
    subscription = _load(subscription_id)
    if subscription is None or subscription.state != "provisioning":
        return "skipped"
    _apply(subscription, record_steps=True)
    return "applied"


def _apply(subscription: Subscription, *, record_steps: bool) -> None:
    target = instance_target(subscription)
    gateway = cluster()
    if subscription.namespace != target.names.namespace or subscription.instance_name != target.names.instance:
        with atomic():
            subscription.namespace, subscription.instance_name = target.names.namespace, target.names.instance
    namespace_objects = _namespace_manifests(target)
    for manifest in namespace_objects[:1]:
        gateway.apply(manifest)  # the namespace first: the secret lookup below needs it
    # Generated once: values already in the cluster are kept, only new keys are made.
    stored = gateway.read_secret(target.names.namespace, target.names.object("secrets")) or {}
    secrets = {**secrets_generate(target.template), **stored}
    served = instance_domains(subscription.id)
    routes = tuple(DomainRoute(r.id, r.host, r.redirect_to) for r in served.routes)
    manifests = namespace_objects[1:] + instance_manifests(
        template=target.template, plan=subscription.plan, settings=subscription.settings, secrets=secrets,
        names=target.names, subscription_id=subscription.id, options=target.options,
        mail=instance_mail_server(target, own_password=stored.get(OWN_PASSWORD_SECRET, ""),
                                  customer_domain=served.mail_domain), domains=routes,
        public_host=served.public_host)
    by_step = {step: [] for step, _ in STEPS}
    for manifest in manifests:
        by_step[STEP_OF_KIND[manifest["kind"]]].append(manifest)
    for step, done in STEPS:
        for manifest in by_step[step]:
            gateway.apply(manifest)
        if record_steps:
            # Each step is its own transaction, so the customer watches the setup progress.
            with atomic():
                instance_event_record(subscription_id=subscription.id, kind=f"step.{step}", message=done)
                if step == STEPS[-1][0]:
                    after_commit("instances.watch")  # the sweep watches the new pods come up
    _domain_ingresses_prune(gateway, target, {route.id for route in routes})
    backup_schedule_apply(target, paused=False)


def _domain_ingresses_prune(gateway: Cluster, target: InstanceTarget, kept: set[int]) -> list[int]:
    """A domain removed (or no longer verified) loses its Ingress, Certificate and TLS secret; returns their ids."""
    removed = []
    for item in gateway.list_objects("networking.k8s.io/v1", "Ingress", namespace=target.names.namespace,
                                     selector=f"portal/subscription={target.subscription.id},portal/domain"):
        domain_id = (item["metadata"].get("labels") or {}).get("portal/domain", "")
        if domain_id.isdigit() and int(domain_id) not in kept:
            _domain_objects_delete(gateway, target, int(domain_id))
            removed.append(int(domain_id))
    return removed


def _domain_objects_delete(gateway: Cluster, target: InstanceTarget, domain_id: int) -> None:
    # The Ingress first: while its tls names the secret, cert-manager's ingress-shim would make the Certificate
    # again. The secret has no owner (cert-manager leaves TLS secrets behind by default), so it goes by name.
    namespace = target.names.namespace
    gateway.delete("networking.k8s.io/v1", "Ingress", namespace, domain_ingress_name(target.names, domain_id))
    gateway.delete("cert-manager.io/v1", "Certificate", namespace, domain_certificate_name(target.names, domain_id))
    gateway.delete("v1", "Secret", namespace, domain_certificate_name(target.names, domain_id))


def instance_mail_server(target: InstanceTarget, *, own_password: str = "", customer_domain: str | None = None,
                         resolve=mail_host_addresses) -> MailServer | None:
    """The server the instance's apps send through, its addresses resolved now: the customer's own when they named
    one, else the business's relay; None when neither is configured."""
    config = current_app.config
    own = instance_mail_server_of(subscription_id=target.subscription.id)
    if own is not None and own.own_server:
        host, port, tls_mode, username, password, sender = (own.host, own.port, own.tls_mode, own.username,
                                                             own_password if own.username else "", own.sender)
    elif config["APP_MAIL_RELAY_HOST"]:
        host, port = config["APP_MAIL_RELAY_HOST"], config["APP_MAIL_RELAY_PORT"]
        tls_mode = config["APP_MAIL_RELAY_TLS"]
        username, password = config["APP_MAIL_RELAY_USER"], config["APP_MAIL_RELAY_PASSWORD"]
        sender = instance_mail_sender(host=target.names.host, subdomain=target.subscription.subdomain,
                                      sender_domain=config["APP_MAIL_SENDER_DOMAIN"], customer_domain=customer_domain)
    else:
        return None
    return MailServer(host=host, port=port, tls_mode=tls_mode, username=username, password=password, sender=sender,
                      addresses=resolve(host, port))


def instance_secret_values_set(*, subscription_id: int, values: dict[str, str]) -> None:
    """Write keys into the instance's Secret now (a customer's mail password), keeping the others; raises
    ClusterError when the cluster cannot take it, LookupError when the instance has no namespace yet."""
    subscription = _load(subscription_id)
    if subscription is None or not subscription.namespace:
        raise LookupError("the instance has not been created in the cluster yet")
    target = instance_target(subscription)
    gateway = cluster()
    name = target.names.object("secrets")
    if gateway.read_secret(target.names.namespace, name) is None:
        raise LookupError("the instance's Secret has not been created yet")
    # A merge patch, not the portal's server-side apply: the applied Secret never names these keys, so no
    # later apply of it removes them or writes back a value it read before this one.
    gateway.secret_values_merge(target.names.namespace, name, values)


def instance_secret_value(*, subscription_id: int, key: str) -> str:
    """One stored value of the instance's Secret, "" when absent; raises ClusterError."""
    subscription = _load(subscription_id)
    if subscription is None or not subscription.namespace:
        return ""
    target = instance_target(subscription)
    return (cluster().read_secret(target.names.namespace, target.names.object("secrets")) or {}).get(key, "")


# --- backups: the instance's Velero schedule, and the cluster side of a restore ----------------------------------

def velero_labels(subscription_id: int, instance: str) -> dict:
    return {**MANAGED_BY, "app.kubernetes.io/instance": instance, "portal/subscription": str(subscription_id)}


def retention_days(plan_slug: str) -> int:
    """How many days the plan keeps each backup (BACKUP_RETENTION_DAYS, by plan)."""
    days = current_app.config["BACKUP_RETENTION_DAYS"]
    return days.get(plan_slug, days["*"])


def backup_schedule_manifest(target: InstanceTarget, *, paused: bool) -> dict:
    config = current_app.config
    subscription = target.subscription
    return schedule_manifest(
        name=target.names.instance, velero_namespace=config["VELERO_NAMESPACE"], namespace=target.names.namespace,
        subscription_id=subscription.id, cron=config["BACKUP_CRON"].replace("{minute}", str(subscription.id % 60)),
        retention_days=retention_days(subscription.plan.slug), paused=paused,
        labels=velero_labels(subscription.id, target.names.instance))


def backup_schedule_apply(target: InstanceTarget, *, paused: bool) -> bool:
    """The instance's daily backup schedule, created or brought up to date (paused while suspended). Without
    Velero the instance still runs: its timeline says so and staff are alerted; False then."""
    try:
        cluster().apply(backup_schedule_manifest(target, paused=paused))
        return True
    except (ObjectNotFound, AccessDenied, ManifestRejected) as exc:
        with atomic():
            instance_event_record(subscription_id=target.subscription.id, kind="backups.unavailable",
                                  level="warning", message=N_("Backups are not set up yet: the backup service is not "
                                                              "available in the cluster. Our team has been told."))
            if isinstance(exc, ObjectNotFound):
                velero_absent_alert(str(exc))
            else:
                staff_alert(key=f"backup-schedule-refused:{target.subscription.id}:{utcnow():%Y%m%d}",
                            title=f"Backup schedule refused for subscription #{target.subscription.id}",
                            message=f"The cluster refused the Velero Schedule {target.names.instance}: "
                                    f"{exc.reason}: {exc.message}")
        return False


def velero_absent_alert(detail: str) -> None:
    staff_alert(key=f"velero-absent:{utcnow():%Y%m%d%H}", title="Velero is not installed: no backups are made",
                message="The cluster does not serve velero.io/v1 (Schedule, Backup, Restore), so no instance is "
                        f"backed up and none can be restored. Install Velero (docs/operations.md, Backups). {detail}")


def backup_schedule_remove(target: InstanceTarget) -> None:
    try:
        cluster().delete(API_VERSION, "Schedule", current_app.config["VELERO_NAMESPACE"], target.names.instance)
    except ObjectNotFound:
        pass  # Velero absent: there is no schedule to remove


def restore_namespace_prepare(*, subscription_id: int, namespace: str) -> None:
    """A fresh namespace for a restore, with the quota, limits and network rules of the instance's own."""
    target = instance_target(_load(subscription_id))
    for manifest in _namespace_manifests(target, namespace=namespace):
        cluster().apply(manifest)


def restored_workloads_ready(*, subscription_id: int, namespace: str) -> tuple[bool, str]:
    """Are the instance's restored workloads in `namespace` all ready? And what is still missing, in words."""
    target = instance_target(_load(subscription_id))
    gateway = cluster()
    waiting = []
    for component in target.template.components:
        name = target.names.object(component.name)
        workload = gateway.get(WORKLOAD_KINDS[component.kind], component.kind, namespace, name)
        if workload is None:
            waiting.append(f"{name} was not restored")
            continue
        wanted = (workload.get("spec") or {}).get("replicas", 1) or 1
        ready = (workload.get("status") or {}).get("readyReplicas", 0) or 0
        if ready < wanted:
            waiting.append(f"{name} has {ready}/{wanted} ready")
    return not waiting, "; ".join(waiting)


def restored_settings(*, subscription_id: int, namespace: str) -> dict | None:
    """The settings the restored copy was running with (its settings ConfigMap), or None."""
    target = instance_target(_load(subscription_id))
    return settings_from_config_map(cluster().get("v1", "ConfigMap", namespace, target.names.object("settings")))


def instance_switch_namespace(*, subscription_id: int, old_namespace: str) -> None:
    """Publish the instance from the namespace its subscription now names (a restore's copy: everything re-applied
    there from the subscription, its Ingress and schedule included), then remove the copy in `old_namespace`.
    Idempotent: a retry after a cluster error carries on where it stopped."""
    subscription = _load(subscription_id)
    target = instance_target(subscription)
    _apply(subscription, record_steps=False)
    if old_namespace != target.names.namespace:
        cluster().delete("networking.k8s.io/v1", "Ingress", old_namespace, target.names.instance)
        namespace_discard_instance(subscription_id=subscription_id, namespace=old_namespace)


def namespace_discard_instance(*, subscription_id: int, namespace: str) -> None:
    """Remove the instance's objects from `namespace`, and the namespace itself when none of the customer's
    other instances live there (a failed restore's half-made copy, or the copy a restore replaced)."""
    subscription = _load(subscription_id)
    gateway = cluster()
    others = [s for s in _neighbours(subscription.user_id, namespace) if s.id != subscription_id]
    if others:
        gateway.delete_by_label(namespace, f"portal/subscription={subscription_id}")
        for manifest in _namespace_manifests(instance_target(others[0]), namespace=namespace):
            gateway.apply(manifest)  # the quota shrinks to the plans that remain
    else:
        gateway.delete_namespace(namespace)


def instances_reconcile() -> dict:
    """Every paid, running instance has its workloads (re-applied when missing or drifted), and no
    portal-managed object outlives its subscription (deleted, with an audit entry)."""
    gateway = cluster()
    workloads = {}
    for api_version, kind in (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet")):
        for item in gateway.list_objects(api_version, kind, selector=MANAGED_SELECTOR):
            labels = item["metadata"].get("labels", {})
            workloads.setdefault(labels.get("portal/subscription"), []).append(item)
    known = {str(s.id): s for s in db.session.scalars(select(Subscription).where(
        Subscription.id.in_([int(i) for i in workloads if i and i.isdigit()])))}
    outcome = {"reapplied": 0, "orphans_deleted": 0, "resumed": 0, "resuspended": 0, "unknown_kept": 0}
    for subscription in db.session.scalars(select(Subscription).where(Subscription.state == "active")
                                           .options(joinedload(Subscription.plan).joinedload(Plan.service))):
        target = instance_target(subscription)
        present = {item["metadata"]["name"]: item for item in workloads.get(str(subscription.id), [])}
        expected = {target.names.object(c.name): c for c in target.template.components}
        drifted = [name for name, component in expected.items()
                   if name not in present or present[name]["spec"].get("replicas") != 1
                   or present[name]["spec"]["template"]["spec"]["containers"][0].get("image") != component.image]
        if drifted:
            _apply(subscription, record_steps=False)
            with atomic():
                instance_event_record(subscription_id=subscription.id, kind="reconciled", level="warning",
                                      message=phrase("Restored what was missing or changed in the cluster: "
                                                     "%(objects)s.", objects=", ".join(sorted(drifted))))
                audit_record(action="cluster.reconciled", actor_id=None, target_type="subscription",
                             target_id=subscription.id, details={"objects": sorted(drifted)})
            outcome["reapplied"] += 1
    outcome["schedules_applied"] = _backup_schedules_reconcile()
    outcome.update(_interrupted_work_resume(workloads))
    unknown = []
    for subscription_id, items in workloads.items():
        subscription = known.get(subscription_id)
        if subscription is None:
            # Never delete what the database does not know: after restoring an older backup, or with a
            # second portal on the same cluster, these are someone's live instances. Staff decide.
            unknown.append(f"{items[0]['metadata']['namespace']}/{subscription_id}")
            continue
        if subscription.state not in ENDED:
            continue
        namespace = items[0]["metadata"]["namespace"]
        deleted = gateway.delete_by_label(namespace, f"portal/subscription={subscription_id}")
        with atomic():
            audit_record(action="cluster.orphan_deleted", actor_id=None, target_type="subscription",
                         target_id=subscription_id, details={"namespace": namespace, "objects": deleted})
        outcome["orphans_deleted"] += 1
    if unknown:
        with atomic():
            staff_alert(key=f"unknown-instances:{','.join(sorted(unknown))}",
                        title="Instances in the cluster that the portal does not know",
                        message="These portal-labelled workloads have no subscription in the database and were "
                                f"left alone: {', '.join(sorted(unknown))}. If a backup was restored, re-create "
                                "their subscriptions; otherwise delete them by hand.")
    outcome["unknown_kept"] = len(unknown)
    return outcome


def _backup_schedules_reconcile() -> int:
    """Every running instance has its backup schedule: made for instances set up before Velero was installed,
    and again when one was deleted by hand."""
    try:
        present = {item["metadata"]["name"] for item in cluster().list_objects(
            API_VERSION, "Schedule", namespace=current_app.config["VELERO_NAMESPACE"], selector=MANAGED_SELECTOR)}
    except ObjectNotFound as exc:
        with atomic():
            velero_absent_alert(str(exc))
        return 0
    applied = 0
    for subscription in db.session.scalars(select(Subscription).where(Subscription.state == "active")
                                           .options(joinedload(Subscription.plan).joinedload(Plan.service))):
        target = instance_target(subscription)
        if target.names.instance not in present:
            applied += backup_schedule_apply(target, paused=False)
    return applied


@use_case
def _interrupted_work_resume(workloads: dict[str, list[dict]]) -> dict:
    """Work whose task was lost (a worker killed mid-way, a queue restarted) is queued again: a setup
    with no progress for PROVISION_STALE_MINUTES, and a suspended instance whose workloads still run."""
    stale_before = utcnow() - timedelta(minutes=current_app.config["PROVISION_STALE_MINUTES"])
    last_progress = select(func.max(InstanceEvent.created_at)).where(
        InstanceEvent.subscription_id == Subscription.id).scalar_subquery()
    stuck = list(db.session.scalars(select(Subscription.id).where(
        Subscription.state == "provisioning", Subscription.state_changed_at < stale_before,
        func.coalesce(last_progress, Subscription.state_changed_at) < stale_before)))
    suspended = set(db.session.scalars(select(Subscription.id).where(
        Subscription.state == "suspended", Subscription.id.in_([int(i) for i in workloads if i and i.isdigit()]))))
    running = [sid for sid in suspended
               if any((item["spec"].get("replicas") or 0) > 0 for item in workloads[str(sid)])]
    for subscription_id in stuck:
        instance_event_record(subscription_id=subscription_id, kind="resumed", level="warning",
                              message=N_("Setup was interrupted; picking it up again."))
        after_commit("instance.provision", subscription_id=subscription_id)
    for subscription_id in running:
        after_commit("instance.suspend", subscription_id=subscription_id)
    return {"resumed": len(stuck), "resuspended": len(running)}


def _workloads(target: InstanceTarget) -> list[tuple[str, str]]:
    return [(component.kind, target.names.object(component.name)) for component in target.template.components]


@use_case
def instance_restart(*, subscription_id: int) -> None:
    """Rollout-restart every workload of the instance (new pods; the data stays)."""
    subscription = _load(subscription_id)
    target = instance_target(subscription)
    at = utcnow().isoformat()
    for kind, name in _workloads(target):
        cluster().restart(target.names.namespace, kind, name, at)
    instance_rollout_applied(subscription_id=subscription.id, kind="restart")
    after_commit("instances.watch")


@use_case
def instance_settings_apply(*, subscription_id: int) -> str:
    """Apply a running instance's changed settings (its pods roll); "skipped" unless it is active."""
    subscription = _load(subscription_id)
    if subscription is None or subscription.state != "active":
        return "skipped"
    _apply(subscription, record_steps=False)
    instance_rollout_applied(subscription_id=subscription.id, kind="settings")
    after_commit("instances.watch")
    return "applied"


@use_case
def instance_domains_apply(*, subscription_id: int) -> str:
    """The instance's domains changed (verified, primary chosen, a certificate issued): its Ingresses and the app's
    own address setting are applied again (pods roll only when that setting changed). "skipped" unless active:
    provisioning and resuming apply them anyway."""
    subscription = _load(subscription_id)
    if subscription is None or subscription.state != "active":
        return "skipped"
    _apply(subscription, record_steps=False)
    after_commit("domains.certificates_watch", subscription_id=subscription_id)
    return "applied"


@use_case
def instance_domain_detach(*, subscription_id: int, domain_id: int) -> None:
    """A removed domain's Ingress, Certificate and secret go; the rest is applied again (another domain may be
    primary now). The provider's address is never touched."""
    subscription = _load(subscription_id)
    if subscription is None or not subscription.namespace:
        return
    target = instance_target(subscription)
    _domain_objects_delete(cluster(), target, domain_id)
    if subscription.state == "active":
        _apply(subscription, record_steps=False)


@use_case
def instance_certificate_renew(*, subscription_id: int, domain_id: int) -> str:
    """The customer's "Try again" on a failing certificate: cert-manager is asked for a new issuance now (as
    `cmctl renew` does), then the instance's certificates are watched until it answers. "skipped" when the domain
    is gone or its certificate issued meanwhile; ClusterError when the cluster refuses (the task gives up with
    `instance_certificate_renew_give_up`)."""
    domain = db.session.get(CustomDomain, domain_id)
    if domain is None or domain.subscription_id != subscription_id or domain.dns_state != "verified" or \
            domain.certificate_state == "issued":
        return "skipped"
    subscription = _load(subscription_id)
    if subscription.state != "active" or not subscription.namespace:
        raise ObjectNotFound("the instance is not running, so its certificates are not on the cluster",
                             reason="NotRunning")
    target = instance_target(subscription)
    cluster().certificate_renew(target.names.namespace, domain_certificate_name(target.names, domain_id),
                                at=utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"))
    after_commit("domains.certificates_watch", subscription_id=subscription_id)
    return "requested"


def instance_certificate_renew_give_up(*, domain_id: int, reason: str) -> None:
    domains.domain_certificate_retry_failed(domain_id=domain_id, reason=reason)


def certificate_observation(item: dict | None) -> domains.CertificateObservation:
    """cert-manager's Certificate in the portal's words: issued (Ready=True, with notAfter), pending while an
    issuance is under way (Issuing=True: a first one, a retry after failures or one asked for), failed (the
    Issuing condition's failure message), or pending."""
    if item is None:
        return domains.CertificateObservation("pending")
    status = item.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready, issuing = conditions.get("Ready", {}), conditions.get("Issuing", {})
    if ready.get("status") == "True" and status.get("notAfter"):
        return domains.CertificateObservation("issued", not_after=_timestamp(status["notAfter"]))
    if issuing.get("status") == "True":  # lastFailureTime stays until an issuance succeeds
        return domains.CertificateObservation("pending")
    if issuing.get("status") == "False" and issuing.get("reason") == "Failed" or status.get("lastFailureTime"):
        reason = issuing.get("message") or ready.get("message") or "cert-manager could not issue the certificate"
        return domains.CertificateObservation("failed", reason=reason)
    return domains.CertificateObservation("pending")


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def instance_certificates_read(*, subscription_id: int) -> bool:
    """Read each verified domain's Certificate and record it; True while one is still being issued."""
    subscription = _load(subscription_id)
    if subscription is None or not subscription.namespace:
        return False
    target = instance_target(subscription)
    gateway = cluster()
    observed = {}
    for route in instance_domains(subscription_id).routes:
        observed[route.id] = certificate_observation(gateway.get(
            "cert-manager.io/v1", "Certificate", target.names.namespace, domain_certificate_name(target.names,
                                                                                                route.id)))
    db.session.rollback()  # the reads above began a transaction; the record below is its own use case
    return domains.domain_certificates_record(subscription_id=subscription_id, observed=observed)


@use_case
def instance_rollout_give_up(*, subscription_id: int, reason: str) -> None:
    """A restart or settings change the cluster refused: the customer reads why, staff are told."""
    kind = instance_rollout_failed(subscription_id=subscription_id, reason=reason)
    subscription = _load(subscription_id)
    staff_alert(key=f"rollout-failed:{subscription_id}:{utcnow():%Y%m%d%H%M}",
                title=f"{'Settings change' if kind == 'settings' else 'Restart'} failed for subscription "
                      f"#{subscription_id}", message=f"{subscription.subdomain}: {reason}")


@use_case
def instance_suspend(*, subscription_id: int) -> None:
    """Scale to zero and take the ingress out: nothing served, nothing lost."""
    subscription = _load(subscription_id)
    if subscription.state != "suspended":
        return
    target = instance_target(subscription)
    gateway = cluster()
    for kind, name in _workloads(target):
        try:
            gateway.scale(target.names.namespace, kind, name, 0)
        except ObjectNotFound:
            pass  # never created (suspended before provisioning finished): nothing to scale
    # Every address goes: the provider's and the customer's domains (their certificates stay until removal).
    gateway.delete_by_label(target.names.namespace, f"portal/subscription={subscription.id}",
                            kinds=[("networking.k8s.io/v1", "Ingress")])
    backup_schedule_apply(target, paused=True)  # nothing changes while stopped; the backups made so far are kept
    instance_event_record(subscription_id=subscription.id, kind="step.suspended",
                          message=N_("Instance stopped and taken offline; your data is kept."))


@use_case
def instance_terminate(*, subscription_id: int) -> int:
    """Delete the instance's objects; then its namespace when nothing else of the customer's is in it."""
    subscription = _load(subscription_id)
    if subscription.state != "terminated":
        return 0
    target = instance_target(subscription)
    gateway = cluster()
    for domain_id in domains.domains_release(subscription_id=subscription.id):
        _domain_objects_delete(gateway, target, domain_id)
    deleted = gateway.delete_by_label(target.names.namespace, f"portal/subscription={subscription.id}")
    backup_schedule_remove(target)
    others = _neighbours(subscription.user_id, target.names.namespace)
    if others:
        for manifest in _namespace_manifests(target):
            gateway.apply(manifest)  # the quota shrinks to the plans that remain
    else:
        gateway.delete_namespace(target.names.namespace)
    instance_event_record(subscription_id=subscription.id, kind="step.terminated",
                          message=nphrase("Instance deleted (%(num)d object).", "Instance deleted (%(num)d objects).",
                                          deleted), level="warning")
    return deleted


@dataclass(frozen=True)
class ClusterObject:
    """One of an instance's objects as the cluster has it now, summed up for staff."""
    kind: str
    name: str
    summary: str


def _object_summary(item: dict) -> str:
    spec, status = item.get("spec") or {}, item.get("status") or {}
    kind = item.get("kind", "")
    if kind in WORKLOAD_KINDS:
        return f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)} ready"
    if kind == "Pod":
        restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
        return f"{status.get('phase', 'Unknown')} on {spec.get('nodeName') or '—'}, {restarts} restarts"
    if kind == "PersistentVolumeClaim":
        return f"{status.get('phase', 'Pending')}, {spec.get('resources', {}).get('requests', {}).get('storage', '')}"
    if kind == "Ingress":
        return ", ".join(rule.get("host", "") for rule in spec.get("rules") or []) or "no hosts"
    if kind == "Service":
        return ", ".join(str(port.get("port")) for port in spec.get("ports") or [])
    return ""


def instance_objects(*, subscription_id: int) -> list[ClusterObject]:
    """What the cluster holds for the instance right now (one list call per kind); raises ClusterError."""
    subscription = _load(subscription_id)
    if not subscription.namespace:
        return []
    gateway = cluster()
    found = []
    for api_version, kind in [*INSTANCE_KINDS, ("v1", "Pod")]:
        for item in gateway.list_objects(api_version, kind, namespace=subscription.namespace,
                                         selector=f"portal/subscription={subscription.id}"):
            item.setdefault("kind", kind)
            found.append(ClusterObject(kind, item["metadata"]["name"], _object_summary(item)))
    return found


# The Kubernetes version whose strict schema the staff preview checks manifests against.
PREVIEW_SCHEMA_VERSION = "1.34"


@dataclass(frozen=True)
class PreviewManifest:
    kind: str
    name: str
    text: str
    problem: str | None


def manifests_preview(*, plan_id: int) -> list[PreviewManifest]:
    """What one plan would render for a sample customer, each manifest checked against the strict
    Kubernetes schema. Secrets show a placeholder: real ones are generated at provisioning."""
    plan = db.session.get(Plan, plan_id)
    template = template_for(plan.service.slug)
    if template is None:
        raise LookupError(f"no service template for {plan.service.slug!r}")
    config = current_app.config
    names = instance_names(namespace_prefix=config["K8S_NAMESPACE_PREFIX"], user_id=1, service_slug=template.slug,
                           subscription_id=1, subdomain="preview", cluster_domain=config["K8S_CLUSTER_DOMAIN"])
    options = ClusterOptions.from_config(config)
    # The relay as instances get it, its login shown by name only; its addresses are resolved at apply time.
    relay = MailServer(host=config["APP_MAIL_RELAY_HOST"], port=config["APP_MAIL_RELAY_PORT"],
                       tls_mode=config["APP_MAIL_RELAY_TLS"], username="(APP_MAIL_RELAY_USER)",
                       password="(APP_MAIL_RELAY_PASSWORD)",
                       sender=instance_mail_sender(host=names.host, subdomain="preview",
                                                   sender_domain=config["APP_MAIL_SENDER_DOMAIN"])
                       ) if config["APP_MAIL_RELAY_HOST"] else None
    manifests = namespace_manifests(namespace=names.namespace, user_id=1, plans=[plan], options=options) + \
        instance_manifests(template=template, plan=plan, settings=settings_defaults(template),
                           secrets={s.name: "(generated at provisioning)" for s in template.secrets},
                           names=names, subscription_id=1, options=options, mail=relay)
    preview = []
    # Imported here: its schemas and jsonschema are ~15 MiB that only this staff preview needs in a web worker.
    import kubernetes_validate

    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, PREVIEW_SCHEMA_VERSION, strict=True)
            problem = None
        except kubernetes_validate.ValidationError as error:
            problem = f"{'.'.join(str(p) for p in error.path)}: {error.message}"
        preview.append(PreviewManifest(manifest["kind"], manifest["metadata"]["name"],
                                       yaml.safe_dump(manifest, sort_keys=False), problem))
    return preview


@use_case
def node_cordon(*, name: str, unschedulable: bool, actor_id: int, ip: str | None = None) -> None:
    """Cordon (no new pods) or uncordon a node; recorded at once, audited."""
    node = db.session.scalar(select(Node).where(Node.name == name))
    if node is None:
        raise ObjectNotFound(f"no node named {name}")
    cluster().cordon(name, unschedulable)
    node.unschedulable = unschedulable
    audit_record(action="node.cordoned" if unschedulable else "node.uncordoned", actor_id=actor_id,
                 target_type="node", target_id=name, ip=ip)


@use_case
def nodes_sync() -> list[str]:
    """Record every node's readiness and size; a node going NotReady or coming back alerts staff."""
    changes = []
    seen = set()
    for item in cluster().list_nodes():
        name = item["metadata"]["name"]
        seen.add(name)
        conditions = item.get("status", {}).get("conditions", [])
        ready_condition = next((c for c in conditions if c.get("type") == "Ready"), {})
        ready = ready_condition.get("status") == "True"
        node = db.session.scalar(select(Node).where(Node.name == name))
        if node is None:
            node = Node(name=name, ready=ready)
            db.session.add(node)
        elif node.ready != ready:
            changes.append(f"{name} is {'Ready again' if ready else 'NotReady'}")
        node.ready = ready
        node.unschedulable = bool(item.get("spec", {}).get("unschedulable", False))
        node.capacity = item.get("status", {}).get("capacity", {})
        node.allocatable = item.get("status", {}).get("allocatable", {})
        node.conditions = conditions
        node.last_heartbeat_at = utcnow()
    for change in changes:
        staff_alert(key=f"node:{change}:{utcnow().isoformat(timespec='minutes')}", title=f"Node {change}",
                    message=f"The cluster reports that node {change}.")
    return changes

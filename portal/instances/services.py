"""What a customer may do with an instance beyond its life cycle: read logs, reveal credentials, ask for a restart."""
import re
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _

from portal.audit.services import audit_record
from portal.catalog.selectors import template_for
from portal.extensions import db
from portal.provisioning.cluster import ClusterError, ObjectNotFound, cluster_for
from portal.provisioning.services import instance_target
from portal.subscriptions.models import Subscription
from portal.subscriptions.rollouts import instance_rollout_start
from portal.subscriptions.states import restartable
from portal.unit_of_work import after_commit, use_case

MAX_LOG_LINES = 2000
MAX_LINE_CHARS = 2000
MAX_LOG_BYTES = 1_000_000
TIMESTAMPED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (.*)$")


class InstanceNotRunning(Exception):
    """A restart was asked of an instance that is not running (being set up, stopped or gone)."""

    def __init__(self):
        super().__init__(_("Only a running instance can be restarted."))


@dataclass
class LogLines:
    lines: list[tuple[str, str]] = field(default_factory=list)  # (timestamp, text)
    pod: str | None = None
    problem: str | None = None
    truncated: bool = False


def instance_log(*, subscription, component: str, tail: int = 100, previous: bool = False,
                 since_time: str | None = None) -> LogLines:
    """A component's log lines, newest last, capped in count and size; a friendly problem instead of an error."""
    template = template_for(subscription.plan.service.slug)
    if component not in {c.name for c in template.components}:
        return LogLines(problem=_("There is no such part of this app."))
    if not subscription.namespace:
        return LogLines(problem=_("Your instance has not been created yet."))
    gateway = cluster_for(current_app.config)
    selector = (f"app.kubernetes.io/instance={instance_target(subscription).names.instance},"
                f"app.kubernetes.io/component={component}")
    try:
        # Listed in the instance's own namespace: the API server looks at its pods only, not the whole cluster's.
        pods = gateway.list_objects("v1", "Pod", namespace=subscription.namespace, selector=selector)
    except ClusterError:
        return LogLines(problem=_("We cannot reach the cluster right now. Please try again in a moment."))
    if not pods:
        return LogLines(problem=_("This part of your app is not running right now, so there are no logs to show."))
    pod = sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""))[-1]["metadata"]["name"]
    tail = max(1, min(int(tail), MAX_LOG_LINES))
    try:
        text = gateway.read_log(subscription.namespace, pod, container=component,
                                tail_lines=None if since_time else tail, since_time=since_time, timestamps=True,
                                previous=previous)
    except ObjectNotFound:
        return LogLines(pod=pod, problem=_("This part of your app has just been replaced; try again in a moment."))
    except ClusterError as exc:
        if previous:
            return LogLines(pod=pod, problem=_("There is no earlier run to show: this container has not restarted."))
        return LogLines(pod=pod, problem=_("The logs could not be read (%(reason)s).",
                                                              reason=exc.reason or _("cluster error")))
    result = LogLines(pod=pod)
    if len(text) > MAX_LOG_BYTES:
        text, result.truncated = text[-MAX_LOG_BYTES:], True
    for raw in text.splitlines()[-MAX_LOG_LINES:]:
        match = TIMESTAMPED.match(raw)
        stamp, line = (match.group(1), match.group(2)) if match else ("", raw)
        if len(line) > MAX_LINE_CHARS:
            line, result.truncated = line[:MAX_LINE_CHARS] + " …", True
        if since_time and stamp and stamp <= since_time:
            continue  # the API's sinceTime is whole seconds: drop what the follower already has
        result.lines.append((stamp, line))
    return result


@use_case
def instance_credentials(*, subscription, actor_id: int, ip: str | None) -> list[tuple[str, str]]:
    """The generated secrets a customer may see, read from the cluster; every reveal is audited."""
    template = template_for(subscription.plan.service.slug)
    visible = [s for s in template.secrets if s.customer_visible]
    values = {}
    if visible and subscription.namespace:
        names = instance_target(subscription).names
        values = cluster_for(current_app.config).read_secret(names.namespace, names.object("secrets")) or {}
    audit_record(action="instance.credentials_revealed", actor_id=actor_id, target_type="subscription",
                 target_id=subscription.id, ip=ip, details={"keys": [s.name for s in visible]})
    return [(s.label or s.name, values.get(s.name, "")) for s in visible if s.name in values]


@use_case
def instance_restart_request(*, subscription_id: int) -> None:
    """Record the customer's request (timeline and rollout) at once, then let a worker restart the instance."""
    subscription = db.session.get(Subscription, subscription_id, with_for_update=True, populate_existing=True)
    if subscription is None or not restartable(subscription):
        raise InstanceNotRunning()
    instance_rollout_start(subscription_id=subscription_id, kind="restart")
    after_commit("instance.restart", subscription_id=subscription_id)

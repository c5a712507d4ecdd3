"""The portal's ClusterRole grants exactly what the cluster gateway uses: derived from the API calls it makes.

The gateway (portal/provisioning/cluster.py) runs against the emulated cluster through a sequence that
uses every one of its methods and every service template; each logged request becomes the
(apiGroup, resource, verb) the API server would authorize, and the ClusterRole in deploy/ must grant
that set, no more and no less.
"""
import inspect
import threading

import pytest
from sqlalchemy import select

from portal.admin import services as staff_actions
from portal.backups import services as backups
from portal.backups.models import Restore
from portal.catalog.selectors import service_templates
from portal.domains import services as domains
from portal.domains.models import CustomDomain
from portal.extensions import db
from portal.instances import services as instances
from portal.instances.sweep import instances_sweep
from portal.instances.watcher import StatusWatcher
from portal.provisioning import services as provisioning
from portal.provisioning.cluster import KINDS, Cluster, cluster_for
from portal.provisioning.leader import LeaderElector
from portal.provisioning.models import Node
from portal.subscriptions.models import Subscription
from tests.helpers import methods_called, wait_until
from tests.ops.manifests import deploy_documents, one

# Paths outside the resource API. /version is readable by every authenticated client through the
# default `system:public-info-viewer` binding, so the portal's role does not repeat it.
DEFAULT_NON_RESOURCE = {"/version"}


def authorization_of(method: str, path: str, query: str) -> set[tuple[str, str, str]] | str:
    """What the API server checks for one request: {(apiGroup, resource, verb)}, or the path for a non-resource URL."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return path
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]  # a namespaced resource: the namespace does not change the rule
    resource, name, subresource = rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
    if subresource:
        resource = f"{resource}/{subresource}"
    if method == "GET" and "watch=true" in query:
        verbs = {"watch"}
    elif method == "GET":
        verbs = {"get"} if name else {"list"}
    elif method == "PATCH":
        # Server-side apply (the gateway's only PATCH with a field manager) creates a missing object,
        # which the API server authorizes as `create` besides `patch`.
        verbs = {"patch", "create"} if "fieldManager=" in query else {"patch"}
    elif method == "DELETE":
        verbs = {"delete"} if name else {"deletecollection"}
    elif method == "POST":
        verbs = {"create"}
    elif method == "PUT":
        verbs = {"update"}
    else:
        raise AssertionError(f"unexpected method {method} {path}")
    return {(group, resource, verb) for verb in verbs}


@pytest.mark.parametrize("method,path,query,expected", [
    ("GET", "/api/v1/pods", "labelSelector=app.kubernetes.io/managed-by=portal", {("", "pods", "list")}),
    ("GET", "/api/v1/namespaces/customer-1/pods/web-0/log", "container=app", {("", "pods/log", "get")}),
    ("PATCH", "/api/v1/namespaces/customer-1", "fieldManager=portal&force=true",
     {("", "namespaces", "patch"), ("", "namespaces", "create")}),
    ("PATCH", "/apis/apps/v1/namespaces/customer-1/deployments/n8n-1", "", {("apps", "deployments", "patch")}),
    ("PATCH", "/apis/apps/v1/namespaces/customer-1/statefulsets/db/scale", "",
     {("apps", "statefulsets/scale", "patch")}),
    ("DELETE", "/api/v1/namespaces/customer-1", "propagationPolicy=Background", {("", "namespaces", "delete")}),
    ("GET", "/apis/metrics.k8s.io/v1beta1/pods", "labelSelector=x", {("metrics.k8s.io", "pods", "list")}),
    ("GET", "/version", "", "/version"),
    ("GET", "/api/v1/pods", "watch=true&resourceVersion=7", {("", "pods", "watch")}),
    ("PUT", "/apis/coordination.k8s.io/v1/namespaces/portal/leases/portal-watcher", "",
     {("coordination.k8s.io", "leases", "update")}),
])
def test_requests_map_to_what_the_api_server_authorizes(method, path, query, expected):
    assert authorization_of(method, path, query) == expected


def granted_by(role: dict) -> set[tuple[str, str, str]]:
    granted = set()
    for rule in role["rules"]:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    granted.add((group, resource, verb))
    return granted


@pytest.fixture
def gateway_calls(app, kube, kube_clock, paid, make_user):
    """Run the gateway through everything the portal does with a cluster; returns (requests, methods used)."""
    with methods_called(Cluster) as used:
        requests = _portal_cluster_work(app, kube, kube_clock, paid, make_user)
    return requests, used


def _portal_cluster_work(app, kube, kube_clock, paid, make_user) -> list:
    staff = make_user(email="boss@example.com", staff=True)
    gateway = cluster_for(app.config)
    kube.requests.clear()

    assert gateway.check().ok
    # Every catalog app for one customer, one more app for another: terminating one of the first
    # customer's re-applies their namespace's quota, terminating the second's deletes the namespace.
    sids = [paid(slug, subdomain=f"ops-{slug}", email="ana@example.com") for slug in service_templates()]
    sids.append(paid(next(iter(service_templates())), subdomain="ops-second", email="budi@example.com"))
    kube_clock.advance(60)
    instances_sweep()  # pods across namespaces, then pod metrics
    assert {db.session.get(Subscription, sid).state for sid in sids} == {"active"}
    first = db.session.get(Subscription, sids[0])
    component = service_templates()[first.plan.service.slug].components[0].name
    assert instances.instance_log(subscription=first, component=component, tail=5).lines
    instances.instance_credentials(subscription=first, actor_id=first.user_id, ip=None)
    assert provisioning.instance_objects(subscription_id=sids[0])
    provisioning.instances_reconcile()
    provisioning.nodes_sync()
    node = db.session.scalars(select(Node.name)).first()
    provisioning.node_cordon(name=node, unschedulable=True, actor_id=staff.id)
    provisioning.node_cordon(name=node, unschedulable=False, actor_id=staff.id)
    # A customer's own mail password, merged into the instance's Secret.
    provisioning.instance_secret_values_set(subscription_id=sids[0], values={"own_mail_password": "s3cret-mail"})
    # A customer's domain: its Ingress applied, its Certificate read, then removed with its secret.
    domain = CustomDomain(subscription_id=sids[0], name="blog.ops.example", token="t", dns_state="verified",
                          certificate_state="pending", is_primary=True)
    db.session.add(domain)
    db.session.commit()
    provisioning.instance_domains_apply(subscription_id=sids[0])
    provisioning.instance_certificates_read(subscription_id=sids[0])
    # The customer's "Try again": the Certificate's status gains Issuing=True, as `cmctl renew` writes it.
    assert provisioning.instance_certificate_renew(subscription_id=sids[0], domain_id=domain.id) == "requested"
    domains.domain_remove(subscription_id=sids[0], domain_id=domain.id)
    # Backups: one on demand, mirrored, restored into a fresh namespace and switched over; a second one.
    backup = backups.backup_request(subscription_id=sids[0], user_id=None)
    kube_clock.advance(10)
    backups.backups_sync()
    restore = backups.restore_request(subscription_id=sids[0], backup_id=backup.id, user_id=None,
                                      confirmation=first.subdomain)
    for _ in range(10):
        if backups.restore_advance(restore_id=restore.id) != "waiting":
            break
        kube_clock.advance(5)
    assert db.session.get(Restore, restore.id).state == "completed"
    backups.backup_request(subscription_id=sids[0], user_id=None)
    kube_clock.advance(10)
    staff_actions.staff_restart(subscription_id=sids[0], actor_id=staff.id)
    staff_actions.staff_suspend(subscription_id=sids[1], reason="chargeback", actor_id=staff.id)
    for sid in (sids[0], sids[-1]):  # one namespace keeps a subscription, the other goes
        staff_actions.staff_terminate(subscription_id=sid, confirmation=db.session.get(Subscription, sid).subdomain,
                                      actor_id=staff.id)
    _watcher_work(app, gateway)
    backups.backups_sync()  # the terminated instance keeps its last backup, the other is deleted
    return list(kube.requests)


def _watcher_work(app, gateway) -> None:
    """The watcher's replicas: the Lease taken, renewed and handed back; the lists and watches of the leader."""
    config = app.config
    elector = LeaderElector(gateway, namespace=config["WATCHER_LEASE_NAMESPACE"], name=config["WATCHER_LEASE_NAME"],
                            identity="rbac", lease_seconds=8, renew_deadline_seconds=6, retry_seconds=2)
    assert elector.try_acquire_or_renew() and elector.try_acquire_or_renew()
    elector.release()
    watcher, stopping = StatusWatcher(app, gateway), threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stopping,), daemon=True)
    thread.start()
    wait_until(lambda: watcher.stats["lists"] and len(watcher._streams) == 4, timeout=30)
    stopping.set()
    thread.join(timeout=15)


def test_cluster_role_grants_exactly_what_the_gateway_uses(gateway_calls):
    requests, used = gateway_calls
    # The sequence is complete: a gateway method added later fails here until the sequence uses it.
    public = {name for name, _ in inspect.getmembers(Cluster, inspect.isfunction) if not name.startswith("_")}
    assert used == public, f"not exercised: {sorted(public - used)}"

    needed, non_resource = set(), set()
    for request in requests:
        permission = authorization_of(request.method, request.path, request.query)
        if isinstance(permission, str):
            non_resource.add(permission)
        else:
            needed |= permission
    assert non_resource <= DEFAULT_NON_RESOURCE, non_resource

    # Everything needed is one of the gateway's own kinds, or a subresource or the metrics API it names.
    plurals = {(api_version.rpartition("/")[0], plural) for (api_version, _), (plural, _) in KINDS.items()}
    extras = {("", "pods/log"), ("apps", "deployments/scale"), ("apps", "statefulsets/scale"),
              ("metrics.k8s.io", "pods"), ("cert-manager.io", "certificates/status")}
    assert {(group, resource) for group, resource, _ in needed} <= plurals | extras

    # The watcher's Lease lives in the portal's own namespace: a Role there grants it, not the ClusterRole.
    leases = {permission for permission in needed if permission[1] == "leases"}
    needed -= leases
    lease_role = one("Role")
    assert lease_role["metadata"]["namespace"] == "portal"
    assert granted_by(lease_role) == leases == {("coordination.k8s.io", "leases", verb)
                                                for verb in ("get", "create", "update")}

    role = one("ClusterRole")
    for rule in role["rules"]:
        assert "nonResourceURLs" not in rule and "resourceNames" not in rule, rule
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], f"wildcard in {key}: {rule}"
    granted = granted_by(role)
    assert needed - granted == set(), f"missing from the ClusterRole: {sorted(needed - granted)}"
    assert granted - needed == set(), f"granted but never used: {sorted(granted - needed)}"


def test_the_service_account_is_bound_to_the_role_and_used_by_web_and_worker():
    role, binding = one("ClusterRole"), one("ClusterRoleBinding")
    account = one("ServiceAccount")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": account["metadata"]["namespace"]}]
    deployments = [doc for doc in deploy_documents() if doc["kind"] == "Deployment"]
    assert len(deployments) == 3  # web, worker, watcher
    for deployment in deployments:
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]

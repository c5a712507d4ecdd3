"""The portal's customer manifests on the emulated cluster: every app and plan admitted with its scratch disk
counted in the quota, and what breaks the quota refused with the real server's words."""
import copy
import json

import pytest
from kubernetes.client.rest import ApiException

from emulators.kube import quantities
from portal.catalog.parameters import settings_clean
from portal.provisioning.manifests import instance_manifests, instance_names, namespace_manifests
from tests.emulators.manifests import deployment
from tests.provisioning.test_manifests import OPTIONS, SECRETS, TEMPLATES

CASES = [(slug, plan.slug) for slug, template in TEMPLATES.items() for plan in template.plans]
NAMESPACE = "customer-7"


def customer_manifests(slug: str, plan_slug: str) -> list[dict]:
    template = TEMPLATES[slug]
    plan = template.plan(plan_slug)
    names = instance_names(namespace_prefix="customer-", user_id=7, service_slug=slug, subscription_id=42,
                           subdomain="toko", cluster_domain=OPTIONS.cluster_domain)
    return namespace_manifests(namespace=NAMESPACE, user_id=7, plans=[plan], options=OPTIONS) + instance_manifests(
        template=template, plan=plan, settings=settings_clean(template, {}), secrets=SECRETS[slug], names=names,
        subscription_id=42, options=OPTIONS)


def ephemeral_total(manifests: list[dict], kind: str) -> float:
    return sum(quantities.parse(container["resources"][kind]["ephemeral-storage"]) for m in manifests
               if m["kind"] in ("Deployment", "StatefulSet")
               for container in m["spec"]["template"]["spec"]["containers"])


def failure(apps, name: str) -> str | None:
    conditions = apps.read_namespaced_deployment(name, NAMESPACE).status.conditions or []
    return next((c.message for c in conditions if c.type == "ReplicaFailure"), None)


@pytest.mark.parametrize("slug, plan_slug", CASES)
def test_every_app_and_plan_is_admitted_with_its_scratch_disk_counted(gateway, core, apps, slug, plan_slug):
    manifests = customer_manifests(slug, plan_slug)
    for manifest in manifests:
        gateway.apply(manifest)  # NetworkPolicies, quota and limit range pass the server's validation too
    workloads = [m for m in manifests if m["kind"] in ("Deployment", "StatefulSet")]
    assert len(core.list_namespaced_pod(NAMESPACE).items) == len(workloads)
    assert failure(apps, next(m for m in workloads if m["kind"] == "Deployment")["metadata"]["name"]) is None
    quota = core.read_namespaced_resource_quota("portal-quota", NAMESPACE).status
    for kind in ("limits", "requests"):
        used = quantities.parse(quota.used[f"{kind}.ephemeral-storage"])
        assert used == ephemeral_total(workloads, kind) > 0
        assert used <= quantities.parse(quota.hard[f"{kind}.ephemeral-storage"])


def test_an_app_asking_more_scratch_disk_than_the_quota_holds_is_refused_with_the_real_reason(gateway, core, apps):
    manifests = customer_manifests("n8n", "starter")
    for manifest in manifests:
        gateway.apply(manifest)
    app = copy.deepcopy(next(m for m in manifests if m["kind"] == "Deployment"))
    app["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["ephemeral-storage"] = "2Gi"
    gateway.apply(app)  # a template gone wrong: the new pod would take more than the plan's scratch disk
    pods = core.list_namespaced_pod(NAMESPACE, label_selector="app.kubernetes.io/component=app").items
    assert pods == []
    message = failure(apps, "n8n-42-app")
    assert message.startswith('pods "n8n-42-app-')
    # Starter: 1024Mi of scratch disk; the database holds 307Mi of it.
    assert message.endswith('" is forbidden: exceeded quota: portal-quota, requested: limits.ephemeral-storage=2Gi, '
                            'used: limits.ephemeral-storage=307Mi, limited: limits.ephemeral-storage=1Gi')


def test_a_container_without_scratch_disk_figures_gets_the_namespace_defaults_and_is_counted(gateway, core, apps):
    for manifest in customer_manifests("ghost", "starter")[:3]:  # namespace, quota, limit range
        gateway.apply(manifest)
    gateway.apply(deployment("bare", NAMESPACE, restricted=True))
    [pod] = core.list_namespaced_pod(NAMESPACE, label_selector="app.kubernetes.io/instance=bare").items
    resources = pod.spec.containers[0].resources
    assert (resources.limits["ephemeral-storage"], resources.requests["ephemeral-storage"]) == ("256Mi", "64Mi")
    used = core.read_namespaced_resource_quota("portal-quota", NAMESPACE).status.used
    assert (used["limits.ephemeral-storage"], used["requests.ephemeral-storage"]) == ("256Mi", "64Mi")


def test_without_a_limit_range_a_pod_without_scratch_disk_figures_is_admitted_as_the_real_server_does(core, apps,
                                                                                                        namespace):
    # Quota admission insists on explicit figures for CPU and memory only ("we should not repeat this mistake for
    # other future resources (gpus, ephemeral-storage, etc)", kubernetes pkg/quota/v1/evaluator/core/pods.go):
    # such a pod is admitted and counted as zero, which is why every customer namespace has its LimitRange.
    core.create_namespaced_resource_quota(namespace, {"metadata": {"name": "disk"}, "spec": {"hard": {
        "limits.ephemeral-storage": "1Gi", "requests.ephemeral-storage": "256Mi"}}})
    apps.create_namespaced_deployment(namespace, deployment("bare", namespace))
    assert len(core.list_namespaced_pod(namespace).items) == 1
    used = core.read_namespaced_resource_quota("disk", namespace).status.used
    assert used == {"limits.ephemeral-storage": "0", "requests.ephemeral-storage": "0"}


def test_a_network_policy_excepting_addresses_outside_its_block_is_invalid(networking, namespace):
    policy = {"metadata": {"name": "mixed"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": {"cidr": "::/0", "except": ["fe80::/10", "10.0.0.0/8"]}},
                {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}]}}
    with pytest.raises(ApiException) as error:
        networking.create_namespaced_network_policy(namespace, policy)
    assert error.value.status == 422
    message = json.loads(error.value.body)["message"]
    assert message == ('NetworkPolicy.networking.k8s.io "mixed" is invalid: [spec.egress[0].to[0].ipBlock.except[1]: '
                       'Invalid value: "10.0.0.0/8": must be a strict subset of `cidr`, '
                       'spec.egress[0].to[1].ipBlock.except[0]: Invalid value: "10.0.0.0/8": must be a strict subset '
                       'of `cidr`]')

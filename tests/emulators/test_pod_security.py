"""Pod Security admission in the emulated cluster: the checks give the reasons and details of the upstream
policy package's own test cases (k8s.io/pod-security-admission policy/check_*_test.go), evaluated at the namespace's
pinned version, and the API refuses a breaking pod with the real 403 message."""
import json

import pytest
from kubernetes.client.rest import ApiException

from emulators.kube.pod_security import evaluate

pytestmark = pytest.mark.smoke


def containers(*specs) -> list[dict]:
    return [{"name": name, **({"securityContext": context} if context is not None else {})}
            for name, context in specs]


# (case, spec, the single (reason, detail) the one check gives) — each from the upstream test of that check.
UPSTREAM_CASES = [
    ("runAsNonRoot: nothing set", {"containers": containers(("a", None))},
     ("runAsNonRoot != true", 'pod or container "a" must set securityContext.runAsNonRoot=true')),
    ("runAsNonRoot: pod false", {"securityContext": {"runAsNonRoot": False}, "containers": containers(("a", None))},
     ("runAsNonRoot != true", "pod must not set securityContext.runAsNonRoot=false")),
    ("runAsNonRoot: containers false",
     {"securityContext": {"runAsNonRoot": True},
      "containers": containers(("a", None), ("b", {}), ("c", {"runAsNonRoot": False}), ("d", {"runAsNonRoot": False}),
                               ("e", {"runAsNonRoot": True}), ("f", {"runAsNonRoot": True}))},
     ("runAsNonRoot != true", 'containers "c", "d" must not set securityContext.runAsNonRoot=false')),
    ("runAsNonRoot: pod unset, containers fall through",
     {"containers": containers(("a", None), ("b", {}), ("d", {"runAsNonRoot": True}), ("e", {"runAsNonRoot": True}))},
     ("runAsNonRoot != true", 'pod or containers "a", "b" must set securityContext.runAsNonRoot=true')),
    ("runAsUser: pod 0", {"securityContext": {"runAsUser": 0}, "containers": containers(("a", None))},
     ("runAsUser=0", "pod must not set runAsUser=0")),
    ("allowPrivilegeEscalation: multiple containers",
     {"containers": containers(("a", None), ("b", {}), ("c", {"allowPrivilegeEscalation": True}),
                               ("d", {"allowPrivilegeEscalation": False}))},
     ("allowPrivilegeEscalation != false",
      'containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false')),
    ("capabilities: multiple containers",
     {"containers": containers(("a", {"capabilities": {"add": ["FOO", "BAR"]}}),
                               ("b", {"capabilities": {"add": ["BAR", "BAZ"]}}),
                               ("c", {"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"],
                                                       "drop": ["ALL", "FOO"]}}))},
     ("unrestricted capabilities",
      'containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; containers "a", "b", "c" must not '
      'include "BAR", "BAZ", "CHOWN", "FOO" in securityContext.capabilities.add')),
    ("seccomp: nothing set", {"containers": containers(("a", None))},
     ("seccompProfile", 'pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
                        '"Localhost"')),
    ("seccomp: pod Unconfined", {"securityContext": {"seccompProfile": {"type": "Unconfined"}},
                                 "containers": containers(("a", None))},
     ("seccompProfile", 'pod must not set securityContext.seccompProfile.type to "Unconfined"')),
    ("seccomp: containers Unconfined",
     {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
      "containers": containers(("a", None), ("b", {}), ("c", {"seccompProfile": {"type": "Unconfined"}}),
                               ("d", {"seccompProfile": {"type": "Unconfined"}}),
                               ("e", {"seccompProfile": {"type": "RuntimeDefault"}}))},
     ("seccompProfile", 'containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined"')),
    ("sysctls: forbidden", {"securityContext": {"sysctls": [{"name": "a"}, {"name": "b"}]}, "containers": []},
     ("forbidden sysctls", "a, b")),
    ("volumes: the restricted types",
     {"containers": [], "volumes": [{"name": "a1", "emptyDir": {}}, {"name": "a2", "secret": {}},
                                    {"name": "a3", "persistentVolumeClaim": {}}, {"name": "b1", "hostPath": {}},
                                    {"name": "b5", "nfs": {}}, {"name": "c1"}]},
     ("restricted volume types", 'volumes "b1", "b5", "c1" use restricted volume types "hostPath", "nfs", "unknown"')),
    ("host namespaces", {"hostNetwork": True, "hostPID": True, "containers": []},
     ("host namespaces", "hostNetwork=true, hostPID=true")),
    ("hostPorts", {"containers": [{"name": "a", "ports": [{"containerPort": 80, "hostPort": 8080}]},
                                  {"name": "b", "ports": [{"containerPort": 81, "hostPort": 8081}]}]},
     ("hostPort", 'containers "a", "b" use hostPorts 8080, 8081')),
    ("privileged", {"containers": containers(("a", {"privileged": True}), ("b", {"privileged": False}))},
     ("privileged", 'container "a" must not set securityContext.privileged=true')),
]
# A pod that passes every restricted check.
COMPLIANT = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
             "containers": [{"name": "z", "securityContext": {"allowPrivilegeEscalation": False,
                                                               "capabilities": {"drop": ["ALL"]}}}]}


@pytest.mark.parametrize("case, spec, expected", UPSTREAM_CASES, ids=[c[0] for c in UPSTREAM_CASES])
def test_each_check_words_its_refusal_as_the_upstream_policy_does(case, spec, expected):
    failures = evaluate("restricted", (1, 31), {}, spec)
    assert [f for f in failures if f[0] == expected[0]] == [expected]


def test_a_compliant_pod_passes_and_windows_pods_skip_the_linux_only_checks():
    assert evaluate("restricted", (1, 31), {}, COMPLIANT) == []
    windows = {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True}, "containers": [{"name": "a"}]}
    assert evaluate("restricted", (1, 31), {}, windows) == []
    assert evaluate("restricted", (1, 24), {}, windows)  # the exemption came with v1.25


def test_baseline_lets_root_run_but_not_added_capabilities_nor_privilege():
    root = {"containers": [{"name": "app"}]}
    assert evaluate("baseline", (1, 31), {}, root) == []
    assert evaluate("privileged", (1, 31), {}, {"hostNetwork": True, "containers": []}) == []
    raw = {"containers": containers(("app", {"capabilities": {"add": ["NET_RAW", "SYS_ADMIN"]}}))}
    assert evaluate("baseline", (1, 31), {}, raw) == [
        ("non-default capabilities", 'container "app" must not include "NET_RAW", "SYS_ADMIN" in '
                                     "securityContext.capabilities.add")]


def test_the_pinned_version_decides_which_rules_apply():
    rmem = {**COMPLIANT, "securityContext": {**COMPLIANT["securityContext"],
                                             "sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"}]}}
    assert evaluate("restricted", (1, 31), {}, rmem) == [("forbidden sysctls", "net.ipv4.tcp_rmem")]
    assert evaluate("restricted", (1, 32), {}, rmem) == []  # allowed from v1.32
    root_uid = {**COMPLIANT, "securityContext": {**COMPLIANT["securityContext"], "runAsUser": 0}}
    assert evaluate("restricted", (1, 22), {}, root_uid) == []  # runAsUser=0 refused from v1.23
    assert evaluate("restricted", (1, 23), {}, root_uid) == [("runAsUser=0", "pod must not set runAsUser=0")]
    probe_host = {**COMPLIANT, "containers": [{**COMPLIANT["containers"][0],
                                               "readinessProbe": {"httpGet": {"path": "/", "port": 80,
                                                                              "host": "169.254.169.254"}}}]}
    assert evaluate("restricted", (1, 31), {}, probe_host) == []
    # v1.34 is this server's own version, and the newest it evaluates: "latest" and v1.40 mean v1.34 here.
    expected = [("probe or lifecycle host", 'container "z" uses probe or lifecycle host "169.254.169.254"')]
    assert evaluate("restricted", (1, 34), {}, probe_host) == expected
    assert evaluate("restricted", (1, 40), {}, probe_host) == expected


def test_several_failures_are_listed_baseline_checks_first_each_with_its_detail():
    spec = {"hostNetwork": True, "containers": [{"name": "app"}]}
    failures = evaluate("restricted", (1, 31), {}, spec)
    assert [reason for reason, _ in failures] == ["host namespaces", "allowPrivilegeEscalation != false",
                                                  "unrestricted capabilities", "runAsNonRoot != true",
                                                  "seccompProfile"]


# -- through the API, as the portal's client sees it --------------------------------------------------------------

def labelled_namespace(core, level: str = "restricted", version: str = "v1.31", name: str = "customer-9") -> str:
    core.create_namespace({"metadata": {"name": name, "labels": {
        "pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": version}}})
    return name


def root_pod(name: str = "x") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "wordpress:6.8.3-php8.3-apache"}]}}


def test_a_root_pod_is_refused_with_the_api_servers_message(core):
    namespace = labelled_namespace(core)
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, root_pod())
    assert refused.value.status == 403
    body = json.loads(refused.value.body)
    assert body["reason"] == "Forbidden" and body["details"] == {"name": "x", "kind": "pods"}
    assert body["message"] == (
        'pods "x" is forbidden: violates PodSecurity "restricted:v1.31": allowPrivilegeEscalation != false '
        '(container "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities '
        '(container "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or '
        'container "app" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "app" must '
        'set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')
    assert core.list_namespaced_pod(namespace).items == []


def test_a_compliant_pod_is_admitted_and_an_unlabelled_namespace_enforces_nothing(core):
    namespace = labelled_namespace(core)
    pod = root_pod("ok")
    pod["spec"] = {"securityContext": {"runAsNonRoot": True, "runAsUser": 33,
                                       "seccompProfile": {"type": "RuntimeDefault"},
                                       "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]},
                   "containers": [{"name": "app", "image": "wordpress:6.8.3-php8.3-apache",
                                   "securityContext": {"allowPrivilegeEscalation": False,
                                                       "capabilities": {"drop": ["ALL"]}}}]}
    assert core.create_namespaced_pod(namespace, pod).metadata.name == "ok"
    core.create_namespace({"metadata": {"name": "plain"}})
    assert core.create_namespaced_pod("plain", root_pod()).metadata.name == "x"


def test_a_baseline_namespace_refuses_an_added_capability_naming_its_own_level(core):
    namespace = labelled_namespace(core, "baseline", "latest")
    pod = root_pod()
    pod["spec"]["containers"][0]["securityContext"] = {"capabilities": {"add": ["NET_ADMIN"]}}
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, pod)
    assert json.loads(refused.value.body)["message"] == (
        'pods "x" is forbidden: violates PodSecurity "baseline:latest": non-default capabilities (container "app" '
        'must not include "NET_ADMIN" in securityContext.capabilities.add)')
    assert core.create_namespaced_pod(namespace, root_pod("root")).metadata.name == "root"


def test_a_deployment_is_stored_but_its_refused_pods_show_as_replica_failure(core, apps, cluster, clock):
    from tests.emulators.manifests import deployment

    namespace = labelled_namespace(core)
    apps.create_namespaced_deployment(namespace, deployment("blog", namespace, image="ghost:6.45.0-alpine"))
    clock.advance(5)
    assert core.list_namespaced_pod(namespace).items == []
    conditions = {c.type: c for c in apps.read_namespaced_deployment("blog", namespace).status.conditions}
    failure = conditions["ReplicaFailure"]
    assert failure.reason == "FailedCreate"
    assert 'is forbidden: violates PodSecurity "restricted:v1.31": allowPrivilegeEscalation != false' in failure.message


def test_unparsable_pod_security_labels_are_refused_on_the_namespace(core):
    with pytest.raises(ApiException) as refused:
        core.create_namespace({"metadata": {"name": "bad", "labels": {
            "pod-security.kubernetes.io/enforce": "strict", "pod-security.kubernetes.io/enforce-version": "1.31"}}})
    assert refused.value.status == 422
    message = json.loads(refused.value.body)["message"]
    assert 'metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of ' \
           'privileged, baseline, restricted' in message
    assert 'metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "1.31": must be "latest" ' \
           'or "v1.x"' in message

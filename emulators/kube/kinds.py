"""The kinds the emulator serves, and the discovery documents that describe them to clients."""
from dataclasses import dataclass

KUBERNETES_VERSION = "1.34"
GIT_VERSION = "v1.34.0-portal-emulator"

OBJECT_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update"]
STATUS_VERBS = ["get", "patch", "update"]


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    name_rule: str = "subdomain"  # "label" (RFC 1123), "label1035" (must start with a letter) or "subdomain"
    short_names: tuple = ()
    subresources: tuple = ("status",)
    verbs: tuple = tuple(OBJECT_VERBS)
    has_spec: bool = True
    stored: bool = True  # metrics are computed, never written

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified_plural(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def group_suffix(self) -> str:
        return f".{self.group}" if self.group else ""

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


KINDS = [
    KindInfo("Namespace", "namespaces", "", "v1", False, "label", ("ns",),
             verbs=("create", "delete", "get", "list", "patch", "update")),
    KindInfo("Node", "nodes", "", "v1", False, "subdomain", ("no",)),
    KindInfo("Pod", "pods", "", "v1", True, "subdomain", ("po",), ("status", "log")),
    KindInfo("Secret", "secrets", "", "v1", True, subresources=(), has_spec=False),
    KindInfo("ConfigMap", "configmaps", "", "v1", True, short_names=("cm",), subresources=(), has_spec=False),
    KindInfo("PersistentVolumeClaim", "persistentvolumeclaims", "", "v1", True, short_names=("pvc",)),
    KindInfo("Service", "services", "", "v1", True, "label1035", ("svc",)),
    KindInfo("ResourceQuota", "resourcequotas", "", "v1", True, short_names=("quota",)),
    KindInfo("LimitRange", "limitranges", "", "v1", True, short_names=("limits",), subresources=()),
    KindInfo("Deployment", "deployments", "apps", "v1", True, short_names=("deploy",),
             subresources=("status", "scale")),
    KindInfo("StatefulSet", "statefulsets", "apps", "v1", True, short_names=("sts",),
             subresources=("status", "scale")),
    KindInfo("Ingress", "ingresses", "networking.k8s.io", "v1", True, short_names=("ing",)),
    KindInfo("NetworkPolicy", "networkpolicies", "networking.k8s.io", "v1", True, short_names=("netpol",),
             subresources=()),
    KindInfo("PodMetrics", "pods", "metrics.k8s.io", "v1beta1", True, subresources=(), verbs=("get", "list"),
             has_spec=False, stored=False),
    KindInfo("NodeMetrics", "nodes", "metrics.k8s.io", "v1beta1", False, subresources=(), verbs=("get", "list"),
             has_spec=False, stored=False),
]

BY_KIND = {info.kind: info for info in KINDS}
BY_PATH = {(info.group, info.version, info.plural): info for info in KINDS}
GROUPS = {"apps": "v1", "networking.k8s.io": "v1", "metrics.k8s.io": "v1beta1"}


def lookup(group: str, version: str, plural: str) -> KindInfo | None:
    return BY_PATH.get((group, version, plural))


def version_info() -> dict:
    major, minor = KUBERNETES_VERSION.split(".")
    return {"major": major, "minor": minor, "gitVersion": GIT_VERSION, "gitCommit": "0" * 40,
            "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "none (Python emulator)",
            "compiler": "none", "platform": "portal-emulator/python",
            "emulated": True}


def core_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def group_list() -> dict:
    groups = []
    for name, version in GROUPS.items():
        entry = {"groupVersion": f"{name}/{version}", "version": version}
        groups.append({"name": name, "versions": [entry], "preferredVersion": dict(entry)})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(name: str) -> dict | None:
    if name not in GROUPS:
        return None
    entry = {"groupVersion": f"{name}/{GROUPS[name]}", "version": GROUPS[name]}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": [entry],
            "preferredVersion": dict(entry)}


def resource_list(group_name: str, version: str) -> dict | None:
    """The APIResourceList of one group version, subresources included (`deployments/scale`)."""
    infos = [info for info in KINDS if info.group == group_name and info.version == version]
    if not infos:
        return None
    resources = []
    for info in infos:
        entry = {"name": info.plural, "singularName": info.singular, "namespaced": info.namespaced,
                 "kind": info.kind, "verbs": list(info.verbs)}
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        resources.append(entry)
        for sub in info.subresources:
            resources.append(_subresource(info, sub))
    group_version = f"{group_name}/{version}" if group_name else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def _subresource(info: KindInfo, sub: str) -> dict:
    entry = {"name": f"{info.plural}/{sub}", "singularName": "", "namespaced": info.namespaced,
             "kind": info.kind, "verbs": list(STATUS_VERBS)}
    if sub == "scale":
        entry.update(group="autoscaling", version="v1", kind="Scale")
    elif sub == "log":
        entry["verbs"] = ["get"]
    return entry


@dataclass
class Route:
    """What one request path names: a kind, maybe a namespace, an object and a subresource."""
    info: KindInfo
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

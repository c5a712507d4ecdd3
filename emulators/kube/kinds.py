"""The kinds the emulator serves, and its /version."""
from dataclasses import dataclass

KUBERNETES_VERSION = "1.34"
GIT_VERSION = "v1.34.0-portal-emulator"

OBJECT_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update"]


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    name_rule: str = "subdomain"  # "label" (RFC 1123), "label1035" (must start with a letter) or "subdomain"
    subresources: tuple = ("status",)
    verbs: tuple = tuple(OBJECT_VERBS)
    has_spec: bool = True
    stored: bool = True  # metrics are computed, never written

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

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
    KindInfo("Namespace", "namespaces", "", "v1", False, "label",
             verbs=("create", "delete", "get", "list", "patch", "update")),
    KindInfo("Node", "nodes", "", "v1", False, "subdomain"),
    KindInfo("Pod", "pods", "", "v1", True, "subdomain", ("status", "log")),
    KindInfo("Secret", "secrets", "", "v1", True, subresources=(), has_spec=False),
    KindInfo("ConfigMap", "configmaps", "", "v1", True, subresources=(), has_spec=False),
    KindInfo("PersistentVolumeClaim", "persistentvolumeclaims", "", "v1", True),
    KindInfo("Service", "services", "", "v1", True, "label1035"),
    KindInfo("ResourceQuota", "resourcequotas", "", "v1", True),
    KindInfo("LimitRange", "limitranges", "", "v1", True, subresources=()),
    KindInfo("Deployment", "deployments", "apps", "v1", True, subresources=("status", "scale")),
    KindInfo("StatefulSet", "statefulsets", "apps", "v1", True, subresources=("status", "scale")),
    KindInfo("Ingress", "ingresses", "networking.k8s.io", "v1", True),
    KindInfo("NetworkPolicy", "networkpolicies", "networking.k8s.io", "v1", True, subresources=()),
    KindInfo("Lease", "leases", "coordination.k8s.io", "v1", True, subresources=()),
    # cert-manager's, as its CRD serves it (portal/provisioning/schemas/cert-manager, v1.21.1): written by the
    # emulated ingress-shim.
    KindInfo("Certificate", "certificates", "cert-manager.io", "v1", True),
    # Velero's custom resources (velero.io/v1); absent from the API when Velero is "uninstalled" (velero.py).
    KindInfo("Schedule", "schedules", "velero.io", "v1", True, subresources=()),
    KindInfo("Backup", "backups", "velero.io", "v1", True, subresources=()),
    KindInfo("Restore", "restores", "velero.io", "v1", True, subresources=()),
    KindInfo("DeleteBackupRequest", "deletebackuprequests", "velero.io", "v1", True, subresources=()),
    KindInfo("PodVolumeBackup", "podvolumebackups", "velero.io", "v1", True, subresources=()),
    KindInfo("PodMetrics", "pods", "metrics.k8s.io", "v1beta1", True, subresources=(), verbs=("get", "list"),
             has_spec=False, stored=False),
    KindInfo("NodeMetrics", "nodes", "metrics.k8s.io", "v1beta1", False, subresources=(), verbs=("get", "list"),
             has_spec=False, stored=False),
]

BY_KIND = {info.kind: info for info in KINDS}
BY_PATH = {(info.group, info.version, info.plural): info for info in KINDS}


def lookup(group: str, version: str, plural: str) -> KindInfo | None:
    return BY_PATH.get((group, version, plural))


def version_info() -> dict:
    major, minor = KUBERNETES_VERSION.split(".")
    return {"major": major, "minor": minor, "gitVersion": GIT_VERSION, "gitCommit": "0" * 40,
            "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "none (Python emulator)",
            "compiler": "none", "platform": "portal-emulator/python",
            "emulated": True}


@dataclass
class Route:
    """What one request path names: a kind, maybe a namespace, an object and a subresource."""
    info: KindInfo
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

"""The cluster gateway: the one module that talks to Kubernetes, through the official client.

Every call has a timeout; API errors become the domain errors below, carrying the API's reason.
Bodies are plain dicts in and out (the client's typed models cost ~7x more to build on a sweep).
"""
import base64
import json
import socket
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import quote

import orjson
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

FIELD_MANAGER = "portal"
MANAGED_SELECTOR = "app.kubernetes.io/managed-by=portal"

# (apiVersion, kind) -> (plural, namespaced): the kinds the portal creates or reads.
KINDS = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "Node"): ("nodes", False),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("v1", "Service"): ("services", True),
    ("v1", "ResourceQuota"): ("resourcequotas", True),
    ("v1", "LimitRange"): ("limitranges", True),
    ("v1", "Pod"): ("pods", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("networking.k8s.io/v1", "Ingress"): ("ingresses", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    ("coordination.k8s.io/v1", "Lease"): ("leases", True),
    # cert-manager's: ingress-shim makes them from an Ingress's tls; the portal reads their status and deletes
    # those of a removed domain.
    ("cert-manager.io/v1", "Certificate"): ("certificates", True),
    ("velero.io/v1", "Schedule"): ("schedules", True),
    ("velero.io/v1", "Backup"): ("backups", True),
    ("velero.io/v1", "Restore"): ("restores", True),
    ("velero.io/v1", "DeleteBackupRequest"): ("deletebackuprequests", True),
    ("velero.io/v1", "PodVolumeBackup"): ("podvolumebackups", True),
}
# What one instance is made of, deleted in this order on termination.
INSTANCE_KINDS = [("networking.k8s.io/v1", "Ingress"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
                  ("v1", "Service"), ("networking.k8s.io/v1", "NetworkPolicy"), ("v1", "PersistentVolumeClaim"),
                  ("v1", "Secret"), ("v1", "ConfigMap")]
WORKLOAD_KINDS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1"}


class ClusterError(Exception):
    """A cluster call that failed; `reason` is the API's (e.g. Invalid, Forbidden) or the network's."""
    transient = False

    def __init__(self, message: str, *, status: int | None = None, reason: str = ""):
        super().__init__(message)
        self.message, self.status, self.reason = message, status, reason


class ClusterUnavailable(ClusterError):
    """Down, slow, overloaded or in conflict: worth trying again later."""
    transient = True


class ManifestRejected(ClusterError):
    """The API refused the object itself (422 Invalid, 400): retrying cannot help."""


class QuotaExceeded(ClusterError):
    """The customer's namespace quota has no room for this."""


class AccessDenied(ClusterError):
    """The portal's credentials may not do this (401/403)."""


class ObjectNotFound(ClusterError):
    pass


class Conflict(ClusterUnavailable):
    """409: someone else changed the object first (a stale resourceVersion) or it already exists."""


class WatchExpired(ClusterError):
    """410 Gone: the resourceVersion a watch started from is older than the server keeps; list again."""
class VeleroAbsent(ClusterError):
    """The cluster does not serve velero.io/v1: Velero (its CRDs) is not installed."""


def _error_from(status: int, body: bytes | str | None) -> ClusterError:
    try:
        detail = json.loads(body or b"{}")
    except ValueError:
        detail = {}
    message = detail.get("message") or (body.decode(errors="replace") if isinstance(body, bytes) else str(body or ""))
    reason = detail.get("reason") or ""
    if status == 404:
        return ObjectNotFound(message or "not found", status=status, reason=reason or "NotFound")
    if status == 403 and "exceeded quota" in message:
        return QuotaExceeded(message, status=status, reason=reason or "Forbidden")
    if status in (401, 403):
        return AccessDenied(message, status=status, reason=reason or "Forbidden")
    if status in (400, 422):
        return ManifestRejected(message, status=status, reason=reason or "Invalid")
    if status == 409:
        return Conflict(message or "conflict", status=status, reason=reason or "Conflict")
    if status == 410:
        return WatchExpired(message or "gone", status=status, reason=reason or "Expired")
    return ClusterUnavailable(message or f"HTTP {status}", status=status, reason=reason or f"HTTP{status}")


def resource_path(api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
    plural, namespaced = KINDS[(api_version, kind)]
    path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespaced and namespace:
        path += f"/namespaces/{quote(namespace)}"
    path += f"/{plural}"
    if name:
        path += f"/{quote(name)}"
    return path


@dataclass
class ClusterCheck:
    version: str = ""
    platform: str = ""
    permissions: dict[str, bool] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(self.permissions.values())


class Cluster:
    """One connection to one cluster; thread-safe (the client pools its connections)."""

    def __init__(self, api_client: k8s.ApiClient, *, timeout: float = 10.0, mode: str = "emulated"):
        self.api = api_client
        self.timeout = timeout
        self.mode = mode

    # -- transport ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, query: list | None = None, body=None,
              content_type: str = "application/json", accept: str = "application/json", raw: bool = False):
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        request = self.api.param_serialize(method, path, query_params=query or [], header_params=headers,
                                           body=body, auth_settings=["BearerToken"])
        try:
            response = self.api.call_api(*request, _request_timeout=self.timeout)
            data = response.read()
        except ApiException as exc:
            raise _error_from(exc.status or 0, exc.body) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterUnavailable(f"cannot reach the cluster: {exc}", reason=type(exc).__name__) from exc
        if not 200 <= response.status < 300:
            raise _error_from(response.status, data)
        if raw:
            return data.decode(errors="replace")
        # orjson: the status sweep's pod list is tens of MB at 10,000 instances; it parses it in about half the time.
        return orjson.loads(data) if data else {}

    # -- reading --------------------------------------------------------------------------------

    def version(self) -> dict:
        return self._call("GET", "/version")

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict | None:
        try:
            return self._call("GET", resource_path(api_version, kind, namespace, name))
        except ObjectNotFound:
            return None

    def list_objects(self, api_version: str, kind: str, *, namespace: str | None = None,
                     selector: str | None = None) -> list[dict]:
        query = [("labelSelector", selector)] if selector else []
        return self._call("GET", resource_path(api_version, kind, namespace), query=query).get("items", [])

    def list_with_version(self, api_version: str, kind: str, *, selector: str | None = None) -> tuple[list[dict], str]:
        """Every object of a kind across namespaces, and the list's resourceVersion (where a watch starts)."""
        query = [("labelSelector", selector)] if selector else []
        answer = self._call("GET", resource_path(api_version, kind), query=query)
        return answer.get("items", []), (answer.get("metadata") or {}).get("resourceVersion", "")

    def watch(self, api_version: str, kind: str, *, resource_version: str, selector: str | None = None,
              timeout_seconds: int = 300) -> "WatchStream":
        """Changes of a kind across namespaces after `resource_version`, through the client's Watch."""
        return WatchStream(self, resource_path(api_version, kind), resource_version, selector, timeout_seconds)

    def create(self, manifest: dict) -> dict:
        """POST a new object; Conflict when one of that name exists."""
        metadata = manifest["metadata"]
        return self._call("POST", resource_path(manifest["apiVersion"], manifest["kind"], metadata.get("namespace")),
                          body=manifest)

    def replace(self, manifest: dict) -> dict:
        """PUT an object; with metadata.resourceVersion set, Conflict when it changed since it was read."""
        metadata = manifest["metadata"]
        return self._call("PUT", resource_path(manifest["apiVersion"], manifest["kind"], metadata.get("namespace"),
                                               metadata["name"]), body=manifest)

    def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        secret = self.get("v1", "Secret", namespace, name)
        if secret is None:
            return None
        values = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        values.update(secret.get("stringData") or {})
        return values

    def list_pods(self, selector: str = MANAGED_SELECTOR) -> list[dict]:
        """Every pod matching the selector, across all namespaces, in one call."""
        return self.list_objects("v1", "Pod", selector=selector)

    def read_log(self, namespace: str, pod: str, *, container: str | None = None, tail_lines: int | None = None,
                 since_seconds: int | None = None, since_time: str | None = None, timestamps: bool = False,
                 previous: bool = False) -> str:
        query = [(k, v) for k, v in (("container", container), ("tailLines", tail_lines),
                                     ("sinceSeconds", since_seconds), ("sinceTime", since_time)) if v is not None]
        if timestamps:
            query.append(("timestamps", "true"))
        if previous:
            query.append(("previous", "true"))
        return self._call("GET", resource_path("v1", "Pod", namespace, pod) + "/log", query=query,
                          accept="text/plain", raw=True)

    def list_nodes(self) -> list[dict]:
        return self.list_objects("v1", "Node")

    def pod_metrics(self, selector: str = MANAGED_SELECTOR) -> list[dict] | None:
        """Usage per pod from the metrics API, or None when the cluster does not serve it."""
        try:
            return self._call("GET", "/apis/metrics.k8s.io/v1beta1/pods",
                              query=[("labelSelector", selector)]).get("items", [])
        except ObjectNotFound:
            return None

    def check(self) -> ClusterCheck:
        """Can the portal reach the cluster and do what it needs? (health page, `flask cluster-check`)"""
        result = ClusterCheck()
        try:
            version = self.version()
        except ClusterError as exc:
            result.error = exc.message
            return result
        result.version = version.get("gitVersion", "")
        result.platform = version.get("platform", "")
        for label, api_version, kind in (("list namespaces", "v1", "Namespace"), ("list pods", "v1", "Pod"),
                                         ("list nodes", "v1", "Node"), ("list deployments", "apps/v1", "Deployment"),
                                         ("list ingresses", "networking.k8s.io/v1", "Ingress")):
            try:
                self._call("GET", resource_path(api_version, kind), query=[("limit", 1)])
                result.permissions[label] = True
            except AccessDenied:
                result.permissions[label] = False
            except ClusterError as exc:
                result.error = exc.message
                break
        return result

    # -- writing --------------------------------------------------------------------------------

    def apply(self, manifest: dict) -> dict:
        """Server-side apply (field manager `portal`): creates or updates; applying twice changes nothing."""
        metadata = manifest["metadata"]
        path = resource_path(manifest["apiVersion"], manifest["kind"], metadata.get("namespace"), metadata["name"])
        return self._call("PATCH", path, query=[("fieldManager", FIELD_MANAGER), ("force", "true")], body=manifest,
                          content_type="application/apply-patch+yaml")

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        """Delete one object; False when it was already gone."""
        try:
            self._call("DELETE", resource_path(api_version, kind, namespace, name),
                       query=[("propagationPolicy", "Background")])
            return True
        except ObjectNotFound:
            return False

    def delete_by_label(self, namespace: str, selector: str, kinds=INSTANCE_KINDS) -> int:
        """Delete every object of these kinds carrying the labels; returns how many went."""
        deleted = 0
        for api_version, kind in kinds:
            for item in self.list_objects(api_version, kind, namespace=namespace, selector=selector):
                deleted += self.delete(api_version, kind, namespace, item["metadata"]["name"])
        return deleted

    def create_once(self, manifest: dict) -> dict:
        """POST a new object; an object of that name already there is returned as it is (a retried create)."""
        metadata = manifest["metadata"]
        path = resource_path(manifest["apiVersion"], manifest["kind"], metadata.get("namespace"))
        try:
            return self._call("POST", path, body=manifest)
        except ClusterError as exc:
            if exc.status != 409:
                raise
        existing = self.get(manifest["apiVersion"], manifest["kind"], metadata.get("namespace"), metadata["name"])
        if existing is None:
            raise ClusterUnavailable(f"{manifest['kind']} {metadata['name']} exists yet cannot be read",
                                     status=409, reason="Conflict")
        return existing

    def merge_patch(self, api_version: str, kind: str, namespace: str | None, name: str, patch: dict) -> dict:
        return self._merge_patch(resource_path(api_version, kind, namespace, name), patch)

    def certificate_renew(self, namespace: str, name: str, at: str) -> dict:
        """Ask cert-manager for a new issuance of a Certificate now, as `cmctl renew` does: its status gains the
        condition Issuing=True, reason ManuallyTriggered, through the status subresource (cert-manager's issuing
        controller then requests a certificate, whatever its backoff after failures). The whole conditions list
        is sent (a merge patch replaces lists) with the resourceVersion read, so a change in between is a
        Conflict, not a lost update. ObjectNotFound when the Certificate is gone."""
        path = resource_path("cert-manager.io/v1", "Certificate", namespace, name)
        certificate = self._call("GET", path)
        conditions = list((certificate.get("status") or {}).get("conditions") or [])
        before = next((c for c in conditions if c.get("type") == "Issuing"), None)
        issuing = {"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
                   "message": "Certificate re-issuance manually triggered",
                   # cert-manager's SetCertificateCondition keeps the transition time while the status stays.
                   "lastTransitionTime": before["lastTransitionTime"] if before and before.get("status") == "True"
                   and before.get("lastTransitionTime") else at}
        if certificate["metadata"].get("generation"):
            issuing["observedGeneration"] = certificate["metadata"]["generation"]
        conditions = [c for c in conditions if c.get("type") != "Issuing"] + [issuing]
        return self._merge_patch(path + "/status", {
            "metadata": {"resourceVersion": certificate["metadata"]["resourceVersion"]},
            "status": {"conditions": conditions}})

    def velero_check(self, velero_namespace: str) -> None:
        """Raise VeleroAbsent when the cluster does not serve Velero's API (a 404 for the whole group)."""
        try:
            self._call("GET", resource_path("velero.io/v1", "Schedule", velero_namespace), query=[("limit", 1)])
        except ObjectNotFound as exc:
            raise VeleroAbsent("Velero is not installed in the cluster: the API group velero.io/v1 is not served "
                               "(install Velero and its CRDs, see docs/operations.md)", status=404,
                               reason="VeleroAbsent") from exc

    def delete_namespace(self, name: str) -> bool:
        return self.delete("v1", "Namespace", None, name)

    def _merge_patch(self, path: str, patch: dict) -> dict:
        return self._call("PATCH", path, body=patch, content_type="application/merge-patch+json")

    def secret_values_merge(self, namespace: str, name: str, values: dict[str, str]) -> dict:
        """Set some keys of an existing Secret, leaving the rest as they are."""
        return self._merge_patch(resource_path("v1", "Secret", namespace, name), {"stringData": dict(values)})

    def restart(self, namespace: str, kind: str, name: str, at: str) -> dict:
        """Rollout restart, as kubectl does it: a new pod-template annotation makes new pods."""
        patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}}
        return self._merge_patch(resource_path(WORKLOAD_KINDS[kind], kind, namespace, name), patch)

    def scale(self, namespace: str, kind: str, name: str, replicas: int) -> dict:
        return self._merge_patch(resource_path(WORKLOAD_KINDS[kind], kind, namespace, name) + "/scale",
                                 {"spec": {"replicas": replicas}})

    def cordon(self, name: str, unschedulable: bool = True) -> dict:
        return self._merge_patch(resource_path("v1", "Node", None, name), {"spec": {"unschedulable": unschedulable}})


class WatchStream:
    """One watch request's events as (type, object) pairs, ADDED/MODIFIED/DELETED/BOOKMARK, read by the official
    client's `kubernetes.watch.Watch`; `stop()` from another thread ends it. A 410 raises WatchExpired, a broken
    connection ClusterUnavailable; the stream simply ends at its timeout (the caller watches again from
    `resource_version`, which follows every event and bookmark)."""

    def __init__(self, cluster: "Cluster", path: str, resource_version: str, selector: str | None, timeout: int):
        self._cluster, self._path, self._selector, self._timeout = cluster, path, selector, int(timeout)
        self.resource_version = resource_version
        self._watch = k8s_watch.Watch()
        self.bytes_read = 0

    def _request(self, **kwargs):
        # What Watch.stream calls: the watch request, unparsed (no typed models: the events stay plain dicts).
        query = [("watch", "true"), ("allowWatchBookmarks", "true"),
                 ("resourceVersion", kwargs["resource_version"]), ("timeoutSeconds", kwargs["timeout_seconds"])]
        if self._selector:
            query.append(("labelSelector", self._selector))
        api = self._cluster.api
        request = api.param_serialize("GET", self._path, query_params=query, header_params={
            "Accept": "application/json"}, auth_settings=["BearerToken"])
        # The read timeout outlasts the server's own end of the stream (and its bookmarks in between).
        response = api.call_api(*request, _request_timeout=(self._cluster.timeout, self._timeout + 30))
        return response.response

    def __iter__(self):
        try:
            for event in self._watch.stream(self._request, resource_version=self.resource_version,
                                            timeout_seconds=self._timeout):
                item = event["raw_object"]
                self.bytes_read += len(orjson.dumps(item)) + 30
                version = (item.get("metadata") or {}).get("resourceVersion")
                if version:
                    self.resource_version = version
                yield event["type"], item
        except ApiException as exc:
            if exc.status == 410:
                raise WatchExpired(str(exc.reason), status=410, reason="Expired") from exc
            raise _error_from(exc.status or 0, exc.body) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterUnavailable(f"the watch broke: {exc}", reason=type(exc).__name__) from exc

    def stop(self) -> None:
        response = getattr(self._watch, "_resp", None)
        self._watch.stop()
        # The client's stop() shuts the connection's socket, which urllib3 2 no longer holds once the response
        # began: a stream blocked waiting for its next event is woken through the response's own socket.
        raw = getattr(getattr(getattr(response, "_fp", None), "fp", None), "raw", None)
        sock = getattr(raw, "_sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: the stream has ended anyway


def quantity(text: str | int | float) -> Decimal:
    """A Kubernetes quantity ("250m", "64Mi", "1e3") as a number of cores or bytes, read by the client's own
    parser; ValueError when it is not one."""
    return parse_quantity(text)


def is_emulated(config) -> bool:
    """The built-in emulated cluster: no real containers run (customers are told so)."""
    return config["KUBE_MODE"] == "emulated"


def instance_url(config, host: str) -> str:
    """Where a browser opens an instance's address: https://<host> on a real cluster; with the emulated cluster,
    the page its ingress serves for that host on loopback (no DNS points an emulated address anywhere)."""
    if is_emulated(config):
        return f"{config['KUBE_EMULATOR_URL'].rstrip('/')}/_ingress/{quote(host)}/"
    return f"https://{host}"


_connections: dict[tuple, Cluster] = {}
_connections_lock = threading.Lock()


def cluster_for(config) -> Cluster:
    """The process's connection for this configuration (built once; KUBE_MODE never guesses)."""
    mode = config["KUBE_MODE"]
    key = (mode, config.get("KUBE_EMULATOR_URL"), config.get("KUBECONFIG_PATH"), config["KUBE_TIMEOUT_SECONDS"])
    with _connections_lock:
        if key not in _connections:
            _connections[key] = Cluster(_api_client(config), timeout=config["KUBE_TIMEOUT_SECONDS"], mode=mode)
        return _connections[key]


def _api_client(config) -> k8s.ApiClient:
    mode = config["KUBE_MODE"]
    if mode == "emulated":
        configuration = k8s.Configuration(host=config["KUBE_EMULATOR_URL"])
    elif mode == "kubeconfig":
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(config_file=config.get("KUBECONFIG_PATH"), client_configuration=configuration)
    elif mode == "incluster":
        configuration = k8s.Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)
    else:
        raise ValueError(f"KUBE_MODE must be emulated, kubeconfig or incluster, not {mode!r}")
    # Huey owns retries, with backoff; the client should fail fast and say why.
    configuration.retries = 1
    return k8s.ApiClient(configuration)

"""Reads, deletes and subresources (status, scale) of the API's objects."""
import base64
import copy

from . import writes
from .errors import ApiError, bad_request, conflict, details_of, not_found
from .selectors import fields_match, labels_match, parse_fields, parse_labels
from .workloads import scale_of


def _without_type(obj: dict) -> dict:
    """List items carry no kind/apiVersion from a real server."""
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


def select(info, objects: list[dict], query) -> list[dict]:
    labels = parse_labels(query.get("labelSelector"))
    fields = parse_fields(query.get("fieldSelector"), info.kind)
    return [obj for obj in objects
            if labels_match(labels, obj["metadata"].get("labels")) and fields_match(fields, obj)]


def paginate(items: list, query, resource_version: str) -> tuple[list, dict]:
    """limit/continue paging; the continue token is opaque to clients, an offset here."""
    metadata = {"resourceVersion": resource_version}
    start = 0
    token = query.get("continue")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)[1])
        except (ValueError, IndexError):
            raise ApiError(410, "Expired", "The provided continue parameter is too old to display a consistent "
                                           "list result. You can start a new list without the continue "
                                           "parameter.") from None
    limit = query.get("limit")
    if limit not in (None, "", "0"):
        try:
            limit = int(limit)
        except ValueError:
            raise bad_request(f"invalid limit {limit!r}") from None
        end = start + limit
        if end < len(items):
            metadata["continue"] = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode()
            metadata["remainingItemCount"] = len(items) - end
        return items[start:end], metadata
    return items[start:], metadata


def list_objects(state, info, namespace: str | None, query) -> dict:
    items = select(info, state.items(info.kind, namespace), query)
    page, metadata = paginate(items, query, state.resource_version)
    return {"kind": info.list_kind, "apiVersion": info.api_version, "metadata": metadata,
            "items": [_without_type(obj) for obj in page]}


def get_object(state, info, namespace: str | None, name: str) -> dict:
    obj = state.get(info.kind, namespace, name)
    if obj is None:
        raise not_found(info, name)
    return obj


def _propagation(query, body) -> str:
    policy = query.get("propagationPolicy") or (body or {}).get("propagationPolicy")
    if policy is None and (query.get("orphanDependents") == "true" or (body or {}).get("orphanDependents")):
        policy = "Orphan"
    if policy not in (None, "Foreground", "Background", "Orphan"):
        raise bad_request(f"propagationPolicy {policy!r} is not one of Foreground, Background, Orphan")
    return policy or "Background"


def _options(raw: bytes) -> dict | None:
    if not raw or not raw.strip():
        return None
    body = writes.parse_body(raw)
    return body if isinstance(body, dict) else None


def delete_object(state, info, namespace: str | None, name: str, query, raw: bytes) -> dict:
    obj = get_object(state, info, namespace, name)
    propagation = _propagation(query, _options(raw))
    if query.get("dryRun") == "All":
        return obj
    now = state.now()
    if info.kind == "Namespace":
        if name in state.terminating:
            raise conflict(info, name, "The system is ensuring all content is removed from this namespace.  Upon "
                                       "completion, this namespace will automatically be purged by the system.")
        obj["metadata"]["deletionTimestamp"] = state.clock.stamp(now)
        obj["metadata"]["deletionGracePeriodSeconds"] = 0
        obj["status"] = {"phase": "Terminating"}
        state.bump(obj)
        state.terminating[name] = now
        state.empty_namespace(name)
        result = copy.deepcopy(obj)
        if state.namespace_grace <= 0:
            del state.terminating[name]
            state.remove("Namespace", None, name)
        return result
    state.remove(info.kind, namespace, name, propagation)
    if info.kind == "Pod":
        obj = copy.deepcopy(obj)
        obj["metadata"]["deletionTimestamp"] = state.clock.stamp(now)
        obj["metadata"]["deletionGracePeriodSeconds"] = 30
        return obj
    if info.kind == "Node":
        state.touch()
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details_of(info, name, uid=obj["metadata"]["uid"])}


def delete_collection(state, info, namespace: str | None, query, raw: bytes) -> dict:
    """Delete what the selectors pick; answers with the list of deleted objects, as a real server does."""
    propagation = _propagation(query, _options(raw))
    chosen = select(info, state.items(info.kind, namespace), query)
    if query.get("dryRun") != "All":
        for obj in chosen:
            state.remove(info.kind, obj["metadata"].get("namespace"), obj["metadata"]["name"], propagation)
    return {"kind": info.list_kind, "apiVersion": info.api_version,
            "metadata": {"resourceVersion": state.resource_version},
            "items": [_without_type(obj) for obj in chosen]}


def status(state, info, namespace, name, method: str, raw: bytes, content_type: str, query, user_agent) -> dict:
    """The status subresource: reads show the object; writes change only its status."""
    obj = get_object(state, info, namespace, name)
    if method == "GET":
        return obj
    body = writes.parse_body(raw, allow_yaml=True)
    # A write carrying metadata.resourceVersion (an update, or a merge patch used as one) is refused when the
    # object changed since it was read, as the API server's optimistic concurrency does.
    version = (((body or {}) if isinstance(body, dict) else {}).get("metadata") or {}).get("resourceVersion")
    if version and version != obj["metadata"]["resourceVersion"]:
        raise conflict(info, name)
    if method == "PUT":
        new = copy.deepcopy(obj)
        new["status"] = (body or {}).get("status") or {}
    else:
        writes.patch_style(content_type)
        new = copy.deepcopy(obj)
        new["status"] = writes.patched(obj, body).get("status") or {}
    return writes.commit(state, info, obj, new, writes.manager_of(query, user_agent), "Update",
                         writes.fields_of({"status": new["status"]}), query, subresource="status")


def scale(state, info, namespace, name, method: str, raw: bytes, content_type: str, query, user_agent) -> dict:
    """The scale subresource (autoscaling/v1 Scale) of a Deployment or StatefulSet."""
    obj = get_object(state, info, namespace, name)
    if method == "GET":
        return scale_of(obj)
    current = scale_of(obj)
    body = writes.parse_body(raw, allow_yaml=True)
    if method == "PUT":
        wanted = body
        version = ((body or {}).get("metadata") or {}).get("resourceVersion")
        if version and version != obj["metadata"]["resourceVersion"]:
            raise conflict(info, name)
    else:
        writes.patch_style(content_type)
        wanted = writes.patched(current, body)
    replicas = ((wanted or {}).get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                                       f'{replicas!r}: must be greater than or equal to 0',
                       {"name": name, "group": "autoscaling", "kind": "Scale",
                        "causes": [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                    "message": "must be greater than or equal to 0"}]})
    new = copy.deepcopy(obj)
    new["spec"]["replicas"] = replicas
    stored = writes.commit(state, info, obj, new, writes.manager_of(query, user_agent), "Update",
                           {"f:spec": {"f:replicas": {}}}, query, subresource="scale")
    state.settle()
    return scale_of(stored)

"""Writes through the API: create, server-side apply, merge patches and replace, each admitted like a real server's."""
import copy
import json

import yaml

from . import admission, pod_security, quota
from .errors import ApiError, already_exists, bad_request, conflict, forbidden, invalid, namespace_not_found, not_found
from .patches import apply_merge, fields_of, merge_patch, record_manager

_SERVER_METADATA = ("uid", "creationTimestamp", "generation", "resourceVersion", "managedFields",
                    "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink")
# The patches the cluster gateway sends; strategic merge and JSON patch are refused (415) rather than emulated.
PATCH_TYPES = {"application/apply-patch+yaml": "apply", "application/merge-patch+json": "merge"}


def parse_body(raw: bytes, allow_yaml: bool = False):
    text = raw.decode("utf-8", errors="replace") if raw else ""
    if not text.strip():
        raise bad_request("the request body is empty")
    try:
        return json.loads(text)
    except ValueError:
        if not allow_yaml:
            raise bad_request("the body of the request was in an unknown format - accepted media types "
                              "include: application/json, application/yaml") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise bad_request(f"error decoding YAML: {error}") from None


def manager_of(query, user_agent: str) -> str:
    """fieldManager, else what the real server derives from the User-Agent (its first product token)."""
    return query.get("fieldManager") or (user_agent or "unknown").split("/")[0].split(" ")[0] or "unknown"


def _check_identity(info, body: dict, namespace: str | None, name: str | None, require_type: bool) -> None:
    if not isinstance(body, dict):
        raise bad_request(f"the body must be a {info.kind} object")
    if require_type or body.get("apiVersion") or body.get("kind"):
        if not body.get("kind"):
            raise bad_request(f"Object 'Kind' is missing in '{json.dumps(body)[:200]}'")
        if body.get("apiVersion") != info.api_version:
            raise bad_request(f"the API version in the data ({body.get('apiVersion')}) does not match the expected "
                              f"API version ({info.api_version})")
        if body.get("kind") != info.kind:
            raise bad_request(f"the kind in the data ({body.get('kind')}) does not match the expected kind "
                              f"({info.kind})")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise bad_request("metadata must be an object")
    metadata = metadata or {}
    if name is not None and metadata.get("name") not in (None, name):
        raise bad_request(f"the name of the object ({metadata.get('name')}) does not match the name on the URL "
                          f"({name})")
    if info.namespaced and namespace and metadata.get("namespace") not in (None, "", namespace):
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")


def _check_namespace(state, info, namespace: str | None, name: str) -> None:
    if not info.namespaced:
        return
    usable = state.namespace_usable(namespace)
    if usable == "missing":
        raise namespace_not_found(namespace)
    if usable == "terminating":
        raise forbidden(info, name, f"unable to create new content in namespace {namespace} because it is being "
                                    f"terminated")


def _prepare(info, body: dict, namespace: str | None, name: str | None = None) -> dict:
    obj = copy.deepcopy(body)
    obj["apiVersion"], obj["kind"] = info.api_version, info.kind
    metadata = obj.setdefault("metadata", {})
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
    if name:
        metadata["name"] = name
    if info.namespaced:
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    obj.pop("status", None)
    return obj


def create(state, info, namespace, body, query, user_agent, operation="Update", fields=None) -> tuple[int, dict]:
    _check_identity(info, body, namespace, None, require_type=False)
    obj = _prepare(info, body, namespace)
    metadata = obj["metadata"]
    if not metadata.get("name") and metadata.get("generateName"):
        metadata["name"] = metadata["generateName"] + state.random_suffix()
    name = metadata.get("name", "")
    admission.check_name(info, name)
    _check_namespace(state, info, namespace, name)
    if state.get(info.kind, namespace, name) is not None:
        raise already_exists(info, name)
    metadata["uid"] = state.new_uid()
    metadata["creationTimestamp"] = state.clock.stamp(state.now())
    admission.apply_defaults(state, info, obj, None)
    admission.validate(info, obj)
    if info.kind == "Namespace":
        _check_pod_security_labels(info, obj, None)
    if info.kind == "Pod":
        pod_security.admit_pod(state, obj)  # validating admission runs PodSecurity before ResourceQuota
        quota.admit_pod(state, obj)
    status = admission.initial_status(info, obj, state)
    if status is not None:
        obj["status"] = status
    if query.get("dryRun") == "All":
        return 201, obj
    manager = manager_of(query, user_agent)
    state.create_object(obj, manager, operation, fields or fields_of(body))
    if info.kind == "Node":
        state.touch()
    return 201, obj


def apply(state, info, namespace, name, raw: bytes, query) -> tuple[int, dict]:
    """Server-side apply: create when missing, else merge the applied fields over the live object."""
    manager = query.get("fieldManager")
    if not manager:
        raise bad_request("PATCH /apply requires fieldManager: fieldManager is required for apply patch")
    body = parse_body(raw, allow_yaml=True)
    _check_identity(info, body, namespace, name, require_type=True)
    existing = state.get(info.kind, namespace, name)
    applied = _prepare(info, body, namespace, name)
    fields = fields_of(applied)
    wanted_version = (body.get("metadata") or {}).get("resourceVersion")
    if existing is None:
        if wanted_version:
            raise not_found(info, name)
        return create(state, info, namespace, applied, query, manager, "Apply", fields)
    if wanted_version and wanted_version != existing["metadata"]["resourceVersion"]:
        raise conflict(info, name)
    merged = apply_merge(existing, applied, manager)
    return 200, commit(state, info, existing, merged, manager, "Apply", fields, query)


def patch_style(content_type: str) -> str:
    """"apply" or "merge"; any other patch type is 415, as a server answers a type it does not know."""
    style = PATCH_TYPES.get(content_type)
    if style is None:
        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted "
                                                    f"media types include: {', '.join(PATCH_TYPES)} (the portal's "
                                                    f"emulated cluster serves only the patches the portal sends)")
    return style


def patch(state, info, namespace, name, raw: bytes, content_type: str, query, user_agent) -> tuple[int, dict]:
    if patch_style(content_type) == "apply":
        return apply(state, info, namespace, name, raw, query)
    existing = state.get(info.kind, namespace, name)
    if existing is None:
        raise not_found(info, name)
    changed = patched(existing, parse_body(raw))
    manager = manager_of(query, user_agent)
    fields = fields_of(changed_fields(parse_body(raw)))
    return 200, commit(state, info, existing, changed, manager, "Update", fields, query)


def patched(target: dict, body) -> dict:
    """A merge patch (or an apply body, merged the same way on a subresource) over target."""
    if not isinstance(body, dict):
        raise bad_request("a merge patch must be a JSON object")
    return merge_patch(target, body)


def changed_fields(body) -> dict:
    return {k: v for k, v in body.items() if k != "status"} if isinstance(body, dict) else {}


def replace(state, info, namespace, name, raw: bytes, query, user_agent) -> tuple[int, dict]:
    body = parse_body(raw)
    _check_identity(info, body, namespace, name, require_type=False)
    existing = state.get(info.kind, namespace, name)
    if existing is None:
        raise not_found(info, name)
    wanted_version = (body.get("metadata") or {}).get("resourceVersion")
    if wanted_version and wanted_version != existing["metadata"]["resourceVersion"]:
        raise conflict(info, name)
    new = _prepare(info, body, namespace, name)
    return 200, commit(state, info, existing, new, manager_of(query, user_agent), "Update",
                       fields_of(changed_fields(body)), query)


def _check_pod_security_labels(info, obj: dict, old: dict | None) -> None:
    """The server refuses unparsable Pod Security labels on a new namespace, and on an update that changes them."""
    problems = pod_security.label_problems(obj["metadata"].get("labels") or {})
    if problems and (old is None or problems != pod_security.label_problems(old["metadata"].get("labels") or {})):
        raise invalid(info, obj["metadata"]["name"], problems)


def _comparable(obj: dict) -> dict:
    metadata = {k: v for k, v in obj["metadata"].items() if k not in ("resourceVersion", "managedFields")}
    return {**obj, "metadata": metadata}


def commit(state, info, existing: dict, new: dict, manager: str, operation: str, fields: dict, query,
           subresource: str | None = None) -> dict:
    """Admit and store an update; an update that changes nothing leaves resourceVersion alone."""
    new = copy.deepcopy(new)
    new["apiVersion"], new["kind"] = info.api_version, info.kind
    metadata, old_metadata = new.setdefault("metadata", {}), existing["metadata"]
    for key in _SERVER_METADATA + ("name", "namespace"):
        if key in old_metadata:
            metadata[key] = copy.deepcopy(old_metadata[key])
        else:
            metadata.pop(key, None)
    # Without a status subresource (Velero's Backup, Restore), status is written with the object, as for any CRD.
    if subresource != "status" and ("status" in info.subresources or info.group != "velero.io"):
        if "status" in existing:
            new["status"] = copy.deepcopy(existing["status"])
        else:
            new.pop("status", None)
    admission.apply_defaults(state, info, new, existing)
    admission.validate(info, new)
    admission.check_immutable(info, existing, new)
    if info.kind == "Namespace":
        _check_pod_security_labels(info, new, existing)
    if _comparable(new) == _comparable(existing):
        return existing
    if info.has_spec and "generation" in metadata and new.get("spec") != existing.get("spec"):
        metadata["generation"] += 1
    record_manager(new, manager, operation, fields, state.clock.stamp(state.now()), subresource)
    if query.get("dryRun") == "All":
        return new
    state.put(new)
    if info.kind == "Node":
        state.touch()
    return new

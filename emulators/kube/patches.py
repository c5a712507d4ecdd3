"""Patch and apply semantics: JSON merge, strategic merge (common list keys), JSON patch, server-side apply."""
import copy

from .errors import ApiError, bad_request

# Lists that a strategic merge patch merges element by element, by this key, as the real schema declares.
STRATEGIC_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name", "ports": None,
    "tolerations": None, "hostAliases": "ip", "conditions": "type",
}
_PORT_KEYS = ("containerPort", "port")


def merge_patch(target, patch):
    """RFC 7386: dicts merge recursively, null deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target, patch, field: str | None = None):
    """Merge patch, except that lists of named things (containers, env, ...) merge by their key."""
    if isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        result = copy.deepcopy(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if key.startswith("$"):
                continue
            if value is None:
                result.pop(key, None)
            else:
                result[key] = strategic_merge_patch(result.get(key), value, key)
        return result
    if isinstance(patch, list) and field in STRATEGIC_KEYS and isinstance(target, list):
        return _merge_list(target, patch, field)
    return copy.deepcopy(patch)


def _merge_key(field: str, item: dict) -> str | None:
    key = STRATEGIC_KEYS[field]
    if key is None:
        key = next((k for k in _PORT_KEYS if k in item), None)
    return key


def _merge_list(target: list, patch: list, field: str) -> list:
    if not all(isinstance(item, dict) for item in target + patch) or field == "tolerations":
        return copy.deepcopy(patch)
    result = copy.deepcopy(target)
    for item in patch:
        key = _merge_key(field, item)
        if key is None or key not in item:
            return copy.deepcopy(patch)
        index = next((i for i, existing in enumerate(result) if existing.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def json_patch(target: dict, operations: list) -> dict:
    """RFC 6902 add/remove/replace/test/copy/move on a copy of target."""
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise bad_request("the JSON patch is not a list of operations with 'op' and 'path'")
        op, path = operation["op"], operation["path"]
        if op in ("add", "replace", "test"):
            if "value" not in operation:
                raise bad_request(f"missing value for operation {op} at {path}")
            value = copy.deepcopy(operation["value"])
        if op in ("copy", "move"):
            value = copy.deepcopy(_resolve(document, operation.get("from", ""))[2])
            if op == "move":
                document = _remove(document, operation["from"])
            op = "add"
        if op == "add":
            document = _set(document, path, value, add=True)
        elif op == "replace":
            _resolve(document, path)
            document = _set(document, path, value, add=False)
        elif op == "remove":
            document = _remove(document, path)
        elif op == "test":
            if _resolve(document, path)[2] != value:
                raise ApiError(422, "Invalid", f"testing value {path} failed")
        else:
            raise bad_request(f"unknown JSON patch operation {op!r}")
    return document


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _resolve(document, path: str):
    parts = _pointer(path)
    if not parts:
        return None, None, document
    parent = document
    for part in parts[:-1]:
        parent = _child(parent, part, path)
    return parent, parts[-1], _child(parent, parts[-1], path)


def _child(node, part: str, path: str):
    try:
        return node[int(part)] if isinstance(node, list) else node[part]
    except (KeyError, IndexError, ValueError, TypeError):
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                       f"path {path} does not exist") from None


def _set(document, path: str, value, add: bool):
    parts = _pointer(path)
    if not parts:
        return value
    parent = document
    for part in parts[:-1]:
        parent = _child(parent, part, path)
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if add:
            parent.insert(index, value)
        else:
            parent[index] = value
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ApiError(422, "Invalid", f"path {path} does not exist")
    return document


def _remove(document, path: str):
    parent, last, _ = _resolve(document, path)
    if isinstance(parent, list):
        parent.pop(int(last))
    else:
        parent.pop(last)
    return document


def deep_merge(base, overlay):
    """Apply's merge: overlay's dicts merge into base's, everything else (lists too) replaces."""
    if not isinstance(base, dict) or not isinstance(overlay, dict):
        return copy.deepcopy(overlay)
    result = copy.deepcopy(base)
    for key, value in overlay.items():
        result[key] = deep_merge(result.get(key), value)
    return result


def fields_of(obj) -> dict:
    """The FieldsV1 set of an applied object: dicts recurse, any other value is a leaf (lists are atomic)."""
    fields = {}
    for key, value in obj.items():
        fields[f"f:{key}"] = fields_of(value) if isinstance(value, dict) and value else {}
    return fields


def prune(existing, owned: dict, applied) -> None:
    """Remove from existing what this manager applied before and no longer applies, as real apply does."""
    if not isinstance(existing, dict):
        return
    for marked, below in owned.items():
        if not marked.startswith("f:"):
            continue
        key = marked[2:]
        if not isinstance(applied, dict) or key not in applied:
            existing.pop(key, None)
        elif below and isinstance(existing.get(key), dict):
            prune(existing[key], below, applied[key])


def apply_merge(existing: dict, applied: dict, manager: str) -> dict:
    """The object after `manager` applies `applied` over `existing` (metadata bookkeeping left to callers)."""
    owned = {}
    for entry in existing.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            owned = entry.get("fieldsV1") or {}
    result = copy.deepcopy(existing)
    prune(result, {k: v for k, v in owned.items() if k not in ("f:apiVersion", "f:kind")}, applied)
    return deep_merge(result, applied)


def record_manager(obj: dict, manager: str, operation: str, fields: dict, stamp: str,
                   subresource: str | None = None) -> None:
    """Note in managedFields which manager last set which fields (one entry per manager and operation)."""
    entries = [entry for entry in obj["metadata"].get("managedFields") or []
               if not (entry.get("manager") == manager and entry.get("operation") == operation
                       and entry.get("subresource") == subresource)]
    entry = {"manager": manager, "operation": operation, "apiVersion": obj.get("apiVersion"), "time": stamp,
             "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    entries.append(entry)
    obj["metadata"]["managedFields"] = entries

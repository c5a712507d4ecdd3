"""Patch and apply semantics: JSON merge patch and server-side apply, the two the cluster gateway sends."""
import copy


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

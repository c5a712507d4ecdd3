"""Admission of written objects: names, labels, the real OpenAPI schema, defaults and derived fields."""
import base64
import copy
import functools
import ipaddress
import re

import jsonschema  # kubernetes-validate's own dependencies: used to keep its compiled schemas
import kubernetes_validate
from kubernetes_validate import utils as validate_utils
from referencing import Registry, Resource

from . import crds, quantities
from .errors import invalid
from .kinds import KUBERNETES_VERSION
from .selectors import selector_matches

LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
QUALIFIED = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")

_LABEL_RULE = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
               "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
               "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
_LABEL_1035_RULE = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
_SUBDOMAIN_RULE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                   "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_KEY_RULE = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
             "alphanumeric character, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName'), "
             "at most 63 characters")
_VALUE_RULE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
               "must start and end with an alphanumeric character, at most 63 characters")
_NAME_RULES = {"label": (_LABEL_RULE, LABEL, 63), "label1035": (_LABEL_1035_RULE, LABEL_1035, 63),
               "subdomain": (_SUBDOMAIN_RULE, SUBDOMAIN, 253)}


def name_problems(name: str, rule: str) -> list[str]:
    message, pattern, limit = _NAME_RULES[rule]
    problems = []
    if len(name) > limit:
        problems.append(f"must be no more than {limit} characters")
    if not pattern.fullmatch(name):
        problems.append(message)
    return problems


def check_name(info, name: str) -> None:
    if not name:
        raise invalid(info, name, [("metadata.name", "Required value: name or generateName is required")])
    problems = name_problems(name, info.name_rule)
    if problems:
        raise invalid(info, name, [("metadata.name", f'Invalid value: "{name}": {p}') for p in problems])


def _label_problems(field: str, labels: dict, values_too: bool) -> list[tuple[str, str]]:
    causes = []
    for key, value in (labels or {}).items():
        prefix, _, short = key.rpartition("/")
        bad_prefix = prefix and (len(prefix) > 253 or not SUBDOMAIN.fullmatch(prefix))
        if bad_prefix or len(short) > 63 or not QUALIFIED.fullmatch(short):
            causes.append((field, f'Invalid value: "{key}": {_KEY_RULE}'))
        if values_too and isinstance(value, str) and value and (len(value) > 63 or not QUALIFIED.fullmatch(value)):
            causes.append((field, f'Invalid value: "{value}": {_VALUE_RULE}'))
    return causes


def validate(info, obj: dict) -> None:
    """What the API server checks before it stores an object; raises a 422 ApiError."""
    name = obj["metadata"].get("name", "")
    check_name(info, name)
    causes = _label_problems("metadata.labels", obj["metadata"].get("labels"), True)
    causes += _label_problems("metadata.annotations", obj["metadata"].get("annotations"), False)
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        causes += _label_problems("spec.template.metadata.labels", (template.get("metadata") or {}).get("labels"),
                                  True)
    if causes:
        raise invalid(info, name, causes)
    try:
        _check_schema(obj)
    except jsonschema.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        unexpected = re.search(r"\('([^']+)' was unexpected\)", error.message)
        if unexpected:
            path = f"{path}.{unexpected.group(1)}" if path else unexpected.group(1)
        raise invalid(info, name, [(path, error.message)]) from None
    if info.kind == "NetworkPolicy":
        causes = _ip_block_problems(obj.get("spec") or {})
        if causes:
            raise invalid(info, name, causes)
    if info.kind in ("Deployment", "StatefulSet"):
        spec = obj["spec"]
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not selector_matches(spec.get("selector"), labels) or not spec.get("selector"):
            raise invalid(info, name, [("spec.template.metadata.labels",
                                        f"Invalid value: {labels}: `selector` does not match template `labels`")])


def _ip_block_problems(spec: dict) -> list[tuple[str, str]]:
    """ipBlock checks of the real validation (ValidateIPBlock): valid CIDRs, each except strictly inside its cidr
    (so an IPv4 range can never be excepted from ::/0)."""
    causes = []
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, peer in enumerate(rule.get(peers_key) or []):
                block = peer.get("ipBlock")
                if not block:
                    continue
                path = f"spec.{direction}[{i}].{peers_key}[{j}].ipBlock"
                try:
                    cidr = ipaddress.ip_network(block.get("cidr", ""))
                except ValueError:
                    causes.append((f"{path}.cidr", f'Invalid value: "{block.get("cidr", "")}": must be a valid CIDR '
                                                   f'value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'))
                    continue
                for k, text in enumerate(block.get("except") or []):
                    try:
                        excepted = ipaddress.ip_network(text)
                    except ValueError:
                        causes.append((f"{path}.except[{k}]", f'Invalid value: "{text}": must be a valid CIDR value, '
                                                               f'(e.g. 10.9.8.0/24 or 2001:db8::/64)'))
                        continue
                    if excepted.version != cidr.version or not excepted.subnet_of(cidr) \
                            or excepted.prefixlen <= cidr.prefixlen:
                        causes.append((f"{path}.except[{k}]",
                                       f'Invalid value: "{text}": must be a strict subset of `cidr`'))
    return causes


@functools.cache
def _schema_validator(kind: str, api_version: str):
    """kubernetes-validate's strict schema for a kind, compiled once: its validate() re-reads the
    schema files on every call (~9 ms), which the portal's test suites would pay on every write."""
    try:
        version = [v for v in validate_utils.all_versions()
                   if validate_utils.major_minor(v) <= KUBERNETES_VERSION][-1]
        folder = f"kubernetes-json-schema/v{version}-local-strict"
        group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        schema = validate_utils.schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", KUBERNETES_VERSION)
        definitions = validate_utils.schema_contents(f"{folder}/_definitions.json", KUBERNETES_VERSION)
    except Exception:  # noqa: BLE001 - whatever changed in its layout, its public validate() still works
        return None
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _check_schema(obj: dict) -> None:
    if crds.validator(obj["apiVersion"], obj["kind"]) is not None:
        crds.validate(obj)  # a custom resource: its CRD's schema is the whole of it
        return
    if obj["apiVersion"].startswith("velero.io/"):
        from . import velero
        validator = velero.schema_validator(obj["kind"])
        if validator is not None:
            validator.validate(obj)
        return
    validator = _schema_validator(obj["kind"], obj["apiVersion"])
    if validator is None:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    else:
        validator.validate(obj)


def check_immutable(info, old: dict, new: dict) -> None:
    fields = {"Deployment": ["selector"], "StatefulSet": ["selector", "serviceName", "volumeClaimTemplates"],
              "PersistentVolumeClaim": ["storageClassName", "volumeName", "accessModes"],
              "Service": ["clusterIP"]}.get(info.kind, [])
    for field in fields:
        before, after = (old.get("spec") or {}).get(field), (new.get("spec") or {}).get(field)
        if before is not None and after != before:
            raise invalid(info, new["metadata"]["name"], [(f"spec.{field}", "Invalid value: field is immutable")])


def apply_defaults(state, info, obj: dict, old: dict | None) -> None:
    """Defaults and derived fields the real server (and its controllers) fill in at once."""
    kind, spec = info.kind, obj.get("spec")
    if kind == "Namespace":
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
        for key, value in (obj.pop("stringData", None) or {}).items():
            obj.setdefault("data", {})[key] = base64.b64encode(str(value).encode()).decode()
    elif kind == "Service":
        _service_defaults(state, spec, old)
    elif kind == "PersistentVolumeClaim":
        spec.setdefault("volumeMode", "Filesystem")
        spec.setdefault("storageClassName", "emulated-local")
        spec.setdefault("volumeName", f"pvc-{obj['metadata']['uid']}")
    elif kind == "Deployment":
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("type", "RollingUpdate")
            strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
    elif kind == "StatefulSet":
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    elif kind == "Pod":
        pod_defaults(state, obj)


def _service_defaults(state, spec: dict, old: dict | None) -> None:
    spec.setdefault("type", "ClusterIP")
    if spec.get("clusterIP") != "None":
        previous = ((old or {}).get("spec") or {}).get("clusterIP")
        spec.setdefault("clusterIP", previous or state.allocate_service_ip())
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def pod_defaults(state, pod: dict) -> None:
    spec = pod["spec"]
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("securityContext", {})
    limit_ranges = state.items("LimitRange", pod["metadata"]["namespace"])
    for container in (spec.get("initContainers") or []) + spec.get("containers", []):
        image = container.get("image", "")
        tag = image.rsplit("/", 1)[-1]
        container.setdefault("imagePullPolicy", "Always" if ":" not in tag or tag.endswith(":latest")
                             else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        for limit_range in limit_ranges:
            _limit_range_defaults(container, limit_range)


def _limit_range_defaults(container: dict, limit_range: dict) -> None:
    """LimitRanger admission: containers without limits/requests get the namespace's defaults."""
    for limit in (limit_range.get("spec") or {}).get("limits") or []:
        if limit.get("type") != "Container":
            continue
        resources = container.setdefault("resources", {})
        for resource, amount in (limit.get("default") or {}).items():
            resources.setdefault("limits", {}).setdefault(resource, amount)
        requests = dict(limit.get("defaultRequest") or {})
        for resource, amount in (resources.get("limits") or {}).items():
            requests.setdefault(resource, amount)
        for resource, amount in requests.items():
            resources.setdefault("requests", {}).setdefault(resource, amount)


def initial_status(info, obj: dict, state) -> dict | None:
    """The status an object has as soon as it is stored (controllers refine some of them later)."""
    kind, spec = info.kind, obj.get("spec") or {}
    if kind == "Namespace":
        return {"phase": "Active"}
    if kind == "PersistentVolumeClaim":
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        try:
            storage = quantities.memory(quantities.parse(storage))
        except ValueError:
            pass
        return {"phase": "Bound", "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                "capacity": {"storage": storage}}
    if kind == "Service":
        if spec.get("type") == "LoadBalancer":
            return {"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}}
        return {"loadBalancer": {}}
    if kind == "Ingress":
        return {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    if kind == "Pod":
        return {"phase": "Pending", "qosClass": "BestEffort"}
    if kind in ("Deployment", "StatefulSet", "ResourceQuota"):
        return copy.deepcopy(obj.get("status")) or {}
    return None

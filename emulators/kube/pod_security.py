"""Pod Security admission as the API server runs it: the namespace's enforce label and version, the checks of
k8s.io/pod-security-admission (policy/check_*.go) at that version, and its 403 "violates PodSecurity" refusal."""
import re

from .errors import ApiError
from .kinds import KUBERNETES_VERSION

PREFIX = "pod-security.kubernetes.io/"
LEVELS = ("privileged", "baseline", "restricted")
LATEST = (10**6, 0)  # "latest": newer than any version, then clamped to the server's own
_VERSION = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")
SERVER_VERSION = tuple(int(part) for part in KUBERNETES_VERSION.split("."))

_DEFAULT_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
_SYSCTLS = [((1, 0), {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                      "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}),
            ((1, 27), {"net.ipv4.ip_local_reserved_ports"}),
            ((1, 29), {"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                       "net.ipv4.tcp_keepalive_probes"}),
            ((1, 32), {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}),
            ((1, 37), {"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"})]
_ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim",
                    "projected", "secret"}
_VOLUME_SOURCES = ["hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi", "glusterfs",
                   "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte",
                   "azureDisk", "photonPersistentDisk", "portworxVolume", "scaleIO", "storageos"]


def parse_version(text: str) -> tuple[int, int] | None:
    if text == "latest":
        return LATEST
    match = _VERSION.match(text)
    return (1, int(match.group(1))) if match else None


def version_text(version: tuple[int, int]) -> str:
    return "latest" if version == LATEST else f"v{version[0]}.{version[1]}"


def label_problems(labels: dict) -> list[tuple[str, str]]:
    """What the server refuses (422) on a namespace's Pod Security labels, as (field, message) pairs."""
    problems = []
    for mode in ("enforce", "audit", "warn"):
        level = labels.get(PREFIX + mode)
        if level is not None and level not in LEVELS:
            problems.append((f"metadata.labels[{PREFIX}{mode}]",
                             f'Invalid value: "{level}": must be one of {", ".join(LEVELS)}'))
        version = labels.get(f"{PREFIX}{mode}-version")
        if version is not None and parse_version(version) is None:
            problems.append((f"metadata.labels[{PREFIX}{mode}-version]",
                             f'Invalid value: "{version}": must be "latest" or "v1.x"'))
    return problems


def enforced(labels: dict) -> tuple[str, tuple[int, int]]:
    """The enforced level and version (privileged, latest when unlabelled, as the server's default)."""
    level = labels.get(PREFIX + "enforce", "privileged")
    if level not in LEVELS:
        level = "restricted"  # an unparsable level fails closed
    version = parse_version(labels.get(PREFIX + "enforce-version", "latest")) or LATEST
    return level, version


# -- the checks: each takes (metadata, spec, version) and returns None or (reason, detail) -------------------------

def _containers(spec: dict) -> list[dict]:
    return (list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
            + list(spec.get("ephemeralContainers") or []))


def _quote(items) -> str:
    return '"' + '", "'.join(items) + '"' if items else ""


def _plural(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def _named(items: list[str]) -> str:
    return f'{_plural("container", "containers", len(items))} {_quote(items)}'


def _security(container: dict) -> dict:
    return container.get("securityContext") or {}


def _windows(spec: dict) -> bool:
    return ((spec.get("os") or {}).get("name")) == "windows"


def _user_namespace(spec: dict) -> bool:
    return spec.get("hostUsers") is False


def _app_armor(meta, spec, version):
    setters, values = [], set()
    allowed = ("RuntimeDefault", "Localhost")
    profile = (spec.get("securityContext") or {}).get("appArmorProfile")
    if profile is not None and profile.get("type") not in allowed:
        setters.append("pod")
        values.add(profile.get("type", ""))
    bad = []
    for container in _containers(spec):
        profile = _security(container).get("appArmorProfile")
        if profile is not None and profile.get("type") not in allowed:
            bad.append(container["name"])
            values.add(profile.get("type", ""))
    if bad:
        setters.append(_named(bad))
    annotations = sorted(f'{key}="{value}"' for key, value in ((meta.get("annotations") or {}).items())
                         if key.startswith("container.apparmor.security.beta.kubernetes.io/")
                         and not (value == "" or value == "runtime/default" or value.startswith("localhost/")))
    listed = sorted(values) + annotations
    if annotations:
        setters.append(_plural("annotation", "annotations", len(annotations)))
    if setters:
        return (_plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(listed)),
                f"{' and '.join(setters)} must not set AppArmor profile type to {_quote(listed)}")
    return None


def _capabilities_baseline(meta, spec, version):
    bad, added = [], set()
    for container in _containers(spec):
        extra = [c for c in ((_security(container).get("capabilities") or {}).get("add") or [])
                 if c not in _DEFAULT_CAPABILITIES]
        if extra:
            bad.append(container["name"])
            added.update(extra)
    if bad:
        return ("non-default capabilities",
                f"{_named(bad)} must not include {_quote(sorted(added))} in securityContext.capabilities.add")
    return None


def _host_namespaces(meta, spec, version):
    shared = [f"{field}=true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]
    return ("host namespaces", ", ".join(shared)) if shared else None


def _host_path_volumes(meta, spec, version):
    bad = [v["name"] for v in spec.get("volumes") or [] if v.get("hostPath") is not None]
    return ("hostPath volumes", f'{_plural("volume", "volumes", len(bad))} {_quote(bad)}') if bad else None


def _host_ports(meta, spec, version):
    bad, ports = [], set()
    for container in _containers(spec):
        used = [str(p["hostPort"]) for p in container.get("ports") or [] if p.get("hostPort")]
        if used:
            bad.append(container["name"])
            ports.update(used)
    if bad:
        return ("hostPort", f'{_named(bad)} {_plural("uses", "use", len(bad))} '
                            f'{_plural("hostPort", "hostPorts", len(ports))} {", ".join(sorted(ports))}')
    return None


def _host_probes(meta, spec, version):
    bad, hosts = set(), set()
    for container in _containers(spec):
        handlers = [container.get(p) for p in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += [(container.get("lifecycle") or {}).get(h) for h in ("postStart", "preStop")]
        for handler in handlers:
            for kind in ("httpGet", "tcpSocket"):
                host = ((handler or {}).get(kind) or {}).get("host")
                if host:
                    bad.add(container["name"])
                    hosts.add(host)
    if bad:
        return ("probe or lifecycle host",
                f'{_named(sorted(bad))} {_plural("uses", "use", len(bad))} '
                f'{_plural("probe or lifecycle host", "probe or lifecycle hosts", len(hosts))} {_quote(sorted(hosts))}')
    return None


def _privileged(meta, spec, version):
    bad = [c["name"] for c in _containers(spec) if _security(c).get("privileged") is True]
    return ("privileged", f"{_named(bad)} must not set securityContext.privileged=true") if bad else None


def _proc_mount(meta, spec, version):
    bad, kinds = [], set()
    for container in _containers(spec):
        mount = _security(container).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(container["name"])
            kinds.add(mount)
    if bad:
        return ("procMount", f"{_named(bad)} must not set securityContext.procMount to {_quote(sorted(kinds))}")
    return None


def _proc_mount_baseline(meta, spec, version):
    if version >= (1, 35) and _user_namespace(spec):
        return None
    return _proc_mount(meta, spec, version)


def _se_linux(meta, spec, version):
    allowed = {"", "container_t", "container_init_t", "container_kvm_t"}
    if version >= (1, 31):
        allowed.add("container_engine_t")
    setters, types, user, role = [], set(), False, False

    def valid(options: dict) -> bool:
        nonlocal user, role
        ok = True
        if options.get("type", "") not in allowed:
            ok = False
            types.add(options.get("type", ""))
        if options.get("user"):
            ok, user = False, True
        if options.get("role"):
            ok, role = False, True
        return ok

    options = (spec.get("securityContext") or {}).get("seLinuxOptions")
    if options is not None and not valid(options):
        setters.append("pod")
    bad = [c["name"] for c in _containers(spec)
           if _security(c).get("seLinuxOptions") is not None and not valid(_security(c)["seLinuxOptions"])]
    if bad:
        setters.append(_named(bad))
    if setters:
        data = []
        if types:
            data.append(f'{_plural("type", "types", len(types))} {_quote(sorted(types))}')
        if user:
            data.append("user may not be set")
        if role:
            data.append("role may not be set")
        return ("seLinuxOptions",
                f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}")
    return None


def _seccomp_setters(spec: dict, restricted: bool):
    """Pod/containers that set a bad seccomp type, the bad types, and (restricted) containers left unset."""
    setters, values, implicit = [], set(), []
    profile = (spec.get("securityContext") or {}).get("seccompProfile")
    pod_set = False
    if profile is not None:
        if profile.get("type") in ("RuntimeDefault", "Localhost"):
            pod_set = True
        else:
            setters.append("pod")
            values.add(profile.get("type", ""))
    explicit = []
    for container in _containers(spec):
        profile = _security(container).get("seccompProfile")
        if profile is not None:
            if profile.get("type") not in ("RuntimeDefault", "Localhost"):
                explicit.append(container["name"])
                values.add(profile.get("type", ""))
        elif restricted and not pod_set:
            implicit.append(container["name"])
    if explicit:
        setters.append(_named(explicit))
    return setters, values, implicit


def _seccomp_baseline(meta, spec, version):
    if version < (1, 19):
        annotations = meta.get("annotations") or {}
        keys = ["seccomp.security.alpha.kubernetes.io/pod"] + [
            f"container.seccomp.security.alpha.kubernetes.io/{c['name']}" for c in _containers(spec)]
        bad = sorted({f'{key}="{annotations[key]}"' for key in keys if key in annotations
                      and not (annotations[key] in ("runtime/default", "docker/default")
                               or annotations[key].startswith("localhost/"))})
        if bad:
            return "seccompProfile", f'forbidden {_plural("annotation", "annotations", len(bad))} {", ".join(bad)}'
        return None
    setters, values, _ = _seccomp_setters(spec, restricted=False)
    if setters:
        return ("seccompProfile",
                f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to {_quote(sorted(values))}")
    return None


def _sysctls(meta, spec, version):
    allowed = set().union(*(names for since, names in _SYSCTLS if version >= since))
    bad = [s.get("name", "") for s in (spec.get("securityContext") or {}).get("sysctls") or []
           if s.get("name") not in allowed]
    return ("forbidden sysctls", ", ".join(bad)) if bad else None


def _windows_host_process(meta, spec, version):
    setters = []
    if ((spec.get("securityContext") or {}).get("windowsOptions") or {}).get("hostProcess") is True:
        setters.append("pod")
    bad = [c["name"] for c in _containers(spec)
           if (_security(c).get("windowsOptions") or {}).get("hostProcess") is True]
    if bad:
        setters.append(_named(bad))
    if setters:
        return "hostProcess", f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true"
    return None


def _allow_privilege_escalation(meta, spec, version):
    if version >= (1, 25) and _windows(spec):
        return None
    bad = [c["name"] for c in _containers(spec) if _security(c).get("allowPrivilegeEscalation") is not False]
    if bad:
        return ("allowPrivilegeEscalation != false",
                f"{_named(bad)} must set securityContext.allowPrivilegeEscalation=false")
    return None


def _capabilities_restricted(meta, spec, version):
    if version >= (1, 25) and _windows(spec):
        return None
    missing_drop, adding, forbidden = [], [], set()
    for container in _containers(spec):
        capabilities = _security(container).get("capabilities")
        if capabilities is None:
            missing_drop.append(container["name"])
            continue
        if "ALL" not in (capabilities.get("drop") or []):
            missing_drop.append(container["name"])
        extra = [c for c in capabilities.get("add") or [] if c != "NET_BIND_SERVICE"]
        if extra:
            adding.append(container["name"])
            forbidden.update(extra)
    details = []
    if missing_drop:
        details.append(f'{_named(missing_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_named(adding)} must not include {_quote(sorted(forbidden))} in "
                       f"securityContext.capabilities.add")
    return ("unrestricted capabilities", "; ".join(details)) if details else None


def _restricted_volumes(meta, spec, version):
    bad, kinds = [], set()
    for volume in spec.get("volumes") or []:
        sources = set(volume) - {"name"}
        if sources & _ALLOWED_VOLUMES:
            continue
        bad.append(volume["name"])
        kinds.add(next((s for s in _VOLUME_SOURCES if s in sources), "unknown"))
    if bad:
        return ("restricted volume types",
                f'{_plural("volume", "volumes", len(bad))} {_quote(bad)} {_plural("uses", "use", len(bad))} '
                f'{_plural("restricted volume type", "restricted volume types", len(kinds))} {_quote(sorted(kinds))}')
    return None


def _run_as_non_root(meta, spec, version):
    if version >= (1, 35) and _user_namespace(spec):
        return None
    setters, pod_non_root = [], False
    pod_value = (spec.get("securityContext") or {}).get("runAsNonRoot")
    if pod_value is False:
        setters.append("pod")
    elif pod_value is True:
        pod_non_root = True
    explicit, implicit = [], []
    for container in _containers(spec):
        value = _security(container).get("runAsNonRoot")
        if value is False:
            explicit.append(container["name"])
        elif value is None and not pod_non_root:
            implicit.append(container["name"])
    if explicit:
        setters.append(_named(explicit))
    if setters:
        return "runAsNonRoot != true", f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false"
    if implicit:
        return "runAsNonRoot != true", f"pod or {_named(implicit)} must set securityContext.runAsNonRoot=true"
    return None


def _run_as_user(meta, spec, version):
    if version >= (1, 35) and _user_namespace(spec):
        return None
    setters = ["pod"] if (spec.get("securityContext") or {}).get("runAsUser") == 0 else []
    bad = [c["name"] for c in _containers(spec) if _security(c).get("runAsUser") == 0]
    if bad:
        setters.append(_named(bad))
    return ("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0") if setters else None


def _seccomp_restricted(meta, spec, version):
    if version >= (1, 25) and _windows(spec):
        return None
    setters, values, implicit = _seccomp_setters(spec, restricted=True)
    if setters:
        return ("seccompProfile",
                f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to {_quote(sorted(values))}")
    if implicit:
        return ("seccompProfile", f'pod or {_named(implicit)} must set securityContext.seccompProfile.type to '
                                  f'"RuntimeDefault" or "Localhost"')
    return None


# (id, level, since, check, the baseline check it replaces in "restricted" from that version)
CHECKS = [
    ("appArmorProfile", "baseline", (1, 0), _app_armor, None),
    ("capabilities_baseline", "baseline", (1, 0), _capabilities_baseline, None),
    ("hostNamespaces", "baseline", (1, 0), _host_namespaces, None),
    ("hostPathVolumes", "baseline", (1, 0), _host_path_volumes, None),
    ("hostPorts", "baseline", (1, 0), _host_ports, None),
    ("hostProbesAndHostLifecycle", "baseline", (1, 34), _host_probes, None),
    ("privileged", "baseline", (1, 0), _privileged, None),
    ("procMount", "baseline", (1, 0), _proc_mount_baseline, None),
    ("seLinuxOptions", "baseline", (1, 0), _se_linux, None),
    ("seccompProfile_baseline", "baseline", (1, 0), _seccomp_baseline, None),
    ("sysctls", "baseline", (1, 0), _sysctls, None),
    ("windowsHostProcess", "baseline", (1, 0), _windows_host_process, None),
    ("allowPrivilegeEscalation", "restricted", (1, 8), _allow_privilege_escalation, None),
    ("capabilities_restricted", "restricted", (1, 22), _capabilities_restricted, "capabilities_baseline"),
    ("procMount_restricted", "restricted", (1, 35), _proc_mount, "procMount"),
    ("restrictedVolumes", "restricted", (1, 0), _restricted_volumes, "hostPathVolumes"),
    ("runAsNonRoot", "restricted", (1, 0), _run_as_non_root, None),
    ("runAsUser", "restricted", (1, 23), _run_as_user, None),
    ("seccompProfile_restricted", "restricted", (1, 19), _seccomp_restricted, "seccompProfile_baseline"),
]


def evaluate(level: str, version: tuple[int, int], metadata: dict, spec: dict) -> list[tuple[str, str]]:
    """The (reason, detail) of each check the pod fails, in the order the server reports them: baseline checks,
    then restricted ones, each by id; versions newer than this server's are evaluated as its own."""
    if level == "privileged":
        return []
    version = min(version, SERVER_VERSION)
    active = [c for c in CHECKS if c[2] <= version and (level == "restricted" or c[1] == "baseline")]
    replaced = {c[4] for c in active if c[4]} if level == "restricted" else set()
    failures = []
    for check_id, _, _, check, _ in sorted(active, key=lambda c: (c[1] == "restricted", c[0])):
        if check_id in replaced:
            continue
        result = check(metadata or {}, spec or {}, version)
        if result is not None:
            failures.append(result)
    return failures


def refusal_detail(failures: list[tuple[str, str]]) -> str:
    return ", ".join(f"{reason} ({detail})" if detail else reason for reason, detail in failures)


def admit_pod(state, pod: dict) -> None:
    """Raise the server's 403 when the pod's namespace enforces a level the pod breaks."""
    namespace = state.get("Namespace", None, pod["metadata"]["namespace"])
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    level, version = enforced(labels)
    failures = evaluate(level, version, pod["metadata"], pod.get("spec") or {})
    if failures:
        name = pod["metadata"].get("name", "")
        raise ApiError(403, "Forbidden", f'pods "{name}" is forbidden: violates PodSecurity '
                                         f'"{level}:{version_text(version)}": {refusal_detail(failures)}',
                       {"name": name, "kind": "pods"})

"""The policy scan of rendered manifests: root containers, added capabilities and the rest of what a hardened pod
must not have, found in plain manifest dicts (no cluster needed)."""
from dataclasses import dataclass

from portal.catalog.parameters import settings_defaults
from portal.catalog.templates import ServiceTemplate, image_parts
from portal.provisioning.manifests import ClusterOptions, instance_manifests, instance_names

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
# What fails the scan; notes (a writable root the template explains, a tag without its digest) are reported only.
FAILING = {"root container", "added capability", "capabilities kept", "privilege escalation", "privileged"}


@dataclass(frozen=True)
class Finding:
    workload: str
    container: str
    kind: str
    detail: str

    @property
    def failing(self) -> bool:
        return self.kind in FAILING


def _pod_spec(manifest: dict) -> dict | None:
    if manifest.get("kind") == "Pod":
        return manifest.get("spec") or {}
    if manifest.get("kind") in WORKLOAD_KINDS:
        return ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


def pod_findings(manifests: list[dict]) -> list[Finding]:
    """Every container's problems, judged as the kubelet and Pod Security would: container settings override the
    pod's, and a container that does not promise non-root with a non-zero uid counts as root."""
    findings = []
    for manifest in manifests:
        spec = _pod_spec(manifest)
        if spec is None:
            continue
        workload = f"{manifest['kind']}/{manifest['metadata']['name']}"
        pod = spec.get("securityContext") or {}
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            name = container.get("name", "")
            security = container.get("securityContext") or {}

            def found(kind: str, detail: str, name=name, workload=workload) -> None:
                findings.append(Finding(workload, name, kind, detail))

            non_root = security.get("runAsNonRoot", pod.get("runAsNonRoot"))
            uid = security.get("runAsUser", pod.get("runAsUser"))
            if uid == 0:
                found("root container", "runs as uid 0")
            elif non_root is not True:
                found("root container", "runAsNonRoot is not true: the image's own user (often root) runs")
            capabilities = security.get("capabilities") or {}
            if capabilities.get("add"):
                found("added capability", ", ".join(capabilities["add"]))
            if "ALL" not in (capabilities.get("drop") or []):
                found("capabilities kept", "does not drop ALL (the runtime's defaults include NET_RAW)")
            if security.get("allowPrivilegeEscalation") is not False:
                found("privilege escalation", "allowPrivilegeEscalation is not false")
            if security.get("privileged"):
                found("privileged", "privileged: true")
            if security.get("readOnlyRootFilesystem") is not True:
                found("writable root", "readOnlyRootFilesystem is not true")
            image = container.get("image", "")
            try:
                _, _, digest = image_parts(image)
            except ValueError:
                digest = None
            if not digest:
                found("tag without digest", f"{image} (run `flask catalog-pin` where the registry is reachable)")
    return findings


def catalog_scan(*, templates: dict[str, ServiceTemplate], options: ClusterOptions) -> list[tuple[str, Finding]]:
    """Every app x plan rendered as a sample instance, with each finding labelled `app/plan`."""
    results = []
    for slug, template in sorted(templates.items()):
        for plan in template.plans:
            names = instance_names(namespace_prefix="scan-", user_id=1, service_slug=slug, subscription_id=1,
                                   subdomain="scan", cluster_domain=options.cluster_domain)
            manifests = instance_manifests(template=template, plan=plan, settings=settings_defaults(template),
                                           secrets={s.name: "scan" for s in template.secrets}, names=names,
                                           subscription_id=1, options=options)
            results += [(f"{slug}/{plan.slug}", finding) for finding in pod_findings(manifests)]
    return results

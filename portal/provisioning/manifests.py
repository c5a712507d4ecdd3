"""Pure manifest builders: a template, a plan, settings, secrets and names in; plain Kubernetes dicts out.

User input only ever lands in values (env values, the host name after validation), never in
structure or names; names are DNS-1123 labels of at most 63 characters whatever the input.
"""
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Protocol

from portal.catalog.parameters import env_text
from portal.catalog.templates import PLACEHOLDER, ComponentSpec, EnvSpec, Probe, ServiceTemplate
from portal.provisioning.mail import (
    MailServer,
    mail_network_policy,
    mail_plugin_config_map,
    mail_plugin_init_container,
)
from portal.provisioning.velero import pre_backup_annotations

MANAGED_BY = {"app.kubernetes.io/managed-by": "portal"}
# Pod Security Admission on each customer namespace: "restricted" enforced at a pinned version, so a cluster upgrade
# that tightens the rules never stops a customer's pods from being recreated; warnings and audit follow the cluster's
# latest rules, so staff see what a later pin would refuse before moving it.
POD_SECURITY_VERSION = "v1.31"
RESTRICTED_POD_SECURITY = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": POD_SECURITY_VERSION,
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/audit-version": "latest",
}
# Requests are this share of limits: instances are guaranteed a quarter and may burst to their plan.
REQUEST_RATIO = 0.25
# Scratch disk (writable layer, logs, emptyDir) per MiB of the plan's memory: a plan has no column of its own for
# it, and what an app writes outside its volumes grows with the work it does, as its memory does.
EPHEMERAL_STORAGE_PER_MEMORY = 1.0
EPHEMERAL_STORAGE_MIN_MB = 512
# Where customer pods may not connect although it is "the internet" by address: private (RFC 1918, RFC 4193),
# link-local (the cloud metadata address 169.254.169.254 among them) and carrier-grade NAT ranges.
EGRESS_EXCEPT_CIDRS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
                       "fc00::/7", "fe80::/10")
# k3s's default pod and service ranges (docker-compose's cluster); set K8S_CLUSTER_CIDRS to the cluster's own.
CLUSTER_CIDRS = ("10.42.0.0/16", "10.43.0.0/16")
INTERNET = {4: "0.0.0.0/0", 6: "::/0"}


class Resources(Protocol):
    cpu_millicores: int
    memory_mb: int
    storage_gb: int


@dataclass(frozen=True)
class ClusterOptions:
    cluster_domain: str = "localtest.me"
    ingress_class: str = "nginx"
    cluster_issuer: str = "letsencrypt"
    ingress_namespace: str = "ingress-nginx"
    storage_class: str | None = None
    dns_namespace: str = "kube-system"
    dns_pod_labels: tuple[tuple[str, str], ...] = (("k8s-app", "kube-dns"),)
    egress_except_cidrs: tuple[str, ...] = EGRESS_EXCEPT_CIDRS
    cluster_cidrs: tuple[str, ...] = CLUSTER_CIDRS

    @classmethod
    def from_config(cls, config) -> "ClusterOptions":
        """Read from the app's settings (K8S_*), so builders stay free of Flask."""
        return cls(cluster_domain=config["K8S_CLUSTER_DOMAIN"], ingress_class=config["K8S_INGRESS_CLASS"],
                   cluster_issuer=config["K8S_CLUSTER_ISSUER"], ingress_namespace=config["K8S_INGRESS_NAMESPACE"],
                   storage_class=config["K8S_STORAGE_CLASS"], dns_namespace=config["K8S_DNS_NAMESPACE"],
                   dns_pod_labels=tuple(config["K8S_DNS_POD_LABELS"].items()),
                   egress_except_cidrs=tuple(config["K8S_EGRESS_EXCEPT_CIDRS"]),
                   cluster_cidrs=tuple(config["K8S_CLUSTER_CIDRS"]))


@dataclass(frozen=True)
class DomainRoute:
    """A customer's verified domain on the instance: served by the app, or redirected to the primary domain."""
    id: int
    host: str
    redirect_to: str | None = None


@dataclass(frozen=True)
class InstanceNames:
    namespace: str
    instance: str
    host: str

    def object(self, *suffix: str) -> str:
        return dns_label(self.instance, *suffix)


def dns_label(*parts: str, max_length: int = 63) -> str:
    """A valid DNS-1123 label from any text: lowercase, [a-z0-9-], at most max_length characters.

    Over-long names keep a readable head and end in a hash of the whole, so two long inputs never collide.
    """
    text = "-".join(str(p) for p in parts if str(p) != "")
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    label = re.sub(r"-{2,}", "-", label).strip("-") or "x"
    if not label[0].isalpha():
        label = "x" + label
    if len(label) > max_length:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        label = label[: max_length - 9].rstrip("-") + "-" + digest
    return label


def instance_names(*, namespace_prefix: str, user_id: int, service_slug: str, subscription_id: int,
                   subdomain: str, cluster_domain: str) -> InstanceNames:
    return InstanceNames(
        namespace=dns_label(f"{namespace_prefix}{user_id}"),
        # Names come from ids, not from what the customer typed: they never change and never clash.
        instance=dns_label(service_slug, str(subscription_id), max_length=40),
        host=f"{subdomain}.{cluster_domain}",
    )


def labels(template: ServiceTemplate, names: InstanceNames, subscription_id: int, component: str | None = None) -> dict:
    result = {**MANAGED_BY, "app.kubernetes.io/name": template.slug,
              "app.kubernetes.io/instance": names.instance, "portal/subscription": str(subscription_id)}
    if component:
        result["app.kubernetes.io/component"] = component
    return result


def _quantity_cpu(millicores: float) -> str:
    return f"{max(1, int(millicores))}m"


def _quantity_memory(megabytes: float) -> str:
    return f"{max(1, int(megabytes))}Mi"


def ephemeral_storage_mb(plan: Resources) -> int:
    """The plan's scratch disk (container layers, logs, emptyDir), split between its components like memory."""
    return max(EPHEMERAL_STORAGE_MIN_MB, int(plan.memory_mb * EPHEMERAL_STORAGE_PER_MEMORY))


# -- per customer ---------------------------------------------------------------------------------

def namespace_manifests(*, namespace: str, user_id: int, plans: list[Resources],
                        options: ClusterOptions) -> list[dict]:
    """The customer's namespace and its guard rails, sized from all their plans together."""
    ns_labels = {**MANAGED_BY, "portal/customer": str(user_id), **RESTRICTED_POD_SECURITY}
    meta = {"namespace": namespace, "labels": {**MANAGED_BY, "portal/customer": str(user_id)}}
    cpu = sum(p.cpu_millicores for p in plans) or 100
    memory = sum(p.memory_mb for p in plans) or 128
    storage = sum(p.storage_gb for p in plans) or 1
    ephemeral = sum(ephemeral_storage_mb(p) for p in plans) or EPHEMERAL_STORAGE_MIN_MB
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": ns_labels}},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "portal-quota", **meta},
         "spec": {"hard": {
             "limits.cpu": _quantity_cpu(cpu), "limits.memory": _quantity_memory(memory),
             "requests.cpu": _quantity_cpu(cpu * REQUEST_RATIO),
             "requests.memory": _quantity_memory(memory * REQUEST_RATIO),
             "limits.ephemeral-storage": _quantity_memory(ephemeral),
             "requests.ephemeral-storage": _quantity_memory(ephemeral * REQUEST_RATIO),
             "requests.storage": f"{storage}Gi",
             "persistentvolumeclaims": str(4 * max(1, len(plans))),
             "pods": str(10 * max(1, len(plans))),
             "services.loadbalancers": "0", "services.nodeports": "0"}}},
        {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "portal-limits", **meta},
         "spec": {"limits": [{"type": "Container",
                              "default": {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "256Mi"},
                              "defaultRequest": {"cpu": "50m", "memory": "64Mi", "ephemeral-storage": "64Mi"},
                              "max": {"cpu": _quantity_cpu(max(p.cpu_millicores for p in plans) if plans else 100),
                                      "memory": _quantity_memory(max(p.memory_mb for p in plans)
                                                                 if plans else 128),
                                      "ephemeral-storage": _quantity_memory(
                                          max(ephemeral_storage_mb(p) for p in plans)
                                          if plans else EPHEMERAL_STORAGE_MIN_MB)}}]}},
        *namespace_network_policies(namespace=namespace, user_id=user_id, options=options),
    ]


def namespace_network_policies(*, namespace: str, user_id: int, options: ClusterOptions) -> list[dict]:
    """Deny in and out by default; then let in the ingress controller (to apps only), let out DNS queries to the
    cluster DNS and connections to the internet. Traffic within one instance is each instance's own policy."""
    meta = {"namespace": namespace, "labels": {**MANAGED_BY, "portal/customer": str(user_id)}}
    dns_ports = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    return [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "default-deny", **meta},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "allow-from-ingress-controller", **meta},
         "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "app"}},
                  "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                      "kubernetes.io/metadata.name": options.ingress_namespace}}}]}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "allow-dns", **meta},
         "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                  "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                                          "kubernetes.io/metadata.name": options.dns_namespace}},
                                      "podSelector": {"matchLabels": dict(options.dns_pod_labels)}}],
                              "ports": dns_ports}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "allow-internet", **meta},
         "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                  "egress": [{"to": internet_peers(options.egress_except_cidrs + options.cluster_cidrs)}]}},
    ]


def internet_peers(except_cidrs: tuple[str, ...]) -> list[dict]:
    """ipBlocks for every address of both families but the excepted ranges.

    An except must lie strictly inside its block's cidr, so each family gets its own block; ranges inside
    others are merged away (the cluster's ranges usually sit inside 10.0.0.0/8)."""
    networks = [ipaddress.ip_network(cidr) for cidr in except_cidrs]
    peers = []
    for family, everything in INTERNET.items():
        excepted = list(ipaddress.collapse_addresses(n for n in networks if n.version == family))
        if any(n.prefixlen == 0 for n in excepted):
            continue  # the whole family is excepted: no way out over it
        peers.append({"ipBlock": {"cidr": everything, "except": [str(n) for n in excepted]}})
    return peers


# -- per instance ---------------------------------------------------------------------------------

def render_value(text: str, context: dict[str, str]) -> str:
    """Fill {{ placeholders }} in one pass: substituted text is never scanned again."""
    return PLACEHOLDER.sub(lambda match: context[match.group(1)], text)


def _placeholder_context(template: ServiceTemplate, names: InstanceNames, settings: dict,
                         public_host: str | None = None) -> dict[str, str]:
    # The app's own address (Ghost's url, WordPress's home, n8n's host and webhook URL): the customer's primary
    # domain once it has its certificate, else the provider's address.
    host = public_host or names.host
    context = {"host": host, "url": f"https://{host}", "instance": names.instance,
               "namespace": names.namespace}
    for parameter in template.parameters:
        context[f"params.{parameter.name}"] = env_text(parameter, settings.get(parameter.name))
    for component in template.components:
        context[f"components.{component.name}.host"] = names.object(component.name)
    return context


def _probe(probe: Probe) -> dict:
    result = {"initialDelaySeconds": probe.initial_delay_seconds, "periodSeconds": probe.period_seconds,
              "timeoutSeconds": probe.timeout_seconds, "failureThreshold": probe.failure_threshold}
    if probe.http_get:
        get = {"path": probe.http_get.path, "port": probe.http_get.port}
        if probe.http_get.headers:
            get["httpHeaders"] = [{"name": k, "value": v} for k, v in probe.http_get.headers.items()]
        result["httpGet"] = get
    elif probe.tcp_port:
        result["tcpSocket"] = {"port": probe.tcp_port}
    else:
        result["exec"] = {"command": list(probe.exec)}
    return result


def _container(component: ComponentSpec, plan: Resources, names: InstanceNames, context: dict,
               mail: MailServer | None = None) -> dict:
    secret_name = names.object("secrets")
    env = []
    mail_env: list[EnvSpec] = []
    if mail is not None:
        mail_env, context = component.mail_env, {**context, **mail.placeholders()}
    for item in [*component.env, *mail_env]:
        if item.secret is not None:
            env.append({"name": item.name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": item.secret}}})
        else:
            env.append({"name": item.name, "value": render_value(item.value, context)})
    cpu = plan.cpu_millicores * component.cpu_share
    memory = plan.memory_mb * component.memory_share
    ephemeral = ephemeral_storage_mb(plan) * component.ephemeral_storage_share
    security = component.security
    container_security = {"allowPrivilegeEscalation": security.allow_privilege_escalation,
                          "readOnlyRootFilesystem": security.read_only_root_filesystem}
    capabilities = {}
    if security.drop_all_capabilities:
        capabilities["drop"] = ["ALL"]
    if security.add_capabilities:
        capabilities["add"] = list(security.add_capabilities)
    if capabilities:
        container_security["capabilities"] = capabilities
    container = {
        "name": component.name,
        "image": component.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http" if component.exposed else "main", "containerPort": component.port,
                   "protocol": "TCP"}],
        "env": env,
        "resources": {"limits": {"cpu": _quantity_cpu(cpu), "memory": _quantity_memory(memory),
                                 "ephemeral-storage": _quantity_memory(ephemeral)},
                      "requests": {"cpu": _quantity_cpu(cpu * REQUEST_RATIO),
                                   "memory": _quantity_memory(memory * REQUEST_RATIO),
                                   "ephemeral-storage": _quantity_memory(ephemeral * REQUEST_RATIO)}},
        "readinessProbe": _probe(component.probes.readiness),
        "livenessProbe": _probe(component.probes.liveness),
        "securityContext": container_security,
        "volumeMounts": [{"name": v.name, "mountPath": v.mount_path, **({"subPath": v.sub_path} if v.sub_path else {})}
                         for v in component.volumes]
                        + [{"name": s.name, "mountPath": s.mount_path} for s in component.scratch],
    }
    if component.probes.startup:
        container["startupProbe"] = _probe(component.probes.startup)
    if component.args:
        container["args"] = list(component.args)
    return container


def _pod_security(component: ComponentSpec) -> dict:
    security = component.security
    result = {"seccompProfile": {"type": "RuntimeDefault"}}
    for key, value in (("runAsUser", security.run_as_user), ("runAsGroup", security.run_as_group),
                       ("fsGroup", security.fs_group)):
        if value is not None:
            result[key] = value
    if security.run_as_non_root:
        result["runAsNonRoot"] = True
    if security.sysctls:
        result["sysctls"] = [{"name": name, "value": value} for name, value in sorted(security.sysctls.items())]
    return result


def _workload(template: ServiceTemplate, component: ComponentSpec, plan: Resources, names: InstanceNames,
              subscription_id: int, context: dict, replicas: int, mail: MailServer | None = None) -> dict:
    component_labels = labels(template, names, subscription_id, component.name)
    selector = {"app.kubernetes.io/instance": names.instance, "app.kubernetes.io/component": component.name}
    container = _container(component, plan, names, context, mail)
    pod_spec = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": _pod_security(component),
        "containers": [container],
        "volumes": [{"name": v.name, "persistentVolumeClaim": {"claimName": names.object(component.name, v.name)}}
                    for v in component.volumes]
                   + [{"name": s.name, "emptyDir": {"sizeLimit": f"{s.size_mb}Mi"}} for s in component.scratch],
    }
    pod_metadata = {"labels": component_labels}
    annotations = dict(pre_backup_annotations(component))  # Velero dumps the database before it copies the volume
    plugin = component.mail_plugin
    if plugin is not None:
        pod_spec["initContainers"] = [mail_plugin_init_container(
            image=component.image, directory=plugin.directory, filename=plugin.filename,
            volume_mounts=[m for m in container["volumeMounts"]
                           if any(m["name"] == v.name for v in component.volumes)],
            security_context=container["securityContext"])]
        pod_spec["volumes"].append({"name": "mail-plugin", "configMap": {"name": names.object(component.name, "mail")}})
        # A new plugin (a portal upgrade) rolls the pods, which copy it in as they start.
        annotations["portal/mail-plugin-sha256"] = hashlib.sha256(plugin.content.encode()).hexdigest()
    if annotations:
        pod_metadata["annotations"] = annotations
    spec = {"replicas": replicas, "selector": {"matchLabels": selector},
            "template": {"metadata": pod_metadata, "spec": pod_spec}}
    if component.kind == "StatefulSet":
        spec["serviceName"] = names.object(component.name)
    else:
        spec["strategy"] = {"type": "Recreate"}  # one pod at a time on a ReadWriteOnce volume
    return {"apiVersion": "apps/v1", "kind": component.kind,
            "metadata": {"name": names.object(component.name), "namespace": names.namespace,
                         "labels": component_labels},
            "spec": spec}


def instance_manifests(*, template: ServiceTemplate, plan: Resources, settings: dict, secrets: dict[str, str],
                       names: InstanceNames, subscription_id: int, options: ClusterOptions,
                       replicas: int = 1, ingress_enabled: bool = True, mail: MailServer | None = None,
                       domains: tuple[DomainRoute, ...] = (), public_host: str | None = None) -> list[dict]:
    """Everything one instance needs, in apply order: secret, volumes, workloads, services, ingresses (the
    provider's address, then one per custom domain).

    `replicas=0` with `ingress_enabled=False` is the suspended instance: data kept, nothing served. `mail` is the
    server its apps send through (None: no mail settings at all); its login goes into the Secret, never an env value.
    """
    missing = {s.name for s in template.secrets} - set(secrets)
    if missing:
        raise ValueError(f"secrets missing for {template.slug}: {sorted(missing)}")
    context = _placeholder_context(template, names, settings, public_host)
    base_labels = labels(template, names, subscription_id)
    meta = {"namespace": names.namespace}
    manifests = [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                  "metadata": {"name": names.object("secrets"), **meta, "labels": base_labels},
                  "stringData": {s.name: secrets[s.name] for s in template.secrets}},
                 settings_config_map(names=names, settings=settings, labels=base_labels)]
    senders = [c for c in template.components if c.sends_mail]
    if senders:
        # Always written, emptied when there is no server: a login the instance no longer uses does not linger.
        manifests[0]["stringData"].update({"mail_username": mail.username if mail else "",
                                           "mail_password": mail.password if mail else ""})
    for component in senders:
        if component.mail_plugin is not None:
            manifests.append(mail_plugin_config_map(
                name=names.object(component.name, "mail"), namespace=names.namespace,
                labels=labels(template, names, subscription_id, component.name),
                filename=component.mail_plugin.filename, content=component.mail_plugin.content))
    for component in template.components:
        for volume in component.volumes:
            size_mb = max(256, int(plan.storage_gb * 1024 * volume.storage_share))
            claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{size_mb}Mi"}}}
            if options.storage_class:
                claim["storageClassName"] = options.storage_class
            manifests.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                              "metadata": {"name": names.object(component.name, volume.name), **meta,
                                           "labels": labels(template, names, subscription_id, component.name)},
                              "spec": claim})
    for component in template.components:
        manifests.append(_workload(template, component, plan, names, subscription_id, context, replicas, mail))
    for component in template.components:
        manifests.append({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": names.object(component.name), **meta,
                         "labels": labels(template, names, subscription_id, component.name)},
            "spec": {"type": "ClusterIP",
                     "selector": {"app.kubernetes.io/instance": names.instance,
                                  "app.kubernetes.io/component": component.name},
                     "ports": [{"name": "http" if component.exposed else "main", "port": component.port,
                                "targetPort": component.port, "protocol": "TCP"}]}})
    manifests.append(_internal_network_policy(names, base_labels))
    if senders:
        manifests.append(mail_network_policy(name=names.object("mail"), namespace=names.namespace, labels=base_labels,
                                             instance=names.instance, components=[c.name for c in senders],
                                             mail=mail))
    if ingress_enabled:
        manifests.append(_ingress(template, names, subscription_id, options))
        manifests.extend(domain_ingress(template, names, subscription_id, options, route) for route in domains)
    return manifests


SETTINGS_KEY = "settings.json"


def settings_config_map(*, names: InstanceNames, settings: dict, labels: dict) -> dict:
    """The customer's settings as the instance runs with them, kept beside it in the cluster, so a backup carries
    them and a restore brings back the settings of that time with the data."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": names.object("settings"), "namespace": names.namespace, "labels": labels},
            "data": {SETTINGS_KEY: json.dumps(settings, sort_keys=True)}}


def settings_from_config_map(config_map: dict | None) -> dict | None:
    """The settings a settings ConfigMap holds; None when it holds none readable."""
    try:
        value = json.loads(((config_map or {}).get("data") or {})[SETTINGS_KEY])
    except (KeyError, TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _internal_network_policy(names: InstanceNames, base_labels: dict) -> dict:
    """An instance's pods reach each other (the app its database), both ways, and no other instance's."""
    same_instance = [{"podSelector": {"matchLabels": {"app.kubernetes.io/instance": names.instance}}}]
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": names.object("internal"), "namespace": names.namespace, "labels": base_labels},
        "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": names.instance}},
                 "policyTypes": ["Ingress", "Egress"],
                 "ingress": [{"from": same_instance}], "egress": [{"to": same_instance}]}}


def _ingress(template: ServiceTemplate, names: InstanceNames, subscription_id: int, options: ClusterOptions) -> dict:
    exposed = template.exposed_component
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": names.instance, "namespace": names.namespace,
                     "labels": labels(template, names, subscription_id),
                     "annotations": {"cert-manager.io/cluster-issuer": options.cluster_issuer,
                                     "nginx.ingress.kubernetes.io/proxy-body-size": "64m"}},
        "spec": {"ingressClassName": options.ingress_class,
                 "tls": [{"hosts": [names.host], "secretName": names.object("tls")}],
                 "rules": [{"host": names.host, "http": {"paths": [{
                     "path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": names.object(exposed.name),
                                             "port": {"number": exposed.port}}}}]}}]},
    }


def domain_ingress_name(names: InstanceNames, domain_id: int) -> str:
    return names.object("domain", str(domain_id))


def domain_certificate_name(names: InstanceNames, domain_id: int) -> str:
    """The TLS secret, and so the Certificate cert-manager's ingress-shim names after it."""
    return names.object("domain", str(domain_id), "tls")


def domain_ingress(template: ServiceTemplate, names: InstanceNames, subscription_id: int, options: ClusterOptions,
                   route: DomainRoute) -> dict:
    """One Ingress per custom domain, with its own TLS secret: cert-manager (ingress-shim, HTTP-01 through the
    ClusterIssuer) makes one Certificate for it, so a domain whose challenge fails holds up no other, and
    choosing another primary only changes an annotation, never the certificate.

    A redirected domain answers 301 to the primary (ingress-nginx's permanent-redirect; its admission refuses
    nginx variables in the value since 1.9, so the path is not carried over). cert-manager's HTTP-01 solver
    Ingress for the same host serves its challenge path on its own location, which the redirect does not cover.
    """
    exposed = template.exposed_component
    annotations = {"cert-manager.io/cluster-issuer": options.cluster_issuer,
                   "nginx.ingress.kubernetes.io/proxy-body-size": "64m"}
    if route.redirect_to:
        annotations["nginx.ingress.kubernetes.io/permanent-redirect"] = route.redirect_to
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": domain_ingress_name(names, route.id), "namespace": names.namespace,
                     "labels": {**labels(template, names, subscription_id), "portal/domain": str(route.id)},
                     "annotations": annotations},
        "spec": {"ingressClassName": options.ingress_class,
                 "tls": [{"hosts": [route.host], "secretName": domain_certificate_name(names, route.id)}],
                 "rules": [{"host": route.host, "http": {"paths": [{
                     "path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": names.object(exposed.name),
                                             "port": {"number": exposed.port}}}}]}}]},
    }

"""Manifests as the portal builds them (plain dicts), for the emulator tests."""

MANAGED = {"app.kubernetes.io/managed-by": "portal"}


def labels(app: str, instance: str, subscription: int = 1) -> dict:
    return {**MANAGED, "app.kubernetes.io/name": app, "app.kubernetes.io/instance": instance,
            "portal/subscription": str(subscription)}


def deployment(name: str, namespace: str, image: str = "ghost:5.96", replicas: int = 1, app: str = "ghost",
               env: dict | None = None, limits: dict | None = None, annotations: dict | None = None,
               restricted: bool = False) -> dict:
    container = {"name": "web", "image": image, "ports": [{"containerPort": 2368}],
                 "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    if restricted:
        # What a namespace enforcing Pod Security "restricted" admits.
        container["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"]},
                                        "seccompProfile": {"type": "RuntimeDefault"}}
    if limits:
        container["resources"] = {"limits": limits, "requests": limits}
    template_metadata = {"labels": labels(app, name)}
    if annotations:
        template_metadata["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels(app, name)},
            "spec": {"replicas": replicas,
                     "selector": {"matchLabels": {"app.kubernetes.io/instance": name}},
                     "template": {"metadata": template_metadata, "spec": {"containers": [container]}}}}


def stateful_set(name: str, namespace: str, image: str = "mysql:8.0", replicas: int = 1, app: str = "wordpress",
                 storage: str | None = None) -> dict:
    manifest = {"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": name, "namespace": namespace, "labels": labels(app, name)},
                "spec": {"replicas": replicas, "serviceName": name,
                         "selector": {"matchLabels": {"app.kubernetes.io/instance": name}},
                         "template": {"metadata": {"labels": labels(app, name)},
                                      "spec": {"containers": [{"name": "db", "image": image}]}}}}
    if storage:
        manifest["spec"]["volumeClaimTemplates"] = [{
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}}]
    return manifest


def pod(name: str, namespace: str, pod_labels: dict, image: str = "nginx:1.27") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
                                                            "labels": pod_labels},
            "spec": {"containers": [{"name": "web", "image": image}]}}

"""Manifest builders: schema-valid for every app and plan, the important fields pinned, input kept in values."""
import json
import random
import re
import string

import kubernetes_validate
import pytest
import yaml

from portal.catalog.parameters import SettingsInvalid, settings_clean
from portal.catalog.templates import ServiceTemplate, templates_load
from portal.config import ROOT
from portal.provisioning import manifests
from portal.provisioning.manifests import (
    ClusterOptions,
    dns_label,
    instance_manifests,
    instance_names,
    namespace_manifests,
)

pytestmark = pytest.mark.smoke
TEMPLATES = templates_load(str(ROOT / "service-templates"))
OPTIONS = ClusterOptions(cluster_domain="apps.example.id", ingress_class="nginx", cluster_issuer="letsencrypt-prod",
                         ingress_namespace="ingress-nginx")
SAMPLE_SETTINGS = {
    "n8n": [{}, {"timezone": "Asia/Makassar", "execution_retention_hours": "8760"}],
    "ghost": [{}, {"use_gravatar": False}],
    "wordpress": [{}, {"table_prefix": "toko_", "debug": True}],
}
SECRETS = {slug: {s.name: f"secret-{s.name}" for s in t.secrets} for slug, t in TEMPLATES.items()}
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def render(slug: str, plan_slug: str = "starter", settings: dict | None = None, subscription_id: int = 42,
           user_id: int = 7, subdomain: str = "toko-ana", **options) -> list[dict]:
    template = TEMPLATES[slug]
    names = instance_names(namespace_prefix="customer-", user_id=user_id, service_slug=slug,
                           subscription_id=subscription_id, subdomain=subdomain, cluster_domain=OPTIONS.cluster_domain)
    return instance_manifests(template=template, plan=template.plan(plan_slug),
                              settings=settings_clean(template, settings or {}), secrets=SECRETS[slug],
                              names=names, subscription_id=subscription_id, options=OPTIONS, **options)


def by_kind(manifests: list[dict], kind: str, name_suffix: str = "") -> dict:
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"].endswith(name_suffix))


def env_of(workload: dict) -> dict:
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


CASES = [(slug, plan.slug, i) for slug, t in TEMPLATES.items() for plan in t.plans
         for i in range(len(SAMPLE_SETTINGS[slug]))]


@pytest.mark.parametrize("version", ["1.30", "1.34"])
@pytest.mark.parametrize("slug, plan_slug, sample", CASES)
def test_every_manifest_is_schema_valid(slug, plan_slug, sample, version):
    template = TEMPLATES[slug]
    manifests = namespace_manifests(namespace="customer-7", user_id=7, plans=[template.plan(plan_slug)],
                                    options=OPTIONS)
    manifests += render(slug, plan_slug, SAMPLE_SETTINGS[slug][sample])
    manifests += render(slug, plan_slug, SAMPLE_SETTINGS[slug][sample], replicas=0, ingress_enabled=False)
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)
        assert DNS_1123_LABEL.match(manifest["metadata"]["name"]) and len(manifest["metadata"]["name"]) <= 63


def test_the_validator_used_above_does_catch_a_broken_manifest():
    deployment = by_kind(render("n8n"), "Deployment")
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.34", strict=True)


def test_n8n_golden_fields():
    manifests = render("n8n", "pro", {"timezone": "Asia/Makassar"})
    app, db = by_kind(manifests, "Deployment", "-app"), by_kind(manifests, "StatefulSet", "-db")
    assert app["metadata"]["name"] == "n8n-42-app" and app["metadata"]["namespace"] == "customer-7"
    assert app["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "portal", "app.kubernetes.io/name": "n8n",
        "app.kubernetes.io/instance": "n8n-42", "portal/subscription": "42", "app.kubernetes.io/component": "app"}
    env = env_of(app)
    assert env["DB_TYPE"] == "postgresdb"
    assert env["DB_POSTGRESDB_HOST"] == "n8n-42-db"
    assert env["N8N_HOST"] == "toko-ana.apps.example.id"
    assert env["WEBHOOK_URL"] == "https://toko-ana.apps.example.id/"
    assert env["N8N_PROTOCOL"] == "https" and env["N8N_PROXY_HOPS"] == "1"
    assert env["GENERIC_TIMEZONE"] == "Asia/Makassar"
    assert env["EXECUTIONS_DATA_MAX_AGE"] == "336"
    assert env["N8N_ENCRYPTION_KEY"] == {"secretKeyRef": {"name": "n8n-42-secrets", "key": "encryption_key"}}
    container = app["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "n8nio/n8n:1.121.3"
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/home/node/.n8n"},
                                         {"name": "cache", "mountPath": "/home/node/.cache"},
                                         {"name": "tmp", "mountPath": "/tmp"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz/readiness", "port": 5678}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 5678}
    # Pro: 1000m and 2048Mi (and as much scratch disk), 70 % to the app, requests a quarter of limits.
    assert container["resources"] == {"limits": {"cpu": "700m", "memory": "1433Mi", "ephemeral-storage": "1433Mi"},
                                      "requests": {"cpu": "175m", "memory": "358Mi", "ephemeral-storage": "358Mi"}}
    pod = app["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}, "runAsUser": 1000,
                                      "runAsGroup": 1000, "fsGroup": 1000, "runAsNonRoot": True}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert pod["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "n8n-42-app-data"}},
                              {"name": "cache", "emptyDir": {"sizeLimit": "256Mi"}},
                              {"name": "tmp", "emptyDir": {"sizeLimit": "384Mi"}}]
    assert pod["automountServiceAccountToken"] is False
    assert db["spec"]["serviceName"] == "n8n-42-db"
    assert env_of(db)["PGDATA"] == "/var/lib/postgresql/data/pgdata"
    assert db["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"] == {
        "command": ["pg_isready", "-U", "n8n", "-d", "n8n"]}
    # Storage: 20 GB split 20 % / 80 %.
    claims = {m["metadata"]["name"]: m["spec"]["resources"]["requests"]["storage"]
              for m in manifests if m["kind"] == "PersistentVolumeClaim"}
    assert claims == {"n8n-42-app-data": "4096Mi", "n8n-42-db-data": "16384Mi"}


def test_ghost_and_wordpress_golden_fields():
    ghost = render("ghost", settings={"use_gravatar": False})
    env = env_of(by_kind(ghost, "Deployment", "-app"))
    assert env["url"] == "https://toko-ana.apps.example.id"
    assert env["database__client"] == "mysql" and env["database__connection__host"] == "ghost-42-db"
    assert env["privacy__useGravatar"] == "false"
    ghost_app = by_kind(ghost, "Deployment", "-app")["spec"]["template"]["spec"]["containers"][0]
    assert ghost_app["readinessProbe"]["httpGet"]["httpHeaders"] == [{"name": "X-Forwarded-Proto", "value": "https"}]
    assert ghost_app["startupProbe"]["failureThreshold"] == 30
    assert ghost_app["volumeMounts"] == [{"name": "content", "mountPath": "/var/lib/ghost/content"}]
    mysql = by_kind(ghost, "StatefulSet", "-db")
    assert env_of(mysql)["MYSQL_ROOT_PASSWORD"] == {"secretKeyRef": {"name": "ghost-42-secrets",
                                                                      "key": "db_root_password"}}

    wordpress = render("wordpress", settings={"debug": False, "table_prefix": "toko_"})
    env = env_of(by_kind(wordpress, "Deployment", "-app"))
    assert env["WORDPRESS_DEBUG"] == ""  # the image treats any non-empty value as "on"
    assert env["WORDPRESS_TABLE_PREFIX"] == "toko_"
    assert sum(1 for k in env if k.endswith(("_KEY", "_SALT"))) == 8
    wp_pod = by_kind(wordpress, "Deployment", "-app")["spec"]["template"]["spec"]
    assert wp_pod["securityContext"]["runAsNonRoot"] is True and wp_pod["securityContext"]["runAsUser"] == 33
    assert wp_pod["securityContext"]["fsGroup"] == 33


def test_secrets_live_only_in_the_secret_object():
    manifests = render("wordpress")
    secret = by_kind(manifests, "Secret")
    assert secret["stringData"]["auth_key"] == "secret-auth_key"
    others = json.dumps([m for m in manifests if m["kind"] != "Secret"])
    assert "secret-" not in others


def test_ingress_has_tls_the_issuer_and_the_class():
    ingress = by_kind(render("ghost"), "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert ingress["spec"]["tls"] == [{"hosts": ["toko-ana.apps.example.id"], "secretName": "ghost-42-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "ghost-42-app", "port": {"number": 2368}}


def test_suspended_instance_has_no_ingress_and_no_replicas():
    manifests = render("n8n", replicas=0, ingress_enabled=False)
    assert not [m for m in manifests if m["kind"] == "Ingress"]
    assert {m["spec"]["replicas"] for m in manifests if m["kind"] in ("Deployment", "StatefulSet")} == {0}


def test_namespace_objects_sum_the_customers_plans():
    plans = [TEMPLATES["n8n"].plan("pro"), TEMPLATES["ghost"].plan("starter")]
    manifests = namespace_manifests(namespace="customer-7", user_id=7, plans=plans, options=OPTIONS)
    namespace = by_kind(manifests, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.31"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted"
    hard = by_kind(manifests, "ResourceQuota")["spec"]["hard"]
    assert hard["limits.cpu"] == "1500m" and hard["limits.memory"] == "3072Mi"
    assert hard["requests.storage"] == "25Gi"
    assert hard["limits.ephemeral-storage"] == "3072Mi" and hard["requests.ephemeral-storage"] == "768Mi"
    deny = by_kind(manifests, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    allow = by_kind(manifests, "NetworkPolicy", "allow-from-ingress-controller")
    assert allow["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"}


def test_one_instances_pods_may_talk_to_each_other():
    policy = by_kind(render("n8n"), "NetworkPolicy", "-internal")
    instance = {"app.kubernetes.io/instance": "n8n-42"}
    assert policy["spec"]["podSelector"]["matchLabels"] == instance
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": instance}}]}]
    assert policy["spec"]["egress"] == [{"to": [{"podSelector": {"matchLabels": instance}}]}]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


@pytest.mark.parametrize("text", ["Toko Ana!", "a" * 200, "--", "", "ÄÖÜ émoji 🎉", "9lives", "x" * 63 + "-" + "y" * 10,
                                  "../../etc/passwd", "a\nb: c", "UPPER_case.dots"])
def test_dns_label_is_always_valid(text):
    label = dns_label(text)
    assert DNS_1123_LABEL.match(label) and len(label) <= 63 and label[0].isalpha()


def test_dns_label_on_random_input_and_long_names_do_not_collide():
    rng = random.Random(1234)
    alphabet = string.printable + "éü漢字🎉"
    for _ in range(2000):
        label = dns_label("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))))
        assert DNS_1123_LABEL.match(label) and len(label) <= 63
    assert dns_label("a" * 100 + "1") != dns_label("a" * 100 + "2")


def _shape(value):
    """The structure of a manifest with every string replaced: what input must never change."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


HOSTILE = [
    'it"s "quoted" \'too\'',
    "${SECRET} $(rm -rf /) `id`",
    "{{ secrets.db_password }}",
    "key: value\nother: [1, 2]",
    '{"spec": {"replicas": 99}}',
    "}}]]--- !!python/object:os.system",
]


def _ghost_with_sender_parameter(kind: str) -> ServiceTemplate:
    """Ghost with a sender parameter of the given type landing in an env value, the shape user input takes."""
    data = yaml.safe_load((ROOT / "service-templates" / "ghost.yaml").read_text())
    data["parameters"].insert(0, {"name": "mail_from", "label": "Send emails from", "type": kind, "required": False})
    app = data["components"][0]
    app["env"].append({"name": "mail__from", "value": "{{ params.mail_from }}"})
    app["mail_env"] = [e for e in app["mail_env"] if e["name"] != "mail__from"]
    return ServiceTemplate.model_validate(data)


@pytest.mark.parametrize("value", HOSTILE)
def test_injected_settings_are_refused_or_carried_verbatim_without_changing_structure(value):
    ghost = _ghost_with_sender_parameter("email")
    names = instance_names(namespace_prefix="customer-", user_id=7, service_slug="ghost", subscription_id=42,
                           subdomain="toko-ana", cluster_domain=OPTIONS.cluster_domain)
    benign = instance_manifests(template=ghost, plan=ghost.plan("starter"),
                                settings=settings_clean(ghost, {"mail_from": "news@toko.id"}),
                                secrets=SECRETS["ghost"], names=names, subscription_id=42, options=OPTIONS)
    try:
        settings_clean(ghost, {"mail_from": value})
    except SettingsInvalid:
        pass  # refused: fine
    else:
        pytest.fail("an email parameter accepted a non-address")
    # A free-text parameter takes anything on one line: it must land verbatim in a value only.
    text_template = _ghost_with_sender_parameter("string")
    if "\n" in value:
        with pytest.raises(SettingsInvalid):
            settings_clean(text_template, {"mail_from": value})
        return
    settings = settings_clean(text_template, {"mail_from": value})
    hostile = instance_manifests(template=text_template, plan=ghost.plan("starter"), settings=settings,
                                 secrets=SECRETS["ghost"], names=names, subscription_id=42, options=OPTIONS)
    assert _shape(hostile) == _shape(benign)
    assert env_of(by_kind(hostile, "Deployment", "-app"))["mail__from"] == value
    assert "secret-db_password" not in json.dumps([m for m in hostile if m["kind"] != "Secret"])
    for manifest in hostile:
        kubernetes_validate.validate(manifest, "1.34", strict=True)


def test_an_over_long_setting_is_refused():
    with pytest.raises(SettingsInvalid):
        settings_clean(TEMPLATES["wordpress"], {"table_prefix": "a" * 5000 + "_"})


def test_cluster_options_come_from_the_environment(monkeypatch):
    from portal.config import from_environment

    monkeypatch.setenv("K8S_INGRESS_CLASS", "traefik")
    monkeypatch.setenv("K8S_CLUSTER_ISSUER", "zerossl")
    monkeypatch.setenv("K8S_STORAGE_CLASS", "longhorn")
    options = ClusterOptions.from_config(from_environment())
    assert (options.ingress_class, options.cluster_issuer, options.storage_class) == ("traefik", "zerossl", "longhorn")
    manifests = instance_manifests(template=TEMPLATES["ghost"], plan=TEMPLATES["ghost"].plan("starter"),
                                   settings=settings_clean(TEMPLATES["ghost"], {}), secrets=SECRETS["ghost"],
                                   names=instance_names(namespace_prefix="c-", user_id=1, service_slug="ghost",
                                                        subscription_id=1, subdomain="x-y", cluster_domain="d.id"),
                                   subscription_id=1, options=options)
    assert by_kind(manifests, "Ingress")["spec"]["ingressClassName"] == "traefik"
    claims = [m for m in manifests if m["kind"] == "PersistentVolumeClaim"]
    assert {m["spec"].get("storageClassName") for m in claims} == {"longhorn"}


def test_the_pod_security_constant_is_named_for_the_level_it_enforces():
    constants = {name: value for name, value in vars(manifests).items() if name.endswith("POD_SECURITY")}
    assert constants
    for name, labels in constants.items():
        assert name.startswith(labels["pod-security.kubernetes.io/enforce"].upper() + "_"), name


def _mebibytes(quantity: str) -> int:
    assert quantity.endswith("Mi"), quantity
    return int(quantity[:-2])


@pytest.mark.parametrize("slug, plan_slug", [(slug, plan.slug) for slug, t in TEMPLATES.items() for plan in t.plans])
def test_every_container_has_plan_sized_scratch_disk_within_quota_and_limit_range(slug, plan_slug):
    plan = TEMPLATES[slug].plan(plan_slug)
    namespace = namespace_manifests(namespace="customer-7", user_id=7, plans=[plan], options=OPTIONS)
    hard = by_kind(namespace, "ResourceQuota")["spec"]["hard"]
    limit_range = by_kind(namespace, "LimitRange")["spec"]["limits"][0]
    assert limit_range["default"]["ephemeral-storage"] and limit_range["defaultRequest"]["ephemeral-storage"]
    containers = [container for m in render(slug, plan_slug) if m["kind"] in ("Deployment", "StatefulSet")
                  for container in m["spec"]["template"]["spec"]["containers"]]
    totals = {"limits": 0, "requests": 0}
    for container in containers:
        resources = container["resources"]
        limit, request = (_mebibytes(resources[kind]["ephemeral-storage"]) for kind in ("limits", "requests"))
        assert 0 < request <= limit <= _mebibytes(limit_range["max"]["ephemeral-storage"]), container["name"]
        totals["limits"] += limit
        totals["requests"] += request
    # The plan's scratch disk: as many MiB as it has of memory, shared out like memory.
    assert totals["limits"] <= _mebibytes(hard["limits.ephemeral-storage"]) == plan.memory_mb
    assert totals["limits"] >= plan.memory_mb - len(containers)  # only rounding is lost
    assert totals["requests"] <= _mebibytes(hard["requests.ephemeral-storage"]) == plan.memory_mb // 4


def test_n8n_runs_without_its_shell_and_file_nodes():
    env = env_of(by_kind(render("n8n"), "Deployment", "-app"))
    # n8n reads a JSON list; setting it replaces its own default list, so every risky node is named.
    assert sorted(json.loads(env["NODES_EXCLUDE"])) == ["n8n-nodes-base.executeCommand",
                                                        "n8n-nodes-base.localFileTrigger",
                                                        "n8n-nodes-base.readWriteFile"]

"""What the portal writes for custom domains, as data: one Ingress per domain with its TLS secret and the
ClusterIssuer annotation, the redirect annotation on the non-primary ones, the app's own address following the
primary. Every Ingress passes the strict Kubernetes schema; the Certificate cert-manager's ingress-shim makes of
it (emulated) passes cert-manager's CRD schema kept in the repository."""
import kubernetes_validate
import pytest
import yaml
from jsonschema import ValidationError

from emulators.kube import certmanager, crds
from portal.catalog.parameters import settings_clean
from portal.catalog.templates import templates_load
from portal.config import ROOT
from portal.provisioning.manifests import ClusterOptions, DomainRoute, instance_manifests, instance_names

pytestmark = pytest.mark.smoke
TEMPLATES = templates_load(str(ROOT / "service-templates"))
OPTIONS = ClusterOptions(cluster_domain="apps.example.id", cluster_issuer="letsencrypt-prod")
SCHEMA_VERSION = "1.34"


def render(slug: str, domains=(), public_host=None) -> list[dict]:
    template = TEMPLATES[slug]
    names = instance_names(namespace_prefix="customer-", user_id=7, service_slug=slug, subscription_id=42,
                           subdomain="toko-ana", cluster_domain=OPTIONS.cluster_domain)
    return instance_manifests(template=template, plan=template.plan("pro"), settings=settings_clean(template, {}),
                              secrets={s.name: "x" for s in template.secrets}, names=names, subscription_id=42,
                              options=OPTIONS, domains=tuple(domains), public_host=public_host)


def ingresses(manifests) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Ingress"}


def env(manifests, component="app") -> dict:
    workload = next(m for m in manifests if m["kind"] in ("Deployment", "StatefulSet")
                    and m["metadata"]["name"].endswith(f"-{component}"))
    return {e["name"]: e.get("value") for e in workload["spec"]["template"]["spec"]["containers"][0]["env"]}


TWO_DOMAINS = (DomainRoute(5, "blog.toko-ana.co.id"), DomainRoute(6, "xn--tko-ana-90a.id", "https://blog.toko-ana.co.id"))


@pytest.mark.parametrize("slug", sorted(TEMPLATES))
def test_every_ingress_is_schema_valid_and_each_domain_has_its_own_tls_secret(slug):
    manifests = render(slug, TWO_DOMAINS, public_host="blog.toko-ana.co.id")
    found = ingresses(manifests)
    for ingress in found.values():
        kubernetes_validate.validate(ingress, SCHEMA_VERSION, strict=True)
    assert sorted(found) == [f"{slug}-42", f"{slug}-42-domain-5", f"{slug}-42-domain-6"]
    primary, redirected = found[f"{slug}-42-domain-5"], found[f"{slug}-42-domain-6"]
    assert primary["spec"]["tls"] == [{"hosts": ["blog.toko-ana.co.id"], "secretName": f"{slug}-42-domain-5-tls"}]
    assert redirected["spec"]["tls"] == [{"hosts": ["xn--tko-ana-90a.id"], "secretName": f"{slug}-42-domain-6-tls"}]
    for ingress in (primary, redirected):
        assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
        assert ingress["metadata"]["labels"]["portal/subscription"] == "42"
        assert ingress["spec"]["ingressClassName"] == "nginx"
    assert "nginx.ingress.kubernetes.io/permanent-redirect" not in primary["metadata"]["annotations"]
    assert redirected["metadata"]["annotations"]["nginx.ingress.kubernetes.io/permanent-redirect"] == \
        "https://blog.toko-ana.co.id"
    # The provider's address stays as it was, with its own certificate.
    provider = found[f"{slug}-42"]
    assert provider["spec"]["rules"][0]["host"] == "toko-ana.apps.example.id"
    assert provider["spec"]["tls"] == [{"hosts": ["toko-ana.apps.example.id"], "secretName": f"{slug}-42-tls"}]
    assert provider == ingresses(render(slug))[f"{slug}-42"]


def test_ingress_shim_makes_one_crd_valid_certificate_per_domain_ingress():
    for ingress in ingresses(render("ghost", TWO_DOMAINS)).values():
        ingress["metadata"]["uid"] = "uid-" + ingress["metadata"]["name"]
        wanted = certmanager.desired(ingress)
        assert len(wanted) == 1
        certificate = wanted[0]
        crds.validate(certificate)
        assert certificate["metadata"]["name"] == ingress["spec"]["tls"][0]["secretName"]
        assert certificate["spec"]["dnsNames"] == ingress["spec"]["tls"][0]["hosts"]
        assert certificate["spec"]["issuerRef"] == {"name": "letsencrypt-prod", "kind": "ClusterIssuer",
                                                    "group": "cert-manager.io"}


@pytest.mark.parametrize("change, path", [
    (lambda c: c["spec"].update(secretNam="x"), "secretNam"),
    (lambda c: c["spec"].pop("issuerRef"), "issuerRef"),
    (lambda c: c["spec"].update(dnsNames="blog.example.com"), "dnsNames"),
    (lambda c: c["spec"]["issuerRef"].update(nmae="le"), "nmae"),
])
def test_the_crd_schema_refuses_what_cert_manager_would(change, path):
    ingress = ingresses(render("ghost", TWO_DOMAINS))["ghost-42-domain-5"]
    ingress["metadata"]["uid"] = "u"
    certificate = certmanager.desired(ingress)[0]
    change(certificate)
    with pytest.raises(ValidationError) as refused:
        crds.validate(certificate)
    assert path in str(refused.value.message) + ".".join(str(p) for p in refused.value.path)


@pytest.mark.parametrize("slug, variable, provider, custom", [
    ("ghost", "url", "https://toko-ana.apps.example.id", "https://blog.toko-ana.co.id"),
    ("n8n", "N8N_HOST", "toko-ana.apps.example.id", "blog.toko-ana.co.id"),
    ("n8n", "WEBHOOK_URL", "https://toko-ana.apps.example.id/", "https://blog.toko-ana.co.id/"),
    ("wordpress", "WORDPRESS_CONFIG_EXTRA",
     "define('WP_HOME', 'https://toko-ana.apps.example.id'); define('WP_SITEURL', 'https://toko-ana.apps.example.id');",
     "define('WP_HOME', 'https://blog.toko-ana.co.id'); define('WP_SITEURL', 'https://blog.toko-ana.co.id');"),
])
def test_the_apps_own_address_follows_the_primary_domain(slug, variable, provider, custom):
    assert env(render(slug, TWO_DOMAINS))[variable] == provider
    assert env(render(slug, TWO_DOMAINS, public_host="blog.toko-ana.co.id"))[variable] == custom


def test_the_rendered_ingresses_and_certificates_of_an_instance_with_two_domains(capsys):
    """Prints what a Ghost instance with two domains gets (for the issue's closing note)."""
    found = ingresses(render("ghost", TWO_DOMAINS, public_host="blog.toko-ana.co.id"))
    documents = []
    for name in ("ghost-42-domain-5", "ghost-42-domain-6"):
        documents.append(found[name])
        ingress = {**found[name], "metadata": {**found[name]["metadata"], "uid": "(the Ingress's uid)"}}
        documents.extend(certmanager.desired(ingress))
    with capsys.disabled():
        print("\n" + yaml.safe_dump_all(documents, sort_keys=False))
    assert len(documents) == 4

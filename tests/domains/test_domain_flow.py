"""A domain from added to served: DNS pending then verified through the loopback DNS server, its own Ingress with a
cert-manager certificate on the emulated cluster, the app's own URL re-applied, the primary redirecting the others,
removal taking its Ingress, Certificate and secret away while the provider's address keeps working."""
import pytest
from sqlalchemy import select

from portal.domains import services
from portal.domains.models import CustomDomain
from portal.extensions import db
from portal.notifications.models import Email
from portal.provisioning import services as provisioning
from portal.subscriptions.models import InstanceEvent, Subscription
from tests.domains.dns_records import INGRESS_V4, point_dns


def _domain(name: str) -> CustomDomain:
    db.session.expire_all()
    return db.session.scalar(select(CustomDomain).where(CustomDomain.name == name))


def _env(kube, namespace: str, component: str = "app") -> dict:
    workload = next(w for w in kube.objects("Deployment", namespace) + kube.objects("StatefulSet", namespace)
                    if w["metadata"]["name"].endswith(f"-{component}"))
    return {e["name"]: e.get("value") for e in workload["spec"]["template"]["spec"]["containers"][0]["env"]}


def _ingress_hosts(kube, namespace: str) -> dict[str, dict]:
    return {rule["host"]: ingress for ingress in kube.objects("Ingress", namespace)
            for rule in ingress["spec"]["rules"]}


def test_dns_pending_then_verified_then_certificate_issued_and_url_reapplied(app, kube, kube_clock, dns_zone, live):
    sid = live("ghost")
    subscription = db.session.get(Subscription, sid)
    namespace = subscription.namespace
    domain = services.domain_add(subscription_id=sid, name="Blog.Toko-Ana.co.id")
    # Nothing in DNS yet: the check (run at once after the commit) says what is missing.
    found = _domain("blog.toko-ana.co.id")
    assert found.dns_state == "pending" and found.certificate_state == "none"
    assert "No TXT record _portal-verify.blog.toko-ana.co.id" in found.dns_problem
    assert "has no CNAME, A or AAAA record" in found.dns_problem
    assert set(_ingress_hosts(kube, namespace)) == {"ana-blog.localtest.me"}

    # A CNAME elsewhere is named as the problem, even with the right TXT.
    point_dns(dns_zone, "blog.toko-ana.co.id", cname="elsewhere.example.net", token=domain.token)
    assert services.domain_dns_check(domain_id=domain.id) == "pending"
    assert "is a CNAME to elsewhere.example.net, not to ana-blog.localtest.me" in _domain(domain.name).dns_problem

    point_dns(dns_zone, "blog.toko-ana.co.id", cname="ana-blog.localtest.me")
    assert services.domain_dns_check(domain_id=domain.id) == "verified"
    found = _domain(domain.name)
    assert found.dns_state == "verified" and found.is_primary and found.certificate_state == "pending"
    # On the cluster at once (immediate queue): its own Ingress, TLS entry and cert-manager annotation.
    hosts = _ingress_hosts(kube, namespace)
    assert set(hosts) == {"ana-blog.localtest.me", "blog.toko-ana.co.id"}
    ingress = hosts["blog.toko-ana.co.id"]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert ingress["spec"]["tls"] == [{"hosts": ["blog.toko-ana.co.id"],
                                       "secretName": f"ghost-{sid}-domain-{domain.id}-tls"}]
    certificate = kube.objects("Certificate", namespace)
    assert f"ghost-{sid}-domain-{domain.id}-tls" in {c["metadata"]["name"] for c in certificate}
    # The app keeps its provider URL until the domain's certificate is issued (an https link must work).
    assert _env(kube, namespace)["url"] == "https://ana-blog.localtest.me"

    assert provisioning.instance_certificates_read(subscription_id=sid) is True  # still being issued
    kube_clock.advance(10)
    assert provisioning.instance_certificates_read(subscription_id=sid) is False
    found = _domain(domain.name)
    assert found.certificate_state == "issued"
    assert (found.certificate_not_after - found.verified_at).days in (89, 90)
    # Issued for the primary: Ghost's url now says the customer's domain; the provider's address still serves.
    assert _env(kube, namespace)["url"] == "https://blog.toko-ana.co.id"
    assert "ana-blog.localtest.me" in _ingress_hosts(kube, namespace)
    templates = [e.template for e in db.session.scalars(select(Email).where(Email.recipient == "ana@example.com"))]
    assert templates.count("domain_verified") == 1 and templates.count("domain_certificate_issued") == 1
    # Reading again changes nothing and sends nothing new.
    provisioning.instance_certificates_read(subscription_id=sid)
    assert db.session.scalar(select(db.func.count(Email.id)).where(Email.template.like("domain_%"))) == 2


def test_apex_by_address_records_and_a_second_domain_redirects_to_the_primary(app, kube, kube_clock, dns_zone, live):
    sid = live("wordpress")
    namespace = db.session.get(Subscription, sid).namespace
    apex = services.domain_add(subscription_id=sid, name="toko-ana.id")
    www = services.domain_add(subscription_id=sid, name="www.toko-ana.id")
    point_dns(dns_zone, "toko-ana.id", addresses=(INGRESS_V4, "2001:db8::10"), token=apex.token)
    point_dns(dns_zone, "www.toko-ana.id", cname="ana-blog.localtest.me", token=www.token)
    assert services.domain_dns_check(domain_id=apex.id) == "verified"
    assert services.domain_dns_check(domain_id=www.id) == "verified"
    kube_clock.advance(10)
    provisioning.instance_certificates_read(subscription_id=sid)
    hosts = _ingress_hosts(kube, namespace)
    annotations = hosts["www.toko-ana.id"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/permanent-redirect"] == "https://toko-ana.id"
    assert "nginx.ingress.kubernetes.io/permanent-redirect" not in hosts["toko-ana.id"]["metadata"]["annotations"]
    assert "nginx.ingress.kubernetes.io/permanent-redirect" not in hosts["ana-blog.localtest.me"]["metadata"].get(
        "annotations", {})
    extra = _env(kube, namespace)["WORDPRESS_CONFIG_EXTRA"]
    assert extra == "define('WP_HOME', 'https://toko-ana.id'); define('WP_SITEURL', 'https://toko-ana.id');"

    # Choosing www as primary: the apex redirects now; the certificates stay as they were.
    certificates_before = {c["metadata"]["uid"] for c in kube.objects("Certificate", namespace)}
    services.domain_primary_set(subscription_id=sid, domain_id=www.id)
    hosts = _ingress_hosts(kube, namespace)
    assert hosts["toko-ana.id"]["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/permanent-redirect"] == "https://www.toko-ana.id"
    assert "nginx.ingress.kubernetes.io/permanent-redirect" not in hosts["www.toko-ana.id"]["metadata"]["annotations"]
    assert {c["metadata"]["uid"] for c in kube.objects("Certificate", namespace)} == certificates_before
    assert "https://www.toko-ana.id" in _env(kube, namespace)["WORDPRESS_CONFIG_EXTRA"]


def test_removing_a_domain_takes_its_ingress_certificate_and_secret_and_keeps_the_provider_address(
        app, kube, kube_clock, dns_zone, live):
    sid = live("ghost")
    namespace = db.session.get(Subscription, sid).namespace
    domain = services.domain_add(subscription_id=sid, name="blog.toko-ana.co.id")
    point_dns(dns_zone, domain.name, cname="ana-blog.localtest.me", token=domain.token)
    services.domain_dns_check(domain_id=domain.id)
    kube_clock.advance(10)
    provisioning.instance_certificates_read(subscription_id=sid)
    secret_name = f"ghost-{sid}-domain-{domain.id}-tls"
    assert secret_name in {s["metadata"]["name"] for s in kube.objects("Secret", namespace)}
    assert _env(kube, namespace)["url"] == "https://blog.toko-ana.co.id"

    assert services.domain_remove(subscription_id=sid, domain_id=domain.id) == "blog.toko-ana.co.id"
    assert _domain("blog.toko-ana.co.id") is None
    assert set(_ingress_hosts(kube, namespace)) == {"ana-blog.localtest.me"}
    assert secret_name not in {c["metadata"]["name"] for c in kube.objects("Certificate", namespace)}
    assert secret_name not in {s["metadata"]["name"] for s in kube.objects("Secret", namespace)}
    # Back to the provider's address as the app's own URL; its certificate is untouched.
    assert _env(kube, namespace)["url"] == "https://ana-blog.localtest.me"
    assert f"ghost-{sid}-tls" in {c["metadata"]["name"] for c in kube.objects("Certificate", namespace)}
    events = [e.kind for e in db.session.scalars(select(InstanceEvent).where(InstanceEvent.subscription_id == sid))]
    assert {"domain.added", "domain.verified", "domain.certificate", "domain.removed"} <= set(events)
    # The name is free again, for any instance.
    other = live("wordpress", subdomain="budi-shop", email="budi@example.com")
    assert services.domain_add(subscription_id=other, name="blog.toko-ana.co.id").subscription_id == other


def test_a_failing_challenge_shows_cert_managers_reason_and_emails_once(app, kube, kube_clock, dns_zone, live):
    sid = live("ghost")
    domain = services.domain_add(subscription_id=sid, name="shop.toko-ana.co.id")
    kube.certificate_fails("shop.toko-ana.co.id", "acme: authorization error: 403 unauthorized: Invalid response")
    point_dns(dns_zone, domain.name, cname="ana-blog.localtest.me", token=domain.token)
    services.domain_dns_check(domain_id=domain.id)
    kube_clock.advance(10)
    assert provisioning.instance_certificates_read(subscription_id=sid) is False
    found = _domain(domain.name)
    assert found.certificate_state == "failed"
    assert "The certificate request has failed to complete and will be retried" in found.certificate_reason
    assert "Invalid response" in found.certificate_reason
    provisioning.instance_certificates_read(subscription_id=sid)
    emails = list(db.session.scalars(select(Email).where(Email.template == "domain_certificate_failing")))
    assert len(emails) == 1 and "Invalid response" in emails[0].context["reason"]
    # The app keeps the provider's address: a failing certificate never becomes its URL.
    namespace = db.session.get(Subscription, sid).namespace
    assert _env(kube, namespace)["url"] == "https://ana-blog.localtest.me"


@pytest.mark.parametrize("plan_slug, limit", [("starter", 1), ("pro", 3)])
def test_the_plan_limits_how_many_domains(app, live, plan_slug, limit):
    sid = live("wordpress", plan_slug=plan_slug)
    for n in range(limit):
        services.domain_add(subscription_id=sid, name=f"site{n}.example.com")
    with pytest.raises(services.DomainRefused, match=f"includes {limit} custom domain"):
        services.domain_add(subscription_id=sid, name="one-more.example.com")
    assert db.session.scalar(select(db.func.count(CustomDomain.id))) == limit


def test_a_plan_without_domains_refuses_and_one_domain_belongs_to_one_instance(app, live):
    sid = live("ghost", plan_slug="starter")
    subscription = db.session.get(Subscription, sid)
    subscription.plan.custom_domains = 0
    db.session.commit()
    with pytest.raises(services.DomainRefused, match="its own address only"):
        services.domain_add(subscription_id=sid, name="blog.example.com")
    other = live("ghost", subdomain="budi-blog", email="budi@example.com")
    services.domain_add(subscription_id=other, name="blog.example.com")
    subscription.plan.custom_domains = 1
    db.session.commit()
    with pytest.raises(services.DomainRefused, match="already used by another instance"):
        services.domain_add(subscription_id=sid, name="BLOG.example.com.")
    with pytest.raises(services.DomainRefused, match="already added to this instance"):
        services.domain_add(subscription_id=other, name="blog.example.com")


def test_suspension_takes_every_address_offline_resuming_brings_the_domain_back_and_termination_frees_it(
        app, kube, kube_clock, dns_zone, live, make_user):
    from portal.admin import services as staff

    boss = make_user(email="boss@example.com", staff=True)
    sid = live("ghost")
    namespace = db.session.get(Subscription, sid).namespace
    domain = services.domain_add(subscription_id=sid, name="blog.toko-ana.co.id")
    point_dns(dns_zone, domain.name, cname="ana-blog.localtest.me", token=domain.token)
    services.domain_dns_check(domain_id=domain.id)
    kube_clock.advance(10)
    provisioning.instance_certificates_read(subscription_id=sid)
    staff.staff_suspend(subscription_id=sid, reason="abuse report", actor_id=boss.id)
    assert kube.objects("Ingress", namespace) == []
    staff.staff_resume(subscription_id=sid, actor_id=boss.id)
    assert set(_ingress_hosts(kube, namespace)) == {"ana-blog.localtest.me", "blog.toko-ana.co.id"}
    assert _env(kube, namespace)["url"] == "https://blog.toko-ana.co.id"
    staff.staff_terminate(subscription_id=sid, confirmation="ana-blog", actor_id=boss.id)
    assert _domain("blog.toko-ana.co.id") is None  # free for any instance again
    assert not [s for s in kube.objects("Secret") if "domain" in s["metadata"]["name"]]
    assert kube.objects("Certificate") == []

"""The apps send email from the customer's own domain once its ownership is verified, through the business's relay,
and from the instance's own address again when the domain is removed."""
import pytest

from portal.domains import services
from portal.extensions import db
from portal.subscriptions.models import Subscription
from tests.domains.dns_records import point_dns

RELAY = "192.0.2.10"


def _relay(config: dict) -> dict:
    return {**config, "APP_MAIL_RELAY_HOST": RELAY, "APP_MAIL_RELAY_PORT": 2525, "APP_MAIL_RELAY_TLS": "none",
            "APP_MAIL_RELAY_USER": "relay-user", "APP_MAIL_RELAY_PASSWORD": "relay-Pa55-word",
            "APP_MAIL_SENDER_DOMAIN": "mail.hosting.id"}


@pytest.fixture
def app_config(app_config):
    return _relay(app_config)


def _env(kube, namespace: str) -> dict:
    workload = next(w for w in kube.objects("Deployment", namespace) + kube.objects("StatefulSet", namespace)
                    if w["metadata"]["name"].endswith("-app"))
    return {e["name"]: e.get("value") for e in workload["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_the_sender_moves_to_the_verified_domain_and_back_when_it_is_removed(app, kube, dns_zone, live, logged_in):
    sid = live("ghost")
    namespace = db.session.get(Subscription, sid).namespace
    # Before any domain: the operators' sender domain (one verified at the relay).
    assert _env(kube, namespace)["mail__from"] == "ana-blog@mail.hosting.id"

    domain = services.domain_add(subscription_id=sid, name="blog.toko-ana.co.id")
    # Added but not yet proved: still the relay's sender domain.
    assert _env(kube, namespace)["mail__from"] == "ana-blog@mail.hosting.id"
    point_dns(dns_zone, "blog.toko-ana.co.id", cname="ana-blog.localtest.me", token=domain.token)
    assert services.domain_dns_check(domain_id=domain.id) == "verified"
    # Verified (its certificate still pending: mail does not need it): the customer's own domain.
    assert _env(kube, namespace)["mail__from"] == "noreply@blog.toko-ana.co.id"
    client = logged_in()
    settings = client.get(f"/instances/{sid}/settings").get_data(as_text=True)
    assert "noreply@blog.toko-ana.co.id" in settings

    services.domain_remove(subscription_id=sid, domain_id=domain.id)
    assert _env(kube, namespace)["mail__from"] == "ana-blog@mail.hosting.id"
    settings = client.get(f"/instances/{sid}/settings").get_data(as_text=True)
    assert "noreply@blog.toko-ana.co.id" not in settings and "ana-blog@mail.hosting.id" in settings


def test_an_n8n_instance_sends_from_its_verified_domain(app, kube, dns_zone, live):
    sid = live("n8n", plan_slug="starter", subdomain="ana-flows")
    namespace = db.session.get(Subscription, sid).namespace
    domain = services.domain_add(subscription_id=sid, name="flows.toko-ana.co.id")
    point_dns(dns_zone, "flows.toko-ana.co.id", cname="ana-flows.localtest.me", token=domain.token)
    assert services.domain_dns_check(domain_id=domain.id) == "verified"
    assert _env(kube, namespace)["N8N_SMTP_SENDER"] == "noreply@flows.toko-ana.co.id"

"""The emails of a custom domain, delivered to a real SMTP server on loopback: verified, certificate issued,
certificate failing (once per failure); staff alerted of a certificate within 14 days of its end, once."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.domains import services
from portal.domains.models import CustomDomain
from portal.extensions import db
from portal.notifications.models import Email
from portal.provisioning import services as provisioning
from tests.domains.dns_records import point_dns
from tests.helpers import message_parts, wait_for_email


@pytest.fixture
def app_config(cluster_config, dns_zone, smtp_server):
    return {**cluster_config, "DOMAINS_DNS_RESOLVER": dns_zone.address, "DOMAINS_DNS_TIMEOUT_SECONDS": 2,
            "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False,
            "STAFF_ALERT_EMAIL": "ops@portal.example.id"}


def test_verified_issued_and_failing_emails_reach_the_customer(app, live, dns_zone, kube, kube_clock, smtp_server):
    sid = live("ghost")
    good = services.domain_add(subscription_id=sid, name="bücher.example")
    bad = services.domain_add(subscription_id=sid, name="shop.bücher.example")
    kube.certificate_fails("shop.xn--bcher-kva.example", "acme: 403 unauthorized <Invalid response>")
    for domain in (good, bad):
        point_dns(dns_zone, domain.name, cname="ana-blog.localtest.me", token=domain.token)
        services.domain_dns_check(domain_id=domain.id)

    verified = wait_for_email(smtp_server, "bücher.example is verified")
    text, html = message_parts(verified)
    assert verified["To"] == "ana@example.com"
    assert "ana-blog.localtest.me" in text and f"/instances/{sid}/domains" in text
    kube_clock.advance(10)
    provisioning.instance_certificates_read(subscription_id=sid)
    issued = wait_for_email(smtp_server, "bücher.example is live with HTTPS")
    text, html = message_parts(issued)
    assert "https://xn--bcher-kva.example" in text
    not_after = db.session.scalar(select(CustomDomain.certificate_not_after).where(CustomDomain.id == good.id))
    assert f"valid until {not_after:%Y-%m-%d}" in text
    failing = wait_for_email(smtp_server, "The certificate for shop.bücher.example is failing")
    text, html = message_parts(failing)
    assert "acme: 403 unauthorized <Invalid response>" in text
    assert "&lt;Invalid response&gt;" in html and "<Invalid response>" not in html  # escaped
    provisioning.instance_certificates_read(subscription_id=sid)  # the same failure again: no second email
    assert db.session.scalar(select(func.count(Email.id)).where(Email.template == "domain_certificate_failing")) == 1


def test_staff_are_alerted_once_of_a_certificate_close_to_its_end_and_not_renewed(app, live, make_user, travel,
                                                                                  smtp_server):
    make_user(email="boss@example.com", staff=True)
    sid = live("ghost")
    now = travel.now
    domain = CustomDomain(subscription_id=sid, name="blog.toko-ana.co.id", token="t", dns_state="verified",
                          certificate_state="issued", is_primary=True, certificate_not_after=now + timedelta(days=60))
    db.session.add(domain)
    db.session.commit()
    assert services.domains_expiry_alert() == 0
    travel.by(days=45)  # 15 days left: cert-manager should have renewed at 30, but no alert yet
    assert services.domains_expiry_alert() == 0
    travel.by(days=2)  # 13 days left, not renewed
    assert services.domains_expiry_alert() == 1
    alert = wait_for_email(smtp_server, "[Staff] Certificate for blog.toko-ana.co.id expires "
                                        f"{domain.certificate_not_after:%d %b %Y}")
    text, _ = message_parts(alert)
    assert "has not been renewed" in text and "ana-blog" in text
    recipients = {e.recipient for e in db.session.scalars(select(Email).where(Email.template == "staff_alert"))}
    assert recipients == {"boss@example.com", "ops@portal.example.id"}
    assert services.domains_expiry_alert() == 0  # once per certificate
    # Renewed (cert-manager moved notAfter on): nothing to say.
    db.session.get(CustomDomain, domain.id).certificate_not_after = travel.now + timedelta(days=90)
    db.session.commit()
    assert services.domains_expiry_alert() == 0

"""A failing certificate tried again: the customer fixes the cause, presses "Try again" on the domains page and
cert-manager (emulated, on loopback) is asked for a new issuance as `cmctl renew` asks it; the certificate goes
pending then issued, with the timeline and email of any issued certificate. Refused unless failing, not found for
someone else's, failing again with the cluster's reason when the cluster refuses, and cert-manager's own retry
after its backoff noticed without anyone asking."""
import pytest
from sqlalchemy import func, select

from portal.domains import services
from portal.domains.models import CustomDomain
from portal.extensions import db
from portal.notifications.models import Email
from portal.provisioning import services as provisioning
from portal.provisioning.manifests import domain_ingress_name
from portal.provisioning.tasks import renew_certificate
from portal.subscriptions.models import InstanceEvent, Subscription
from tests.domains.dns_records import point_dns
from tests.helpers import csrf_token_from

HX = {"HX-Request": "true"}
CAA = "CAA record for toko-ana.co.id does not allow letsencrypt.org to issue"


def _domain(name: str) -> CustomDomain:
    db.session.expire_all()
    return db.session.scalar(select(CustomDomain).where(CustomDomain.name == name))


def _events(sid: int) -> list[str]:
    return [e.message for e in db.session.scalars(select(InstanceEvent).where(
        InstanceEvent.subscription_id == sid).order_by(InstanceEvent.id))]


def _post(client, url, headers=HX):
    token = csrf_token_from(client.get("/account").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token}, headers=headers)


@pytest.fixture
def failing(kube, kube_clock, dns_zone, live):
    """Ana's instance with shop.toko-ana.co.id verified and its certificate failing (a CAA record)."""
    def make(name="shop.toko-ana.co.id"):
        sid = live("ghost")
        domain = services.domain_add(subscription_id=sid, name=name)
        kube.certificate_fails(name, CAA)
        point_dns(dns_zone, name, cname="ana-blog.localtest.me", token=domain.token)
        assert services.domain_dns_check(domain_id=domain.id) == "verified"
        kube_clock.advance(10)
        assert provisioning.instance_certificates_read(subscription_id=sid) is False
        found = _domain(name)
        assert found.certificate_state == "failed" and CAA in found.certificate_reason
        return sid, found
    return make


def _certificate(kube, sid: int, domain_id: int) -> dict:
    namespace = db.session.get(Subscription, sid).namespace
    return next(c for c in kube.objects("Certificate", namespace)
                if c["metadata"]["name"].endswith(f"-domain-{domain_id}-tls"))


def test_try_again_after_fixing_the_cause_issues_the_certificate(failing, kube, kube_clock, logged_in):
    sid, domain = failing()
    client = logged_in()
    page = client.get(f"/instances/{sid}/domains", headers=HX).get_data(as_text=True)
    assert "cert-manager says:" in page and CAA in page
    assert f'hx-post="/instances/{sid}/domains/{domain.id}/certificate"' in page and "Try again" in page
    assert "cert-manager also tries again by itself later" in page

    kube.certificate_failures_clear()  # the customer fixed the CAA record
    response = _post(client, f"/instances/{sid}/domains/{domain.id}/certificate")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "A new certificate for shop.toko-ana.co.id is being requested" in body
    assert 'data-certificate="pending"' in body and 'data-testid="certificate-retry"' not in body
    assert 'hx-trigger="every 3s"' in body  # the list polls again until cert-manager answers
    found = _domain(domain.name)
    assert found.certificate_state == "pending" and found.certificate_reason is None
    # The Certificate's status says what `cmctl renew` writes; the old failure stays until the new issuance.
    status = _certificate(kube, sid, domain.id)["status"]
    issuing = next(c for c in status["conditions"] if c["type"] == "Issuing")
    assert (issuing["status"], issuing["reason"]) == ("True", "ManuallyTriggered")
    assert status["failedIssuanceAttempts"] == 1

    # A second click while pending changes nothing.
    events_before = _events(sid)
    again = _post(client, f"/instances/{sid}/domains/{domain.id}/certificate").get_data(as_text=True)
    assert "A new certificate for shop.toko-ana.co.id is already being requested" in again
    assert _domain(domain.name).certificate_state == "pending" and _events(sid) == events_before

    kube_clock.advance(10)
    assert provisioning.instance_certificates_read(subscription_id=sid) is False
    found = _domain(domain.name)
    assert found.certificate_state == "issued" and found.certificate_not_after is not None
    events = _events(sid)
    assert "New attempt at the TLS certificate for shop.toko-ana.co.id requested." in events
    assert events[-1] == "TLS certificate issued for shop.toko-ana.co.id."
    templates = [e.template for e in db.session.scalars(select(Email).where(Email.recipient == "ana@example.com"))]
    assert templates.count("domain_certificate_failing") == 1 and templates.count("domain_certificate_issued") == 1
    page = client.get(f"/instances/{sid}/domains", headers=HX).get_data(as_text=True)
    assert "Certificate: Issued, valid until" in page and "Try again" not in page


def test_try_again_is_refused_unless_the_certificate_is_failing(kube, kube_clock, dns_zone, live, logged_in):
    sid = live("ghost")
    waiting = services.domain_add(subscription_id=sid, name="new.toko-ana.co.id")  # DNS not verified yet
    issued = services.domain_add(subscription_id=sid, name="blog.toko-ana.co.id")
    point_dns(dns_zone, issued.name, cname="ana-blog.localtest.me", token=issued.token)
    services.domain_dns_check(domain_id=issued.id)
    kube_clock.advance(10)
    provisioning.instance_certificates_read(subscription_id=sid)
    assert _domain(issued.name).certificate_state == "issued"
    client = logged_in()
    for domain, state in ((issued, "issued"), (waiting, "none")):
        with pytest.raises(services.DomainRefused, match="is not failing"):
            services.domain_certificate_retry(subscription_id=sid, domain_id=domain.id)
        body = _post(client, f"/instances/{sid}/domains/{domain.id}/certificate").get_data(as_text=True)
        assert f"The certificate for {domain.name} is not failing: there is nothing to try again." in body
        assert _domain(domain.name).certificate_state == state
    assert not [e for e in _events(sid) if "New attempt" in e]


def test_someone_elses_domain_or_instance_is_not_found(failing, live, logged_in):
    sid, domain = failing()
    other = live("wordpress", subdomain="budi-shop", email="budi@example.com")
    budi = logged_in("budi@example.com")
    assert _post(budi, f"/instances/{sid}/domains/{domain.id}/certificate").status_code == 404
    # Budi's own instance with Ana's domain id: not a domain of that instance.
    assert _post(budi, f"/instances/{other}/domains/{domain.id}/certificate").status_code == 404
    with pytest.raises(services.DomainNotFound):
        services.domain_certificate_retry(subscription_id=other, domain_id=domain.id)
    assert _domain(domain.name).certificate_state == "failed"


def test_a_post_without_its_csrf_token_is_refused(failing, logged_in):
    sid, domain = failing()
    client = logged_in()
    response = client.post(f"/instances/{sid}/domains/{domain.id}/certificate", headers=HX)
    assert response.status_code == 400
    assert _domain(domain.name).certificate_state == "failed"


def test_the_cluster_refusing_the_trigger_leaves_the_certificate_failing_with_the_reason(failing, kube):
    sid, domain = failing()
    kube.certificate_failures_clear()
    kube.fail_next(1, 422, method="PATCH", path_contains="/status")
    services.domain_certificate_retry(subscription_id=sid, domain_id=domain.id)  # the task runs after the commit
    found = _domain(domain.name)
    assert found.certificate_state == "failed"  # not pending for ever
    assert found.certificate_reason.startswith("Invalid:") and "portal emulator fail_next" in found.certificate_reason
    assert _events(sid)[-1].startswith("The new attempt at the TLS certificate for shop.toko-ana.co.id could not "
                                       "be started: Invalid:")
    # Nothing was asked of cert-manager; the customer can try again, and this time it goes through.
    status = _certificate(kube, sid, domain.id)["status"]
    assert next(c for c in status["conditions"] if c["type"] == "Issuing")["status"] == "False"
    services.domain_certificate_retry(subscription_id=sid, domain_id=domain.id)
    assert _domain(domain.name).certificate_state == "pending"


def test_a_certificate_gone_from_the_cluster_or_a_stopped_instance_leaves_it_failing_with_the_reason(failing, kube):
    sid, domain = failing()
    subscription = db.session.get(Subscription, sid)
    # The domain's Ingress deleted behind the portal's back: its Certificate goes with it (garbage collection).
    names = provisioning.instance_target(subscription).names
    provisioning.cluster().delete("networking.k8s.io/v1", "Ingress", subscription.namespace,
                                  domain_ingress_name(names, domain.id))
    assert not [c for c in kube.objects("Certificate", subscription.namespace) if f"-domain-{domain.id}-" in
                c["metadata"]["name"]]
    services.domain_certificate_retry(subscription_id=sid, domain_id=domain.id)
    found = _domain(domain.name)
    assert found.certificate_state == "failed" and found.certificate_reason.startswith("NotFound:")

    # The instance stopped between the click and the request: nothing to ask the cluster for.
    found.certificate_state = "pending"
    db.session.get(Subscription, sid).state = "suspended"
    db.session.commit()
    assert renew_certificate.call_local(sid, domain.id) == "failed"
    found = _domain(domain.name)
    assert found.certificate_state == "failed" and found.certificate_reason.startswith("NotRunning:")


def test_cert_managers_own_retry_after_its_backoff_is_noticed_without_anyone_asking(failing, kube, kube_clock):
    sid, domain = failing()
    kube.certificate_failures_clear()
    kube_clock.advance(60)
    provisioning.instance_certificates_read(subscription_id=sid)
    assert _domain(domain.name).certificate_state == "failed"  # cert-manager is backing off
    kube_clock.advance(3600 - 60 - 5)  # an hour after the failure (the issuance then takes its delay)
    assert provisioning.instance_certificates_read(subscription_id=sid) is True
    assert _domain(domain.name).certificate_state == "pending"
    kube_clock.advance(10)
    assert provisioning.instance_certificates_read(subscription_id=sid) is False
    assert _domain(domain.name).certificate_state == "issued"
    assert db.session.scalar(select(func.count(Email.id)).where(Email.template == "domain_certificate_issued")) == 1

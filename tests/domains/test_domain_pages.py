"""The domains block on the instance page, through the client, with and without htmx: add (refused with the reason,
nothing written), the records to create, check now, make primary, remove; it polls until nothing is pending."""
import pytest
from sqlalchemy import func, select

from portal.domains.models import CustomDomain
from portal.extensions import db
from portal.subscriptions.models import Subscription
from tests.domains.dns_records import INGRESS_V4, INGRESS_V6, point_dns
from tests.helpers import csrf_token_from

pytestmark = pytest.mark.smoke
HX = {"HX-Request": "true"}


def _post(client, url, data=None, htmx=True):
    token = csrf_token_from(client.get("/account").get_data(as_text=True))
    return client.post(url, data={**(data or {}), "csrf_token": token}, headers=HX if htmx else {})


@pytest.fixture
def ana(live, logged_in):
    sid = live("ghost", plan_slug="pro")
    return sid, logged_in()


def test_the_instance_page_loads_the_domains_block_and_the_page_stands_alone(ana):
    sid, client = ana
    page = client.get(f"/instances/{sid}").get_data(as_text=True)
    assert f'hx-get="/instances/{sid}/domains"' in page and 'hx-trigger="load"' in page
    full = client.get(f"/instances/{sid}/domains")
    assert full.status_code == 200 and "<html" in full.get_data(as_text=True)
    block = client.get(f"/instances/{sid}/domains", headers=HX)
    body = block.get_data(as_text=True)
    assert "<html" not in body and 'id="domains"' in body and "No custom domain yet." in body
    assert "0 of 3 on this plan" in body and "HX-Request" in block.headers["Vary"]
    assert block.status_code == 286  # nothing to wait for: polling stops


@pytest.mark.parametrize("typed, reason", [
    ("*.toko-ana.id", "Wildcard domains"),
    ("198.51.100.7", "An IP address cannot be used"),
    ("ana-blog.localtest.me", "belong to us"),
    ("shop.portal.example.id", "belong to us"),
    ("bad_label.example.com", "is not a valid part of a domain name"),
    ("x" * 64 + ".example.com", "at most 63 characters"),
])
def test_a_refused_name_is_answered_with_its_reason_and_nothing_is_written(ana, typed, reason):
    sid, client = ana
    response = _post(client, f"/instances/{sid}/domains", {"name": typed})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert reason in body and 'data-testid="error-name"' in body
    assert db.session.scalar(select(func.count(CustomDomain.id))) == 0


def test_added_domain_shows_its_records_in_unicode_and_is_stored_as_punycode(ana, dns_zone):
    sid, client = ana
    response = _post(client, f"/instances/{sid}/domains", {"name": "Töko-Ana.id"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    domain = db.session.scalar(select(CustomDomain))
    assert domain.name == "xn--tko-ana-90a.id" and domain.dns_state == "pending"
    assert "töko-ana.id" in body and "(xn--tko-ana-90a.id)" in body and "töko-ana.id added" in body
    # An apex: A and AAAA records to the ingress, and the TXT proof under the verification name.
    assert f'data-testid="record-A">{INGRESS_V4}<' in body and f'data-testid="record-AAAA">{INGRESS_V6}<' in body
    assert "_portal-verify.xn--tko-ana-90a.id" in body and domain.token in body
    assert 'hx-trigger="every 3s"' in body  # waits for DNS, polling
    assert "No TXT record" in body  # the first check ran at once and says what is missing
    # A subdomain gets a CNAME to the instance's own address.
    body = _post(client, f"/instances/{sid}/domains", {"name": "blog.toko-ana.id"}).get_data(as_text=True)
    assert 'data-testid="record-CNAME">ana-blog.localtest.me<' in body


def test_check_now_verifies_then_primary_and_remove_without_htmx(ana, dns_zone, kube):
    sid, client = ana
    _post(client, f"/instances/{sid}/domains", {"name": "blog.toko-ana.id"})
    _post(client, f"/instances/{sid}/domains", {"name": "shop.toko-ana.id"})
    blog, shop = db.session.scalars(select(CustomDomain).order_by(CustomDomain.id)).all()
    for domain in (blog, shop):
        point_dns(dns_zone, domain.name, cname="ana-blog.localtest.me", token=domain.token)
    response = _post(client, f"/instances/{sid}/domains/{blog.id}/check", htmx=False)
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/instances/{sid}/domains")
    page = client.get(f"/instances/{sid}/domains").get_data(as_text=True)
    assert "DNS records found: the domain is verified." in page
    _post(client, f"/instances/{sid}/domains/{shop.id}/check")
    db.session.expire_all()
    assert (blog.dns_state, blog.is_primary, shop.dns_state, shop.is_primary) == ("verified", True, "verified", False)
    body = _post(client, f"/instances/{sid}/domains/{shop.id}/primary").get_data(as_text=True)
    assert "shop.toko-ana.id is now your primary address" in body
    db.session.expire_all()
    assert shop.is_primary and not blog.is_primary
    namespace = db.session.get(Subscription, sid).namespace
    assert {r["host"] for i in kube.objects("Ingress", namespace) for r in i["spec"]["rules"]} == {
        "ana-blog.localtest.me", "blog.toko-ana.id", "shop.toko-ana.id"}
    body = _post(client, f"/instances/{sid}/domains/{shop.id}/remove").get_data(as_text=True)
    assert "shop.toko-ana.id removed. Your instance stays at ana-blog.localtest.me." in body
    db.session.expire_all()
    assert [d.name for d in db.session.scalars(select(CustomDomain))] == ["blog.toko-ana.id"]
    assert db.session.get(CustomDomain, blog.id).is_primary  # the remaining one is primary again
    assert {r["host"] for i in kube.objects("Ingress", namespace) for r in i["spec"]["rules"]} == {
        "ana-blog.localtest.me", "blog.toko-ana.id"}


def test_the_plan_limit_hides_the_form_and_names_the_plan(live, logged_in):
    sid = live("ghost", plan_slug="starter")
    client = logged_in()
    body = _post(client, f"/instances/{sid}/domains", {"name": "blog.toko-ana.id"}).get_data(as_text=True)
    assert 'data-testid="domain-form"' not in body
    assert "You use all 1 custom domain of the Starter plan." in body
    response = _post(client, f"/instances/{sid}/domains", {"name": "shop.toko-ana.id"})
    assert response.status_code == 422 and "The Starter plan includes 1 custom domain" in response.get_data(
        as_text=True)


def test_someone_elses_domain_cannot_be_touched_through_my_instance(live, logged_in):
    mine = live("ghost", plan_slug="pro")
    theirs = live("ghost", plan_slug="pro", subdomain="budi-blog", email="budi@example.com")
    other = CustomDomain(subscription_id=theirs, name="budi.example", token="t", dns_state="verified",
                         certificate_state="issued", is_primary=True)
    db.session.add(other)
    db.session.commit()
    client = logged_in()
    for action in ("check", "primary", "remove"):
        assert _post(client, f"/instances/{mine}/domains/{other.id}/{action}").status_code == 404
    assert db.session.scalar(select(func.count(CustomDomain.id))) == 1

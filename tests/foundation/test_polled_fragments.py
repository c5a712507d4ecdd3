"""Polled fragments (instance status, dashboard cards, invoice status) answer an unchanged poll with 304, and
answer 200 with a new tag after anything they show changed: the cluster, an event, a payment, the reader's
zone, a message waiting for them, the clock crossing a day the cards count."""
from datetime import timedelta

import pytest

from portal.accounts.services import user_by_email
from portal.billing.models import Invoice
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.subscriptions.events import instance_event_record
from portal.subscriptions.models import Subscription
from portal.unit_of_work import atomic
from tests.fixtures.billing import notification, post
from tests.helpers import csrf_token_from

pytestmark = pytest.mark.smoke
HX = {"HX-Request": "true"}


@pytest.fixture
def app_config(cluster_config):
    return cluster_config


@pytest.fixture
def live(app, kube_clock, paid, login):
    """An active n8n instance of ana@example.com, logged in."""
    sid = paid("n8n", subdomain="ana-flows")
    kube_clock.advance(30)
    instances_sweep()
    login(user_by_email("ana@example.com"))
    return sid


def poll(client, url: str, etag: str | None = None):
    return client.get(url, headers={**HX, **({"If-None-Match": etag} if etag else {})})


def tag_of(client, url: str) -> str:
    """The fragment's tag, after checking that it is served with it, privately and revalidated every time."""
    response = poll(client, url)
    assert response.status_code in (200, 286), response.status_code
    assert response.headers["ETag"].startswith('W/"'), response.headers.get("ETag")
    assert response.headers["Cache-Control"] == "no-cache, private"
    assert {"HX-Request", "Cookie"} <= set(response.vary)
    return response.headers["ETag"]


def assert_unchanged(client, url: str, etag: str) -> None:
    response = poll(client, url, etag)
    assert response.status_code == 304, response.status_code
    assert response.data == b""
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == "no-cache, private"


def assert_changed(client, url: str, etag: str) -> str:
    """Rendered again, with a tag that differs from the old one (which the next poll must not match)."""
    response = poll(client, url, etag)
    assert response.status_code in (200, 286), response.status_code
    assert response.data
    assert response.headers["ETag"] != etag
    return response.headers["ETag"]


def set_zone(client, zone: str) -> None:
    token = csrf_token_from(client.get("/account").get_data(as_text=True))
    assert client.post("/account/timezone", data={"csrf_token": token, "timezone": zone}).status_code == 303


def test_instance_status_is_304_until_the_cluster_an_event_or_the_reader_changes(client, live, kube, kube_clock):
    url = f"/instances/{live}"
    etag = tag_of(client, url)
    assert_unchanged(client, url, etag)
    assert_unchanged(client, url, etag)  # a poll changes nothing by itself

    subscription = db.session.get(Subscription, live)
    kube.crash_loop(subscription.namespace, f"n8n-{live}-app")
    kube_clock.advance(60)
    instances_sweep()
    response = poll(client, url, etag)
    assert response.status_code in (200, 286) and "Not responding" in response.get_data(as_text=True)
    etag = assert_changed(client, url, etag)
    assert_unchanged(client, url, etag)

    with atomic():
        instance_event_record(subscription_id=live, kind="note", message="Backup taken")
    etag = assert_changed(client, url, etag)
    assert "Backup taken" in poll(client, url).get_data(as_text=True)
    assert_unchanged(client, url, etag)

    set_zone(client, "Asia/Jayapura")  # the timeline's times are shown in the reader's zone
    etag = assert_changed(client, url, etag)
    assert "WIT" in poll(client, url).get_data(as_text=True)
    assert_unchanged(client, url, etag)


def test_a_reader_who_switches_language_is_never_answered_with_the_other_languages_tag(client, live):
    url = f"/instances/{live}"
    etag = tag_of(client, url)
    assert_unchanged(client, url, etag)
    # The switcher's cookie: the same fragment, unchanged in the database, is now written in Indonesian.
    client.set_cookie("locale", "id")
    response = poll(client, url, etag)
    assert response.status_code in (200, 286) and "Berjalan" in response.get_data(as_text=True)
    indonesian = response.headers["ETag"]
    assert indonesian != etag
    assert_unchanged(client, url, indonesian)


def test_a_waiting_message_or_a_new_form_token_is_never_answered_with_an_old_tag(client, live):
    url = f"/instances/{live}"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    etag = tag_of(client, url)
    assert_unchanged(client, url, etag)
    # Refused without a change: only a message waits for the next page.
    response = client.post(f"/instances/{live}/cancel", data={"csrf_token": token, "mode": "now", "confirm": "no"})
    assert response.status_code == 303
    with client.session_transaction() as session:
        assert session.get("_flashes")
    assert_changed(client, url, etag)
    assert "Type the instance" in client.get(url).get_data(as_text=True)  # the page shows it, and it is gone
    assert_unchanged(client, url, etag)

    # Fragments carry forms whose token derives from the session's; another one (a new session) needs them anew.
    with client.session_transaction() as session:
        session["csrf_token"] = "0" * 40
    assert_changed(client, url, etag)


def test_the_whole_page_is_never_conditional(client, live):
    url = f"/instances/{live}"
    etag = tag_of(client, url)
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 200 and "ETag" not in response.headers
    assert response.headers["Cache-Control"] == "no-cache, private"
    assert {"HX-Request", "Cookie"} <= set(response.vary)
    assert "Resource usage" in response.get_data(as_text=True)


def test_dashboard_cards_are_304_until_a_status_or_the_day_they_count_changes(client, live, kube, kube_clock,
                                                                                travel):
    etag = tag_of(client, "/")
    assert_unchanged(client, "/", etag)

    subscription = db.session.get(Subscription, live)
    kube.crash_loop(subscription.namespace, f"n8n-{live}-app")
    kube_clock.advance(60)
    instances_sweep()
    etag = assert_changed(client, "/", etag)
    assert_unchanged(client, "/", etag)

    # "renews in N days" changes with the clock alone, at the moment a whole day more has passed.
    days = (subscription.current_period_end - travel.now).days
    travel.to(subscription.current_period_end - timedelta(days=days, seconds=1))
    assert_unchanged(client, "/", etag)
    travel.by(seconds=2)
    etag = assert_changed(client, "/", etag)
    assert f"renews in {days - 1} days" in poll(client, "/").get_data(as_text=True)
    assert_unchanged(client, "/", etag)


def test_invoice_status_is_304_until_it_is_paid(client, customer, order, login):
    invoice = order()
    login(customer)
    url = f"/billing/invoices/{invoice.id}"
    etag = tag_of(client, url)
    assert_unchanged(client, url, etag)

    set_zone(client, "Asia/Makassar")  # the payment link's expiry is shown in the reader's zone
    etag = assert_changed(client, url, etag)
    assert_unchanged(client, url, etag)

    assert post(client, notification(invoice)).status_code == 200
    assert db.session.get(Invoice, invoice.id).state == "paid"
    response = poll(client, url, etag)
    assert response.status_code == 286 and "Paid" in response.get_data(as_text=True)
    assert response.headers["ETag"] != etag
    assert_unchanged(client, url, response.headers["ETag"])  # a paid invoice's page holds still too


def test_another_customers_tag_never_matches_yours(app, client, paid, live, login):
    """Two customers whose fragments show the same things still get different tags: identity is in the tag."""
    other = paid("n8n", subdomain="budi-flows", email="budi@example.com")
    budi = app.test_client()
    page = budi.get("/login").get_data(as_text=True)
    assert budi.post("/login", data={"email": "budi@example.com", "password": "correct horse battery staple",
                                     "csrf_token": csrf_token_from(page)}).status_code == 303
    for theirs, ours in ((f"/instances/{other}", f"/instances/{live}"), ("/", "/")):
        their_tag = tag_of(budi, theirs)
        assert poll(budi, theirs, their_tag).status_code == 304
        assert poll(client, ours, their_tag).status_code in (200, 286)

"""Times in the reader's zone, zone named: the profile setting, customer pages, staff pages and emails."""
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.billing.models import Invoice
from portal.extensions import db
from portal.notifications.models import Email
from tests.fixtures.billing import notification, post
from tests.helpers import csrf_token_from

HX = {"HX-Request": "true"}


def set_zone(client, zone: str, headers=None):
    token = csrf_token_from(client.get("/account").get_data(as_text=True))
    return client.post("/account/timezone", data={"csrf_token": token, "timezone": zone}, headers=headers or {})


def paid_invoice(client, order) -> Invoice:
    invoice = order()
    assert post(client, notification(invoice)).status_code == 200
    db.session.expire_all()
    return db.session.get(Invoice, invoice.id)


def local(moment, zone: str, pattern: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime(pattern)


def test_the_profile_offers_the_default_zone_and_saves_a_chosen_one(client, make_user, login):
    user = make_user()
    login(user)
    page = client.get("/account").get_data(as_text=True)
    assert '<option selected value="Asia/Jakarta">Asia/Jakarta</option>' in page
    response = set_zone(client, "Asia/Jayapura")
    assert response.status_code == 303
    assert db.session.get(User, user.id).timezone == "Asia/Jayapura"
    assert "Times are now shown in Asia/Jayapura" in client.get("/account").get_data(as_text=True)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../../etc/passwd", "EST5EDT", "Etc/GMT+7"])
def test_an_unknown_zone_is_refused_and_nothing_changes(client, make_user, login, zone):
    user = make_user()
    login(user)
    for headers in ({}, HX):
        response = set_zone(client, zone, headers)
        body = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "Pick a time zone" in body
    assert "<html" not in body and body.lstrip().startswith("<form")
    assert db.session.get(User, user.id).timezone is None


def test_a_customer_in_jayapura_sees_wit_on_billing_pages_and_in_the_receipt(client, order, customer, login):
    customer.timezone = "Asia/Jayapura"
    db.session.commit()
    invoice = paid_invoice(client, order)
    login(customer)
    expected = local(invoice.paid_at, "Asia/Jayapura", "%d %b %Y %H:%M") + " WIT"
    assert expected in client.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    receipt_page = client.get(f"/billing/invoices/{invoice.id}/receipt").get_data(as_text=True)
    assert local(invoice.paid_at, "Asia/Jayapura", "%d %B %Y %H:%M") + " WIT" in receipt_page
    assert "UTC" not in receipt_page
    receipt = db.session.scalar(select(Email).where(Email.template == "payment_receipt"))
    written = local(invoice.paid_at, "Asia/Jayapura", "%d %B %Y %H:%M") + " WIT"
    assert written in receipt.body_text and written in receipt.body_html
    assert "UTC" not in receipt.body_text


def test_a_customer_without_a_choice_reads_wib(client, order, customer, login):
    invoice = paid_invoice(client, order)
    login(customer)
    receipt_page = client.get(f"/billing/invoices/{invoice.id}/receipt").get_data(as_text=True)
    assert local(invoice.paid_at, "Asia/Jakarta", "%d %B %Y %H:%M") + " WIB" in receipt_page
    receipt = db.session.scalar(select(Email).where(Email.template == "payment_receipt"))
    assert local(invoice.paid_at, "Asia/Jakarta", "%d %B %Y %H:%M") + " WIB" in receipt.body_text


def test_staff_pages_say_utc_or_the_staff_members_own_zone(client, order, make_user, login):
    invoice = paid_invoice(client, order)
    staff = make_user(email="boss@example.com", staff=True)
    login(staff)
    page = client.get(f"/admin/payments/{invoice.id}").get_data(as_text=True)
    assert local(invoice.paid_at, "UTC", "%d %b %Y %H:%M:%S") + " UTC" in page
    set_zone(client, "Asia/Makassar")
    page = client.get(f"/admin/payments/{invoice.id}").get_data(as_text=True)
    assert local(invoice.paid_at, "Asia/Makassar", "%d %b %Y %H:%M:%S") + " WITA" in page

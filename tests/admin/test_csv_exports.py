"""Every CSV export shows a hostile customer's text as text: no cell a spreadsheet would run as a formula."""
import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.billing.revenue import revenue_summary_send
from portal.catalog.models import Service
from portal.extensions import db
from portal.notifications.models import Email
from portal.rendering import csv_text
from portal.timestamps import utcnow
from tests.admin.test_admin_pages import pay

HOSTILE = ["=HYPERLINK(\"http://evil.example\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tcmd", "\rcmd"]


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("value", HOSTILE)
def test_csv_text_prefixes_a_formula_start_and_leaves_numbers_and_plain_text(value):
    rows = _cells(csv_text(["text", "amount", "plain"], [[value, -5000, "Ana - Putri"]]))
    assert rows[1] == ["'" + value, "-5000", "Ana - Putri"]


def _hostile_customer(email: str) -> None:
    user = db.session.scalar(select(User).where(User.email == "ana@example.com"))
    user.email = email
    db.session.commit()


def test_payments_export_neutralises_a_hostile_customer_email(app, staff_client, order):
    _hostile_customer("=cmd@example.com")
    pay(order("ghost", subdomain="csv-evil"), app.test_client())
    rows = list(csv.DictReader(io.StringIO(staff_client.get("/admin/payments.csv").get_data(as_text=True))))
    assert rows[0]["customer"] == "'=cmd@example.com"


def test_revenue_report_export_neutralises_a_hostile_app_name(app, staff_client, order):
    pay(order("ghost", subdomain="csv-report"), app.test_client())
    db.session.scalar(select(Service).where(Service.slug == "ghost")).name = "@Ghost"
    db.session.commit()
    rows = list(csv.DictReader(io.StringIO(staff_client.get("/admin/reports.csv").get_data(as_text=True))))
    assert [row["app"] for row in rows] == ["'@Ghost"]


def test_monthly_revenue_attachment_neutralises_a_hostile_customer_email(app, staff, order):
    _hostile_customer("+cmd@example.com")
    pay(order("ghost", subdomain="csv-month"), app.test_client())
    revenue_summary_send((utcnow().replace(day=1) + timedelta(days=32)).replace(day=2))
    summary = db.session.scalar(select(Email).where(Email.template == "revenue_summary"))
    rows = list(csv.DictReader(io.StringIO(summary.context["attachments"][0]["data"])))
    assert rows[0]["customer"] == "'+cmd@example.com"

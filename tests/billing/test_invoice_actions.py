"""What an invoice's pages offer is decided in one place, billing/states.py's invoice_actions, in each state."""
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from portal.billing.states import STATES, InvoiceActions, invoice_actions, invoice_transition
from portal.extensions import db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# The invoice's current attempt: with Snap's page to go to, without one (Snap was down), none at all.
ATTEMPTS = {"snap": SimpleNamespace(snap_redirect_url="https://app.sandbox.midtrans.com/snap/v4/redirection/x"),
            "no snap": SimpleNamespace(snap_redirect_url=None), "none": None}

EXPECTED = {
    ("pending", "snap"): InvoiceActions(pay=True, pay_now=True, waiting=True),
    ("pending", "no snap"): InvoiceActions(pay=True, retry=True, waiting=True),  # the attempt never reached Snap
    ("pending", "none"): InvoiceActions(pay=True, retry=True, waiting=True),
    ("failed", "snap"): InvoiceActions(pay=True, retry=True),
    ("paid", "snap"): InvoiceActions(receipt=True),
    ("refunded", "snap"): InvoiceActions(),
    ("cancelled", "snap"): InvoiceActions(),
    ("review", "snap"): InvoiceActions(under_review=True, details=True),  # Midtrans' fraud check decides
    ("refund_due", "snap"): InvoiceActions(refund_due=True, details=True),
}


@pytest.mark.parametrize(("state", "attempt"), EXPECTED)
def test_invoice_actions_in_each_state(state, attempt):
    invoice = SimpleNamespace(state=state, current_attempt=ATTEMPTS[attempt])
    assert invoice_actions(invoice) == EXPECTED[state, attempt]


def test_every_state_is_decided():
    assert {state for state, _ in EXPECTED} == set(STATES)


# `invoice.state == "paid"`, `invoice.state in ('pending', 'failed')`, `"paid" != invoice.state`, …
_COMPARED = re.compile(r"""\binvoice\.state\s*(?:==|!=|\bnot\s+in\b|\bin\b)\s*[('"\[]"""
                       r"""|['"]\w+['"]\s*(?:==|!=)\s*invoice\.state\b""")


def _state_comparisons(text: str) -> list[str]:
    return [match.group(0) for match in _COMPARED.finditer(text)]


def test_no_template_compares_an_invoice_state_to_a_literal():
    offenders = [f"{path.relative_to(TEMPLATES.parent)}: {found}" for path in sorted(TEMPLATES.rglob("*.html"))
                 for found in _state_comparisons(path.read_text())]
    assert offenders == []


def test_the_scan_sees_a_comparison():
    # Proves the scan would find one if it came back: the forms the billing templates used to hold.
    for written in ('{% if invoice.state == "paid" %}', "{% elif invoice.state in ('pending', 'failed') %}",
                    '{% if "failed" != invoice.state %}', "{% if invoice.state not in ['paid'] %}"):
        assert _state_comparisons(written), written
    assert not _state_comparisons('data-state="{{ invoice.state }}" {% if actions.receipt %}')


def test_the_list_and_the_invoice_page_offer_what_the_state_allows(client, customer, login, order):
    pending, failed = order(), order()
    invoice_transition(failed, "failed")
    db.session.commit()
    login(customer)
    listing = client.get("/billing").get_data(as_text=True)
    assert listing.count(">Pay</a>") == 2 and ">Receipt</a>" not in listing
    page = client.get(f"/billing/invoices/{failed.id}").get_data(as_text=True)
    assert "Try again" in page and "Waiting for your payment" not in page
    page = client.get(f"/billing/invoices/{pending.id}").get_data(as_text=True)
    assert "Waiting for your payment" in page and "Open the payment simulator" in page


def test_a_closed_invoice_has_nothing_to_pay(client, customer, login, order):
    invoice = order()
    invoice_transition(invoice, "cancelled")
    db.session.commit()
    login(customer)
    pay = client.get(f"/billing/invoices/{invoice.id}/pay")
    assert pay.status_code == 302 and pay.headers["Location"] == f"/billing/invoices/{invoice.id}"
    page = client.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    assert "This invoice was cancelled." in page and "/pay" not in page

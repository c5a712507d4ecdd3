"""The payment simulator says in plain words what each choice does, the words hold, and it offers a way back."""
import re

import pytest

from portal.billing import simulator
from portal.billing.models import Invoice
from portal.extensions import db
from portal.subscriptions.models import Subscription
from tests.fixtures.billing import post


@pytest.fixture
def simulator_page(client, order, customer, login):
    invoice = order()
    login(customer)
    return invoice, client.get(f"/billing/simulator/{invoice.order_id}").get_data(as_text=True)


def test_each_choice_is_explained_and_the_page_leads_back_without_paying(simulator_page):
    invoice, page = simulator_page
    effects = dict(re.findall(r'data-testid="effect-(\w+)">([^<]+)<', page))
    assert set(effects) == set(simulator.OUTCOMES)
    assert "marked paid and your instance is set up" in effects["settlement"]
    assert "nothing happens yet" in effects["pending"]
    for failing in ("deny", "expire", "cancel"):
        assert "marked failed and nothing is set up" in effects[failing]
        assert "again" in effects[failing]
    assert f'href="/billing/invoices/{invoice.id}"' in page and "Back to the invoice without paying" in page
    assert 'href="/">Go to the dashboard<' in page
    assert "no real money moves" in page


@pytest.mark.parametrize("outcome, invoice_state, subscription_state", [
    ("settlement", "paid", "provisioning"),
    ("capture_accept", "paid", "provisioning"),
    ("pending", "pending", "pending_payment"),
    ("capture_challenge", "review", "pending_payment"),
    ("review_approve", "paid", "provisioning"),
    ("review_deny", "failed", "pending_payment"),
    ("deny", "failed", "pending_payment"),
    ("expire", "failed", "pending_payment"),
    ("cancel", "failed", "pending_payment"),
])
def test_what_the_words_promise_is_what_the_portal_does(app, client, simulator_page, outcome, invoice_state,
                                                        subscription_state):
    invoice, _ = simulator_page
    simulator.simulator_record(order_id=invoice.order_id, outcome=outcome, amount_idr=int(invoice.amount_idr))
    body = simulator.PaymentSimulator().transaction_status(invoice.order_id)
    assert post(app.test_client(), body).status_code == 200
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).state == invoice_state
    assert db.session.get(Subscription, invoice.subscription_id).state == subscription_state
    if invoice_state == "failed":  # "you can try again from the invoice"
        assert "Try again" in client.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)

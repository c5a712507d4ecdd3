"""Billing fixtures: a catalog, a verified customer, and an order awaiting payment (simulator by default)."""
import json

import pytest
from sqlalchemy import select

from portal.billing import services, simulator
from portal.billing.models import SimulatedTransaction
from portal.catalog.models import Plan, Service
from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.extensions import db


@pytest.fixture
def customer(app, make_user):
    catalog_seed(templates=service_templates())
    return make_user(email="ana@example.com")


def plan_of(app_slug: str, plan_slug: str = "starter") -> Plan:
    return db.session.scalar(select(Plan).join(Service).where(Service.slug == app_slug, Plan.slug == plan_slug))


@pytest.fixture
def order(customer):
    """Place an order; returns the invoice (pending, its first attempt opened)."""
    counter = iter(range(1, 100))

    def place(app_slug="ghost", plan_slug="starter", subdomain=None, user=None):
        invoice = services.checkout_start(user_id=(user or customer).id, plan_id=plan_of(app_slug, plan_slug).id,
                                          subdomain=subdomain or f"shop-{next(counter)}", settings={})
        return invoice
    return place


def notification(invoice_or_order, transaction_status="settlement", fraud_status=None, payment_type="bank_transfer",
                 amount_idr=None, record=True) -> dict:
    """A signed notification; with record=True the simulator's status API will confirm it."""
    order_id = invoice_or_order if isinstance(invoice_or_order, str) else invoice_or_order.order_id
    amount = amount_idr if amount_idr is not None else invoice_or_order.amount_idr
    if record:
        set_status(order_id, transaction_status, fraud_status, payment_type, amount)
    return simulator.notification_body(order_id=order_id, transaction_status=transaction_status,
                                       fraud_status=fraud_status, payment_type=payment_type, amount_idr=amount)


def set_status(order_id: str, transaction_status: str, fraud_status=None, payment_type="bank_transfer",
               amount_idr: int = 0) -> None:
    """What the simulator's status API will answer for this order."""
    db.session.merge(SimulatedTransaction(order_id=order_id, transaction_status=transaction_status,
                                          fraud_status=fraud_status, payment_type=payment_type,
                                          gross_amount_idr=amount_idr))
    db.session.commit()


def post(client, body, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body)
    return client.post("/billing/midtrans/notification", data=data, content_type="application/json")

"""Subscription transitions: legal moves only, each with an event; bad orders write nothing."""
import pytest
from sqlalchemy import func, select

from portal.catalog.models import Plan
from portal.catalog.parameters import SettingsInvalid
from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.extensions import db
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import InstanceEvent, Subscription


@pytest.fixture
def plan_id(app):
    catalog_seed(templates=service_templates())
    return db.session.scalar(select(Plan.id).where(Plan.slug == "starter").order_by(Plan.id))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("subdomain, settings, error", [
    ("www", {}, subscriptions.SubdomainUnavailable), ("Bad_Name", {}, subscriptions.SubdomainUnavailable),
    ("good-name", {"use_gravatar": "maybe"}, SettingsInvalid),
])
def test_a_bad_order_is_refused_and_writes_nothing(app, make_user, plan_id, subdomain, settings, error):
    user = make_user()
    with pytest.raises(error):
        subscriptions.subscription_create(user_id=user.id, plan_id=plan_id, subdomain=subdomain, settings=settings)
    assert count(Subscription) == 0 and count(InstanceEvent) == 0


def test_a_taken_subdomain_is_refused(app, make_user, plan_id):
    user = make_user()
    subscriptions.subscription_create(user_id=user.id, plan_id=plan_id, subdomain="shop", settings={})
    with pytest.raises(subscriptions.SubdomainTaken):
        subscriptions.subscription_create(user_id=user.id, plan_id=plan_id, subdomain="shop", settings={})
    assert count(Subscription) == 1


def test_illegal_transitions_are_errors(app, make_user, plan_id):
    user = make_user()
    subscription = subscriptions.subscription_create(user_id=user.id, plan_id=plan_id, subdomain="shop", settings={})
    with pytest.raises(subscriptions.IllegalTransition):
        subscriptions.subscription_suspend(subscription_id=subscription.id, reason="staff")
    subscriptions.subscription_cancel(subscription_id=subscription.id)
    with pytest.raises(subscriptions.IllegalTransition, match="from cancelled to provisioning"):
        subscriptions.subscription_paid(subscription_id=subscription.id, period_days=30)
    db.session.rollback()
    assert db.session.get(Subscription, subscription.id).state == "cancelled"
    kinds = list(db.session.scalars(select(InstanceEvent.kind).order_by(InstanceEvent.id)))
    assert kinds == ["created", "cancelled"]

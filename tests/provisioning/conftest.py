"""Fixtures for cluster work: the emulated Kubernetes API on loopback, with a clock the test moves."""
import pytest

from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.extensions import db
from portal.subscriptions import services as subscriptions
from tests.helpers import FakeClock


@pytest.fixture
def kube_clock():
    return FakeClock()


@pytest.fixture
def kube_options(kube_clock):
    """How the emulated cluster behaves; a module overrides this (e.g. a real clock for a consumer)."""
    return {"ready_delay": 5.0, "node_count": 3, "clock": kube_clock}


@pytest.fixture
def kube(kube_options):
    from emulators.kube import EmulatedCluster

    cluster = EmulatedCluster(**kube_options)
    cluster.start(host="127.0.0.1", port=0)
    yield cluster
    cluster.stop()


@pytest.fixture
def provisioning_config():
    """Short retries and watch rounds for tests; a module overrides this to change them."""
    return {"KUBE_TIMEOUT_SECONDS": 2, "PROVISION_RETRY_BASE_SECONDS": 0.3, "PROVISION_MAX_ATTEMPTS": 4,
            "WATCH_INTERVAL_SECONDS": 0.3}


@pytest.fixture
def app_config(kube, provisioning_config):
    return {"KUBE_MODE": "emulated", "KUBE_EMULATOR_URL": kube.url, **provisioning_config}


@pytest.fixture
def paid(app, make_user):
    """Make a subscription for an app and pay for it (provisioning runs inline in immediate mode)."""
    from portal.catalog.models import Plan, Service
    from sqlalchemy import select

    catalog_seed(templates=service_templates())
    users = {}

    def make(app_slug="n8n", plan_slug="starter", subdomain=None, email="ana@example.com", settings=None):
        if email not in users:
            users[email] = make_user(email=email)
        plan = db.session.scalar(select(Plan).join(Service).where(Service.slug == app_slug, Plan.slug == plan_slug))
        subscription = subscriptions.subscription_create(
            user_id=users[email].id, plan_id=plan.id, subdomain=subdomain or f"{app_slug}-site-{len(users)}x{plan.id}",
            settings=settings or {})
        subscriptions.subscription_paid(subscription_id=subscription.id, period_days=plan.period_days)
        return subscription.id

    return make

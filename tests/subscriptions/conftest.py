"""Life-cycle tests: the emulated cluster, a real SMTP server, and a clock the test moves."""
from datetime import timedelta

import pytest

from portal.timestamps import clock_set, utcnow
from tests.provisioning.conftest import kube, kube_clock, kube_options, paid, provisioning_config  # noqa: F401


class Travel:
    """The portal's clock, moved by the test."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def to(self, moment):
        self.now = moment

    def by(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def travel():
    clock = Travel()
    clock_set(clock)
    yield clock
    clock_set(None)


@pytest.fixture
def app_config(kube, provisioning_config, smtp_server):
    return {"KUBE_MODE": "emulated", "KUBE_EMULATOR_URL": kube.url, **provisioning_config,
            "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False}


@pytest.fixture
def customer_order(app, make_user):
    from tests.billing.conftest import plan_of
    from portal.billing import services
    from portal.catalog.selectors import service_templates
    from portal.catalog.services import catalog_seed

    catalog_seed(templates=service_templates())
    user = make_user(email="late@example.com")

    def place():
        return services.checkout_start(user_id=user.id, plan_id=plan_of("ghost").id, subdomain="late-shop",
                                       settings={})
    return place

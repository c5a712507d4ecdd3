"""Life-cycle tests: the emulated cluster, a real SMTP server, and the portal's clock moved by the test (`travel`)."""
import pytest

from portal.billing import services
from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from tests.fixtures.billing import plan_of


@pytest.fixture
def app_config(cluster_config, smtp_server):
    return {**cluster_config, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False}


@pytest.fixture
def customer_order(app, make_user):
    catalog_seed(templates=service_templates())
    user = make_user(email="late@example.com")

    def place():
        return services.checkout_start(user_id=user.id, plan_id=plan_of("ghost").id, subdomain="late-shop",
                                       settings={})
    return place

"""Catalog in the database and its pages: seeding, listing, plans side by side, the settings step."""
import pytest
from sqlalchemy import func, select

from portal.catalog.models import Plan, Service
from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.extensions import db
from portal.rendering import format_idr
from portal.subscriptions.models import Subscription
from tests.helpers import csrf_token_from

HX = {"HX-Request": "true"}


@pytest.fixture
def catalog(app):
    catalog_seed(templates=service_templates())


def plan(service_slug: str, plan_slug: str) -> Plan:
    return db.session.scalar(select(Plan).join(Service).where(Service.slug == service_slug, Plan.slug == plan_slug))


@pytest.mark.smoke
def test_seed_is_idempotent_and_keeps_staff_price_edits(app):
    first = catalog_seed(templates=service_templates())
    assert first == {"services_created": 3, "plans_created": 8, "services_updated": 0}
    starter = plan("n8n", "starter")
    starter.price_idr = 123000
    starter.active = False
    db.session.commit()
    second = catalog_seed(templates=service_templates())
    assert second == {"services_created": 0, "plans_created": 0, "services_updated": 3}
    assert db.session.scalar(select(func.count(Plan.id))) == 8
    starter = plan("n8n", "starter")
    assert (starter.price_idr, starter.active) == (123000, False)


def test_seed_catalog_command(app):
    result = app.test_cli_runner().invoke(args=["seed-catalog"])
    assert result.exit_code == 0 and "3 services and 8 plans created" in result.output


@pytest.mark.parametrize("amount, text", [(0, "Rp0"), (99000, "Rp99,000"), (1500000, "Rp1,500,000"),
                                          (150000, "Rp150,000")])
def test_rupiah_format(amount, text):
    assert format_idr(amount) == text


@pytest.mark.smoke
def test_catalog_lists_the_apps_with_from_prices(client, catalog):
    page = client.get("/catalog")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    for name, price in (("n8n", "Rp99,000"), ("Ghost", "Rp79,000"), ("WordPress", "Rp69,000")):
        assert name in body
        assert f"from {price}" in body


def test_inactive_plans_and_services_leave_the_catalog(client, catalog):
    for p in db.session.scalars(select(Plan).join(Service).where(Service.slug == "ghost")):
        p.active = False
    db.session.scalar(select(Service).where(Service.slug == "wordpress")).active = False
    db.session.commit()
    body = client.get("/catalog").get_data(as_text=True)
    assert "n8n" in body and "Ghost" not in body and "WordPress" not in body
    assert client.get("/catalog/wordpress").status_code == 404


def test_service_page_shows_plans_side_by_side(client, catalog):
    body = client.get("/catalog/n8n").get_data(as_text=True)
    for plan_name, price in (("Starter", "Rp99,000"), ("Pro", "Rp199,000"), ("Business", "Rp399,000")):
        assert plan_name in body and price in body
    assert "0.5</strong> vCPU" in body and "4 GB</strong> memory" in body and "50 GB</strong> storage" in body
    assert f'/checkout/plan/{plan("n8n", "pro").id}' in body
    assert client.get("/catalog/nothing-here").status_code == 404


def test_choosing_a_plan_needs_a_login(client, catalog):
    response = client.get(f"/checkout/plan/{plan('ghost', 'starter').id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_settings_form_is_built_from_the_parameters(client, catalog, make_user, login):
    login(make_user())
    body = client.get(f"/checkout/plan/{plan('n8n', 'starter').id}").get_data(as_text=True)
    assert 'name="subdomain"' in body and 'name="timezone"' in body and 'name="execution_retention_hours"' in body
    assert '<option selected value="Asia/Jakarta">' in body
    assert ".localtest.me" in body


def post_settings(client, plan_id: int, headers=None, **fields):
    token = csrf_token_from(client.get(f"/checkout/plan/{plan_id}").get_data(as_text=True))
    return client.post(f"/checkout/plan/{plan_id}", data={"csrf_token": token, **fields}, headers=headers or {})


def test_settings_errors_come_back_on_their_fields_over_htmx(client, catalog, make_user, login):
    user = make_user()
    login(user)
    wordpress = plan("wordpress", "starter")
    db.session.add(Subscription(user_id=user.id, plan_id=wordpress.id, subdomain="taken-site", settings={}))
    db.session.commit()
    cases = [({"subdomain": "www", "table_prefix": "wp_"}, "reserved"),
             ({"subdomain": "taken-site", "table_prefix": "wp_"}, "already taken"),
             ({"subdomain": "Bad Name", "table_prefix": "wp_"}, "lowercase letters"),
             ({"subdomain": "my-shop", "table_prefix": "WP"}, "starting with a letter"),
             ({"subdomain": "my-shop", "table_prefix": "wp_\r\nx"}, "single line")]
    for fields, message in cases:
        response = post_settings(client, wordpress.id, headers=HX, **fields)
        body = response.get_data(as_text=True)
        assert response.status_code == 422, fields
        assert message in body and "<html" not in body
    assert db.session.scalar(select(func.count(Subscription.id))) == 1  # nothing written


def test_valid_settings_show_the_future_address(client, catalog, make_user, login):
    login(make_user())
    response = post_settings(client, plan("ghost", "pro").id, headers=HX, subdomain=" My-Blog ", mail_from="",
                             use_gravatar="y")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "https://my-blog.localtest.me" in body


def test_a_plan_that_is_not_for_sale_is_not_found(client, catalog, make_user, login):
    login(make_user())
    starter = plan("n8n", "starter")
    starter.active = False
    db.session.commit()
    assert client.get(f"/checkout/plan/{starter.id}").status_code == 404
    assert client.get("/checkout/plan/99999").status_code == 404

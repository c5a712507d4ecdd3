"""Ids and numeric filters larger than the database holds are a 404 (or a 400 for a filter), never a 500."""
import pytest
from sqlalchemy import Integer
from werkzeug.routing.converters import IntegerConverter

from portal.arguments import MAX_ID
from portal.extensions import db
from tests.admin.test_admin import _fill
from tests.helpers import csrf_token_from

pytestmark = pytest.mark.smoke

# Just past PostgreSQL's integer, the largest 64-bit number, just past it, and far beyond any fixed width.
TOO_LARGE = [2**31, 2**63 - 1, 2**63, 99999999999999999999999]


@pytest.fixture
def staff_client(client, make_user, login):
    login(make_user(email="boss@example.com", staff=True))
    return client


def int_rules(app):
    return [rule for rule in app.url_map.iter_rules()
            if any(isinstance(rule._converters[name], IntegerConverter) for name in rule.arguments)]


def test_the_id_bound_is_what_every_id_column_holds(app):
    """MAX_ID is PostgreSQL's integer: if an id column ever grows to BIGINT, the bound must grow with it."""
    ids = [column for table in db.metadata.sorted_tables for column in table.columns
           if (column.primary_key or column.foreign_keys) and isinstance(column.type, Integer)]
    assert len(ids) >= 10
    assert {type(column.type) for column in ids} == {Integer}
    assert MAX_ID == 2**31 - 1


def test_every_route_taking_an_int_answers_404_for_ids_beyond_the_database(app, staff_client):
    rules = int_rules(app)
    endpoints = {rule.endpoint for rule in rules}
    assert {"instances.show", "admin.subscription", "billing.invoice", "admin.user", "billing.checkout"} <= endpoints
    token = csrf_token_from(staff_client.get("/account").get_data(as_text=True))
    for rule in rules:
        for number in [MAX_ID, *TOO_LARGE]:  # the largest id that fits is simply not there
            url = _fill(rule.rule, {name: str(number) for name in rule.arguments})
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = staff_client.open(url, method=method, data={"csrf_token": token})
                assert response.status_code == 404, (method, url, response.status_code)


FILTERS = [("/admin/subscriptions", "user"), ("/admin/subscriptions", "plan"), ("/admin/subscriptions", "expiring"),
           ("/admin/subscriptions", "page"), ("/admin/audit", "actor"), ("/admin/audit", "page"),
           ("/admin/users", "page"), ("/admin/payments", "page"), ("/admin/outbox", "page")]


@pytest.mark.parametrize("path,name", FILTERS)
def test_numeric_filters_beyond_the_database_or_not_numbers_are_a_400(app, staff_client, path, name):
    assert staff_client.get(f"{path}?{name}=1").status_code == 200
    assert staff_client.get(f"{path}?{name}=").status_code == 200  # an empty filter is no filter
    if name != "expiring":  # the largest id (or page) that fits finds nothing, and says so calmly
        assert staff_client.get(f"{path}?{name}={MAX_ID}").status_code == 200
    for value in [*map(str, TOO_LARGE), "-1", "abc", "1e3", "\uff11", "9" * 5000]:
        response = staff_client.get(f"{path}?{name}={value}")
        assert response.status_code == 400, (path, name, value, response.status_code)

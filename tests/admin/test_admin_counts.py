"""A large list's total is counted at most once per ADMIN_COUNT_CACHE_SECONDS; small totals are always exact."""
import re

import pytest

from tests.helpers import database_activity


@pytest.fixture
def app_config(cluster_config):
    # A "large" list is anything above two rows here (1,000 in production): the cache shows with a handful of users.
    return {**cluster_config, "ADMIN_EXACT_COUNT_LIMIT": 2, "ADMIN_COUNT_CACHE_SECONDS": 30}


def _total(body: str) -> str:
    return re.search(r"((?:about )?\d+) in all", body).group(1)


def test_small_totals_are_counted_afresh_on_every_request(app, staff_client, make_user):
    assert _total(staff_client.get("/admin/users").get_data(as_text=True)) == "1"
    make_user(email="one@example.com")
    assert _total(staff_client.get("/admin/users").get_data(as_text=True)) == "2"
    make_user(email="two@example.com")
    assert _total(staff_client.get("/admin/users").get_data(as_text=True)) == "3"  # exact: first count this large


def test_a_large_total_is_reused_for_a_while_and_said_to_be_approximate(app, staff_client, make_user, travel):
    for n in range(3):
        make_user(email=f"customer{n}@example.com")
    with database_activity() as first:
        body = staff_client.get("/admin/users").get_data(as_text=True)
    assert _total(body) == "4"  # counted now: exact

    make_user(email="late@example.com")
    travel.by(seconds=29)
    with database_activity() as again:
        body = staff_client.get("/admin/users").get_data(as_text=True)
    assert _total(body) == "about 4"  # the count of a moment ago, and the page says so
    counts = [s for s in again["statements"] if "count(" in s.lower()]
    assert counts == [] and len(again["statements"]) < len(first["statements"])

    # Another filter is another count.
    assert _total(staff_client.get("/admin/users?q=customer").get_data(as_text=True)) == "3"

    travel.by(seconds=2)  # the cached count has lapsed
    assert _total(staff_client.get("/admin/users").get_data(as_text=True)) == "5"


def test_a_total_that_fell_below_the_limit_is_exact_again_once_the_cached_count_lapses(app, staff_client, make_user,
                                                                                       travel):
    for n in range(2):
        make_user(email=f"customer{n}@example.com")
    assert _total(staff_client.get("/admin/users").get_data(as_text=True)) == "3"  # large: cached
    app.config["ADMIN_EXACT_COUNT_LIMIT"] = 10  # the same list is small by this measure
    assert _total(staff_client.get("/admin/users").get_data(as_text=True)) == "about 3"
    travel.by(seconds=31)
    assert _total(staff_client.get("/admin/users").get_data(as_text=True)) == "3"

"""Midtrans' webhook answers JSON whatever refuses the call: the NUL guard, bad JSON, a wrong method, the rate
limit, a body too large. Midtrans (and staff reading its dashboard) get {"status": "rejected", ...}, never a page."""
import io

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.extensions import db
from tests.fixtures.billing import notification, post

pytestmark = pytest.mark.smoke  # the SQLite pass checks the same answers
URL = "/billing/midtrans/notification"


@pytest.fixture
def app_config():
    # Each refusal on its own: the rate limit is switched on by the test that needs it.
    return {"RATELIMIT_ENABLED": False}


def rejected(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:300]
    answer = response.get_json()
    assert answer["status"] == "rejected" and answer["reason"], answer
    return answer


def audited() -> list[int]:
    """The status of every refused notification in the audit log, oldest first."""
    db.session.expire_all()
    return [entry.details["status"] for entry in db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "payment.notification_rejected").order_by(AuditEntry.id))]


@pytest.mark.parametrize("body", [b"\x00", b"order_id=\x00", b"%00=1", b"order_id=PTL-1-%00"])
def test_nul_in_a_form_body_is_the_webhooks_own_json_refusal(client, body):
    # The fuzzer's case: form data carrying NUL used to meet the HTML 400 of the NUL guard.
    rejected(client.post(URL, data=body, content_type="application/x-www-form-urlencoded"), 400)
    assert audited() == [400]  # a refused notification, as every other one


def test_nul_in_the_query_string_is_refused_in_json(client):
    rejected(client.post(URL + "?order_id=%00", data=b"{}", content_type="application/json"), 400)


def test_nul_elsewhere_still_meets_the_guard_with_a_page(client):
    response = client.post("/login", data={"email": "\x00"})
    assert response.status_code == 400 and response.mimetype == "text/html"


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b"[" * 5000 + b"]" * 5000, b"null", b"[]"])
def test_bad_json_is_refused_in_json(client, raw):
    rejected(post(client, None, raw=raw), 400)
    assert audited() == [400]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_a_wrong_method_is_refused_in_json(client, method):
    response = client.open(URL, method=method)
    rejected(response, 405)
    assert "POST" in response.headers["Allow"] and "GET" not in response.headers["Allow"]
    assert audited() == []  # no notification was offered: nothing for staff to look at


def test_the_rate_limit_refuses_in_json(app, customer, order):
    from portal import create_app

    limited = create_app({**app.config, "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://",
                          "WEBHOOK_RATE_LIMIT": "2 per minute"})
    client = limited.test_client()
    invoice = order()
    body = notification(invoice)
    assert [post(client, body).status_code for _ in range(2)] == [200, 200]
    response = post(client, body)
    rejected(response, 429)
    assert response.headers["Retry-After"]


def test_a_declared_body_too_large_is_refused_in_json(client):
    rejected(post(client, None, raw=b"{" + b" " * 70_000 + b"}"), 413)
    assert audited() == [413]


def test_a_streamed_body_too_large_is_refused_in_json(client):
    # No Content-Length (chunked): the cap applies while the body is read.
    response = client.post(URL, input_stream=io.BytesIO(b"[" + b"0," * 35_000 + b"0]"),
                           content_type="application/json", headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.request.content_length is None
    rejected(response, 413)
    assert audited() == [413]


def test_a_refusal_by_the_service_is_still_json(client, customer):
    rejected(post(client, {"order_id": "PTL-1-deadbeef", "status_code": "200", "gross_amount": "1",
                           "transaction_status": "settlement", "signature_key": "0" * 128}), 401)
    assert audited() == [401]



def test_an_error_on_our_side_under_the_webhooks_address_is_json_too(app):
    from portal import create_app

    production = create_app({**app.config, "TESTING": False, "DEBUG": False, "PROPAGATE_EXCEPTIONS": False})

    @production.get("/billing/midtrans/broken")
    def broken():
        raise RuntimeError("a bug")

    response = production.test_client().get("/billing/midtrans/broken")
    assert response.status_code == 500 and response.get_json() == {"status": "error",
                                                                     "reason": "internal server error"}

"""Snap `POST /snap/v1/transactions` through the real midtransclient: tokens, auth, validation, the redirect page."""
import re

import pytest
import requests
from midtransclient.error_midtrans import MidtransAPIError

from .helpers import SERVER_KEY, new_order_id, snap_body

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_create_returns_token_and_redirect_url_and_records_the_request(midtrans, snap):
    order_id = new_order_id()
    body = snap_body(order_id, 150000, expiry={"unit": "minutes", "duration": 60},
                     callbacks={"finish": "http://portal.test/billing/finished"})
    answer = snap.create_transaction(body)
    assert UUID.fullmatch(answer["token"])
    assert answer["redirect_url"] == f"{midtrans.url}/snap/v4/redirection/{answer['token']}"
    record = midtrans.transactions[order_id]
    assert record["token"] == answer["token"] and record["redirect_url"] == answer["redirect_url"]
    assert record["request"] == body and record["gross_amount"] == "150000.00"
    assert record["expiry"] == {"unit": "minutes", "duration": 60}
    assert record["callbacks"] == {"finish": "http://portal.test/billing/finished"}
    assert record["customer_details"]["email"] == "budi@example.co.id"
    assert record["item_details"] == body["item_details"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", record["created_at"])
    assert record["transaction_status"] is None
    assert midtrans.requests[-1] == ("POST", "/snap/v1/transactions", body)
    assert snap.create_transaction_token(snap_body(new_order_id())) != answer["token"]


def test_wrong_or_missing_server_key_is_401(midtrans, client_with_key):
    with pytest.raises(MidtransAPIError) as caught:
        client_with_key("SB-Mid-server-someone-else").create_transaction(snap_body(new_order_id()))
    assert caught.value.http_status_code == 401
    assert caught.value.api_response_dict["error_messages"][0] == \
        "Access denied due to unauthorized transaction, please check client or server key"
    # A key sent as the password, or no auth at all, is refused the same way.
    for auth in ((SERVER_KEY, SERVER_KEY), ("", SERVER_KEY), None):
        response = requests.post(f"{midtrans.url}/snap/v1/transactions", json=snap_body(new_order_id()), auth=auth,
                                 timeout=5)
        assert response.status_code == 401
    assert midtrans.transactions == {}


def test_reused_order_id_is_400(snap, order):
    with pytest.raises(MidtransAPIError) as caught:
        snap.create_transaction(snap_body(order))
    assert caught.value.http_status_code == 400
    assert caught.value.api_response_dict == {"error_messages": ["transaction_details.order_id sudah digunakan"]}


def test_order_id_scripted_outside_snap_is_taken_too(midtrans, snap):
    midtrans.set_status("INV-old", "settlement", gross_amount=5000)
    with pytest.raises(MidtransAPIError) as caught:
        snap.create_transaction(snap_body("INV-old"))
    assert caught.value.http_status_code == 400


def test_item_sum_must_equal_gross_amount(midtrans, snap):
    body = snap_body(new_order_id(), 100000)
    body["item_details"] = [{"id": "plan", "price": 40000, "quantity": 2, "name": "Plan"},
                            {"id": "fee", "price": 10000, "quantity": 1, "name": "Fee"}]
    with pytest.raises(MidtransAPIError) as caught:
        snap.create_transaction(body)
    assert caught.value.http_status_code == 400
    assert caught.value.api_response_dict["error_messages"] == \
        ["transaction_details.gross_amount is not equal to the sum of item_details"]
    # A discount line (negative price) that makes the sum right is accepted.
    body["item_details"].append({"id": "promo", "price": 10000, "quantity": 1, "name": "Second month"})
    body["item_details"].append({"id": "discount", "price": -10000, "quantity": 1, "name": "Discount"})
    body["transaction_details"]["gross_amount"] = 100000
    body["item_details"][0]["price"] = 45000
    assert snap.create_transaction(body)["token"]
    assert list(midtrans.transactions) == [body["transaction_details"]["order_id"]]


@pytest.mark.parametrize("details, message", [
    ({"gross_amount": 1000}, "transaction_details.order_id is required"),
    ({"order_id": "x" * 51, "gross_amount": 1000}, "transaction_details.order_id is too long"),
    ({"order_id": "INV 1/2", "gross_amount": 1000}, "transaction_details.order_id may only contain"),
    ({"order_id": "INV-9"}, "transaction_details.gross_amount is required"),
    ({"order_id": "INV-9", "gross_amount": 1000.5}, "must be an integer for IDR"),
    ({"order_id": "INV-9", "gross_amount": "1000"}, "must be an integer for IDR"),
    ({"order_id": "INV-9", "gross_amount": 0}, "greater than or equal to 0.01"),
])
def test_transaction_details_are_validated(midtrans, snap, details, message):
    with pytest.raises(MidtransAPIError) as caught:
        snap.create_transaction({"transaction_details": details})
    assert caught.value.http_status_code == 400
    assert any(text.startswith(message) or message in text for text in caught.value.api_response_dict["error_messages"])
    assert midtrans.transactions == {}


@pytest.mark.parametrize("extra, message", [
    ({"item_details": [{"id": "a", "price": 1000, "quantity": 0, "name": "A"}]}, "item_details[0].quantity"),
    ({"item_details": [{"id": "a", "price": 1000, "quantity": 1}]}, "item_details[0].name is required"),
    ({"item_details": [{"id": "a", "price": 1000, "quantity": 1, "name": "n" * 51}]}, "item_details[0].name is too"),
    ({"customer_details": {"email": "budi-at-example"}}, "customer_details.email format is invalid"),
    ({"expiry": {"unit": "weeks", "duration": 1}}, "expiry.unit"),
    ({"expiry": {"start_time": "2030-01-02 10:00:00", "unit": "hour", "duration": 1}}, "expiry.start_time"),
])
def test_other_fields_are_validated(snap, extra, message):
    with pytest.raises(MidtransAPIError) as caught:
        snap.create_transaction({"transaction_details": {"order_id": new_order_id(), "gross_amount": 1000}, **extra})
    assert caught.value.http_status_code == 400
    assert any(text.startswith(message) for text in caught.value.api_response_dict["error_messages"])


def test_fifty_character_order_id_and_whole_float_amount_are_fine(midtrans, snap):
    order_id = "A-b_c.d~" + "9" * 42
    assert snap.create_transaction({"transaction_details": {"order_id": order_id, "gross_amount": 5000.0}})["token"]
    assert midtrans.transactions[order_id]["gross_amount"] == "5000.00"


def test_redirection_page_names_the_emulator_order_and_amount(midtrans, snap):
    order_id = new_order_id()
    url = snap.create_transaction_redirect_url(snap_body(order_id, 1250000, callbacks={"finish": "http://p.test/done"}))
    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Midtrans emulator" in page.text and order_id in page.text and "Rp 1.250.000" in page.text
    midtrans.set_status(order_id, "settlement")
    page = requests.get(url, timeout=5).text
    assert "http://p.test/done?order_id=" in page and "transaction_status=settlement" in page
    assert requests.get(f"{midtrans.url}/snap/v4/redirection/nope", timeout=5).status_code == 404

"""Injected failures: 500/503 with Midtrans-shaped bodies, and hangs the caller must time out on itself.

midtransclient calls `requests` with no timeout, so the timeout tests wrap it: once by giving the client an
http_client whose request() adds a timeout (the portal's own module does the same), once by running the call
in a worker thread and waiting on the future with a timeout; and once with `requests` directly."""
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
import requests
from midtransclient.error_midtrans import MidtransAPIError

from .helpers import SERVER_KEY, new_order_id, snap_body


class _RequestsWithTimeout:
    """Stands in for the `requests` module inside midtransclient's HttpClient, adding a timeout."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def request(self, *args, **kwargs):
        return requests.request(*args, timeout=self.seconds, **kwargs)


def test_fail_next_500_then_recovers(midtrans, snap):
    midtrans.fail_next(1, status=500)
    order_id = new_order_id()
    with pytest.raises(MidtransAPIError) as caught:
        snap.create_transaction(snap_body(order_id))
    assert caught.value.http_status_code == 500
    assert "error_messages" in caught.value.api_response_dict  # Snap's error shape
    assert midtrans.transactions == {}  # a failed call has no effect
    assert snap.create_transaction(snap_body(order_id))["token"]


def test_fail_next_503_on_status_only_with_core_error_body(midtrans, core, order):
    midtrans.set_status(order, "settlement")
    midtrans.fail_next(2, status=503, path_contains="/status", method="GET")
    for _ in range(2):
        with pytest.raises(MidtransAPIError) as caught:
            core.transactions.status(order)
        assert caught.value.http_status_code == 503
        body = caught.value.api_response_dict
        assert body["status_code"] == "503" and body["status_message"] and body["id"]
    assert core.transactions.status(order)["transaction_status"] == "settlement"


def test_fail_next_matches_path_and_method(midtrans, snap, core, order):
    midtrans.set_status(order, "pending")
    midtrans.fail_next(1, status=500, path_contains="/snap/")
    midtrans.fail_next(1, status=500, method="POST", path_contains="/cancel")
    assert core.transactions.status(order)["transaction_status"] == "pending"  # neither rule matches
    with pytest.raises(MidtransAPIError):
        core.transactions.cancel(order)
    assert core.transactions.status(order)["transaction_status"] == "pending"
    with pytest.raises(MidtransAPIError):
        snap.create_transaction(snap_body(new_order_id()))
    assert midtrans.describe()["faults"] == []
    with pytest.raises(ValueError):
        midtrans.fail_next(1, status=418)


def test_timeout_through_midtransclient_with_a_timed_http_client(midtrans, snap, order):
    midtrans.set_status(order, "settlement")
    midtrans.fail_next(1, status="timeout", path_contains="/status")
    snap.http_client.http_client = _RequestsWithTimeout(0.3)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        snap.transactions.status(order)
    assert time.monotonic() - started < 0.9
    assert snap.transactions.status(order)["transaction_status"] == "settlement"  # the fault is used up


def test_timeout_through_midtransclient_in_a_thread_then_504(midtrans, snap):
    midtrans.fail_next(1, status="timeout")  # timeout_sleep is 1 s in these tests
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(snap.create_transaction, snap_body(new_order_id()))
        with pytest.raises(FutureTimeout):
            future.result(timeout=0.3)  # the caller gives up; the hung call is still running
        with pytest.raises(MidtransAPIError) as caught:
            future.result(timeout=5)  # the emulator answers 504 once timeout_sleep has passed
    assert caught.value.http_status_code == 504
    assert midtrans.transactions == {}


def test_timeout_with_requests_directly(midtrans, order):
    midtrans.fail_next(1, status="timeout", path_contains=order)
    with pytest.raises(requests.Timeout):
        requests.get(f"{midtrans.url}/v2/{order}/status", auth=(SERVER_KEY, ""), timeout=0.3)


def test_stop_wakes_a_hung_call_quickly(midtrans, snap):
    midtrans.timeout_sleep = 30
    midtrans.fail_next(1, status="timeout")
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(requests.get, f"{midtrans.url}/v2/x/status", timeout=5)
        # The call has reached the emulator (its request log says so) and hangs there: stop it now.
        deadline = time.monotonic() + 5
        while not any(entry.path == "/v2/x/status" for entry in midtrans.requests) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert any(entry.path == "/v2/x/status" for entry in midtrans.requests), "the call never arrived"
        started = time.monotonic()
        midtrans.stop()
        assert time.monotonic() - started < 2
        assert future.result(timeout=2).status_code == 504

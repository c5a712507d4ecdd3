"""The `/_emulator` HTTP controls, reset(), the request log, and `python -m emulators.midtrans`."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from midtransclient.error_midtrans import MidtransAPIError

from emulators.midtrans import MidtransEmulator

from .helpers import SERVER_KEY, new_order_id, signature_ok, snap_body

REPO = Path(__file__).resolve().parents[3]


def test_requests_log_and_reset(midtrans, snap, core, order):
    midtrans.set_status(order, "settlement")
    core.transactions.status(order)
    assert [(method, path) for method, path, _ in midtrans.requests] == \
        [("POST", "/snap/v1/transactions"), ("GET", f"/v2/{order}/status")]
    assert midtrans.requests[0].body["transaction_details"]["order_id"] == order
    assert midtrans.requests[1].body is None
    midtrans.fail_next(3)
    midtrans.reset()
    assert midtrans.transactions == {} and midtrans.requests == [] and midtrans.describe()["faults"] == []
    assert snap.create_transaction(snap_body(order))["token"]  # the order id is free again


def test_http_controls_script_status_faults_and_notifications(midtrans, core, order, receiver):
    control = f"{midtrans.url}/_emulator"
    summary = requests.get(control, timeout=5).json()
    assert summary["emulator"] == "midtrans" and summary["transactions"] == 1
    answer = requests.post(f"{control}/status", json={"order_id": order, "transaction_status": "settlement",
                                                      "notify_url": receiver.url}, timeout=5).json()
    assert answer["status"]["transaction_status"] == "settlement" and signature_ok(answer["status"])
    assert answer["notification"]["http_status"] == 200
    assert receiver.received[0]["json"]["transaction_status"] == "settlement"
    assert core.transactions.status(order)["status_code"] == "200"

    body = requests.post(f"{control}/notifications", json={"order_id": order, "transactionStatus": "refund"},
                         timeout=5).json()["notification"]
    assert body["transaction_status"] == "refund" and signature_ok(body)
    sent = requests.post(f"{control}/notifications", json={"order_id": order, "url": receiver.url,
                                                           "serverKey": "wrong"}, timeout=5).json()
    assert sent["http_status"] == 200 and not signature_ok(receiver.received[-1]["json"])
    unreachable = requests.post(f"{control}/notifications", json={"order_id": order, "url": "http://127.0.0.1:9/"},
                                timeout=5)
    assert unreachable.status_code == 502

    assert requests.post(f"{control}/faults", json={"fault": "fail_next", "count": 1, "status": "503",
                                                    "pathContains": "/status"}, timeout=5).status_code == 201
    assert requests.get(f"{control}/faults", timeout=5).json()[0]["status"] == 503
    with pytest.raises(MidtransAPIError):
        core.transactions.status(order)
    requests.post(f"{control}/faults", json={"status": 500}, timeout=5)
    assert requests.delete(f"{control}/faults", timeout=5).json() == {"cleared": True}
    assert core.transactions.status(order)["transaction_status"] == "settlement"

    assert requests.get(f"{control}/transactions/{order}", timeout=5).json()["transaction_status"] == "settlement"
    assert requests.get(f"{control}/transactions/nope", timeout=5).status_code == 404
    assert requests.patch(f"{control}/settings", json={"timeoutSleep": 2}, timeout=5).json() == {
        "timeoutSleep": 2.0, "notificationUrl": None}
    log = requests.get(f"{control}/requests", timeout=5).json()
    assert all(not entry["path"].startswith("/_emulator") for entry in log) and log
    assert requests.post(f"{control}/status", json={"order_id": "x"}, timeout=5).status_code == 400
    assert requests.post(f"{control}/status", json={"order_id": "x", "transaction_status": "settlement"},
                         timeout=5).status_code == 400  # unknown order without gross_amount
    assert requests.post(f"{control}/reset", timeout=5).json() == {"reset": True}
    assert midtrans.transactions == {}


def test_context_manager_and_unknown_routes():
    with MidtransEmulator(server_key=SERVER_KEY) as emulator:
        url = emulator.url
        assert requests.get(f"{url}/v1/nothing", timeout=5).status_code == 404
        wrong_method = requests.get(f"{url}/snap/v1/transactions", auth=(SERVER_KEY, ""), timeout=5)
        assert wrong_method.status_code == 405 and "error_messages" in wrong_method.json()
        bad_json = requests.post(f"{url}/snap/v1/transactions", data=b"{nope", auth=(SERVER_KEY, ""), timeout=5)
        assert bad_json.status_code == 400
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_emulator", timeout=1)


def test_module_serves_until_interrupted():
    process = subprocess.Popen([sys.executable, "-m", "emulators.midtrans", "--port", "0",
                                "--server-key", "SB-Mid-server-cli"], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        first = process.stdout.readline()
        assert "Midtrans" in first, process.stderr.read()
        url = first.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        created = requests.post(f"{url}/snap/v1/transactions", auth=("SB-Mid-server-cli", ""), timeout=5,
                                json=snap_body(new_order_id()))
        assert created.status_code == 201 and created.json()["redirect_url"].startswith(url)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

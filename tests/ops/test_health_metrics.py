"""/healthz, /readyz naming what is down, /metrics for the monitoring system only, and a request id that
follows a request into its log lines and into the tasks it enqueues."""
import json
import logging

import pytest

from portal import create_app
from portal.ops.logs import JSON_FIELDS, RequestIdFilter, logging_configure
from portal.request_context import request_id_var
from portal.tasks import task
from tests.fixtures.billing import notification, post

log = logging.getLogger("tests.ops")


@pytest.mark.smoke
def test_healthz_answers_without_the_database():
    down = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/x"})
    response = down.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_is_ready_when_database_redis_and_cluster_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok", "cluster": "ok"}


def test_readyz_names_what_is_down(app, client, kube):
    kube.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["cluster"].startswith("failed") and checks["database"] == "ok"
    down = create_app({"TESTING": True, "KUBE_MODE": "emulated", "KUBE_EMULATOR_URL": "http://127.0.0.1:1",
                       "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/x",
                       "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}}})
    assert down.test_client().get("/readyz").get_json()["checks"]["database"].startswith("failed")


@pytest.mark.smoke
def test_metrics_are_hidden_from_the_public_and_open_to_the_token(app, client):
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=outside).status_code == 404
    assert client.get("/metrics").status_code == 200  # this machine, no token configured
    app.config["METRICS_TOKEN"] = "scrape-me"
    assert client.get("/metrics").status_code == 404  # with a token, loopback alone is not enough
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    scraped = client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200


def _sample(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{key}="{value}"' in line for key, value in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_webhooks_subscriptions_emails_and_the_queue(app, client, order):
    before = client.get("/metrics").get_data(as_text=True)
    client.get("/login")
    client.get("/no-such-page")
    invoice = order("ghost", subdomain="metered")
    assert post(app.test_client(), notification(invoice)).status_code == 200
    post(app.test_client(), {"order_id": "forged"})
    text = client.get("/metrics").get_data(as_text=True)

    def grew(name, **labels):
        return _sample(text, name, **labels) - _sample(before, name, **labels)

    assert grew("portal_http_requests_total", route="/login", method="GET", status="200") == 1
    assert grew("portal_http_requests_total", route="(unmatched)", method="GET", status="404") == 1
    assert grew("portal_http_request_duration_seconds_count", route="/login") == 1
    assert grew("portal_webhook_notifications_total", outcome="accepted") == 1
    assert grew("portal_webhook_notifications_total", outcome="rejected") == 1
    assert _sample(text, "portal_subscriptions", state="provisioning") + _sample(text, "portal_subscriptions",
                                                                                  state="active") == 1
    assert "portal_emails{" in text and "portal_queue_depth " in text
    assert "portal_provisioning_duration_seconds_bucket" in text


def test_provisioning_time_is_observed_when_an_instance_becomes_active(app, client, paid, kube_clock):
    from portal.instances.sweep import instances_sweep

    before = _sample(client.get("/metrics").get_data(as_text=True), "portal_provisioning_duration_seconds_count")
    paid("n8n", subdomain="timed")
    kube_clock.advance(30)
    instances_sweep()
    after = _sample(client.get("/metrics").get_data(as_text=True), "portal_provisioning_duration_seconds_count")
    assert after == before + 1


@task()
def logging_task(label: str) -> None:
    log.warning("task says %s", label)


def test_a_request_id_follows_the_request_into_its_logs_and_the_tasks_it_enqueues(app, client, caplog):
    caplog.set_level(logging.INFO)
    for handler in [caplog.handler]:
        handler.addFilter(RequestIdFilter())

    @app.route("/enqueue-for-test")
    def enqueue():
        log.warning("view says hello")
        logging_task("hello")
        return "ok"

    response = client.get("/enqueue-for-test", headers={"X-Request-ID": "req-12345"})
    assert response.headers["X-Request-ID"] == "req-12345"
    ids = {record.getMessage(): record.request_id for record in caplog.records if record.name == "tests.ops"}
    assert ids == {"view says hello": "req-12345", "task says hello": "req-12345"}
    assert client.get("/healthz", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"] != "<script>"
    assert request_id_var.get() is None  # nothing leaks out of the request


def test_a_task_run_by_a_real_consumer_logs_under_the_enqueuing_request_id(app, consumer, caplog):
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())
    token = request_id_var.set("req-from-web")
    try:
        logging_task("from the consumer")
    finally:
        request_id_var.reset(token)
    import time
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("from the consumer" in r.getMessage() for r in caplog.records):
        time.sleep(0.05)
    record = next(r for r in caplog.records if "from the consumer" in r.getMessage())
    assert record.request_id == "req-from-web"


def test_json_logs_are_one_object_per_line_with_the_request_id(capsys):
    logging_configure("json")
    token = request_id_var.set("abc-1")
    try:
        logging.getLogger("portal.test").warning("payment %s", "refused")
    finally:
        request_id_var.reset(token)
        logging_configure("text")
    line = [text for text in capsys.readouterr().err.splitlines() if "payment refused" in text][-1]
    entry = json.loads(line)
    assert entry["message"] == "payment refused" and entry["request_id"] == "abc-1"
    assert entry["level"] == "WARNING" and entry["logger"] == "portal.test" and "time" in entry
    assert JSON_FIELDS

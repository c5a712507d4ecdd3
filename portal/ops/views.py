"""/healthz (the process is up), /readyz (its database, Redis and cluster answer), /metrics (Prometheus,
for the monitoring system only), and the request id and request metrics on every request."""
import hmac
import ipaddress
import time

from flask import Blueprint, Response, abort, current_app, g, jsonify, request
from sqlalchemy import text

from portal.extensions import db, limiter
from portal.ops import metrics
from portal.ops.logs import request_id_for
from portal.request_context import request_id_var

blueprint = Blueprint("ops", __name__)


@blueprint.before_app_request
def request_start() -> None:
    g.request_started = time.perf_counter()
    g.request_id_token = request_id_var.set(request_id_for(request.headers.get("X-Request-ID")))


@blueprint.after_app_request
def request_finish(response):
    response.headers["X-Request-ID"] = request_id_var.get() or ""
    route = request.url_rule.rule if request.url_rule else "(unmatched)"
    metrics.REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    if request.endpoint == "billing.midtrans_notification":
        metrics.WEBHOOKS.labels(metrics.webhook_outcome(response.status_code)).inc()
    if "request_started" in g:
        metrics.LATENCY.labels(route).observe(time.perf_counter() - g.request_started)
    return response


@blueprint.teardown_app_request
def request_teardown(_error=None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        request_id_var.reset(token)


@blueprint.route("/healthz")
@limiter.exempt
def healthz():
    """Liveness: answers without touching anything else, so a slow database never restarts the pod."""
    return jsonify(status="ok")


def _check(name: str, probe) -> tuple[str, str]:
    try:
        probe()
        return name, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; its class says which
        return name, f"failed: {type(exc).__name__}"


def _redis_ping() -> None:
    from huey.storage import RedisStorage

    from portal.tasks import huey

    if isinstance(huey.storage, RedisStorage):  # the SQLite queue of `make run` needs no server
        huey.storage.conn.ping()


def _cluster_ping() -> None:
    from portal.provisioning.cluster import cluster_for

    cluster_for(current_app.config).version()


@blueprint.route("/readyz")
@limiter.exempt
def readyz():
    """Readiness: the database, Redis and the cluster all answer; otherwise 503 naming which did not."""
    checks = dict(_check(name, probe) for name, probe in (
        ("database", lambda: db.session.execute(text("SELECT 1"))), ("redis", _redis_ping),
        ("cluster", _cluster_ping)))
    db.session.rollback()
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


def _may_scrape() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    # Without a token only this machine may read them (make run, a sidecar).
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@blueprint.route("/metrics")
@limiter.exempt
def metrics_page():
    if not _may_scrape():
        abort(404)
    body, content_type = metrics.metrics_text()
    return Response(body, content_type=content_type)

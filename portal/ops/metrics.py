"""Prometheus metrics: requests by route and status with latency, webhook outcomes and provisioning time as
they happen; subscriptions by state, emails by state and queue depth read at each scrape.

With several gunicorn workers, PROMETHEUS_MULTIPROC_DIR (set before start) makes the counters add up
across them; the consumer serves its own (WORKER_METRICS_PORT)."""
import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY
from sqlalchemy import func, select

from portal.extensions import db
from portal.notifications.models import Email
from portal.subscriptions import metrics as subscription_metrics  # noqa: F401  (registers the setup-time histogram)
from portal.subscriptions.models import Subscription
from portal.tasks import huey

REQUESTS = Counter("portal_http_requests_total", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram("portal_http_request_duration_seconds", "Time to answer an HTTP request", ["route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0))
WEBHOOKS = Counter("portal_webhook_notifications_total", "Midtrans notifications by outcome", ["outcome"])


def webhook_outcome(status: int) -> str:
    if status == 200:
        return "accepted"
    return {429: "rate_limited", 503: "retry_later"}.get(status, "rejected")


class BusinessCollector:
    """Figures read from the database and the queue when Prometheus scrapes (cheap aggregate queries)."""

    def collect(self):
        subscriptions = GaugeMetricFamily("portal_subscriptions", "Subscriptions by state", labels=["state"])
        for state, count in db.session.execute(select(Subscription.state, func.count()).group_by(Subscription.state)):
            subscriptions.add_metric([state], count)
        yield subscriptions
        emails = GaugeMetricFamily("portal_emails", "Outbox emails by state", labels=["state"])
        for state, count in db.session.execute(select(Email.state, func.count()).group_by(Email.state)):
            emails.add_metric([state], count)
        yield emails
        yield GaugeMetricFamily("portal_queue_depth", "Tasks waiting in the queue", value=huey.pending_count())
        yield GaugeMetricFamily("portal_queue_scheduled", "Tasks scheduled for later", value=huey.scheduled_count())


def metrics_text() -> tuple[bytes, str]:
    from prometheus_client import CONTENT_TYPE_LATEST

    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
        live = generate_latest(registry)
    else:
        live = generate_latest(REGISTRY)
    business = CollectorRegistry()
    business.register(BusinessCollector())
    return live + generate_latest(business), CONTENT_TYPE_LATEST

"""Backup tests: the emulated cluster with its Velero, a real SMTP server, and the portal's clock moved by the test."""
import pytest

from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.subscriptions.models import Subscription


@pytest.fixture
def app_config(cluster_config, smtp_server):
    return {**cluster_config, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False}


@pytest.fixture
def running(app, paid, kube_clock):
    """A paid instance, provisioned and active (its pods ready on the cluster clock)."""
    def make(app_slug="wordpress", plan_slug="starter", **options) -> Subscription:
        sid = paid(app_slug, plan_slug, **options)
        kube_clock.advance(30)
        instances_sweep()
        db.session.expire_all()
        subscription = db.session.get(Subscription, sid)
        assert subscription.state == "active"
        return subscription
    return make

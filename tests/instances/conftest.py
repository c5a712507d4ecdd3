"""Instance pages run against the emulated cluster (tests/fixtures/cluster.py), with a live instance to look at."""
import pytest

from portal.accounts.services import user_by_email
from portal.instances.sweep import instances_sweep


@pytest.fixture
def app_config(cluster_config):
    return cluster_config


@pytest.fixture
def live(app, kube_clock, paid, client, login):
    """An active n8n instance of ana@example.com, logged in."""
    sid = paid("n8n", subdomain="ana-flows")
    kube_clock.advance(30)
    instances_sweep()
    login(user_by_email("ana@example.com"))
    return sid

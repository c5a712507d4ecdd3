"""Admin tests run against the emulated cluster (staff actions reach it), signed in as staff."""
import pytest


@pytest.fixture
def provisioning_config():
    """Staff actions do their cluster work inline here (immediate mode) and the tests check the cluster right
    after. A call cut short by a fail-fast timeout on a busy machine would leave only a retry scheduled for
    later, which immediate mode never runs: the cluster calls get all the time a loaded machine needs."""
    return {"KUBE_TIMEOUT_SECONDS": 60, "PROVISION_RETRY_BASE_SECONDS": 0.3, "PROVISION_MAX_ATTEMPTS": 4,
            "WATCH_INTERVAL_SECONDS": 0.3}


@pytest.fixture
def app_config(cluster_config):
    return cluster_config


@pytest.fixture
def staff(make_user):
    return make_user(email="boss@example.com", staff=True)


@pytest.fixture
def staff_client(client, staff, login):
    login(staff)
    return client

"""Provisioning tests run against the emulated cluster (tests/fixtures/cluster.py), on a clock the test moves."""
import pytest


@pytest.fixture
def app_config(cluster_config):
    return cluster_config

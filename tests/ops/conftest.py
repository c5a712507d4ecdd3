"""Operations tests: the image's entrypoint, docker-compose.yml, deploy/ manifests and RBAC derived from the gateway."""
import pytest


@pytest.fixture
def app_config(cluster_config):
    return cluster_config

"""Operations tests: the image's entrypoint, docker-compose.yml, deploy/ manifests and RBAC derived from the gateway."""
from tests.provisioning.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    app_config,
    kube,
    kube_clock,
    kube_options,
    paid,
    provisioning_config,
)

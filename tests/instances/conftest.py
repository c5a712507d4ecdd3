"""Instance pages run against the emulated cluster: the provisioning fixtures, shared."""
from tests.provisioning.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    app_config,
    kube,
    kube_clock,
    kube_options,
    paid,
    provisioning_config,
)

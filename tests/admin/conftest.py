"""Admin tests run against the emulated cluster (staff actions reach it)."""
from tests.provisioning.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    app_config,
    kube,
    kube_clock,
    kube_options,
    paid,
    provisioning_config,
)

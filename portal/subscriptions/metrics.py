"""The subscription life cycle's own figure for Prometheus: how long a setup takes, from payment to running."""
from prometheus_client import Histogram

PROVISIONING = Histogram("portal_provisioning_duration_seconds", "From payment to a running instance",
                         buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1800))

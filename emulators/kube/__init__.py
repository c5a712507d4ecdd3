"""An emulated Kubernetes API server on loopback, for `make run` without a cluster and for tests."""
from .cluster import EmulatedCluster

__all__ = ["EmulatedCluster"]

"""Kubernetes quantities are read by the official client's parser, through the cluster gateway."""
from decimal import Decimal

import pytest

from portal.provisioning.cluster import quantity


@pytest.mark.parametrize(("text", "value"), [
    ("250m", Decimal("0.25")), ("12345n", Decimal("0.000012345")), ("2", Decimal(2)), ("1.5k", Decimal(1500)),
    ("64Mi", Decimal(64 * 2**20)), ("1Ti", Decimal(2**40)), ("1e3", Decimal(1000)), ("0", Decimal(0)),
])
def test_quantity_reads_every_suffix_the_cluster_may_report(text, value):
    assert quantity(text) == value


def test_quantity_refuses_what_is_not_one():
    with pytest.raises(ValueError):
        quantity("lots")

"""Job tests reuse the billing fixtures (a catalog, a customer, an order)."""
from tests.billing.conftest import customer, order  # noqa: F401

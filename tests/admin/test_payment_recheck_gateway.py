"""A staff recheck of a payment when Midtrans' status API is down, against the Midtrans emulator and its faults."""
import pytest
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.billing.models import Invoice
from portal.extensions import db
from tests.helpers import post_form


@pytest.fixture
def app_config(cluster_config, midtrans_config):
    return {**cluster_config, **midtrans_config}


@pytest.mark.parametrize("fault", [500, 503])
def test_recheck_when_midtrans_is_down_changes_nothing(app, staff_client, order, midtrans, fault):
    invoice = order("ghost", subdomain="gateway-down")
    midtrans.fail_next(1, status=fault, path_contains="/status")
    path = f"/admin/payments/{invoice.id}"
    response = post_form(staff_client, path, f"{path}/recheck")
    assert "Midtrans could not be asked" in staff_client.get(response.headers["Location"]).get_data(as_text=True)
    assert db.session.get(Invoice, invoice.id).state == "pending"
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "invoice.rechecked")) is None
    assert [r for r in midtrans.requests if "/status" in r.path]  # Midtrans was asked, and failed

"""What billing stores about a payment is stored once: the Snap page on its attempt, a notification as it came."""
import sqlalchemy as sa

from portal.extensions import db
from tests.fixtures.billing import notification, post


def _columns(table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(db.engine).get_columns(table)}


def test_the_snap_page_lives_on_the_attempt_and_a_notification_keeps_no_constant_columns(app):
    assert {"snap_token", "snap_redirect_url"} <= _columns("payment_attempts")
    assert not {"snap_token", "snap_redirect_url"} & _columns("invoices")
    # Only trusted notifications are stored, so a "signature valid" flag and a fixed outcome said nothing.
    assert not {"signature_valid", "outcome"} & _columns("payment_notifications")


def test_the_staff_payment_page_shows_each_notification_and_the_current_attempt(client, make_user, login, order):
    invoice = order()
    assert post(client, notification(invoice)).status_code == 200
    login(make_user(email="staff@example.com", staff=True))
    page = client.get(f"/admin/payments/{invoice.id}").get_data(as_text=True)
    assert page.count('data-testid="notification"') == 1 and invoice.order_id in page
    assert "signature valid" not in page

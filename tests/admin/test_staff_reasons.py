"""A staff member's reason reaches the customer's emails and timeline: one line of text, any script."""
import pytest
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.subscriptions.models import Subscription
from tests.helpers import act


@pytest.fixture
def active(paid, kube_clock):
    sid = paid("n8n", subdomain="reason-case")
    kube_clock.advance(30)
    instances_sweep()
    return sid


@pytest.mark.parametrize("action, fields", [("suspend", {}), ("extend", {"days": "7"})])
@pytest.mark.parametrize("reason", ["Abuse\r\nBcc: victim@example.com", "Abuse\nreport", "Abuse\u202e"])
def test_a_reason_with_line_breaks_or_control_characters_is_refused(app, active, staff_client, action, fields,
                                                                     reason):
    before = db.session.get(Subscription, active).current_period_end
    answer = act(staff_client, active, action, reason=reason, **fields)
    assert answer.status_code == 303
    page = staff_client.get(f"/admin/subscriptions/{active}").get_data(as_text=True)
    assert "one line of text" in page
    subscription = db.session.get(Subscription, active)
    assert (subscription.state, subscription.current_period_end) == ("active", before)
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action.like("subscription.%"))) is None


def test_a_reason_in_any_script_with_punctuation_is_accepted(app, active, staff_client):
    act(staff_client, active, "suspend", reason="Laporan penyalahgunaan #12 — «spam», 迷惑メール (ticket: A-7)")
    subscription = db.session.get(Subscription, active)
    assert subscription.state == "suspended"

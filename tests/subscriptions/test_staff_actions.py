"""What the admin subscription page offers staff in each state, decided beside the customer's `allowed_actions`."""
from types import SimpleNamespace

import pytest

from portal.subscriptions.states import STATES, staff_actions

EXPECTED = {
    "pending_payment": {"cancel_order"},
    "provisioning": {"suspend", "extend", "terminate"},
    "provisioning_failed": {"suspend", "retry", "extend", "terminate"},
    "active": {"suspend", "restart", "extend", "terminate"},
    "suspended": {"resume", "extend", "terminate"},
    "terminated": set(),
    "cancelled": set(),
}


@pytest.mark.parametrize("state", STATES)
def test_staff_actions_in_each_state(state):
    assert staff_actions(SimpleNamespace(state=state)) == EXPECTED[state]

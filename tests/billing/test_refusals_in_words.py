"""Each domain refuses with its own exception; no view shows the text of whatever ValueError came up from below."""
import ast
from pathlib import Path

import pytest

from portal.billing import services
from portal.extensions import db
from portal.notifications import services as outbox
from portal.notifications.models import Email
from portal.subscriptions.services import SubdomainUnavailable
from portal.unit_of_work import atomic
from tests.fixtures.billing import plan_of

PORTAL = Path(__file__).resolve().parents[2] / "portal"


def test_no_view_shows_a_caught_value_error_to_anyone():
    offenders = []
    for path in sorted(PORTAL.glob("*/views.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ExceptHandler) or node.type is None or node.name is None:
                continue
            caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            if any(isinstance(name, ast.Name) and name.id == "ValueError" for name in caught):
                offenders.append(f"{path.relative_to(PORTAL.parent)}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize("subdomain", ["www", "Bad_Name"])
def test_checkout_refuses_an_unusable_address_with_the_subscriptions_exception(app, customer, subdomain):
    with pytest.raises(SubdomainUnavailable) as refused:
        services.checkout_start(user_id=customer.id, plan_id=plan_of("ghost").id, subdomain=subdomain, settings={})
    assert str(refused.value)  # in the customer's words: the checkout page shows it


def test_resending_an_email_that_did_not_fail_is_the_outbox_own_refusal(app):
    with atomic():
        email = outbox.email_queue(template="welcome", recipient="a@example.com", key="w-not-failed",
                                   context={"name": "A", "link": "http://portal.test/"})
    assert db.session.get(Email, email.id).state != "failed"
    with pytest.raises(outbox.EmailNotResendable):
        outbox.email_resend(email_id=email.id, actor_id=None)

"""Every email renders: a preview of each with the context its sender gives, missing values caught."""
import html
import re

import jinja2
import pytest

from portal.notifications.models import Email
from portal.notifications.services import TEMPLATES, email_render

pytestmark = pytest.mark.smoke
SUBSCRIPTION = {"name": "Ana Putri", "app_name": "Ghost", "plan_name": "Starter", "address": "kopi.localtest.me",
                "link": "http://portal.test/instances/1"}
PREVIEWS = {
    "welcome": {"name": "Ana", "link": "http://portal.test/"},
    "verify_email": {"name": "Ana", "link": "http://portal.test/verify/t", "hours": 48},
    "password_reset": {"name": "Ana", "link": "http://portal.test/reset/t", "minutes": 60},
    "email_changed": {"name": "Ana", "new_email": "new@example.com"},
    "signup_existing": {"name": "Ana", "login": "http://portal.test/login", "reset": "http://portal.test/forgot"},
    "email_change_attempt": {"name": "Ana", "login": "http://portal.test/login", "reset": "http://portal.test/forgot"},
    "staff_alert": {"title": "Node worker-2 is NotReady", "message": "The cluster reports it."},
    "instance_ready": {"name": "Ana", "app_name": "Ghost", "url": "https://kopi.localtest.me",
                       "dashboard": "http://portal.test/"},
    "payment_receipt": {"name": "Ana", "number": "INV-2026-000001", "item": "Ghost Starter 30 days",
                        "amount_idr": 79000, "paid_at": "2026-11-25T10:00:00+00:00", "payment_type": "bank transfer",
                        "link": "http://portal.test/billing/invoices/1/receipt"},
    "order_received": {**SUBSCRIPTION, "amount_idr": 79000},
    "renewal_invoice": {**SUBSCRIPTION, "period_end": "2026-12-25T03:00:00+00:00", "period_days": 30,
                        "amount_idr": 79000},
    "expiry_reminder": {**SUBSCRIPTION, "days": 3, "period_end": "2026-12-25T03:00:00+00:00"},
    "grace_started": {**SUBSCRIPTION, "period_end": "2026-12-25T03:00:00+00:00",
                      "grace_end": "2026-12-28T03:00:00+00:00"},
    "suspended": {**SUBSCRIPTION, "reason": "the paid period ended without a renewal.",
                  "delete_on": "2027-01-11T03:00:00+00:00", "renewable": True},
    "termination_warning": {**SUBSCRIPTION, "stopped_on": "2026-12-28T03:00:00+00:00",
                            "delete_on": "2027-01-11T03:00:00+00:00", "renewable": True},
    "terminated": SUBSCRIPTION,
    "provisioning_failed": SUBSCRIPTION,
    "instance_down": {**SUBSCRIPTION, "problem": "The app keeps crashing and restarting."},
    "revenue_summary": {"month": "October 2026", "paid_idr": 1250000, "count": 12, "refunded_idr": 79000},
    "payment_refunded": {**SUBSCRIPTION, "number": "INV-2026-000001", "amount_idr": 20000, "refunded_idr": 20000,
                         "paid_idr": 79000, "stopped": False},
    "payment_chargeback": {**SUBSCRIPTION, "number": "INV-2026-000001", "amount_idr": 79000, "refunded_idr": 79000,
                           "paid_idr": 79000, "stopped": True},
    "payment_declined": {**SUBSCRIPTION, "number": "INV-2026-000001", "amount_idr": 79000,
                         "link": "http://portal.test/billing/invoices/1"},
    "payment_refund_due": {**SUBSCRIPTION, "number": "INV-2026-000001", "amount_idr": 79000,
                           "reason": "its address was taken by another order",
                           "link": "http://portal.test/billing/invoices/1"},
    "restore_finished": {**SUBSCRIPTION, "backup_time": "30 Nov 2026, 02:05 WIB"},
    "restore_failed": {**SUBSCRIPTION, "backup_time": "30 Nov 2026, 02:05 WIB",
                       "reason": "Velero stopped half-way: error restoring persistentvolumeclaims."},
    "domain_verified": {**SUBSCRIPTION, "domain": "töko-ana.id", "domain_url": "https://xn--tko-ana-90a.id",
                        "domains_link": "http://portal.test/instances/1/domains"},
    "domain_certificate_issued": {**SUBSCRIPTION, "domain": "töko-ana.id", "domain_url": "https://xn--tko-ana-90a.id",
                                  "domains_link": "http://portal.test/instances/1/domains",
                                  "not_after": "2027-02-28T03:00:00+00:00"},
    "domain_certificate_failing": {**SUBSCRIPTION, "domain": "töko-ana.id", "domain_url": "https://xn--tko-ana-90a.id",
                                   "domains_link": "http://portal.test/instances/1/domains",
                                   "reason": "acme: authorization error: 403 urn:ietf:params:acme:error:unauthorized"},
}


def test_every_template_has_a_preview():
    assert set(PREVIEWS) == set(TEMPLATES)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_preview_renders_html_and_text_with_every_value(app, template):
    app.jinja_env.undefined = jinja2.StrictUndefined  # a value the template needs but was not given fails here
    try:
        email = Email(template=template, recipient="ana@example.com", context=PREVIEWS[template])
        email_render(email)
    finally:
        app.jinja_env.undefined = jinja2.Undefined
    assert email.subject and "{{" not in email.subject
    assert "<html" in email.body_html and "Portal" in email.body_html
    assert email.body_text.strip() and "<" not in email.body_text.replace("<>", "")
    link = PREVIEWS[template].get("link")
    if link:
        assert link in email.body_text and f'href="{link}"' in email.body_html


# Emails staff read are English by design; every other is read in its recipient's language.
STAFF_TEMPLATES = {"staff_alert", "revenue_summary"}
ENGLISH = re.compile(r"\b(the|your|you|is|are|and|with|this|will|not|has|have|was|been|of)\b")
TAGS = re.compile(r"<(style|script)\b.*?</\1>|<[^>]+>", re.S)


def _values(context) -> list[str]:
    """The texts a preview's context gives (names, the cluster's words): not the template's own."""
    return [str(value) for value in context.values() if isinstance(value, str)]


@pytest.mark.parametrize("template", sorted(set(TEMPLATES) - STAFF_TEMPLATES))
def test_every_customer_email_reads_in_indonesian(app, template):
    app.config["DEFAULT_LOCALE"] = "id"  # a recipient without a choice of their own reads the portal's default
    email = Email(template=template, recipient="ana@example.com", context=PREVIEWS[template])
    email_render(email)
    english = []
    for part in (email.subject, email.body_text, html.unescape(TAGS.sub("\n", email.body_html))):
        for value in _values(PREVIEWS[template]):
            part = part.replace(value, " ")
        english += [line.strip() for line in part.splitlines() if ENGLISH.search(line)]
    assert english == []

"""The staff subscription page: actions grouped under headings, every field labelled, flashes in words,
a header that follows the state; the user page's flashes in words too."""
import re
from html.parser import HTMLParser

from portal.extensions import db
from portal.subscriptions.models import Subscription
from tests.helpers import act


class FormFields(HTMLParser):
    """The visible inputs of the page (id, name) and the ids that a <label for> names; the h2 headings."""

    def __init__(self):
        super().__init__()
        self.inputs, self.labelled, self.headings, self._in_h2 = [], set(), [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("input", "select", "textarea") and attrs.get("type") != "hidden":
            self.inputs.append((attrs.get("id"), attrs.get("name")))
        elif tag == "label" and attrs.get("for"):
            self.labelled.add(attrs["for"])
        elif tag == "h2":
            self._in_h2 = True

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2 and data.strip():
            self.headings.append(data.strip())


def page_of(client, sid: int) -> str:
    return client.get(f"/admin/subscriptions/{sid}").get_data(as_text=True)


def facts(page: str) -> str:
    return re.search(r'data-testid="subscription-facts">(.*?)</dl>', page, re.S).group(1)


def test_actions_sit_under_headings_and_every_field_has_a_label(paid, staff_client):
    sid = paid("n8n", subdomain="labelled")
    parsed = FormFields()
    parsed.feed(page_of(staff_client, sid))
    assert {"Lifecycle", "Billing and period", "Danger zone"} <= set(parsed.headings)
    assert {name for _, name in parsed.inputs} == {"reason", "days", "confirm"}
    unlabelled = [(id_, name) for id_, name in parsed.inputs if id_ is None or id_ not in parsed.labelled]
    assert unlabelled == []


def test_flashes_say_what_happened_and_the_header_drops_the_reason_after_resume(paid, staff_client):
    sid = paid("n8n", subdomain="flashy")
    act(staff_client, sid, "suspend", reason="Abuse report <b>#12</b>")
    page = page_of(staff_client, sid)
    assert "Subscription suspended: Abuse report &lt;b&gt;#12&lt;/b&gt;" in page
    assert "by staff: Abuse report &lt;b&gt;#12&lt;/b&gt;" in facts(page)
    assert "<b>#12</b>" not in page
    act(staff_client, sid, "resume")
    page = page_of(staff_client, sid)
    assert "Subscription resumed" in page
    assert db.session.get(Subscription, sid).state == "provisioning"
    assert "Abuse report" not in facts(page) and "Suspended" not in facts(page)
    act(staff_client, sid, "extend", days="7", reason="Goodwill after the outage")
    assert "Extended by 7 days: Goodwill after the outage" in page_of(staff_client, sid)
    act(staff_client, sid, "extend", days="0", reason="x")
    assert "Extend by 1 to 366 days." in page_of(staff_client, sid)
    act(staff_client, sid, "terminate", confirm="flashy")
    page = page_of(staff_client, sid)
    assert "Subscription terminated" in page
    assert "No staff action applies to a terminated subscription." in page
    assert 'data-testid="action-' not in page


def test_user_actions_flash_what_happened(make_user, staff_client):
    from tests.helpers import post_form

    customer = make_user(email="siti@kopi.id", name="Siti", verified=False)
    page = f"/admin/users/{customer.id}"
    post_form(staff_client, page, f"{page}/disable")
    assert "Account disabled: siti@kopi.id is logged out everywhere" in staff_client.get(page).get_data(as_text=True)
    post_form(staff_client, page, f"{page}/enable")
    assert "Account enabled: siti@kopi.id can log in again." in staff_client.get(page).get_data(as_text=True)
    post_form(staff_client, page, f"{page}/resend-verification")
    assert "A new confirmation link for siti@kopi.id is in the outbox (no mail server" in \
        staff_client.get(page).get_data(as_text=True)

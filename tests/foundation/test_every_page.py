"""Every GET page and fragment renders with full data, on both databases, walked from the app's URL map.

A customer with an instance in every state (active with usage samples and events, a paid renewal, suspended by
staff, terminated, provisioning failed, a cancelled order and one awaiting payment), emails in the outbox,
audit entries, nodes, job runs and a failed task. Each customer page is read as the owner and each admin page
as staff, as a full page and as an htmx request; a new GET route fails here until it is given data to show.
"""
import html
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.accounts import tokens
from portal.admin import services as staff_services
from portal.billing import services as billing
from portal.billing.models import Invoice, invoice_number
from portal.domains.models import CustomDomain
from portal.extensions import db
from portal.instances.models import ResourceSample
from portal.instances.sweep import instances_sweep
from portal.jobs.services import job_run, task_failure_record
from portal.notifications.models import Email
from portal.provisioning.models import Node
from portal.provisioning.services import nodes_sync
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import InstanceEvent, Subscription
from portal.subscriptions.states import VISIBLE
from portal.timestamps import utcnow
from tests.admin.test_admin import _fill
from tests.fixtures.billing import notification, plan_of, post
from tests.helpers import logged_in_client

pytestmark = pytest.mark.smoke

HX = {"HX-Request": "true"}
# GET routes this walk does not render, each with its reason; every other GET route must be in _pages.
EXCLUDED = {
    "static": "files, not pages",
}


def _pay(app, invoice) -> None:
    billing.payment_attempt_start(invoice_id=invoice.id)
    db.session.refresh(invoice)
    assert post(app.test_client(), notification(invoice)).status_code == 200


def _refund(app, invoice, status: str, amount: int | None = None) -> None:
    db.session.refresh(invoice)
    body = notification(invoice, status)
    if amount is not None:
        body.update(refund_amount=f"{amount}.00", refunds=[{"refund_chargeback_id": 1, "refund_amount": f"{amount}.00",
                                                            "refund_key": "refund-<1>", "reason": "<goodwill>"}])
    assert post(app.test_client(), body).status_code == 200


@pytest.fixture
def app_config(cluster_config):
    return {**cluster_config, "MAX_UNPAID_ORDERS": 10}  # the world holds an order in every state at once


@pytest.fixture
def world(app, customer, order, make_user, kube_clock):
    """The owner's instances in every state, and the staff's view of them."""
    boss = make_user(email="boss@example.com", name="Budi Staff", staff=True)
    invoices = {}
    for name, slug in (("active", "n8n"), ("suspended", "ghost"), ("terminated", "wordpress"), ("refunded", "ghost")):
        invoices[name] = order(slug, subdomain=f"ana-{name}")
        _pay(app, invoices[name])
    kube_clock.advance(30)
    instances_sweep()  # all three become active; the first usage sample is taken
    invoices["failed"] = order("n8n", subdomain="ana-failed")
    _pay(app, invoices["failed"])
    invoices["pending"] = order("ghost", subdomain="ana-pending")
    # A notification Midtrans' status API cannot confirm yet: it waits in the payment inbox, which staff see.
    assert post(app.test_client(), notification(invoices["pending"], record=False)).status_code == 200
    invoices["cancelled"] = order("wordpress", subdomain="ana-cancelled")
    invoices["review"] = order("ghost", subdomain="ana-review")  # a card payment held by the fraud check
    assert post(app.test_client(), notification(invoices["review"], "capture", fraud_status="challenge",
                                                payment_type="credit_card")).status_code == 200
    late = order("n8n", subdomain="ana-late")  # paid after it was cancelled and its address was taken
    billing.order_cancel(subscription_id=late.subscription_id, reason="Test.")
    order("n8n", subdomain="ana-late", user=boss)
    assert post(app.test_client(), notification(late)).status_code == 200
    sid = {name: invoice.subscription_id for name, invoice in invoices.items()}
    invoices["refund_due"] = late  # its order lives on in billing only
    assert db.session.get(Subscription, sid["active"]).state == "active"

    now = utcnow()
    db.session.add_all(ResourceSample(subscription_id=sid["active"], taken_at=now - timedelta(minutes=minutes),
                                      cpu_millicores=100 + minutes, memory_mb=200 + minutes)
                       for minutes in (5, 10, 15, 20))
    db.session.add(InstanceEvent(subscription_id=sid["active"], kind="restarted", level="warning",
                                 message="The app restarted <after a crash>."))
    # Custom domains on the active instance: one live with its certificate (an IDN), one waiting for its DNS.
    db.session.add_all([
        CustomDomain(subscription_id=sid["active"], name="xn--tko-ana-90a.id", token="t-1", is_primary=True,
                     dns_state="verified", verified_at=now, certificate_state="issued",
                     certificate_not_after=now + timedelta(days=90)),
        CustomDomain(subscription_id=sid["active"], name="www.toko-ana.id", token="t-2", dns_state="pending",
                     certificate_state="none", dns_problem="No TXT record <yet>.")])
    db.session.commit()
    renewal = billing.invoice_issue_renewal(subscription_id=sid["active"])
    _pay(app, renewal)
    _refund(app, renewal, "partial_refund", amount=10000)  # part of the renewal back: still active
    _refund(app, invoices["refunded"], "refund")  # all of it back: suspended until staff decide
    staff_services.staff_suspend(subscription_id=sid["suspended"], reason="Abuse report #12", actor_id=boss.id)
    subscriptions.subscription_terminate(subscription_id=sid["terminated"], note="Test termination.")
    subscriptions.subscription_provisioning_failed(subscription_id=sid["failed"], reason="image pull back-off")
    subscriptions.subscription_cancel(subscription_id=sid["cancelled"])
    nodes_sync()
    job_run("renewals_issue", lambda: {"renewal_invoices": 1})
    task_failure_record(task="provision_instance", task_id="t-1", arguments=f"({sid['failed']},)",
                        error="ClusterError: boom", retries_left=0)
    db.session.add(Email(idempotency_key="failed-1", recipient=customer.email, template="payment_receipt",
                         state="failed", last_error="SMTP refused"))
    db.session.add(Email(idempotency_key="verify-1", recipient=customer.email, user_id=customer.id,
                         template="verify_email", context={"name": customer.name, "recipient": customer.email,
                                                          "link": "http://portal.test/verify/t", "hours": 48}))
    db.session.commit()
    db.session.expire_all()

    states = {name: db.session.get(Subscription, s).state for name, s in sid.items()}
    assert states == {"active": "active", "suspended": "suspended", "terminated": "terminated",
                      "refunded": "suspended", "failed": "provisioning_failed", "pending": "pending_payment",
                      "cancelled": "cancelled", "review": "pending_payment"}
    assert db.session.get(Subscription, sid["refunded"]).suspension_reason == "refunded"
    assert {name: db.session.get(Invoice, invoices[name].id).state for name in ("review", "refund_due")} == {
        "review": "review", "refund_due": "refund_due"}
    renewal = db.session.get(Invoice, renewal.id)
    assert renewal.state == "paid" and renewal.kind == "renewal" and renewal.refunded_idr == 10000
    assert db.session.get(Invoice, invoices["refunded"].id).state == "refunded"
    return {"sid": sid, "invoices": {**{k: db.session.get(Invoice, v.id) for k, v in invoices.items()},
                                     "renewal": renewal},
            "owner": customer, "staff": boss,
            "owner_client": logged_in_client(app, customer), "staff_client": logged_in_client(app, boss)}


def _number(invoice: Invoice) -> str:
    return invoice_number(invoice.id, invoice.created_at)


@dataclass
class Case:
    """One rendering of a route: its URL values, what the page shows, and what its htmx block shows
    (the same unless given: many routes answer htmx with their whole page)."""
    values: dict
    page: list[str]
    fragment: list[str] | None = None


# Pages for someone not logged in (a logged-in customer is sent on to the dashboard).
GUEST_PAGES = {"accounts.login", "accounts.signup", "accounts.forgot_password", "accounts.reset_password"}


def _pages(world) -> dict[str, list[Case]]:
    """For each GET endpoint: the renderings to make, and the text each must show."""
    sid, invoices, owner = world["sid"], world["invoices"], world["owner"]
    active, subdomains = sid["active"], [f"ana-{name}" for name in sid]
    # The customer sees the instances it still has; terminated ones and cancelled orders live on in billing.
    visible = [name for name in sid if db.session.get(Subscription, sid[name]).state in VISIBLE]
    assert len(visible) == 6
    paid = ["active", "suspended", "terminated", "refunded", "failed", "renewal"]
    emails = list(db.session.scalars(select(Email).order_by(Email.id)))
    assert len(emails) >= 5 and {e.state for e in emails} >= {"queued", "failed"}  # no mail server: kept
    node = db.session.scalar(select(Node.name).order_by(Node.name).limit(1))
    plan = plan_of("n8n")
    verify = tokens.token_make(tokens.VERIFY_SALT, {"uid": owner.id, "email": owner.email})
    reset = tokens.token_make(tokens.RESET_SALT, {"uid": owner.id, "pw": tokens.fingerprint(owner.password_hash)})
    numbers = [_number(invoice) for invoice in invoices.values()]

    def instance_pages(names, fragment=None):
        return [Case({"subscription_id": sid[name]}, [f"ana-{name}"], fragment) for name in names]

    return {
        # the customer's side
        # the active one is read by its own live primary domain (töko-ana.id), the others by their address
        "home.index": [Case({}, [f"ana-{name}" for name in visible if name != "active"]
                            + ["töko-ana.id", "Payment under review"])],
        "catalog.index": [Case({}, ["n8n", "Ghost", "WordPress"])],
        "catalog.service": [Case({"slug": slug}, [name]) for slug, name in
                            (("n8n", "n8n"), ("ghost", "Ghost"), ("wordpress", "WordPress"))],
        "billing.checkout": [Case({"plan_id": plan.id}, [plan.name, plan.service.name], ['id="checkout-area"'])],
        "billing.index": [Case({}, numbers)],
        "billing.invoice": [Case({"invoice_id": invoice.id}, [_number(invoice)], [f'data-state="{invoice.state}"'])
                            for name, invoice in invoices.items() if name not in ("renewal", "refunded")]
        + [Case({"invoice_id": invoices[name].id}, [_number(invoices[name]), words], [words])
           for name, words in (("renewal", "Rp10,000 of it was refunded"), ("refunded", "Rp79,000 went back"))],
        "billing.receipt": [Case({"invoice_id": invoices[name].id}, [_number(invoices[name])]) for name in paid],
        # paying opens the simulator (no Midtrans keys in tests)
        "billing.pay": [Case({"invoice_id": invoices["pending"].id}, [invoices["pending"].order_id])],
        "billing.simulator": [Case({"order_id": invoices["pending"].order_id}, [invoices["pending"].order_id])],
        # the active one with its usage charts and its (escaped) timeline; its htmx block is the status panel
        "instances.show": [Case({"subscription_id": active}, ["ana-active", "CPU · now", "Memory · now",
                                                             "The app restarted &lt;after a crash&gt;."],
                                ["https://töko-ana.id"]),
                           *instance_pages([name for name in visible if name not in ("active", "refunded")]),
                           Case({"subscription_id": sid["refunded"]}, ["ana-refunded", "refunded in full"])],
        "instances.settings": instance_pages(visible, ['id="settings-form"']),
        "domains.index": [Case({"subscription_id": active}, ["töko-ana.id", "www.toko-ana.id",
                                                            "_portal-verify.www.toko-ana.id",
                                                            "No TXT record &lt;yet&gt;."],
                               ['id="domains"', "www.toko-ana.id"])],
        "instances.logs": [Case({"subscription_id": active}, ["ana-active", "log-lines"], ['id="log-viewer"'])],
        "instances.logs_follow": [Case({"subscription_id": active}, [])],  # only lines after a mark: may be none
        "instances.logs_download": [Case({"subscription_id": active}, [])],
        # the active one offers "Back up now"; the others say why not (its htmx block: the list)
        "backups.index": [Case({"subscription_id": active}, ["ana-active", "Back up now", 'data-testid="no-backups"'],
                               ['data-testid="backups"']),
                          *instance_pages([name for name in visible if name != "active"], ['data-testid="backups"'])],
        "accounts.profile": [Case({}, [owner.email, owner.name])],
        # no mail server here: the emails the portal kept for this account, and its newest confirmation
        "mail.kept_email": [Case({"email_id": email.id}, [email.recipient]) for email in emails
                            if email.user_id == owner.id],
        "mail.latest_confirmation": [Case({}, [owner.email])],
        # confirms, then the dashboard says so (its htmx block: the instance cards)
        "accounts.verify_email": [Case({"token": verify}, [owner.email], ["töko-ana.id"])],
        "accounts.login": [Case({}, ["Log in", 'name="password"'])],
        "accounts.signup": [Case({}, ['name="email"', 'name="password"'])],
        "accounts.forgot_password": [Case({}, ['name="email"'])],
        "accounts.reset_password": [Case({"token": reset}, ['name="password"'])],
        "ops.healthz": [Case({}, [])],
        "ops.readyz": [Case({}, [])],
        "ops.metrics_page": [Case({}, [])],
        # staff
        "admin.overview": [Case({}, ["Revenue, last 12 months", ">1 waiting</a>"])],
        "admin.users": [Case({}, [owner.email, world["staff"].email])],
        "admin.user": [Case({"user_id": owner.id}, [owner.email, *subdomains])],
        "admin.subscriptions": [Case({}, subdomains)],
        "admin.subscription": [Case({"subscription_id": sid[name]}, [f"ana-{name}"]) for name in sid
                               if name != "refunded"]
        + [Case({"subscription_id": sid["refunded"]}, ["ana-refunded", "the payment was refunded in full",
                                                        'data-testid="staff-decides"'])],
        "admin.payments": [Case({}, [*numbers, 'data-testid="inbox-list"', invoices["pending"].order_id], numbers)],
        "admin.payments_csv": [Case({}, numbers)],
        "admin.payment": [Case({"invoice_id": invoice.id}, [_number(invoice)]) for name, invoice in invoices.items()
                          if name not in ("renewal", "refunded")]
        + [Case({"invoice_id": invoices["renewal"].id}, [_number(invoices["renewal"]), "partial refund",
                                                         "Rp10,000", "refund-&lt;1&gt;", "&lt;goodwill&gt;"]),
           Case({"invoice_id": invoices["refunded"].id}, [_number(invoices["refunded"]), 'data-testid="refund"',
                                                          "full", "Rp79,000"])],
        "admin.catalog_page": [Case({}, ["n8n", "Ghost", "WordPress"])],
        "admin.plan_preview": [Case({"plan_id": plan.id}, ["Deployment"])],
        "admin.domains": [Case({}, ["www.toko-ana.id", "xn--tko-ana-90a.id", "ana-active"])],
        "admin.cluster_health": [Case({}, [node])],
        "admin.node": [Case({"name": node}, [node])],
        "admin.outbox": [Case({}, [owner.email])],
        "admin.outbox_email": [Case({"email_id": email.id}, [email.recipient]) for email in emails],
        "admin.jobs": [Case({}, ["renewals_issue", "provision_instance"])],
        "admin.backups": [Case({}, ['data-testid="backup-health"', "ana-active"])],
        "admin.audit": [Case({}, ["subscription.suspended", "Abuse report #12"])],
        "admin.reports_page": [Case({}, ["Revenue"])],
        "admin.reports_csv": [Case({}, [])],
    }


def _read(client, url: str, headers: dict):
    """GET `url`, following redirects by path (the simulator's link is absolute, to the portal's public address)."""
    for _ in range(5):
        response = client.get(url, headers=headers)
        if response.status_code not in (301, 302, 303, 307, 308):
            return url, response
        location = urlsplit(response.headers["Location"])
        url = location.path + (f"?{location.query}" if location.query else "")
    raise AssertionError(f"redirect loop at {url}")


def _get_routes(app) -> dict[str, str]:
    return {rule.endpoint: rule.rule for rule in app.url_map.iter_rules() if "GET" in rule.methods}


# One test per side, so a failure names the side; each walks every route and every rendering it was given.
@pytest.mark.parametrize("side", ["customer", "staff"])
def test_every_page_renders_with_full_data(app, world, side):
    routes, pages = _get_routes(app), _pages(world)
    assert set(routes) - set(EXCLUDED) - set(pages) == set(), "a new GET route: give it data to show in _pages"
    assert set(pages) <= set(routes), "a walked page no longer exists"
    failures, rendered = [], 0
    for endpoint, cases in pages.items():
        if endpoint.startswith("admin.") != (side == "staff"):
            continue
        for case in cases:
            url = _fill(routes[endpoint], {name: str(value) for name, value in case.values.items()})
            for headers in ({}, HX):
                # a fresh guest per request: signing up or resetting must not leave a session behind
                client = (app.test_client() if endpoint in GUEST_PAGES else
                          world["staff_client"] if side == "staff" else world["owner_client"])
                final, response = _read(client, url, headers)
                body = response.get_data(as_text=True)
                expected = case.fragment if headers and case.fragment is not None else case.page
                missing = [text for text in expected if text not in body]
                # 286: an htmx poll told to stop (the region is settled) carries its block like a 200.
                if response.status_code not in ((200, 286) if headers else (200,)) or missing or \
                        final.startswith("/login") and endpoint not in GUEST_PAGES:
                    failures.append((endpoint, url, bool(headers), response.status_code, final, missing,
                                     body[:300] if response.status_code >= 500 else ""))
                rendered += 1
    assert failures == [], "\n".join(map(repr, failures))
    assert rendered >= (60 if side == "customer" else 40)


# Read in Indonesian: every page and fragment carries no English sentence, its visible text checked for common
# English words; what is not the portal's own words is set aside, each with its reason.
ID = {"Accept-Language": "id"}
# Pages that show others' words, in full.
NOT_OURS = {
    "mail.kept_email": "an email kept for its recipient, in the recipient's language (this one's is English)",
    "mail.latest_confirmation": "the same, the newest confirmation email",
    "admin.outbox_email": "an email as its recipient got it (staff alerts are English by design)",
    "instances.logs": "the app's own log lines", "instances.logs_follow": "the app's own log lines",
    "admin.node": "the kubelet's own condition messages",
    "ops.healthz": "not a page", "ops.readyz": "not a page", "ops.metrics_page": "not a page",
}
ENGLISH = re.compile(r"\b(the|your|you|is|are|and|with|this|will|not|has|have|was|been|of)\b")
HIDDEN = re.compile(r"<(script|style)\b.*?</\1>|<select[^>]*name=\"timezone\".*?</select>|<[^>]+>", re.S)


def _english_lines(body: str, others: set[str]) -> list[str]:
    lines = (" ".join(line.split()) for line in html.unescape(HIDDEN.sub("\n", body)).splitlines())
    return [line for line in lines if ENGLISH.search(line) and line not in others]


@pytest.mark.parametrize("side", ["customer", "staff"])
def test_every_page_reads_in_indonesian(app, world, side):
    routes, pages = _get_routes(app), _pages(world)
    subjects = set(db.session.scalars(select(Email.subject).where(Email.subject.is_not(None))))  # the outbox's list
    found, read = [], 0
    for endpoint, cases in pages.items():
        if endpoint.startswith("admin.") != (side == "staff") or endpoint in NOT_OURS:
            continue
        for case in cases:
            url = _fill(routes[endpoint], {name: str(value) for name, value in case.values.items()})
            for headers in (ID, {**ID, **HX}):
                client = (app.test_client() if endpoint in GUEST_PAGES else
                          world["staff_client"] if side == "staff" else world["owner_client"])
                _, response = _read(client, url, headers)
                if response.mimetype == "text/html":
                    read += 1
                    found += [f"{endpoint}: {line[:160]}" for line in
                              _english_lines(response.get_data(as_text=True), subjects)]
    assert sorted(set(found)) == []
    assert read >= (50 if side == "customer" else 40)


def test_the_check_finds_an_english_sentence():
    assert _english_lines("<p>Your instance is ready.</p><p>Instans Anda sudah siap.</p>", set()) == \
        ["Your instance is ready."]
    assert _english_lines('<select name="timezone"><option>Dar es Salaam</option></select>', set()) == []

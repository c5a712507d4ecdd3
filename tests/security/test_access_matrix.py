"""The access-control matrix, generated from app.url_map: who may reach what, and which writes need CSRF.

Customer routes × (guest, another customer, staff), admin routes × (guest, the owner, another
customer), every write × (GET refused, no CSRF token refused). URL arguments are real ids of
customer A's paid subscription and invoice, so a 404 means "not yours", never "no such thing":
the owner's and staff's positive controls below prove each filled URL exists.
"""
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from werkzeug.exceptions import MethodNotAllowed

from portal.audit.models import AuditEntry
from portal.backups.models import Backup
from portal.billing.models import Invoice
from portal.domains.models import CustomDomain
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.notifications.models import Email
from portal.provisioning.models import Node
from portal.provisioning.services import nodes_sync
from portal.subscriptions.models import Subscription
from tests.admin.test_admin import _fill, admin_rules
from tests.fixtures.billing import notification, plan_of, post
from tests.helpers import STRONG_PASSWORD, csrf_token_from

pytestmark = pytest.mark.security

WEBHOOK = "billing.midtrans_notification"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Reachable without logging in, decided here on purpose: a new public page must be added by hand.
PUBLIC = {"home.index", "catalog.index", "catalog.service", "accounts.login", "accounts.signup",
          "accounts.forgot_password", "accounts.reset_password", "accounts.verify_email", "accounts.logout",
          # the footer's language switcher: a guest chooses too (a cookie; for a customer, the profile as well)
          "accounts.change_language",
          # for the cluster and monitoring (each guards itself if it needs to), when the app has them
          "ops.healthz", "ops.readyz", "ops.metrics_page"}
# URL arguments naming something a customer owns (someone else's must be "not found"), and the others.
OWNED_ARGUMENTS = {"subscription_id", "invoice_id", "order_id", "email_id", "domain_id", "backup_id"}
# Not the log-in page for a guest, on purpose: a kept email is readable by the browser whose sign-up queued it
# (or by its account once logged in); any other guest finds nothing.
NOT_FOUND_FOR_GUESTS = {"mail.kept_email"}
SHARED_ARGUMENTS = {"plan_id", "slug", "token"}
# What a POST carries, so that a check that let it through would really do something.
DANGEROUS_FORM = {"mode": "now", "outcome": "settlement", "reason": "matrix", "days": "30", "price_idr": "1",
                  "name": "Mallory", "email": "nobody@example.com"}
CSRF_REFUSAL = "sent without its security token"


@pytest.fixture
def app_config(cluster_config):
    return {**cluster_config, "RATELIMIT_ENABLED": False}


class Role:
    """A browser of its own: a client and its user (None for a guest)."""

    def __init__(self, app, name: str, user=None):
        self.name, self.user, self.client = name, user, app.test_client()
        if user is not None:
            page = self.client.get("/login").get_data(as_text=True)
            response = self.client.post("/login", data={"email": user.email, "password": STRONG_PASSWORD,
                                                         "csrf_token": csrf_token_from(page)})
            assert response.status_code == 303, name

    def token(self) -> str:
        """A valid CSRF token of this session, read afresh (a guest's POST /logout starts a new session)."""
        return csrf_token_from(self.client.get("/login" if self.user is None else "/account").get_data(as_text=True))

    def request(self, method: str, url: str, *, csrf: bool = True, form: dict | None = None):
        if method == "GET":
            return self.client.get(url)
        return self.client.open(url, method=method, data={**(form or {}), **({"csrf_token": self.token()} if csrf
                                                                              else {})})


@pytest.fixture
def world(app, order, customer, make_user, kube_clock):
    """Customer A with a running instance and its paid invoice (paid through the webhook), customer B, staff."""
    invoice = order("n8n", subdomain="ana-matrix")
    assert post(app.test_client(), notification(invoice)).status_code == 200
    kube_clock.advance(30)
    instances_sweep()
    subscription = db.session.get(Subscription, invoice.subscription_id)
    assert subscription.state == "active"
    nodes_sync()  # the admin node pages read the nodes table
    # A custom domain of customer A's instance, verified with a failing certificate, so that making it primary,
    # trying its certificate again (POST .../domains/<domain_id>/certificate) or removing it would act.
    domain = CustomDomain(subscription_id=subscription.id, name="blog.ana-matrix.example", token="t",
                          dns_state="verified", certificate_state="failed", certificate_reason="CAA forbids it")
    db.session.add(domain)
    db.session.commit()
    staff_user = make_user(email="boss@example.com", staff=True)
    roles = {"guest": Role(app, "guest"), "owner": Role(app, "owner", customer),
             "other customer": Role(app, "other customer", make_user(email="mallory@example.com")),
             "staff": Role(app, "staff", staff_user)}
    backup = Backup(subscription_id=subscription.id, name="n8n-matrix-backup", source_namespace="customer-x",
                    phase="Completed", origin="scheduled", completed_at=subscription.state_changed_at)
    db.session.add(backup)
    db.session.commit()
    values = {"subscription_id": str(subscription.id), "invoice_id": str(invoice.id), "order_id": invoice.order_id,
              "backup_id": str(backup.id),
              "plan_id": str(plan_of("n8n").id), "slug": "n8n", "token": "not-a-real-token",
              "user_id": str(customer.id), "domain_id": str(domain.id),
              "email_id": str(db.session.scalar(select(Email.id).where(Email.user_id == customer.id).limit(1))),
              "name": db.session.scalar(select(Node.name).order_by(Node.name).limit(1))}
    return {"roles": roles, "values": values, "subscription": subscription, "invoice": invoice,
            "form": {**DANGEROUS_FORM, "confirm": subscription.subdomain}}


def rules_of(app):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    admin = admin_rules(app)
    customer = [r for r in rules if not r.rule.startswith("/admin") and r.endpoint != WEBHOOK]
    return rules, admin, customer


def methods_of(rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def is_login_redirect(response) -> bool:
    """Flask-Login's answer to a guest: to /login, with the page to come back to."""
    location = urlsplit(response.headers.get("Location", ""))
    return response.status_code in (302, 303) and location.path == "/login" and "next=" in location.query


def report(record_property, name: str, checks: int) -> None:
    record_property("routes_x_roles", checks)
    print(f"\n{name}: {checks} routes × roles checked")


def test_customer_routes_for_guests_other_customers_and_staff(app, world, record_property):
    _, _, customer_rules = rules_of(app)
    roles, values, form = world["roles"], world["values"], world["form"]
    strangers = [roles["other customer"].user.id, roles["staff"].user.id]
    audited = select(AuditEntry.action).where(AuditEntry.actor_id.in_(strangers)).order_by(AuditEntry.id)
    audited_before = list(db.session.scalars(audited))  # their log-ins
    checks, public_seen = 0, set()
    for rule in customer_rules:
        arguments = set(rule.arguments)
        unknown = arguments - OWNED_ARGUMENTS - SHARED_ARGUMENTS
        assert not unknown, f"{rule.rule}: decide who owns {unknown} and add it to this matrix"
        url = _fill(rule.rule, values)
        for method in methods_of(rule):
            # A guest: the log-in page, unless the route is public on purpose.
            response = roles["guest"].request(method, url, form=form)
            assert response.status_code < 500, (rule.rule, method, response.status_code)
            if is_login_redirect(response):
                assert rule.endpoint not in PUBLIC, (rule.endpoint, "is public but asks guests to log in")
            elif rule.endpoint in NOT_FOUND_FOR_GUESTS:
                assert response.status_code == 404, (rule.rule, method, response.status_code)
            else:
                public_seen.add(rule.endpoint)
                if method == "GET" and not arguments - {"slug"}:
                    assert response.status_code == 200, (rule.rule, response.status_code)
            checks += 1
            if not arguments & OWNED_ARGUMENTS:
                continue
            # Someone else's subscription or invoice: not found, for a customer and for staff alike
            # (staff use /admin), whatever the method and with a valid CSRF token.
            for who in ("other customer", "staff"):
                response = roles[who].request(method, url, form=form)
                assert response.status_code == 404, (who, method, rule.rule, response.status_code)
                checks += 1
            # The owner reaches it (so the 404 above meant "not yours"); writes are not replayed here.
            if method == "GET":
                response = roles["owner"].request("GET", url)
                assert response.status_code in (200, 302, 303), (rule.rule, response.status_code)
                assert not is_login_redirect(response)
                checks += 1
    public = {endpoint for endpoint in PUBLIC if endpoint in app.view_functions}
    assert public_seen == public, (sorted(public_seen ^ public), "the public pages changed: decide on purpose")
    assert len(public) <= 13  # 12, and the language switcher (issue 23)
    db.session.expire_all()
    assert db.session.get(Subscription, world["subscription"].id).state == "active"  # nothing happened to it
    assert db.session.get(Invoice, world["invoice"].id).state == "paid"
    assert db.session.scalar(select(CustomDomain.name)) == "blog.ana-matrix.example"  # not removed by a stranger
    assert db.session.scalar(select(CustomDomain.certificate_state)) == "failed"  # nor tried again
    assert "domains.certificate" in {rule.endpoint for rule in customer_rules}
    assert list(db.session.scalars(audited)) == audited_before  # no credentials revealed, nothing done
    report(record_property, "customer routes", checks)


def test_admin_routes_are_not_found_for_guests_and_customers_even_with_real_ids(app, world, record_property):
    """Extends tests/admin/test_admin.py (ids "1") with real ids, the owner of those ids, and staff's control."""
    _, rules, _ = rules_of(app)
    roles, values = world["roles"], world["values"]
    assert len(rules) >= 20
    checks = 0
    for rule in rules:
        url = _fill(rule.rule, values)
        for method in methods_of(rule):
            for who in ("guest", "owner", "other customer"):
                response = roles[who].request(method, url, form=world["form"])
                assert response.status_code == 404, (who, method, rule.rule, response.status_code)
                checks += 1
            if method == "GET":  # the same URL exists: staff see it
                response = roles["staff"].request("GET", url)
                assert response.status_code == 200, (rule.rule, response.status_code)
                checks += 1
    assert db.session.get(Subscription, world["subscription"].id).state == "active"
    report(record_property, "admin routes", checks)


def test_every_write_refuses_get_and_needs_a_csrf_token_except_the_webhook(app, world, record_property):
    rules, admin, _ = rules_of(app)
    roles, values, form = world["roles"], world["values"], world["form"]
    assert {m for r in rules for m in methods_of(r)} <= {"GET", "POST"}  # a PUT/PATCH/DELETE would need a look
    writes = [r for r in rules if r.methods & WRITES]
    assert len(writes) >= 20
    checks = 0
    for rule in writes:
        url = _fill(rule.rule, values)
        # Whoever would be allowed to write here: staff for /admin, the owner for the rest, a guest if public.
        allowed = roles["staff" if rule in admin else "guest" if rule.endpoint in PUBLIC | {WEBHOOK} else "owner"]
        if "GET" not in rule.methods:  # an action, not a form page: GET is not a way in, for anyone
            try:  # (a GET may belong to another route: /verify/resend is also /verify/<token>)
                other = app.url_map.bind("portal.test").match(url, method="GET")[0]
            except MethodNotAllowed:
                other = None
            assert other != rule.endpoint
            for role in roles.values():
                response = role.request("GET", url)
                assert response.status_code == 405 if other is None else response.status_code < 500, \
                    (role.name, rule.rule, other, response.status_code)
                checks += 1
        for method in sorted(rule.methods & WRITES):
            response = allowed.request(method, url, csrf=False, form=form)
            if rule.endpoint == WEBHOOK:  # signature-checked JSON instead: answers as itself, not as CSRF
                assert response.is_json and response.get_json()["status"] == "rejected", response.status_code
            else:
                body = response.get_data(as_text=True)
                assert response.status_code == 400 and CSRF_REFUSAL in body, (allowed.name, rule.rule,
                                                                             response.status_code)
            checks += 1
    # Of the routes that write, Flask-WTF skips the webhook alone; no blueprint is exempt. (An exempt
    # read-only view changes nothing: CSRF is only checked on writes.)
    csrf = app.extensions["csrf"]
    assert csrf._exempt_blueprints == set()
    exempt = {endpoint for endpoint, view in app.view_functions.items()
              if f"{view.__module__}.{view.__name__}" in csrf._exempt_views}
    exempt_writes = {r.endpoint for r in writes if r.endpoint in exempt}
    assert exempt_writes == {WEBHOOK}, exempt_writes
    db.session.expire_all()
    assert db.session.get(Subscription, world["subscription"].id).state == "active"
    assert db.session.get(Invoice, world["invoice"].id).state == "paid"
    report(record_property, "writes (GET refused, CSRF required)", checks)


def test_a_polled_fragment_is_never_304_for_someone_who_may_not_see_it(world):
    """The owner's tag (or "*", any tag) from anyone else gets the log-in page or "not found", never a 304 that
    would confirm the fragment exists and is unchanged: ownership is checked before the tag."""
    roles, values = world["roles"], world["values"]
    poll = {"HX-Request": "true"}
    for url in (f"/instances/{values['subscription_id']}", f"/billing/invoices/{values['invoice_id']}"):
        owners = roles["owner"].client.get(url, headers=poll)
        assert owners.status_code in (200, 286) and owners.headers.get("ETag"), url
        for tag in (owners.headers["ETag"], "*"):
            asked = {**poll, "If-None-Match": tag}
            assert roles["owner"].client.get(url, headers=asked).status_code == 304, url
            assert is_login_redirect(roles["guest"].client.get(url, headers=asked)), url
            for name in ("other customer", "staff"):
                assert roles[name].client.get(url, headers=asked).status_code == 404, (url, name)
    # The dashboard is everyone's own: the owner's tag never stands for another reader's cards.
    owners = roles["owner"].client.get("/", headers=poll)
    assert roles["owner"].client.get("/", headers={**poll, "If-None-Match": owners.headers["ETag"]}).status_code == 304
    for name in ("other customer", "staff"):
        answer = roles[name].client.get("/", headers={**poll, "If-None-Match": owners.headers["ETag"]})
        assert answer.status_code in (200, 286), name
    assert roles["guest"].client.get("/", headers={**poll, "If-None-Match": "*"}).status_code == 200  # the landing

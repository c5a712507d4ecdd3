"""Staff pages: hidden from everyone else, CSRF on every action, actions audited, lists without N+1."""
from sqlalchemy import select

from portal.accounts.models import User
from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.provisioning.cluster import cluster_for
from portal.subscriptions.models import Subscription
from tests.helpers import STRONG_PASSWORD, act, csrf_token_from, database_activity


def admin_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")]


def _fill(path: str, values: dict) -> str:
    """The rule with its arguments filled: `values` by name, an any() argument with its first choice."""
    import re

    def value(match):
        if match.group("choices"):
            return re.findall(r"'([^']+)'", match.group("choices"))[0]
        return values[match.group("name")]

    return re.sub(r"<any\((?P<choices>[^)]*)\):[a-z_]+>|<(?:[^:>]+:)?(?P<name>[a-z_]+)>", value, path)


def test_every_admin_url_is_not_found_for_guests_and_customers(app, client, make_user, login):
    rules = admin_rules(app)
    assert len(rules) >= 10
    for who in ("guest", "customer"):
        if who == "customer":
            login(make_user(email="c@example.com"))
        token = csrf_token_from(client.get("/login" if who == "guest" else "/").get_data(as_text=True))
        for rule in rules:
            values = {a: "1" for a in rule.arguments}
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                # With a valid CSRF token, so what answers is the access rule itself.
                response = client.open(_fill(rule.rule, values), method=method, data={"csrf_token": token})
                assert response.status_code == 404, (who, method, rule.rule, response.status_code)


def test_every_admin_post_needs_csrf(app, client, make_user, login):
    login(make_user(email="boss@example.com", staff=True))
    target = make_user(email="t@example.com")
    for rule in admin_rules(app):
        if "POST" not in rule.methods:
            continue
        values = {a: str(target.id) for a in rule.arguments}
        response = client.post(_fill(rule.rule, values))
        assert response.status_code == 400, rule.rule
    assert db.session.get(User, target.id).disabled is False


def test_disabling_a_user_ends_their_sessions_and_is_audited(app, client, make_user, login):
    boss = make_user(email="boss@example.com", staff=True)
    victim = make_user(email="v@example.com")
    victim_client = app.test_client()
    page = victim_client.get("/login")
    victim_client.post("/login", data={"email": victim.email, "password": STRONG_PASSWORD,
                                       "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert victim_client.get("/account").status_code == 200
    login(boss)
    page = client.get(f"/admin/users/{victim.id}").get_data(as_text=True)
    client.post(f"/admin/users/{victim.id}/disable", data={"csrf_token": csrf_token_from(page)})
    assert victim_client.get("/account").status_code == 302  # logged out
    assert db.session.get(User, victim.id).disabled
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.disabled"))
    assert entry.actor_id == boss.id and entry.target_id == str(victim.id)
    client.post(f"/admin/users/{boss.id}/disable", data={"csrf_token": csrf_token_from(page)})
    assert not db.session.get(User, boss.id).disabled  # staff cannot lock themselves out


def test_user_search_finds_by_email_and_name(client, make_user, login):
    login(make_user(email="boss@example.com", staff=True))
    make_user(email="siti@kopi.id", name="Siti Rahma")
    make_user(email="budi@toko.id", name="Budi")
    body = client.get("/admin/users?q=rahma", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "siti@kopi.id" in body and "budi@toko.id" not in body and "<html" not in body


def test_suspend_resume_extend_terminate_through_the_services(app, paid, kube_clock, staff_client):
    sid = paid("n8n", subdomain="staff-case")
    kube_clock.advance(30)
    instances_sweep()
    act(staff_client, sid, "suspend")  # no reason: refused
    assert db.session.get(Subscription, sid).state == "active"
    act(staff_client, sid, "suspend", reason="Abuse report #12")
    subscription = db.session.get(Subscription, sid)
    assert (subscription.state, subscription.suspension_reason) == ("suspended", "staff")
    assert cluster_for(app.config).list_pods(f"portal/subscription={sid}") == []
    act(staff_client, sid, "resume")
    assert db.session.get(Subscription, sid).state == "provisioning"
    before = db.session.get(Subscription, sid).current_period_end
    act(staff_client, sid, "extend", days="10", reason="Goodwill after the outage")
    db.session.expire_all()
    assert (db.session.get(Subscription, sid).current_period_end - before).days == 10
    act(staff_client, sid, "terminate", confirm="wrong")
    assert db.session.get(Subscription, sid).state == "provisioning"
    act(staff_client, sid, "terminate", confirm="staff-case")
    assert db.session.get(Subscription, sid).state == "terminated"
    actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "subscription")
                                      .order_by(AuditEntry.id)))
    assert actions == ["subscription.suspended", "subscription.resumed", "subscription.extended",
                       "subscription.terminated"]
    audit_page = staff_client.get("/admin/audit").get_data(as_text=True)
    assert "subscription.suspended" in audit_page and "Abuse report #12" in audit_page


def test_list_pages_issue_a_bounded_number_of_queries(app, paid, staff_client):
    for i in range(12):
        paid("ghost", email=f"user{i}@example.com", subdomain=f"site-{i}")
    for path in ("/admin/subscriptions", "/admin/subscriptions?state=provisioning&app=ghost",
                 "/admin/users", "/admin/audit", "/admin/jobs", "/admin/outbox"):
        with database_activity() as seen:
            response = staff_client.get(path)
        assert response.status_code == 200, path
        assert len(seen["statements"]) <= 8, (path, len(seen["statements"]))

"""The customer's instance pages through the client, with and without HX-Request, and who may see them."""
import re

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.instances.views import highlight
from portal.provisioning.cluster import cluster_for
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import InstanceStatus, Subscription
from tests.helpers import csrf_token_from

HX = {"HX-Request": "true"}


def token(client, path="/"):
    return csrf_token_from(client.get(path).get_data(as_text=True))


def test_instance_page_shows_what_a_customer_needs(client, live):
    page = client.get(f"/instances/{live}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    for text in ("https://ana-flows.localtest.me", "n8n", "Starter", "Running", "Your instance is ready.",
                 "Resource usage", "<svg", "Reveal credentials", "Cancel now"):
        assert text in body
    assert page.headers["Vary"] == "HX-Request, Cookie" or "HX-Request" in page.headers["Vary"]


@pytest.mark.smoke
def test_instance_page_with_usage_samples_renders_its_charts(client, live):
    """SQLite handed back naive sample times and the chart's comparison with an aware window raised (500)."""
    from portal.instances.selectors import samples_of

    assert samples_of(live)  # the sweep that made it active took the first usage sample
    page = client.get(f"/instances/{live}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200, body[:300]
    assert "CPU · now" in body and "Memory · now" in body and "No usage data yet" not in body


def test_status_block_polls_while_provisioning_and_stops_when_settled(client, paid, login, kube_clock):
    sid = paid("ghost", subdomain="blog-ana")
    from portal.accounts.services import user_by_email

    login(user_by_email("ana@example.com"))
    changing = client.get(f"/instances/{sid}", headers=HX)
    body = changing.get_data(as_text=True)
    assert changing.status_code == 200 and 'hx-trigger="every 2s"' in body and "<html" not in body
    assert "Setting up your instance" in body and "✓ Namespace" in body
    kube_clock.advance(30)
    instances_sweep()
    settled = client.get(f"/instances/{sid}", headers=HX)
    assert settled.status_code == 286 and "every 2s" not in settled.get_data(as_text=True)
    cards = client.get("/", headers=HX)
    assert cards.status_code == 286 and "Running" in cards.get_data(as_text=True)


def test_credentials_are_revealed_by_post_and_audited(app, client, live):
    assert client.get(f"/instances/{live}/credentials").status_code == 405
    response = client.post(f"/instances/{live}/credentials", data={"csrf_token": token(client)}, headers=HX)
    body = response.get_data(as_text=True)
    subscription = db.session.get(Subscription, live)
    secret = cluster_for(app.config).read_secret(subscription.namespace, f"n8n-{live}-secrets")
    assert secret["encryption_key"] in body and "Encryption key" in body
    assert secret["db_password"] not in body  # internal secrets stay hidden
    assert response.headers["Cache-Control"] == "no-store"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "instance.credentials_revealed"))
    assert entry.target_id == str(live) and entry.ip == "127.0.0.1"


def test_restart_makes_new_pods_and_says_so(app, client, live):
    before = {p["metadata"]["uid"] for p in cluster_for(app.config).list_pods(f"portal/subscription={live}")}
    response = client.post(f"/instances/{live}/restart", data={"csrf_token": token(client)}, headers=HX)
    assert response.headers["HX-Redirect"] == f"/instances/{live}"
    after = {p["metadata"]["uid"] for p in cluster_for(app.config).list_pods(f"portal/subscription={live}")}
    assert not before & after
    assert "Restart requested." in client.get(f"/instances/{live}").get_data(as_text=True)
    assert "new containers are starting" in client.get(f"/instances/{live}").get_data(as_text=True)


def test_restart_of_a_stopped_instance_is_refused_with_the_services_reason(app, client, live):
    subscriptions.subscription_suspend(subscription_id=live, reason="customer", note="Cancelled by the customer.")
    response = client.post(f"/instances/{live}/restart", data={"csrf_token": token(client)}, headers=HX)
    assert response.headers["HX-Redirect"] == f"/instances/{live}"
    assert "Only a running instance can be restarted." in client.get(f"/instances/{live}").get_data(as_text=True)
    assert db.session.get(InstanceStatus, live).rollout is None


def test_settings_form_validates_and_reapplies(app, client, live):
    path = f"/instances/{live}/settings"
    page = client.get(path).get_data(as_text=True)
    assert 'name="timezone"' in page and 'name="subdomain"' not in page
    bad = client.post(path, data={"csrf_token": csrf_token_from(page), "timezone": "Asia/Jakarta",
                                  "execution_retention_hours": "1"}, headers=HX)
    assert bad.status_code == 422 and "24 or more" in bad.get_data(as_text=True)
    assert "<html" not in bad.get_data(as_text=True)
    good = client.post(path, data={"csrf_token": csrf_token_from(page), "timezone": "Asia/Makassar",
                                   "execution_retention_hours": "48"}, headers=HX)
    assert good.headers["HX-Redirect"] == f"/instances/{live}"
    subscription = db.session.get(Subscription, live)
    assert subscription.settings == {"timezone": "Asia/Makassar", "execution_retention_hours": 48}
    deployment = cluster_for(app.config).get("apps/v1", "Deployment", subscription.namespace, f"n8n-{live}-app")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["EXECUTIONS_DATA_MAX_AGE"] == "48" and env["TZ"] == "Asia/Makassar"


def test_cancel_at_period_end_then_now_with_confirmation(client, live):
    path = f"/instances/{live}/cancel"
    client.post(path, data={"csrf_token": token(client), "mode": "period_end"})
    assert db.session.get(Subscription, live).cancel_at_period_end is True
    client.post(path, data={"csrf_token": token(client), "mode": "now", "confirm": "wrong"})
    assert db.session.get(Subscription, live).state == "active"
    client.post(path, data={"csrf_token": token(client), "mode": "now", "confirm": "ana-flows"})
    subscription = db.session.get(Subscription, live)
    assert (subscription.state, subscription.suspension_reason) == ("suspended", "customer")


def test_log_viewer_tail_search_follow_previous_and_download(client, live, kube_clock):
    path = f"/instances/{live}/logs"
    page = client.get(path + "?tail=100")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="log-lines"' in body
    lines = re.findall(r'<span class="log-line">', body)
    assert 0 < len(lines) <= 100
    fragment = client.get(path + "?component=db&tail=500", headers=HX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="log-viewer">')
    last = re.search(r"after=([^\"&]+)", body).group(1)
    nothing_new = client.get(f"{path}/follow?component=app&after={last}", headers=HX).get_data(as_text=True)
    assert 'class="log-line"' not in nothing_new and 'id="log-poller"' in nothing_new
    kube_clock.advance(20)  # the app writes more
    new = client.get(f"{path}/follow?component=app&after={last}", headers=HX).get_data(as_text=True)
    assert 'hx-swap-oob="beforeend:#log-lines"' in new and 'class="log-line"' in new
    searched = client.get(path + "?q=n8n", headers=HX).get_data(as_text=True)
    assert "<mark>" in searched.lower() or "No lines match" in searched
    previous = client.get(path + "?previous=1", headers=HX).get_data(as_text=True)
    assert "has not restarted" in previous
    download = client.get(f"{path}/download?component=app")
    assert download.mimetype == "text/plain" and "attachment" in download.headers["Content-Disposition"]
    assert len(download.get_data(as_text=True).splitlines()) > 3


def test_logs_of_a_stopped_instance_explain_themselves(client, live):
    client.post(f"/instances/{live}/cancel", data={"csrf_token": token(client), "mode": "now", "confirm": "ana-flows"})
    body = client.get(f"/instances/{live}/logs").get_data(as_text=True)
    assert "not running right now" in body


def test_log_text_is_escaped_and_matches_are_marked():
    marked = highlight('<script>alert("x")</script> ERROR here, error there', "error")
    assert "<script>" not in marked and "&lt;script&gt;" in marked
    assert marked.count("<mark>") == 2 and "<mark>ERROR</mark>" in marked


ID_URLS = [("GET", "/instances/{id}"), ("POST", "/instances/{id}/restart"), ("GET", "/instances/{id}/settings"),
           ("POST", "/instances/{id}/settings"), ("POST", "/instances/{id}/cancel"),
           ("POST", "/instances/{id}/credentials"), ("GET", "/instances/{id}/logs"),
           ("GET", "/instances/{id}/logs/follow"), ("GET", "/instances/{id}/logs/download"),
           ("POST", "/billing/subscriptions/{id}/renew")]


def test_another_customers_id_is_not_found_everywhere(app, client, live, make_user, login):
    from tests.helpers import STRONG_PASSWORD  # noqa: F401

    other = app.test_client()
    mallory = make_user(email="mallory@example.com")
    page = other.get("/login")
    other.post("/login", data={"email": mallory.email, "password": STRONG_PASSWORD,
                               "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    csrf = csrf_token_from(other.get("/").get_data(as_text=True))
    for method, template in ID_URLS:
        url = template.format(id=live)
        response = other.get(url) if method == "GET" else other.post(url, data={"csrf_token": csrf, "mode": "now",
                                                                                 "confirm": "ana-flows"})
        assert response.status_code == 404, (method, url, response.status_code)
    assert db.session.get(Subscription, live).state == "active"  # and nothing happened to it

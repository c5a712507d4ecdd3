"""Secrets stay secret: an instance's generated credentials, the Midtrans server key and passwords appear in no
log record and no page, except the customer's deliberate reveal of their own instance's visible credentials."""
import logging

from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.provisioning.cluster import cluster_for
from portal.subscriptions.models import Subscription
from tests.fixtures.billing import post
from tests.helpers import STRONG_PASSWORD, csrf_token_from

SERVER_KEY = "SB-Mid-server-hygiene-0123456789"


def test_no_secret_reaches_a_log_or_a_page(app, client, paid, kube_clock, login, caplog):
    caplog.set_level(logging.DEBUG)
    sid = paid("n8n", subdomain="hush-hush")
    kube_clock.advance(30)
    instances_sweep()
    subscription = db.session.get(Subscription, sid)
    stored = cluster_for(app.config).read_secret(subscription.namespace, f"n8n-{sid}-secrets")
    # Without a mail relay configured the mail login keys are there and empty; every other value is generated.
    assert stored["mail_username"] == stored["mail_password"] == ""
    secrets = {name: value for name, value in stored.items() if name not in ("mail_username", "mail_password")}
    assert secrets and all(len(value) >= 12 for value in secrets.values())

    from portal.accounts.services import user_by_email
    login(user_by_email("ana@example.com"))
    pages = [client.get(path).get_data(as_text=True)
             for path in ("/", f"/instances/{sid}", f"/instances/{sid}/settings", f"/instances/{sid}/logs",
                          "/billing", "/account")]
    # The webhook, signed with a key the app knows, and a wrong log-in with a password in it.
    app.config["MIDTRANS_SERVER_KEY"] = SERVER_KEY
    post(app.test_client(), {"order_id": "nope", "status_code": "200", "gross_amount": "1.00",
                             "signature_key": SERVER_KEY, "transaction_status": "settlement"})
    app.config["MIDTRANS_SERVER_KEY"] = None
    other = app.test_client()
    token = csrf_token_from(other.get("/login").get_data(as_text=True))
    pages.append(other.post("/login", data={"email": "ana@example.com", "password": "Wrong-" + STRONG_PASSWORD,
                                            "csrf_token": token}).get_data(as_text=True))

    logged = "\n".join(record.getMessage() + (str(record.exc_info) if record.exc_info else "")
                       for record in caplog.records)
    for name, value in {**secrets, "midtrans": SERVER_KEY, "password": STRONG_PASSWORD}.items():
        assert value not in logged, f"{name} was logged"
        assert all(value not in page for page in pages), f"{name} appears in a page"

    # The deliberate reveal shows the customer-visible ones, and only those.
    revealed = client.post(f"/instances/{sid}/credentials",
                           data={"csrf_token": csrf_token_from(pages[1])}).get_data(as_text=True)
    shown = [name for name, value in secrets.items() if value in revealed]
    assert shown and len(shown) < len(secrets)

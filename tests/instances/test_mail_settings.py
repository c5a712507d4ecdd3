"""An instance's mail server in its settings: the relay by default, the customer's own server saved (its password to
the Secret only), tested against real SMTP servers on loopback, and switched back to the relay in one click."""
import email
import email.policy
import logging
import socket
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from portal.accounts.services import user_by_email
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.provisioning.cluster import cluster_for
from portal.subscriptions.models import InstanceMailServer, Subscription
from tests.helpers import csrf_token_from, free_port

HX = {"HX-Request": "true"}
RELAY = "192.0.2.10"
USER, PASSWORD = "ana@toko.example", "Tr0ub4dor-mail-&3"


@pytest.fixture
def app_config(cluster_config):
    return {**cluster_config, "APP_MAIL_RELAY_HOST": RELAY, "APP_MAIL_RELAY_PORT": 2525,
            "APP_MAIL_RELAY_TLS": "none", "APP_MAIL_RELAY_USER": "relay-user",
            "APP_MAIL_RELAY_PASSWORD": "relay-Pa55-word", "APP_MAIL_ALLOW_PRIVATE_SERVERS": True,
            "APP_MAIL_TEST_TIMEOUT_SECONDS": 5}


@pytest.fixture
def live(app, kube_clock, paid, client, login):
    sid = paid("n8n", subdomain="ana-flows")
    kube_clock.advance(30)
    instances_sweep()
    login(user_by_email("ana@example.com"))
    return sid


class Collector:
    """Keeps every message the server accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


class Authenticated:
    """An aiosmtpd server that wants a login; it accepts only USER / PASSWORD."""

    def __init__(self):
        self.collector = Collector()
        self.logins = []

        def authenticate(server, session, envelope, mechanism, auth_data):
            if isinstance(auth_data, LoginPassword):
                self.logins.append(auth_data.login.decode())
                ok = auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
                return AuthResult(success=ok, handled=False)
            return AuthResult(success=False, handled=False)

        self.controller = Controller(self.collector, hostname="127.0.0.1", port=free_port(),
                                     authenticator=authenticate, auth_require_tls=False)
        self.controller.start()
        self.port = self.controller.port

    def stop(self):
        self.controller.stop()


@pytest.fixture
def smtp_login():
    server = Authenticated()
    yield server
    server.stop()


@pytest.fixture
def dropping_server():
    """A server that takes the connection and closes it at once, as a crashed or hostile one does."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(timeout=5)


def form(client, sid, **fields):
    page = client.get(f"/instances/{sid}/settings").get_data(as_text=True)
    data = {"csrf_token": csrf_token_from(page), "host": "127.0.0.1", "port": "587", "tls_mode": "none",
            "username": USER, "password": PASSWORD, "sender": "halo@toko.example"}
    data.update(fields)
    return data


def secret_of(app, sid) -> dict:
    subscription = db.session.get(Subscription, sid)
    return cluster_for(app.config).read_secret(subscription.namespace, f"n8n-{sid}-secrets")


def app_env(app, sid) -> dict:
    subscription = db.session.get(Subscription, sid)
    deployment = cluster_for(app.config).get("apps/v1", "Deployment", subscription.namespace, f"n8n-{sid}-app")
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in deployment["spec"]["template"]["spec"]
            ["containers"][0]["env"]}


def mail_policy(app, sid) -> dict:
    subscription = db.session.get(Subscription, sid)
    return cluster_for(app.config).get("networking.k8s.io/v1", "NetworkPolicy", subscription.namespace,
                                       f"n8n-{sid}-mail")


def test_every_instance_sends_through_the_relay_by_default(app, client, live):
    body = client.get(f"/instances/{live}/settings").get_data(as_text=True)
    assert "our mail relay" in body and "noreply@ana-flows.localtest.me" in body
    env = app_env(app, live)
    assert env["N8N_SMTP_HOST"] == RELAY and env["N8N_SMTP_PORT"] == "2525"
    assert env["N8N_SMTP_SENDER"] == "noreply@ana-flows.localtest.me"
    assert env["N8N_SMTP_PASS"] == {"secretKeyRef": {"name": f"n8n-{live}-secrets", "key": "mail_password"}}
    assert secret_of(app, live)["mail_password"] == "relay-Pa55-word"
    assert mail_policy(app, live)["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": f"{RELAY}/32"}}],
                                                         "ports": [{"protocol": "TCP", "port": 2525}]}]


def test_a_test_email_through_a_good_server_arrives_and_says_so(client, live, smtp_login):
    response = client.post(f"/instances/{live}/mail/test", headers=HX, data=form(client, live, port=smtp_login.port))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "accepted the test message for ana@example.com" in body
    assert PASSWORD not in body
    [message] = smtp_login.collector.messages
    assert message["To"] == "ana@example.com" and message["From"] == "halo@toko.example"
    assert "ana-flows" in message["Subject"]
    assert smtp_login.logins == [USER]
    assert db.session.scalar(select(InstanceMailServer)) is None  # a test changes nothing


def test_a_refused_login_is_said_in_plain_words(client, live, smtp_login):
    response = client.post(f"/instances/{live}/mail/test", headers=HX,
                           data=form(client, live, port=smtp_login.port, password="wrong-password"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "refused the user name or password" in body and "535" in body
    assert "wrong-password" not in body and smtp_login.collector.messages == []


def test_a_dropped_connection_is_said_in_plain_words(client, live, dropping_server):
    response = client.post(f"/instances/{live}/mail/test", headers=HX, data=form(client, live, port=dropping_server))
    assert "closed the connection before the message was sent" in response.get_data(as_text=True)


def test_starttls_asked_of_a_server_without_it_is_explained(client, live, smtp_login):
    response = client.post(f"/instances/{live}/mail/test", headers=HX,
                           data=form(client, live, port=smtp_login.port, tls_mode="starttls"))
    assert "does not offer STARTTLS" in response.get_data(as_text=True)


def test_nothing_listening_is_said_in_plain_words(client, live):
    response = client.post(f"/instances/{live}/mail/test", headers=HX, data=form(client, live, port=free_port()))
    assert "Nothing accepts connections on 127.0.0.1 port" in response.get_data(as_text=True)


@pytest.mark.parametrize("fields, message", [
    ({"host": ""}, "Enter the mail server"),
    ({"host": "smtp example com"}, "not a host name"),
    ({"host": "no-such-host.invalid"}, "does not resolve"),
    ({"port": "70000"}, "between 1 and 65535"),
    ({"port": "abc"}, "Not a valid integer"),
    ({"tls_mode": "ssl3"}, "Not a valid choice"),
    ({"sender": "not an address"}, "sender address is not valid"),
    ({"username": "a\nb"}, "control characters"),
])
def test_bad_settings_are_refused_per_field_and_nothing_is_written(app, client, live, fields, message):
    before = app_env(app, live)
    for path in ("mail", "mail/test"):
        response = client.post(f"/instances/{live}/{path}", headers=HX, data=form(client, live, **fields))
        body = response.get_data(as_text=True)
        assert response.status_code == 422, body[:400]
        assert message in body and "<html" not in body and PASSWORD not in body
    assert db.session.scalar(select(InstanceMailServer)) is None
    assert "own_mail_password" not in secret_of(app, live) and app_env(app, live) == before


def test_private_servers_are_refused_unless_operators_allow_them(app, client, live):
    app.config["APP_MAIL_ALLOW_PRIVATE_SERVERS"] = False
    for host in ("127.0.0.1", "10.0.0.5", "169.254.169.254", "::1", "0.0.0.0", "10.42.0.7"):
        response = client.post(f"/instances/{live}/mail/test", headers=HX, data=form(client, live, host=host))
        assert response.status_code == 422 and "private or internal address" in response.get_data(as_text=True), host


def test_saving_an_own_server_stores_the_password_in_the_secret_only_and_reapplies(app, client, live, smtp_login,
                                                                                   caplog):
    caplog.set_level(logging.DEBUG)
    response = client.post(f"/instances/{live}/mail", data=form(client, live, port=smtp_login.port))
    assert response.status_code == 303
    server = db.session.scalar(select(InstanceMailServer))
    assert (server.own_server, server.host, server.port, server.username, server.password_set) == (
        True, "127.0.0.1", smtp_login.port, USER, True)
    assert PASSWORD not in repr([getattr(server, c.name) for c in InstanceMailServer.__table__.columns])
    secret = secret_of(app, live)
    assert secret["own_mail_password"] == PASSWORD and secret["mail_password"] == PASSWORD
    assert secret["mail_username"] == USER
    env = app_env(app, live)
    assert env["N8N_SMTP_HOST"] == "127.0.0.1" and env["N8N_SMTP_PORT"] == str(smtp_login.port)
    assert env["N8N_SMTP_SENDER"] == "halo@toko.example" and env["N8N_SMTP_SSL"] == "false"
    assert mail_policy(app, live)["spec"]["egress"][0] == {"to": [{"ipBlock": {"cidr": "127.0.0.1/32"}}],
                                                           "ports": [{"protocol": "TCP", "port": smtp_login.port}]}
    page = client.get(f"/instances/{live}/settings").get_data(as_text=True)
    assert "your own server" in page and "A password is set; leave this blank to keep it." in page
    assert PASSWORD not in page and PASSWORD not in client.get(f"/instances/{live}").get_data(as_text=True)
    # A test with the password left blank uses the stored one.
    answer = client.post(f"/instances/{live}/mail/test", headers=HX,
                         data=form(client, live, port=smtp_login.port, password=""))
    assert "accepted the test message" in answer.get_data(as_text=True)
    assert PASSWORD not in caplog.text and "relay-Pa55-word" not in caplog.text


def test_a_blank_password_keeps_the_stored_one_but_a_new_host_must_be_given_it_again(app, client, live, smtp_login):
    client.post(f"/instances/{live}/mail", data=form(client, live, port=smtp_login.port))
    kept = client.post(f"/instances/{live}/mail", data=form(client, live, port=smtp_login.port, password="",
                                                                sender="news@toko.example"))
    assert kept.status_code == 303 and secret_of(app, live)["own_mail_password"] == PASSWORD
    assert app_env(app, live)["N8N_SMTP_SENDER"] == "news@toko.example"
    moved = client.post(f"/instances/{live}/mail", headers=HX,
                        data=form(client, live, host="127.0.0.2", port=smtp_login.port, password=""))
    assert moved.status_code == 422 and "Enter the password" in moved.get_data(as_text=True)
    test = client.post(f"/instances/{live}/mail/test", headers=HX,
                       data=form(client, live, host="127.0.0.2", port=smtp_login.port, password=""))
    assert test.status_code == 422 and smtp_login.logins == []  # the old password was not sent there
    assert db.session.scalar(select(InstanceMailServer)).host == "127.0.0.1"


def test_back_to_the_relay_in_one_click_and_forth_again_without_retyping(app, client, live, smtp_login):
    client.post(f"/instances/{live}/mail", data=form(client, live, port=smtp_login.port))
    page = client.get(f"/instances/{live}/settings").get_data(as_text=True)
    back = client.post(f"/instances/{live}/mail/relay", data={"csrf_token": csrf_token_from(page)})
    assert back.status_code == 303
    assert db.session.scalar(select(InstanceMailServer)).own_server is False
    env = app_env(app, live)
    assert env["N8N_SMTP_HOST"] == RELAY and env["N8N_SMTP_SENDER"] == "noreply@ana-flows.localtest.me"
    secret = secret_of(app, live)
    assert secret["mail_password"] == "relay-Pa55-word" and secret["own_mail_password"] == PASSWORD
    assert mail_policy(app, live)["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": f"{RELAY}/32"}}]
    page = client.get(f"/instances/{live}/settings").get_data(as_text=True)
    assert "our mail relay" in page and 'value="127.0.0.1"' in page
    again = client.post(f"/instances/{live}/mail", data=form(client, live, port=smtp_login.port, password=""))
    assert again.status_code == 303 and app_env(app, live)["N8N_SMTP_HOST"] == "127.0.0.1"
    assert secret_of(app, live)["mail_password"] == PASSWORD


def test_a_mail_change_is_a_settings_rollout_of_the_running_instance(app, client, live, smtp_login):
    from portal.subscriptions.models import InstanceEvent

    client.post(f"/instances/{live}/mail", data=form(client, live, port=smtp_login.port))
    subscription = db.session.get(Subscription, live)
    assert subscription.state == "active"
    kinds = list(db.session.scalars(select(InstanceEvent.kind).where(InstanceEvent.subscription_id == live)))
    assert "settings_applied" in kinds


@pytest.mark.smoke
def test_the_settings_page_with_its_mail_card_renders_on_every_backend(client, live):
    page = client.get(f"/instances/{live}/settings")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="mail-form"' in body and "Send a test email" in body


def test_staff_preview_shows_the_relay_as_instances_get_it_without_its_password(app, client, make_user, login):
    from portal.catalog.models import Plan, Service
    from portal.catalog.selectors import service_templates
    from portal.catalog.services import catalog_seed

    catalog_seed(templates=service_templates())
    plan_id = db.session.scalar(select(Plan.id).join(Service).where(Service.slug == "ghost"))
    login(make_user(email="staff@example.com", staff=True))
    body = client.get(f"/admin/catalog/plans/{plan_id}/preview").get_data(as_text=True)
    assert "mail__options__host" in body and RELAY in body and "noreply@preview.localtest.me" in body
    assert "relay-Pa55-word" not in body and "relay-user" not in body
    assert "(APP_MAIL_RELAY_PASSWORD)" in body


ID = {"Accept-Language": "id"}


def test_the_encryption_choices_read_in_the_readers_language(client, live):
    indonesian = client.get(f"/instances/{live}/settings", headers=ID).get_data(as_text=True)
    for text in ('value="none">Tanpa enkripsi (teks biasa)</option>', ">STARTTLS (biasanya port 587)</option>",
                 ">TLS sejak byte pertama (biasanya port 465)</option>"):
        assert text in indonesian, text
    assert "None (plain text)" not in indonesian and "usually port" not in indonesian
    english = client.get(f"/instances/{live}/settings", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert ">TLS from the first byte (usually port 465)</option>" in english


def test_the_test_emails_answers_read_in_indonesian(client, live, smtp_login):
    accepted = client.post(f"/instances/{live}/mail/test", headers={**HX, **ID},
                           data=form(client, live, port=smtp_login.port)).get_data(as_text=True)
    assert "Server menerima pesan uji untuk ana@example.com." in accepted and "accepted the test" not in accepted
    refused = client.post(f"/instances/{live}/mail/test", headers={**HX, **ID},
                          data=form(client, live, port=smtp_login.port, password="wrong-password"))
    body = refused.get_data(as_text=True)
    assert "Server menolak nama pengguna atau kata sandi (535" in body and "refused the user name" not in body
    starttls = client.post(f"/instances/{live}/mail/test", headers={**HX, **ID},
                           data=form(client, live, port=smtp_login.port, tls_mode="starttls")).get_data(as_text=True)
    assert "Server tidak mendukung STARTTLS. Pilih TLS sejak byte pertama (biasanya port 465)" in starttls
    nobody = client.post(f"/instances/{live}/mail/test", headers={**HX, **ID},
                         data=form(client, live, port=free_port())).get_data(as_text=True)
    assert "Tidak ada layanan yang menerima koneksi di 127.0.0.1 port" in nobody


def test_a_dropped_connection_is_said_in_indonesian(client, live, dropping_server):
    response = client.post(f"/instances/{live}/mail/test", headers={**HX, **ID},
                           data=form(client, live, port=dropping_server))
    assert "Server memutus koneksi sebelum pesan terkirim" in response.get_data(as_text=True)

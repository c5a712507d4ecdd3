"""With no mail server the portal keeps its emails: every "check your inbox" says so and links to the one
email, which only its own account can read; with a mail server there is no link and the page is gone."""
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import Email
from tests.helpers import STRONG_PASSWORD, csrf_token_from

NAME = 'Ana <img src=x onerror="alert(1)">'


def token(client, path: str) -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


def signup(client, email="ana@example.com", name=NAME):
    response = client.post("/signup", data={"name": name, "email": email, "password": STRONG_PASSWORD,
                                            "csrf_token": token(client, "/signup")})
    assert response.status_code == 200  # the same "check your inbox" page, whoever has the address (no log-in)
    return response.get_data(as_text=True)


def kept_link(page: str) -> str:
    return re.search(r'href="(/mail/\d+)" data-testid="kept-mail-link"', page).group(1)


def latest(template: str, recipient: str) -> Email:
    return db.session.scalar(select(Email).where(Email.template == template, Email.recipient == recipient)
                             .order_by(Email.id.desc()))


def test_sign_up_says_the_email_was_kept_and_links_to_that_one_email(client):
    page = signup(client)
    assert "no mail server, so the portal kept the message for <strong>ana@example.com</strong>" in page
    assert "We sent" not in page
    link = kept_link(page)
    verification = latest("verify_email", "ana@example.com")
    assert link == f"/mail/{verification.id}"
    shown = client.get(link)
    body = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "Confirm your email address" in body and "Kept by the portal" in body
    assert "/verify/" in body and 'data-testid="kept-mail-action"' in body
    assert '<img src=x' not in body  # text part escaped; the HTML part only as an escaped srcdoc in a sandbox
    assert re.search(r'<iframe[^>]* sandbox srcdoc="[^"]*&lt;html', body)
    # Following the link in it confirms the address; then the new customer logs in.
    action = re.search(r'href="https?://[^/"]+(/verify/[^"]+)" data-testid="kept-mail-action"', body).group(1)
    assert client.get(action).status_code == 302
    client.post("/login", data={"email": "ana@example.com", "password": STRONG_PASSWORD,
                                "csrf_token": token(client, "/login")})
    assert "Please confirm" not in client.get("/").get_data(as_text=True)
    assert client.get("/mail/confirmation").headers["Location"] == link


def test_only_the_account_it_was_written_for_can_read_it(app, client, make_user, login):
    signup(client)
    verification = latest("verify_email", "ana@example.com")
    stranger = app.test_client()
    # Only the browser whose sign-up queued it, or its account once logged in.
    assert stranger.get(f"/mail/{verification.id}").status_code == 404
    assert client.get(f"/mail/{verification.id}").status_code == 200
    other = make_user(email="budi@example.com", name="Budi", verified=False)
    login_client = app.test_client()
    page = login_client.get("/login")
    login_client.post("/login", data={"email": other.email, "password": STRONG_PASSWORD,
                                      "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert login_client.get(f"/mail/{verification.id}").status_code == 404
    assert login_client.get("/mail/confirmation").status_code == 404  # none was written for Budi
    assert login_client.get("/mail/999999").status_code == 404


def test_resend_and_email_change_link_to_the_new_confirmation(client, make_user, login):
    user = make_user(verified=False)
    login(user)
    client.post("/verify/resend", data={"csrf_token": token(client, "/account")})
    page = client.get("/account").get_data(as_text=True)
    assert "kept the new confirmation link for ana@example.com" in page
    assert kept_link(page) == f"/mail/{latest('verify_email', 'ana@example.com').id}"
    client.post("/account", data={"name": "Ana", "email": "ana.baru@example.com",
                                  "csrf_token": token(client, "/account")})
    page = client.get("/account").get_data(as_text=True)
    assert "kept the link for ana.baru@example.com" in page
    assert kept_link(page) == f"/mail/{latest('verify_email', 'ana.baru@example.com').id}"
    assert "the link is in the email the portal kept" in page


def test_forgot_password_never_hands_the_reset_link_to_whoever_asked(client, make_user):
    make_user()
    response = client.post("/forgot", data={"email": "ana@example.com", "csrf_token": token(client, "/forgot")})
    body = response.get_data(as_text=True)
    assert "kept by the portal instead of sent" in body
    assert 'href="/admin/outbox?recipient=ana@example.com"' in body
    reset = latest("password_reset", "ana@example.com")
    assert reset is not None and "/reset/" not in body and "kept-mail-link" not in body


class TestWithAMailServer:
    @pytest.fixture
    def app_config(self, smtp_server):
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False}

    def test_messages_say_sent_with_no_link_and_the_reading_page_is_gone(self, client, make_user):
        page = signup(client)
        assert "We sent a message to <strong>ana@example.com</strong>" in page
        assert "kept" not in page and "/mail/" not in page
        verification = latest("verify_email", "ana@example.com")
        assert verification.state == "sent"
        assert client.get(f"/mail/{verification.id}").status_code == 404
        assert client.get("/mail/confirmation").status_code == 404
        make_user(email="budi@example.com")
        body = client.post("/forgot", data={"email": "budi@example.com", "csrf_token": token(client, "/forgot")}) \
            .get_data(as_text=True)
        assert "we have sent it a link" in body and "outbox" not in body

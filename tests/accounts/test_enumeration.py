"""Sign-up and the profile's email change answer the same whether an address has an account or not; the
address's owner is mailed instead. The profile form is rate-limited."""

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.extensions import db
from portal.notifications.models import Email
from tests.accounts.test_views import HX, form_token
from tests.helpers import STRONG_PASSWORD, without_csrf_tokens


@pytest.fixture
def app_config(smtp_server):
    # A real mail server, as in production: the local try-out's "read the email the portal kept" links are a
    # convenience of a machine with no real addresses (tests/notifications/test_kept_mail.py).
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False}


def _comparable(response, *addresses) -> tuple:
    """What a caller can observe, with the address it typed and the per-request CSRF token blanked out."""
    body = response.get_data(as_text=True)
    for address in addresses:
        body = body.replace(address, "ADDRESS")
    body = without_csrf_tokens(body)
    cookies = sorted(c.split("=", 1)[0] for c in response.headers.getlist("Set-Cookie"))
    headers = {k: v for k, v in response.headers.items() if k not in ("Set-Cookie", "Content-Length", "X-Request-ID")}
    return response.status_code, headers, cookies, body


def _signup(app, email, headers=None):
    browser = app.test_client()
    return browser.post("/signup", headers=headers or {},
                        data={"name": "Someone Else", "email": email, "password": "another long passphrase",
                              "csrf_token": form_token(browser, "/signup")})


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_signup_with_a_taken_email_answers_exactly_like_a_new_one_and_mails_its_owner(app, make_user, headers):
    owner = make_user(email="ana@example.com")
    taken = _signup(app, "ana@example.com", headers)
    fresh = _signup(app, "new.person@example.com", headers)
    assert _comparable(taken, "ana@example.com") == _comparable(fresh, "new.person@example.com")
    assert "already" not in taken.get_data(as_text=True)
    assert db.session.scalar(select(User.name).where(User.email == "ana@example.com")) == "Ana Putri"
    mails = db.session.execute(select(Email.template, Email.recipient, Email.user_id).order_by(Email.id)).all()
    assert ("signup_existing", "ana@example.com", owner.id) in mails
    assert [m.template for m in mails if m.recipient == "new.person@example.com"] == ["welcome", "verify_email"]
    notice = db.session.scalar(select(Email).where(Email.template == "signup_existing"))
    assert "/login" in notice.context["login"] and "/forgot" in notice.context["reset"]


def _change_email(app, user, new_address):
    browser = app.test_client()
    browser.post("/login", data={"email": user.email, "password": STRONG_PASSWORD,
                                 "csrf_token": form_token(browser, "/login")})
    answer = browser.post("/account", data={"name": user.name, "email": new_address,
                                            "csrf_token": form_token(browser, "/account")})
    return answer, browser.get("/account")


def test_profile_email_change_to_a_taken_address_answers_like_a_free_one_and_mails_its_owner(app, make_user):
    owner = make_user(email="taken@example.com", name="Owner")
    first, second = make_user(email="one@example.com", name="Ana"), make_user(email="two@example.com", name="Ana")
    taken, taken_page = _change_email(app, first, "taken@example.com")
    free, free_page = _change_email(app, second, "free@example.com")
    assert _comparable(taken, "taken@example.com") == _comparable(free, "free@example.com")
    assert _comparable(taken_page, "taken@example.com", "one@example.com") == \
        _comparable(free_page, "free@example.com", "two@example.com")
    assert "follow it" in taken_page.get_data(as_text=True)  # the flash: the same words for both
    mails = db.session.execute(select(Email.template, Email.recipient, Email.user_id).order_by(Email.id)).all()
    assert mails == [("email_change_attempt", "taken@example.com", owner.id),
                     ("verify_email", "free@example.com", second.id)]
    assert db.session.get(User, first.id).email == "one@example.com"  # a taken address never becomes theirs


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "AUTH_RATE_LIMIT": "3 per minute"}])
def test_the_profile_form_is_rate_limited(client, make_user, login, app_config):
    user = make_user()
    login(user)
    token = form_token(client, "/account")
    statuses = [client.post("/account", data={"name": "Ana", "email": f"probe{n}@example.com", "csrf_token": token},
                            headers=HX).status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get("/account").status_code == 200  # reading the page is not limited

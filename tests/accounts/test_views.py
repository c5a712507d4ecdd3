"""Account pages through the test client, as a browser posts them and as htmx does."""
import pytest
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.extensions import db
from portal.notifications.models import Email
from tests.helpers import STRONG_PASSWORD, csrf_token_from, without_csrf_tokens

HX = {"HX-Request": "true"}


def users() -> int:
    return db.session.scalar(select(func.count(User.id)))


def form_token(client, path: str) -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


def signup(client, headers=None, **fields):
    data = {"name": "Ana Putri", "email": "ana@example.com", "password": STRONG_PASSWORD,
            "csrf_token": form_token(client, "/signup"), **fields}
    return client.post("/signup", data=data, headers=headers or {})


@pytest.mark.smoke
def test_signup_page_and_a_successful_signup(client):
    page = client.get("/signup")
    assert page.status_code == 200 and "Create your account" in page.get_data(as_text=True)
    response = signup(client)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-testid="signup-sent"' in body and "ana@example.com" in body
    assert users() == 1
    assert client.get("/account").status_code == 302  # logged in only with the password (or after confirming)


def test_signup_over_htmx_answers_with_the_form_block(client):
    response = signup(client, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and 'data-testid="signup-sent"' in body
    assert users() == 1


@pytest.mark.parametrize("fields, message", [
    ({"password": "123"}, "at least 10 characters"),
    ({"password": "password1234"}, "too weak"),
    ({"email": "ana@@example"}, "not valid"),
    ({"name": ""}, "tell us your name"),
])
def test_signup_bad_input_gets_a_clear_message_and_writes_nothing(client, make_user, fields, message):
    make_user(email="taken@example.com")
    before = (users(), db.session.scalar(select(func.count(Email.id))))
    plain = signup(client, **fields)
    assert plain.status_code == 422
    assert message in plain.get_data(as_text=True)
    assert "<html" in plain.get_data(as_text=True)
    fragment = signup(client, headers=HX, **fields)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 422 and message in body
    assert "<html" not in body and body.lstrip().startswith('<div id="signup-form">')
    assert (users(), db.session.scalar(select(func.count(Email.id)))) == before


@pytest.mark.smoke
def test_post_without_csrf_token_is_refused_and_writes_nothing(client):
    response = client.post("/signup", data={"name": "A", "email": "a@example.com", "password": STRONG_PASSWORD})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert users() == 0


def test_login_refreshes_the_session_and_remember_me_sets_a_cookie(client, make_user, login):
    user = make_user()
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        before = session.get("csrf_token")
    response = login(user, remember=True)
    assert response.headers["Location"] == "/"
    with client.session_transaction() as session:
        assert "planted" not in session  # nothing from before log-in survives
        assert session.get("csrf_token") != before
        assert session["_user_id"].startswith(f"{user.id}:")  # this user and this log-in's session key
    assert client.get_cookie("remember_token") is not None


def test_login_without_remember_sets_no_remember_cookie(client, make_user, login):
    login(make_user())
    assert client.get_cookie("remember_token") is None


def test_wrong_login_says_so_without_saying_which_part(client, make_user):
    make_user()
    for email in ("ana@example.com", "nobody@example.com"):
        response = client.post("/login", data={"email": email, "password": "wrong password 123",
                                                "csrf_token": form_token(client, "/login")})
        assert response.status_code == 422
        assert "Wrong email or password." in response.get_data(as_text=True)


def test_login_respects_a_local_next_and_ignores_an_outside_one(client, make_user):
    user = make_user()
    token = form_token(client, "/login")
    ok = client.post("/login?next=/account",
                     data={"email": user.email, "password": STRONG_PASSWORD, "csrf_token": token})
    assert ok.headers["Location"] == "/account"
    client.post("/logout", data={"csrf_token": form_token(client, "/account")})
    token = form_token(client, "/login")
    evil = client.post("/login?next=//evil.example/", data={"email": user.email, "password": STRONG_PASSWORD,
                                                            "csrf_token": token})
    assert evil.headers["Location"] == "/"


def test_disabled_user_cannot_log_in(client, make_user):
    make_user(disabled=True)
    response = client.post("/login", data={"email": "ana@example.com", "password": STRONG_PASSWORD,
                                           "csrf_token": form_token(client, "/login")})
    assert response.status_code == 422 and "disabled" in response.get_data(as_text=True)


@pytest.mark.smoke
def test_logout_needs_a_post_with_csrf(client, make_user, login):
    login(make_user())
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/account").status_code == 200
    response = client.post("/logout", data={"csrf_token": form_token(client, "/account")})
    assert response.status_code == 303
    assert client.get("/account").status_code == 302


def test_pages_that_need_a_login_send_guests_to_it(client):
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_verification_link_from_the_email_verifies(client):
    signup(client)
    email = db.session.scalar(select(Email).where(Email.template == "verify_email"))
    path = email.context["link"].replace("http://portal.test", "")
    response = client.get(path)
    assert response.status_code == 302
    assert db.session.scalar(select(User)).is_verified
    assert "Please confirm" not in client.get("/").get_data(as_text=True)


def test_a_broken_verification_link_gets_a_page_that_explains(client):
    response = client.get("/verify/not-a-token")
    assert response.status_code == 400
    assert "That link did not work" in response.get_data(as_text=True)


def test_forgot_password_answers_the_same_for_known_and_unknown_emails(client, make_user):
    make_user()
    answers = []
    for email in ("ana@example.com", "nobody@example.com"):
        response = client.post("/forgot", data={"email": email, "csrf_token": form_token(client, "/forgot")})
        assert response.status_code == 200
        answers.append(without_csrf_tokens(response.get_data(as_text=True).replace(email, "EMAIL")))
    assert answers[0] == answers[1]
    assert db.session.scalar(select(func.count(Email.id))) == 1


def test_reset_password_page_flow_and_reuse(client, make_user):
    make_user()
    client.post("/forgot", data={"email": "ana@example.com", "csrf_token": form_token(client, "/forgot")})
    link = db.session.scalar(select(Email.context)).get("link").replace("http://portal.test", "")
    mismatch = client.post(link, data={"password": "new long passphrase here", "confirm": "something else",
                                       "csrf_token": form_token(client, link)})
    assert mismatch.status_code == 422 and "do not match" in mismatch.get_data(as_text=True)
    done = client.post(link, data={"password": "new long passphrase here", "confirm": "new long passphrase here",
                                   "csrf_token": form_token(client, link)}, headers=HX)
    assert done.headers["HX-Redirect"] == "/"
    reused = client.get(link)
    assert reused.status_code == 400 and "already been used" in reused.get_data(as_text=True)


def test_profile_edit_and_password_change(client, make_user, login):
    user = make_user()
    login(user)
    token = form_token(client, "/account")
    saved = client.post("/account", data={"name": "Ana Baru", "email": "ana@example.com", "csrf_token": token},
                        headers=HX)
    assert saved.headers["HX-Redirect"] == "/account"
    assert db.session.get(User, user.id).name == "Ana Baru"

    wrong = client.post("/account/password", data={"current_password": "not my password",
                                                   "new_password": "another long passphrase",
                                                   "confirm": "another long passphrase", "csrf_token": token},
                        headers=HX)
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and "current password is not right" in body and "<html" not in body
    assert 'id="password-form"' in body

    changed = client.post("/account/password", data={"current_password": STRONG_PASSWORD,
                                                     "new_password": "another long passphrase",
                                                     "confirm": "another long passphrase", "csrf_token": token})
    assert changed.status_code == 303
    assert client.get("/account").status_code == 200  # this session carries on


def test_password_change_ends_other_sessions(app, make_user):
    user = make_user()

    laptop, phone = app.test_client(), app.test_client()
    for device in (laptop, phone):
        token = form_token(device, "/login")
        device.post("/login", data={"email": user.email, "password": STRONG_PASSWORD, "csrf_token": token,
                                    "remember": "y"})
        assert device.get("/account").status_code == 200
    laptop.post("/account/password", data={"current_password": STRONG_PASSWORD,
                                           "new_password": "another long passphrase",
                                           "confirm": "another long passphrase",
                                           "csrf_token": form_token(laptop, "/account")})
    assert laptop.get("/account").status_code == 200
    assert phone.get("/account").status_code == 302  # session and remember cookie both dead


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "AUTH_RATE_LIMIT": "3 per minute"}])
def test_login_attempts_are_rate_limited(client, make_user, app_config):
    make_user()
    token = form_token(client, "/login")
    statuses = [client.post("/login", data={"email": "ana@example.com", "password": "wrong password 123",
                                            "csrf_token": token}).status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    assert "Too many attempts" in client.post("/login", data={"csrf_token": token}).get_data(as_text=True)

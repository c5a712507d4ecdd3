"""Log-in sessions live on the server: log-out ends this one (its copied cookies stop working), a password
change or a disable ends them all."""
import pytest

from portal.accounts import services
from portal.accounts.models import UserSession
from portal.extensions import db
from tests.accounts.test_views import form_token
from tests.helpers import STRONG_PASSWORD

pytestmark = pytest.mark.smoke


def log_in(device, user, remember=True):
    response = device.post("/login", data={"email": user.email, "password": STRONG_PASSWORD,
                                           "remember": "y" if remember else "",
                                           "csrf_token": form_token(device, "/login")})
    assert response.status_code == 303
    assert device.get("/account").status_code == 200


def replay(app, name: str, value: str):
    """A fresh browser holding only this one copied cookie."""
    thief = app.test_client()
    thief.set_cookie(name, value)
    return thief


def test_log_out_ends_the_session_so_neither_copied_cookie_logs_in(app, client, make_user):
    user = make_user()
    log_in(client, user)
    session_cookie, remember_cookie = client.get_cookie("session").value, client.get_cookie("remember_token").value
    # Before log-out, each copied cookie alone opens the account (so the replay below is a real test).
    assert replay(app, "session", session_cookie).get("/account").status_code == 200
    assert replay(app, "remember_token", remember_cookie).get("/account").status_code == 200

    assert client.post("/logout", data={"csrf_token": form_token(client, "/account")}).status_code == 303
    assert client.get("/account").status_code == 302
    assert client.get_cookie("remember_token") is None  # the browser is told to forget it too
    assert replay(app, "session", session_cookie).get("/account").status_code == 302
    assert replay(app, "remember_token", remember_cookie).get("/account").status_code == 302
    ended = db.session.query(UserSession).one()
    assert ended.ended_at is not None and ended.key_hash not in session_cookie


def test_log_out_on_one_device_keeps_the_others(app, make_user):
    user = make_user()
    laptop, phone = app.test_client(), app.test_client()
    log_in(laptop, user)
    log_in(phone, user)
    laptop.post("/logout", data={"csrf_token": form_token(laptop, "/account")})
    assert laptop.get("/account").status_code == 302
    assert phone.get("/account").status_code == 200


def test_disabling_an_account_ends_every_session(app, make_user):
    user = make_user()
    staff = make_user(email="boss@example.com", staff=True)
    phone = app.test_client()
    log_in(phone, user)
    services.user_set_disabled(user_id=user.id, disabled=True, actor_id=staff.id)
    services.user_set_disabled(user_id=user.id, disabled=False, actor_id=staff.id)
    assert phone.get("/account").status_code == 302  # enabling again does not revive old sessions


def test_a_session_older_than_a_remember_cookie_may_live_is_over(app, make_user):
    user = make_user()
    session_id = services.user_authenticate(email=user.email, password=STRONG_PASSWORD).get_id()
    assert services.user_for_session(session_id).id == user.id
    row = db.session.query(UserSession).one()
    row.created_at = row.created_at - app.config["REMEMBER_COOKIE_DURATION"]
    db.session.commit()
    assert services.user_for_session(session_id) is None
    assert services.user_for_session(f"{user.id}:not-a-key") is None


def test_a_new_log_in_clears_the_users_ended_sessions(app, client, make_user):
    user = make_user()
    log_in(client, user)
    client.post("/logout", data={"csrf_token": form_token(client, "/account")})
    log_in(client, user)
    assert db.session.query(UserSession).filter_by(user_id=user.id).count() == 1

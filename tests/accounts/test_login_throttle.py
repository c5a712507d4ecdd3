"""The per-account throttle: 5 wrong passwords within 15 minutes lock that account's log-in for 15 minutes,
from any address and in any web process, with the same answer as a wrong password; staff see it in the audit log."""
from sqlalchemy import select

from portal import create_app
from portal.audit.models import AuditEntry
from portal.extensions import db
from tests.accounts.test_views import form_token
from tests.helpers import STRONG_PASSWORD

WRONG = "not the password at all"


def attempt(client, password, address="198.51.100.1"):
    response = client.post("/login", data={"email": "ana@example.com", "password": password,
                                           "csrf_token": form_token(client, "/login")},
                           environ_base={"REMOTE_ADDR": address})
    return response.status_code, response.get_data(as_text=True)


def wrong_password_answer(client):
    status, body = attempt(client, WRONG)
    assert status == 422 and "Wrong email or password." in body
    return status


def test_five_failures_lock_the_account_whatever_the_address_then_it_opens_again(app, client, make_user, travel):
    user = make_user()
    for n in range(5):  # each from another address: the per-address limit would never see them
        assert attempt(client, WRONG, address=f"203.0.113.{n}")[0] == 422
    status, body = attempt(client, STRONG_PASSWORD, address="192.0.2.99")
    assert status == 422 and "Wrong email or password." in body  # the right password, refused like a wrong one
    assert client.get("/account").status_code == 302
    lock = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.login_locked"))
    assert lock.target_id == str(user.id) and lock.details["failures"] == 5
    staff = make_user(email="boss@example.com", staff=True)
    staff_client = app.test_client()
    travel.by(minutes=14, seconds=59)
    assert attempt(client, STRONG_PASSWORD)[0] == 422  # still locked
    travel.by(seconds=2)
    assert attempt(client, STRONG_PASSWORD)[0] == 303  # the lock is over
    staff_client.post("/login", data={"email": staff.email, "password": STRONG_PASSWORD,
                                      "csrf_token": form_token(staff_client, "/login")})
    audit = staff_client.get("/admin/audit?action=user.login_locked").get_data(as_text=True)
    assert "user.login_locked" in audit


def test_failures_spread_beyond_the_window_do_not_lock(client, make_user, travel):
    make_user()
    for _ in range(4):
        wrong_password_answer(client)
    travel.by(minutes=15, seconds=1)
    for _ in range(4):
        wrong_password_answer(client)
    assert attempt(client, STRONG_PASSWORD)[0] == 303


def test_a_successful_log_in_starts_the_count_again(app, client, make_user, travel):
    make_user()
    for _ in range(4):
        wrong_password_answer(client)
    assert attempt(client, STRONG_PASSWORD)[0] == 303
    other = app.test_client()
    for _ in range(4):
        wrong_password_answer(other)
    assert attempt(other, STRONG_PASSWORD)[0] == 303


def test_the_count_is_kept_in_the_database_so_every_web_process_shares_it(app, make_user, travel):
    make_user()
    second_process = create_app({**app.config, "SQLALCHEMY_DATABASE_URI": db.engine.url.render_as_string(False)})
    clients = [app.test_client(), second_process.test_client()]
    for n in range(5):
        wrong_password_answer(clients[n % 2])
    assert attempt(clients[1], STRONG_PASSWORD)[0] == 422
    assert attempt(clients[0], STRONG_PASSWORD)[0] == 422


def test_an_unknown_address_answers_the_same_and_locks_nothing(client, make_user, travel):
    make_user()
    for _ in range(6):
        response = client.post("/login", data={"email": "nobody@example.com", "password": WRONG,
                                               "csrf_token": form_token(client, "/login")})
        assert response.status_code == 422 and "Wrong email or password." in response.get_data(as_text=True)
    assert attempt(client, STRONG_PASSWORD)[0] == 303

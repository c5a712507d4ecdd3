"""Account services called directly, as views, tasks and the CLI call them."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.accounts import services, tokens
from portal.accounts.models import User
from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.notifications.models import Email
from tests.helpers import STRONG_PASSWORD

pytestmark = pytest.mark.smoke


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def register(email="Ana@Example.COM", password=STRONG_PASSWORD, name="Ana Putri"):
    return services.user_register(name=name, email=email, password=password, ip="127.0.0.1")


def link_token(email: Email) -> str:
    return email.context["link"].rsplit("/", 1)[1]


def test_register_stores_a_lowercased_unverified_user_with_an_argon2_hash(app):
    user = register()
    assert user.email == "ana@example.com"
    assert not user.is_verified and not user.is_staff
    assert user.password_hash.startswith("$argon2id$")
    assert STRONG_PASSWORD not in user.password_hash
    templates = sorted(db.session.scalars(select(Email.template).where(Email.user_id == user.id)))
    assert templates == ["verify_email", "welcome"]


@pytest.mark.parametrize("email", ["ana@example.com", "ANA@EXAMPLE.COM", "  Ana@example.com "])
def test_signing_up_with_a_taken_email_in_any_case_creates_nothing_and_tells_its_owner(app, email):
    owner = register()
    users = count(User)
    assert register(email=email) is None
    assert count(User) == users
    notice = db.session.scalar(select(Email).where(Email.template == "signup_existing"))
    assert (notice.recipient, notice.user_id) == ("ana@example.com", owner.id)
    assert register(email=email) is None  # a second try within the hour mails nothing more
    assert count(Email) == 3


@pytest.mark.parametrize("password, reason", [
    ("short", "at least 10"),
    ("password123", "very common password"),
    ("passwordpassword", "too weak"),
    ("anaputri2024", "too weak"),
    ("qwertyuiopas", "too weak"),
])
def test_weak_password_is_refused_with_a_reason(app, password, reason):
    with pytest.raises(services.WeakPassword) as error:
        register(password=password)
    assert reason in error.value.message
    assert count(User) == 0 and count(Email) == 0


@pytest.mark.parametrize("email", ["not-an-email", "ana@", "@example.com", "ana@exa mple.com", ""])
def test_malformed_email_is_refused(app, email):
    with pytest.raises(services.InvalidEmail):
        register(email=email)
    assert count(User) == 0


def test_verification_token_marks_the_address_verified_once(app):
    user = register()
    verification = db.session.scalar(select(Email).where(Email.template == "verify_email"))
    verified = services.user_verify_email(token=link_token(verification))
    assert verified.id == user.id and verified.is_verified
    first = verified.email_verified_at
    again = services.user_verify_email(token=link_token(verification))
    assert again.email_verified_at == first


def test_verification_token_wrong_or_expired_or_for_an_old_address(app):
    user = register()
    with pytest.raises(services.InvalidToken):
        services.user_verify_email(token="garbage")
    reset_shaped = tokens.token_make(tokens.RESET_SALT, {"uid": user.id, "email": user.email})
    with pytest.raises(services.InvalidToken):
        services.user_verify_email(token=reset_shaped)  # a token for another purpose
    app.config["EMAIL_VERIFICATION_MAX_AGE"] = timedelta(seconds=-1)
    good = tokens.token_make(tokens.VERIFY_SALT, {"uid": user.id, "email": user.email})
    with pytest.raises(services.InvalidToken, match="expired"):
        services.user_verify_email(token=good)
    app.config["EMAIL_VERIFICATION_MAX_AGE"] = timedelta(hours=1)
    old_address = tokens.token_make(tokens.VERIFY_SALT, {"uid": user.id, "email": "old@example.com"})
    with pytest.raises(services.InvalidToken):
        services.user_verify_email(token=old_address)
    assert not db.session.get(User, user.id).is_verified


def test_authenticate(app, make_user):
    user = make_user(email="budi@example.com")
    assert services.user_authenticate(email="BUDI@example.com", password=STRONG_PASSWORD).id == user.id
    with pytest.raises(services.InvalidCredentials):
        services.user_authenticate(email="budi@example.com", password="wrong password here")
    with pytest.raises(services.InvalidCredentials):
        services.user_authenticate(email="nobody@example.com", password=STRONG_PASSWORD)
    actions = list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["user.login", "user.login_failed", "user.login_failed"]


def test_disabled_user_cannot_authenticate(app, make_user):
    make_user(email="off@example.com", disabled=True)
    with pytest.raises(services.AccountDisabled):
        services.user_authenticate(email="off@example.com", password=STRONG_PASSWORD)


def test_password_reset_is_silent_about_unknown_addresses(app, make_user):
    services.password_reset_request(email="nobody@example.com")
    services.password_reset_request(email="not an email")
    assert count(Email) == 0
    make_user(email="siti@example.com")
    services.password_reset_request(email="Siti@example.com")
    assert db.session.scalar(select(Email.template)) == "password_reset"


def test_password_reset_token_is_single_use_and_expires(app, make_user):
    user = make_user(email="siti@example.com", verified=False)
    other_device = services.user_authenticate(email=user.email, password=STRONG_PASSWORD).get_id()
    services.password_reset_request(email=user.email)
    token = link_token(db.session.scalar(select(Email).where(Email.template == "password_reset")))
    new_password = "a brand new long passphrase"
    services.password_reset(token=token, new_password=new_password)
    user = db.session.get(User, user.id)
    assert services.user_authenticate(email=user.email, password=new_password).id == user.id
    assert services.user_for_session(other_device) is None  # every other session ends
    assert user.is_verified  # the emailed link proved the address
    with pytest.raises(services.InvalidToken, match="already been used"):
        services.password_reset(token=token, new_password="yet another long passphrase")

    services.password_reset_request(email=user.email)
    app.config["PASSWORD_RESET_MAX_AGE"] = timedelta(seconds=-1)
    latest = db.session.scalars(select(Email).where(Email.template == "password_reset")
                                .order_by(Email.id.desc())).first()
    with pytest.raises(services.InvalidToken, match="expired"):
        services.password_reset(token=link_token(latest), new_password="yet another long passphrase")


def test_password_reset_refuses_a_weak_password_and_keeps_the_old_one(app, make_user):
    user = make_user(email="siti@example.com")
    services.password_reset_request(email=user.email)
    token = link_token(db.session.scalar(select(Email).where(Email.template == "password_reset")))
    with pytest.raises(services.WeakPassword):
        services.password_reset(token=token, new_password="12345")
    assert services.user_authenticate(email=user.email, password=STRONG_PASSWORD)


def test_password_change_asks_for_the_current_password(app, make_user):
    user = make_user()
    with pytest.raises(services.WrongPassword):
        services.password_change(user_id=user.id, current_password="not it at all",
                                 new_password="fresh long passphrase ok")
    with pytest.raises(services.WeakPassword):
        services.password_change(user_id=user.id, current_password=STRONG_PASSWORD, new_password="abc")
    assert services.user_authenticate(email=user.email, password=STRONG_PASSWORD)
    services.password_change(user_id=user.id, current_password=STRONG_PASSWORD, new_password="fresh long passphrase ok")
    assert services.user_authenticate(email=user.email, password="fresh long passphrase ok")


def test_profile_update_changing_email_takes_effect_once_the_new_address_is_confirmed(app, make_user):
    user = make_user(email="ana@example.com")
    services.profile_update(user_id=user.id, name="Ana P.", email="Ana.New@example.com")
    user = db.session.get(User, user.id)
    assert (user.name, user.email, user.pending_email, user.is_verified) == \
        ("Ana P.", "ana@example.com", "ana.new@example.com", True)
    link = db.session.scalar(select(Email).where(Email.template == "verify_email"))
    assert link.recipient == "ana.new@example.com"
    services.user_verify_email(token=link_token(link))
    user = db.session.get(User, user.id)
    assert (user.email, user.pending_email, user.is_verified) == ("ana.new@example.com", None, True)
    sent = sorted(db.session.execute(select(Email.template, Email.recipient)).all())
    assert sent == [("email_changed", "ana@example.com"), ("verify_email", "ana.new@example.com")]


def test_profile_update_to_a_taken_email_stays_pending_and_tells_its_owner(app, make_user):
    user = make_user(email="ana@example.com")
    other = make_user(email="taken@example.com", name="Other")
    services.profile_update(user_id=user.id, name="Ana", email="TAKEN@example.com")
    user = db.session.get(User, user.id)
    assert (user.email, user.pending_email) == ("ana@example.com", "taken@example.com")
    sent = db.session.execute(select(Email.template, Email.recipient, Email.user_id)).all()
    assert sent == [("email_change_attempt", "taken@example.com", other.id)]
    services.profile_update(user_id=user.id, name="Ana", email="ana@example.com")  # withdrawn
    assert db.session.get(User, user.id).pending_email is None


def test_only_verified_users_may_check_out(app, make_user):
    unverified = make_user(email="new@example.com", verified=False)
    with pytest.raises(services.EmailNotVerified):
        services.checkout_allowed(user_id=unverified.id)
    services.checkout_allowed(user_id=make_user(email="ok@example.com").id)


def test_create_staff_command(app, make_user):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-staff", "Boss@Example.com"])
    assert result.exit_code == 0, result.output
    assert "Password:" in result.output
    boss = services.user_by_email("boss@example.com")
    assert boss.is_staff and boss.is_verified
    customer = make_user(email="cust@example.com")
    result = runner.invoke(args=["create-staff", "cust@example.com"])
    assert result.exit_code == 0 and "Password:" not in result.output
    assert db.session.get(User, customer.id).is_staff
    bad = runner.invoke(args=["create-staff", "not-an-email"])
    assert bad.exit_code != 0 and "not valid" in bad.output

"""Account operations: register, verify, authenticate, reset and change passwords, edit profile, log-in sessions."""
import functools
import hashlib
import secrets
import zoneinfo

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, case, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal.accounts import passwords, tokens
from portal.accounts.models import User, UserSession
from portal.audit.services import audit_record
from portal.extensions import db
from portal.i18n import LOCALES
from portal.links import absolute_url
from portal.notifications.services import email_queue
from portal.plain_text import has_control_characters
from portal.timestamps import UtcDateTime, utcnow
from portal.unit_of_work import use_case


class AccountError(Exception):
    """A request about an account that cannot be honoured; `field` names the form field at fault."""
    field: str | None = None

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        if field:
            self.field = field


class InvalidEmail(AccountError):
    field = "email"


class WeakPassword(AccountError):
    field = "password"


class InvalidCredentials(AccountError):
    """Wrong email or password (deliberately not saying which)."""


class AccountDisabled(AccountError):
    pass


class WrongPassword(AccountError):
    field = "current_password"


class InvalidToken(AccountError):
    pass


class EmailNotVerified(AccountError):
    pass


def email_normalise(email: str) -> str:
    """Lower-cased, syntax-checked address; raises InvalidEmail in words a person understands."""
    try:
        checked = validate_email((email or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(_("That email address is not valid: %(reason)s", reason=exc)) from exc
    return checked.normalized.lower()


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def _check_password_strength(password: str, *, email: str, name: str, field: str = "password") -> None:
    # The person's own name and address are the first things a guesser tries.
    local_part = email.split("@")[0]
    hints = [email, local_part, *local_part.replace(".", " ").split(), name, "".join(name.split()), *name.split()]
    problem = passwords.password_weakness(password, hints=hints)
    if problem:
        raise WeakPassword(problem, field=field)


def _queue_verification(user: User, address: str | None = None):
    """The link that confirms `address` (the account's own email unless a new one is given) is theirs."""
    address = address or user.email
    token = tokens.token_make(tokens.VERIFY_SALT, {"uid": user.id, "email": address})
    return email_queue(
        template="verify_email", recipient=address, user_id=user.id,
        key=f"verify:{user.id}:{tokens.fingerprint(token)}",
        context={"name": user.name, "link": absolute_url("accounts.verify_email", token=token),
                 "hours": int(current_app.config["EMAIL_VERIFICATION_MAX_AGE"].total_seconds() // 3600)})


def _queue_address_notice(owner: User, *, template: str):
    """Tell an address's owner that someone tried to use it; at most once an hour, so it cannot be used to flood."""
    return email_queue(template=template, recipient=owner.email, user_id=owner.id,
                       key=f"{template}:{owner.id}:{utcnow():%Y%m%d%H}",
                       context={"name": owner.name, "login": absolute_url("accounts.login"),
                                "reset": absolute_url("accounts.forgot_password")})


def _checked_name(name: str) -> str:
    """The name as it will be stored; raises AccountError on the name field when it cannot be."""
    name = (name or "").strip()
    if not name:
        raise AccountError(_("Please tell us your name."), field="name")
    if has_control_characters(name):
        raise AccountError(_("Your name cannot contain line breaks, tabs or other control characters."), field="name")
    return name


class _AddressTakenMeanwhile(Exception):
    """A concurrent sign-up with the same address won the race: that account is theirs."""


def user_register(*, name: str, email: str, password: str, ip: str | None = None,
                  locale: str | None = None) -> User | None:
    """Create an unverified customer and send the welcome and verification emails, in `locale` (the language the
    sign-up page was read in, kept as the customer's choice until they change it).

    An address that already has an account gets a notice instead and None is returned: the caller answers
    both the same way, so sign-up does not tell who has an account."""
    try:
        return _user_register(name=name, email=email, password=password, ip=ip, locale=locale)
    except _AddressTakenMeanwhile:
        return None


@use_case
def _user_register(*, name: str, email: str, password: str, ip: str | None, locale: str | None) -> User | None:
    name = _checked_name(name)
    email = email_normalise(email)
    _check_password_strength(password, email=email, name=name)
    password_hash = passwords.password_hash(password)  # hashed either way: the answer takes as long
    owner = user_by_email(email)
    if owner is not None:
        _queue_address_notice(owner, template="signup_existing")
        audit_record(action="user.signup_existing", actor_id=None, target_type="user", target_id=owner.id, ip=ip)
        return None
    user = User(name=name[:120], email=email, password_hash=password_hash, is_staff=False, disabled=False,
                locale=locale if locale in LOCALES else None)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as exc:
        raise _AddressTakenMeanwhile() from exc
    email_queue(template="welcome", recipient=email, user_id=user.id, key=f"welcome:{user.id}",
                context={"name": user.name, "link": absolute_url("home.index")})
    _queue_verification(user)
    audit_record(action="user.registered", actor_id=user.id, target_type="user", target_id=user.id, ip=ip)
    return user


@use_case
def email_verification_resend(*, user_id: int, actor_id: int | None = None, ip: str | None = None) -> None:
    """Send the confirmation link again; when staff do it (`actor_id`), it is audited."""
    user = db.session.get(User, user_id)
    if user is None or user.is_verified:
        return
    _queue_verification(user)
    if actor_id is not None:
        audit_record(action="user.verification_resent", actor_id=actor_id, target_type="user", target_id=user.id,
                     ip=ip)


@use_case
def user_verify_email(*, token: str) -> User:
    """Mark the address in the token verified: the account's own, or the new one it asked to change to
    (which then replaces it, and the old address is told)."""
    try:
        payload = tokens.token_read(tokens.VERIFY_SALT, token, current_app.config["EMAIL_VERIFICATION_MAX_AGE"])
    except tokens.TokenInvalid as exc:
        raise InvalidToken(str(exc)) from exc
    user = db.session.get(User, payload.get("uid"))
    address = payload.get("email")
    if user is None or address not in (user.email, user.pending_email):
        raise InvalidToken(_("This link is not valid."))
    if address == user.pending_email:
        old_address, user.email, user.pending_email = user.email, address, None
        user.email_verified_at = utcnow()
        email_queue(template="email_changed", recipient=old_address, user_id=user.id,
                    key=f"email-changed:{user.id}:{tokens.fingerprint(token)}",
                    context={"name": user.name, "new_email": address})
        audit_record(action="user.email_changed", actor_id=user.id, target_type="user", target_id=user.id,
                     details={"from": old_address, "to": address})
    elif user.email_verified_at is None:
        user.email_verified_at = utcnow()
        audit_record(action="user.email_verified", actor_id=user.id, target_type="user", target_id=user.id)
    try:
        db.session.flush()
    except IntegrityError as exc:  # the address got an account of its own since the link was sent
        raise InvalidToken(_("This address is no longer available for your account.")) from exc
    return user


@use_case(keep_on=(InvalidCredentials,))
def user_authenticate(*, email: str, password: str, ip: str | None = None) -> User:
    """The user with these credentials, logged in on a new session (`user.session_key`); raises
    InvalidCredentials (also while the account's log-in is locked, so a lock tells nothing) or AccountDisabled."""
    user = user_by_email(email or "")
    now = utcnow()
    locked = user is not None and user.login_locked_until is not None and user.login_locked_until > now
    # The hash is checked even when locked: a locked account answers as slowly as any other.
    matches = passwords.password_matches(user.password_hash if user else None, password or "")
    if locked or not matches:
        audit_record(action="user.login_failed", actor_id=user.id if user else None, target_type="user",
                     target_id=user.id if user else None, ip=ip,
                     details={"email": (email or "")[:254], **({"locked": True} if locked else {})})
        if user is not None and not locked:
            _login_failure_count(user, now=now, ip=ip)
        raise InvalidCredentials(_("Wrong email or password."))
    if user.disabled:
        raise AccountDisabled(_("This account has been disabled. Contact support if you think this is a mistake."))
    if passwords.password_needs_rehash(user.password_hash):
        user.password_hash = passwords.password_hash(password)
    user.last_login_at = now
    user.login_failures, user.login_failures_since, user.login_locked_until = 0, None, None
    _session_open(user, ip=ip)
    audit_record(action="user.login", actor_id=user.id, target_type="user", target_id=user.id, ip=ip)
    return user


def _login_failure_count(user: User, *, now, ip: str | None) -> None:
    """Count a wrong password against the account; the limit within the window locks its log-in."""
    config = current_app.config
    window_over = or_(User.login_failures_since.is_(None),
                      User.login_failures_since <= now - config["LOGIN_FAILURE_WINDOW"])
    # One statement, so web workers failing at the same moment each count (no read-then-write race).
    failures = db.session.execute(
        update(User).where(User.id == user.id)
        .values(login_failures=case((window_over, 1), else_=User.login_failures + 1),
                login_failures_since=case((window_over, now), else_=User.login_failures_since))
        .returning(User.login_failures)).scalar_one()
    if failures >= config["LOGIN_FAILURE_LIMIT"]:
        until = now + config["LOGIN_LOCK_DURATION"]
        db.session.execute(update(User).where(User.id == user.id)
                           .values(login_failures=0, login_failures_since=None, login_locked_until=until))
        audit_record(action="user.login_locked", actor_id=None, target_type="user", target_id=user.id, ip=ip,
                     details={"failures": failures, "until": until.isoformat()})


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _session_open(user: User, *, ip: str | None) -> None:
    """A new log-in session for this user in the caller's transaction; its key goes into the cookies."""
    # The user's ended and outlived sessions go as a new one starts: the table holds live sessions only.
    oldest = utcnow() - current_app.config["REMEMBER_COOKIE_DURATION"]
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id,
                                                 or_(UserSession.ended_at.is_not(None),
                                                     UserSession.created_at <= oldest)))
    key = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, key_hash=_key_hash(key), ip=ip, created_at=utcnow()))
    user.session_key = key


def _sessions_end_all(user_id: int) -> None:
    db.session.execute(update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
                       .values(ended_at=utcnow()))


@use_case
def session_end(*, session_id: str, ip: str | None = None) -> None:
    """Log-out: end this session on the server, so its session and remember-me cookies stop working."""
    user_id, _, key = (session_id or "").partition(":")
    if not user_id.isdigit() or not key:
        return
    ended = db.session.execute(
        update(UserSession).where(UserSession.key_hash == _key_hash(key), UserSession.user_id == int(user_id),
                                  UserSession.ended_at.is_(None)).values(ended_at=utcnow()))
    if ended.rowcount:
        audit_record(action="user.logout", actor_id=int(user_id), target_type="user", target_id=int(user_id), ip=ip)


@use_case
def password_reset_request(*, email: str, ip: str | None = None) -> None:
    """Email a reset link if an account has this address; silent either way."""
    try:
        address = email_normalise(email)
    except InvalidEmail:
        return
    user = user_by_email(address)
    if user is None or user.disabled:
        return
    token = tokens.token_make(tokens.RESET_SALT, {"uid": user.id, "pw": tokens.fingerprint(user.password_hash)})
    email_queue(
        template="password_reset", recipient=user.email, user_id=user.id,
        key=f"reset:{user.id}:{tokens.fingerprint(token)}",
        context={"name": user.name, "link": absolute_url("accounts.reset_password", token=token),
                 "minutes": int(current_app.config["PASSWORD_RESET_MAX_AGE"].total_seconds() // 60)})
    audit_record(action="user.password_reset_requested", actor_id=user.id, target_type="user",
                 target_id=user.id, ip=ip)


def password_reset_user(*, token: str) -> User:
    """The user a reset link is for; the link dies once the password changes (single use)."""
    try:
        payload = tokens.token_read(tokens.RESET_SALT, token, current_app.config["PASSWORD_RESET_MAX_AGE"])
    except tokens.TokenInvalid as exc:
        raise InvalidToken(str(exc)) from exc
    user = db.session.get(User, payload.get("uid"))
    if user is None or user.disabled or payload.get("pw") != tokens.fingerprint(user.password_hash):
        raise InvalidToken(_("This link has already been used or is no longer valid."))
    return user


@use_case
def password_reset(*, token: str, new_password: str, ip: str | None = None) -> User:
    user = password_reset_user(token=token)
    _check_password_strength(new_password, email=user.email, name=user.name)
    _set_password(user, new_password, ip=ip)
    # Following the emailed link proves the address is theirs.
    user.email_verified_at = user.email_verified_at or utcnow()
    audit_record(action="user.password_reset", actor_id=user.id, target_type="user", target_id=user.id, ip=ip)
    return user


def _set_password(user: User, new_password: str, *, ip: str | None) -> None:
    """New password: every session and remember-me cookie ends; the person who changed it carries on in a new one."""
    user.password_hash = passwords.password_hash(new_password)
    _sessions_end_all(user.id)
    _session_open(user, ip=ip)


@use_case
def password_change(*, user_id: int, current_password: str, new_password: str, ip: str | None = None) -> User:
    user = db.session.get(User, user_id)
    if not passwords.password_matches(user.password_hash, current_password or ""):
        raise WrongPassword(_("Your current password is not right."))
    if current_password == new_password:
        raise WeakPassword(_("Choose a password different from the current one."), field="new_password")
    _check_password_strength(new_password, email=user.email, name=user.name, field="new_password")
    _set_password(user, new_password, ip=ip)
    audit_record(action="user.password_changed", actor_id=user.id, target_type="user", target_id=user.id, ip=ip)
    return user


@use_case
def profile_update(*, user_id: int, name: str, email: str, ip: str | None = None) -> User:
    """Change the name; a new email becomes `pending_email` and replaces the old one once its link is followed.

    A taken address is answered the same way (it stays pending, never confirmed) and its owner is told instead,
    so the profile form does not tell who has an account."""
    user = db.session.get(User, user_id)
    name = _checked_name(name)
    address = email_normalise(email)
    user.name = name[:120]
    if address == user.email:
        user.pending_email = None  # asking for the current address again withdraws a pending change
    elif address != user.pending_email:
        user.pending_email = address
        owner = user_by_email(address)
        if owner is None:
            _queue_verification(user, address)
        else:
            _queue_address_notice(owner, template="email_change_attempt")
        audit_record(action="user.email_change_requested", actor_id=user.id, target_type="user", target_id=user.id,
                     ip=ip, details={"from": user.email, "to": address})
    return user


@use_case
def staff_create(*, email: str, password: str | None = None, name: str | None = None) -> tuple[User, str | None]:
    """Make the account with this email staff, creating it (verified) if needed.

    Returns the user and, when one had to be generated, the new account's password.
    """
    address = email_normalise(email)
    user = user_by_email(address)
    generated = None
    if user is None:
        if password is None:
            generated = password = secrets.token_urlsafe(12)
        else:
            _check_password_strength(password, email=address, name=name or "")
        user = User(email=address, name=name or address.split("@")[0], password_hash=passwords.password_hash(password),
                    email_verified_at=utcnow())
        db.session.add(user)
    user.is_staff = True
    db.session.flush()
    audit_record(action="user.staff_granted", actor_id=None, target_type="user", target_id=user.id,
                 details={"via": "cli"})
    return user, generated


def checkout_allowed(*, user_id: int) -> None:
    """Raise EmailNotVerified unless this user may buy: checkout needs a verified address."""
    user = db.session.get(User, user_id)
    if user is None or not user.is_verified:
        raise EmailNotVerified(_("Please verify your email address before you buy. We can send the link again."))


@functools.cache
def _session_user_statement():
    """The loader's query, built once: every request asks it, and building it anew cost as much as running it."""
    return (select(User).join(UserSession, UserSession.user_id == User.id)
            .where(UserSession.key_hash == bindparam("key_hash"), UserSession.user_id == bindparam("user_id"),
                   UserSession.ended_at.is_(None), UserSession.created_at > bindparam("oldest", type_=UtcDateTime),
                   User.disabled.is_(False)))


def user_for_session(session_id: str) -> User | None:
    """Flask-Login's loader: the cookie carries 'user id:session key'; the session must be open on the server
    and younger than a remember-me cookie may be."""
    user_id, _, key = (session_id or "").partition(":")
    if not user_id.isdigit() or not key:
        return None
    oldest = utcnow() - current_app.config["REMEMBER_COOKIE_DURATION"]
    user = db.session.scalar(_session_user_statement(),
                             {"key_hash": _key_hash(key), "user_id": int(user_id), "oldest": oldest})
    if user is not None:
        user.session_key = key
    return user


@use_case
def user_set_disabled(*, user_id: int, disabled: bool, actor_id: int, ip: str | None = None) -> User:
    """Disable or enable an account (staff); disabling ends every session at once."""
    user = db.session.get(User, user_id)
    if user.id == actor_id and disabled:
        raise AccountError(_("You cannot disable your own account."))
    user.disabled = disabled
    if disabled:
        _sessions_end_all(user.id)
    audit_record(action="user.disabled" if disabled else "user.enabled", actor_id=actor_id, target_type="user",
                 target_id=user.id, ip=ip)
    return user


@use_case
def user_set_staff(*, user_id: int, staff: bool, actor_id: int, ip: str | None = None) -> User:
    user = db.session.get(User, user_id)
    if user.id == actor_id and not staff:
        raise AccountError(_("You cannot revoke your own staff access."))
    user.is_staff = staff
    audit_record(action="user.staff_granted" if staff else "user.staff_revoked", actor_id=actor_id,
                 target_type="user", target_id=user.id, ip=ip)
    return user


class InvalidTimezone(AccountError):
    field = "timezone"


@functools.cache
def timezone_names() -> tuple[str, ...]:
    """The IANA zones a person can pick: Area/City names, without the Etc/ aliases."""
    return tuple(sorted(zone for zone in zoneinfo.available_timezones() if "/" in zone and not zone.startswith("Etc/")))


@use_case
def user_set_timezone(*, user_id: int, zone: str, ip: str | None = None) -> User:
    """The zone this person reads times in, on pages and in emails; refused unless a known IANA name."""
    zone = (zone or "").strip()
    if zone not in timezone_names():
        raise InvalidTimezone(_("Pick a time zone from the list, for example Asia/Jakarta."))
    user = db.session.get(User, user_id)
    user.timezone = zone
    audit_record(action="user.timezone_changed", actor_id=user.id, target_type="user", target_id=user.id, ip=ip,
                 details={"timezone": zone})
    return user


class InvalidLocale(AccountError):
    field = "locale"


@use_case
def user_set_locale(*, user_id: int, locale: str, ip: str | None = None) -> User:
    """The language this person reads pages and emails in; refused unless one the portal speaks."""
    if locale not in LOCALES:
        raise InvalidLocale(_("Pick a language from the list."))
    user = db.session.get(User, user_id)
    user.locale = locale
    audit_record(action="user.locale_changed", actor_id=user.id, target_type="user", target_id=user.id, ip=ip,
                 details={"locale": locale})
    return user

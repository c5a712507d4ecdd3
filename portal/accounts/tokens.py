"""Signed, expiring tokens for email verification and password reset."""
import hashlib
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

VERIFY_SALT = "portal.verify-email"
RESET_SALT = "portal.password-reset"


class TokenInvalid(Exception):
    """The link is broken, was made for something else, or has been used."""


class TokenExpired(TokenInvalid):
    """The link was genuine but is too old."""


def _serializer(salt: str) -> URLSafeTimedSerializer:
    # Signed with the current key; links signed with a key being rotated out (SECRET_KEY_FALLBACKS) still work.
    keys = [*current_app.config.get("SECRET_KEY_FALLBACKS", []), current_app.config["SECRET_KEY"]]
    return URLSafeTimedSerializer(keys, salt=salt)


def fingerprint(value: str) -> str:
    """A short digest that changes when `value` does (used to make reset links single-use)."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def token_make(salt: str, payload: dict) -> str:
    return _serializer(salt).dumps(payload)


def token_read(salt: str, token: str, max_age: timedelta) -> dict:
    try:
        payload = _serializer(salt).loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired as exc:
        raise TokenExpired(_("This link has expired.")) from exc
    except BadSignature as exc:
        raise TokenInvalid(_("This link is not valid.")) from exc
    if not isinstance(payload, dict):
        raise TokenInvalid(_("This link is not valid."))
    return payload

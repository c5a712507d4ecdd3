"""Password hashing (argon2id) and the strength rule every new password must pass."""
import functools
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import get_locale
from flask_babel import gettext as _

_hasher = PasswordHasher()
# Each argon2 hash or check holds memory_cost (64 MiB) while it runs: with a web worker's four threads logging
# in at once that was 4 x 64 MiB on top of the worker (384 MiB peak). One at a time per process keeps a worker
# under 200 MiB; the others wait their turn (a hash takes tens of milliseconds, and the cores are the limit
# anyway).
_hashing = threading.BoundedSemaphore(1)

MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable: moderate protection from offline attacks"


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a miss costs as much time as a wrong password (made on
    first use, not at import: a worker that never sees a log-in never pays for it)."""
    return password_hash("not-a-real-password")


def password_hash(password: str) -> str:
    with _hashing:
        return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    against = stored_hash or _dummy_hash()
    try:
        with _hashing:
            return _hasher.verify(against, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def password_weakness(password: str, *, hints: list[str]) -> str | None:
    """Why the password is too weak, in words for the person choosing it, or None when it is fine."""
    if len(password) < MIN_LENGTH:
        return _("Use at least %(num)d characters.", num=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return _("Use at most %(num)d characters.", num=MAX_LENGTH)
    # Imported here: its frequency lists are ~13 MiB that only sign-up and password changes need.
    from zxcvbn import zxcvbn

    # zxcvbn is slow on very long inputs and a long password is strong anyway.
    result = zxcvbn(password[:100], user_inputs=[h for h in hints if h])
    if result["score"] < MIN_SCORE:
        # zxcvbn's own advice is English only: other languages get the general reason.
        advice = result["feedback"].get("warning") if getattr(get_locale(), "language", "en") == "en" else None
        return _("This password is too weak: %(advice)s. Add more words or characters.",
                 advice=(advice or _("It would be easy to guess.")).rstrip("."))
    return None

"""Polled fragments answer an unchanged poll with 304, from an ETag of the versions of what they show."""
import hashlib
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, abort, current_app, request, session
from flask_babel import get_locale
from flask_login import current_user

# Changes to any of these change what a fragment renders, so the build token covers them.
_BUILD_FOLDERS = ("templates", "portal")
# Config values never fed to the build token, even as a digest.
_SECRET_WORDS = ("SECRET", "PASSWORD", "KEY", "TOKEN", "URI", "URL")


def fragment_etag(*parts) -> str:
    """A short digest of plain values (ids, states, timestamps, JSON documents): equal parts, equal tag."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def fragment_requested() -> bool:
    """htmx asks for the page's polled block, not the page (the test render_page makes)."""
    return bool(getattr(request, "htmx", False)) and not request.htmx.boosted


def build_token(app: Flask) -> str:
    """What this deployment renders with: the code and templates on disk and the settings.

    Computed once per process from file sizes and times, so every worker of one release agrees (a poll
    answered by another worker still gets its 304) and a new release never matches an old tag.
    """
    token = app.extensions.get("fragment_build")
    if token is None:
        root = Path(app.root_path).parent
        files = sorted((str(path.relative_to(root)), path.stat().st_size, path.stat().st_mtime_ns)
                       for folder in _BUILD_FOLDERS for path in (root / folder).rglob("*")
                       if path.is_file() and path.suffix in (".html", ".py", ".yaml", ".txt"))
        settings = sorted((name, repr(value)) for name, value in app.config.items()
                          if not any(word in name for word in _SECRET_WORDS)
                          and isinstance(value, str | int | float | bool | type(None)))
        token = app.extensions["fragment_build"] = fragment_etag(files, settings)
    return token


def _reader() -> tuple:
    """Whatever of the reader a fragment may render: who, their language and zone, their form token, messages
    waiting."""
    user_id = current_user.get_id() if current_user.is_authenticated else None
    zone = getattr(current_user, "timezone", None)
    # The form token rendered into fragments is derived from this session value; a new session, a new token.
    csrf = session.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    return user_id, str(get_locale()), zone, csrf, repr(session.get("_flashes"))


def _headers(response: Response) -> Response:
    # no-cache: the browser keeps the fragment but asks every time; private: never a shared cache.
    response.headers["Cache-Control"] = "no-cache, private"
    response.vary.update(("HX-Request", "Cookie"))
    return response


def not_modified_or(render: Callable[[], Response], versions: Callable[[], tuple | None]) -> Response:
    """A polled page. For htmx's poll: 304 when `versions()` (plain values of everything the fragment shows,
    read in a query or two) and the reader match the tag the browser holds, else `render()` with the new
    tag. The whole page renders as before, without a tag (it shows far more than its fragment).

    `versions()` must check that the reader may see the fragment, and answer None when not (404 here):
    a 304 says "your copy is current", which must never reach someone who may not see it at all.
    """
    if not fragment_requested():
        return _headers(render())
    # Versions first, rendering second: a change committed in between leaves an older tag on a newer body (one
    # more render at the next poll), never a newer tag on an older body (a stale copy confirmed for good).
    parts = versions()
    if parts is None:
        abort(404)
    # Weak: the same versions render equivalent bytes, not the same ones (each render signs its form token anew).
    etag = fragment_etag(build_token(current_app), request.path, _reader(), parts)
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304)
    else:
        response = render()
        # Rendering may change the reader: the first form token is made, waiting messages are shown. The tag
        # carries the reader as the next poll will find it, so an unchanged fragment is not rendered twice.
        etag = fragment_etag(build_token(current_app), request.path, _reader(), parts)
    response.set_etag(etag, weak=True)
    return _headers(response)

"""Security headers on every response (flask-talisman): a script policy with no inline code, no framing;
and input no form ever needs (NUL characters) refused at the door."""
from flask import Flask, abort, current_app, request
from flask_talisman import Talisman

talisman = Talisman()


def content_security_policy(payment_origins: list[str]) -> dict:
    """Our own files only, and the payment page's origins (Midtrans' Snap script opens a frame) when given."""
    midtrans = list(payment_origins)
    return {
        "default-src": "'self'",
        "script-src": ["'self'", *midtrans],
        # Inline style attributes are used in templates and emails; inline scripts never are.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", *midtrans],
        "connect-src": ["'self'", *midtrans],
        "frame-src": ["'self'", *midtrans],
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": ["'self'", *midtrans],
        "frame-ancestors": "'none'",
    }


# Views (module.name, as Flask-WTF keeps its exempt views) whose body the NUL guard leaves to the view.
_BODY_OWN_CHECKS: set[str] = set()


def body_checked_by_view(view):
    """Mark a view that reads its body itself (the payment webhook's JSON) and refuses bad input in its own words.

    Parsing such a body as a form here would answer for it (an HTML 400 to a machine that reads JSON) and read
    the body before the view can cap its size.
    """
    _BODY_OWN_CHECKS.add(f"{view.__module__}.{view.__name__}")
    return view


def refuse_nul_characters() -> None:
    """PostgreSQL text cannot hold NUL and no form or address needs one: a clear 400, not a 500 later."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    form_read = view is None or f"{view.__module__}.{view.__name__}" not in _BODY_OWN_CHECKS
    fields = request.values if form_read else request.args
    if "\x00" in request.path or any("\x00" in key or "\x00" in value for key, value in fields.items(multi=True)):
        abort(400)


def security_init(app: Flask, *, payment_origins: list[str]) -> None:
    """`payment_origins` come from billing, which sits above this module (its views use the NUL guard's marker)."""
    app.before_request(refuse_nul_characters)
    talisman.init_app(
        app,
        content_security_policy=content_security_policy(payment_origins),
        # TLS ends at the ingress in production; redirecting here is opt-in (FORCE_HTTPS).
        force_https=app.config["FORCE_HTTPS"],
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
        # Talisman would otherwise overwrite our cookie settings: keep the configured ones.
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
        permissions_policy={"browsing-topics": "()", "camera": "()", "microphone": "()", "geolocation": "()"},
    )

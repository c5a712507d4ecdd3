"""Hardening every response shares: security headers and a script policy with no inline code, cookies,
safe redirects, rate limits kept in Redis, a calm 503 when a backing service is away, errors without traces."""
import logging
import re
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from portal import create_app
from portal.accounts.models import User
from portal.config import from_environment
from portal.extensions import db
from tests.helpers import STRONG_PASSWORD, csrf_token_from

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.smoke
def test_every_answer_carries_the_security_headers(app, client, make_user, login):
    login(make_user())
    for response in (client.get("/"), client.get("/login"), client.get("/no-such-page"),
                     client.get("/billing", headers={"HX-Request": "true"}),
                     client.post("/billing/midtrans/notification", data=b"{}", content_type="application/json")):
        headers = response.headers
        policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")
                      if part.strip())
        assert policy["script-src"] == "'self'" and "unsafe" not in policy["script-src"], policy
        assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Strict-Transport-Security" not in headers  # plain http here; sent only over https


def test_real_payments_add_only_the_midtrans_snap_origin():
    from portal.billing.midtrans import snap_origins
    from portal.security import content_security_policy

    policy = content_security_policy(snap_origins({"MIDTRANS_SERVER_KEY": "SB-Mid-server-x",
                                                   "MIDTRANS_IS_PRODUCTION": False}))
    assert policy["script-src"] == ["'self'", "https://app.sandbox.midtrans.com"]
    assert content_security_policy(snap_origins({"MIDTRANS_SERVER_KEY": None}))["script-src"] == ["'self'"]


@pytest.mark.smoke
def test_no_template_has_inline_script_or_event_handlers():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script\b([^>]*)>", text):
            if "src=" not in match.group(1) and 'type="application/json"' not in match.group(1):
                offenders.append(f"{path.name}: inline <script>")
        if re.search(r"\son[a-z]+\s*=", text) or "javascript:" in text or "hx-on" in text:
            offenders.append(f"{path.name}: inline handler")
        if re.search(r'hx-trigger="[^"]*\[', text):
            offenders.append(f"{path.name}: evaluated trigger filter")
    assert offenders == []


def test_session_cookies_are_httponly_lax_and_secure_over_https(client, make_user, login, monkeypatch):
    response = login(make_user(), remember=True)
    cookies = response.headers.getlist("Set-Cookie")
    for name in ("session=", "remember_token="):
        cookie = next(c for c in cookies if c.startswith(name))
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # http here
    monkeypatch.setenv("FRONTEND_URL", "https://portal.example.id")
    config = from_environment()
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    https_app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True, "PROXY_HOPS": 1})
    assert https_app.config["SESSION_COOKIE_SECURE"]
    answer = https_app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in answer.headers  # served over https through the proxy


@pytest.mark.smoke
def test_log_in_starts_a_fresh_session_and_log_out_ends_it(client, make_user):
    user = make_user()
    with client.session_transaction() as planted:
        planted["planted"] = "by an attacker"
    page = client.get("/login")
    client.post("/login", data={"email": user.email, "password": STRONG_PASSWORD,
                                "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    with client.session_transaction() as session:
        assert "planted" not in session and session.get("_user_id")
    token = csrf_token_from(client.get("/account").get_data(as_text=True))
    client.post("/logout", data={"csrf_token": token})
    with client.session_transaction() as session:
        assert not session.get("_user_id")
    assert client.get("/account").status_code == 302


@pytest.mark.smoke
@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "/\\/evil.example",
                                    "javascript:alert(1)", "/ok\r\nLocation: https://evil.example/"])
def test_next_never_leaves_the_site(client, make_user, target):
    user = make_user()
    page = client.get("/login")
    response = client.post("/login", query_string={"next": target},
                           data={"email": user.email, "password": STRONG_PASSWORD,
                                 "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.headers["Location"] == "/", target


def _redis_app(redis_url: str, **extra):
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": db.engine.url.render_as_string(False),
                       "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": redis_url, **extra})


@pytest.fixture
def limits_redis():
    """A Redis database of this test's own for the limiter's counters, emptied before and after."""
    import os

    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/13"
    connection = redis.Redis.from_url(url)
    connection.flushdb()
    yield url
    connection.flushdb()


def test_rate_limits_live_in_redis_and_bind_every_web_process(app, make_user, limits_redis):
    make_user(email="real@example.com")
    first = _redis_app(limits_redis, AUTH_RATE_LIMIT="3 per minute").test_client()
    statuses = []
    for email in ("real@example.com", "nobody@example.com", "real@example.com"):
        page = first.get("/login")
        token = csrf_token_from(page.get_data(as_text=True))
        statuses.append(first.post("/login", data={"email": email, "password": "wrong-password-1",
                                                   "csrf_token": token}).status_code)
    assert statuses == [422, 422, 422]
    assert any(b"LIMITER" in key or b"login" in key for key in redis.Redis.from_url(limits_redis).keys("*"))
    # A second web process (a new app on the same Redis) sees the same count: the next attempt is refused.
    second = _redis_app(limits_redis, AUTH_RATE_LIMIT="3 per minute").test_client()
    page = second.get("/login")
    refused = second.post("/login", data={"email": "nobody@example.com", "password": "x",
                                          "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert refused.status_code == 429
    text = refused.get_data(as_text=True)
    assert "Too many attempts" in text and "nobody@example.com" not in text and "account" not in text.lower()


def test_each_door_is_rate_limited(app, make_user, login, limits_redis):
    user = make_user(email="u@example.com", verified=False)
    limited = _redis_app(limits_redis, AUTH_RATE_LIMIT="2 per minute", WEBHOOK_RATE_LIMIT="2 per minute")
    client = limited.test_client()

    def form_post(path: str, page: str, **data):
        token = csrf_token_from(client.get(page).get_data(as_text=True))
        return client.post(path, data={"csrf_token": token, **data}).status_code

    assert [form_post("/signup", "/signup", name="", email="x", password="x") for _ in range(3)][-1] == 429
    assert [form_post("/forgot", "/forgot", email="a@b.c") for _ in range(3)][-1] == 429
    webhook = [client.post("/billing/midtrans/notification", data=b"{}", content_type="application/json").status_code
               for _ in range(3)]
    assert webhook == [400, 400, 429]
    page = client.get("/login")  # the login door has its own counter: still open for the real user
    client.post("/login", data={"email": user.email, "password": STRONG_PASSWORD,
                                "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    assert [client.post("/verify/resend", data={"csrf_token": token}).status_code for _ in range(3)][-1] == 429


def test_a_database_outage_gets_a_calm_503_and_writes_nothing(app, make_user):
    make_user(email="ana@example.com")
    down = create_app({"TESTING": True, "RATELIMIT_ENABLED": False,
                       "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
                       "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}}})
    client = down.test_client()
    page = client.get("/login")
    assert page.status_code == 200  # a page that needs no data still works
    response = client.post("/login", data={"email": "ana@example.com", "password": STRONG_PASSWORD,
                                           "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    text = response.get_data(as_text=True)
    assert "Back in a moment" in text and "Traceback" not in text and "psycopg" not in text
    webhook = client.post("/billing/midtrans/notification", json={"order_id": "x"})
    assert webhook.status_code in (400, 503)  # refused before or at the database; never a 500
    assert db.session.scalar(select(User.last_login_at).where(User.email == "ana@example.com")) is None


def test_errors_in_production_mode_show_no_trace_and_no_secrets(app, caplog):
    secret = "SB-Mid-server-TOPSECRET"
    production = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "MIDTRANS_SERVER_KEY": secret,
                             "DEBUG": False, "TESTING": False, "PROPAGATE_EXCEPTIONS": False})

    @production.route("/explode")
    def explode():
        raise RuntimeError(f"the key is {secret}")

    with caplog.at_level(logging.ERROR):
        response = production.test_client().get("/explode")
    text = response.get_data(as_text=True)
    assert response.status_code == 500 and "Something went wrong" in text
    assert "Traceback" not in text and "RuntimeError" not in text and secret not in text


def test_rotating_the_secret_key_with_a_fallback_keeps_sessions_and_links(app, make_user, monkeypatch):
    from portal.accounts import tokens

    user = make_user()
    old = create_app({"TESTING": True, "SECRET_KEY": "old-key",
                      "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    client = old.test_client()
    page = client.get("/login")
    client.post("/login", data={"email": user.email, "password": STRONG_PASSWORD,
                                "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    with old.test_request_context():
        link_token = tokens.token_make(tokens.VERIFY_SALT, {"user": user.id})
    cookie = client.get_cookie("session").value
    for fallbacks, expected in (([], 302), (["old-key"], 200)):
        rotated = create_app({"TESTING": True, "SECRET_KEY": "new-key", "SECRET_KEY_FALLBACKS": fallbacks,
                              "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
        new_client = rotated.test_client()
        new_client.set_cookie("session", cookie)
        assert new_client.get("/account").status_code == expected, fallbacks
        with rotated.test_request_context():
            if fallbacks:
                assert tokens.token_read(tokens.VERIFY_SALT, link_token, rotated.config["EMAIL_VERIFICATION_MAX_AGE"])
            else:
                with pytest.raises(tokens.TokenInvalid):
                    tokens.token_read(tokens.VERIFY_SALT, link_token, rotated.config["EMAIL_VERIFICATION_MAX_AGE"])

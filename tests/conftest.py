"""Shared fixtures: a migrated database per test session (PostgreSQL or SQLite), the app, clients, users."""
import contextvars
import email
import email.policy
import os
import re
import tempfile
import uuid

# Before portal is imported: its instance folder is chosen at import time (and create_app reads REDIS_URL).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_WORKER_INDEX = int(re.sub(r"\D", "", _WORKER) or 0)
# The suite reads English unless a test chooses Indonesian (the product's default for a reader with no choice).
os.environ.setdefault("PORTAL_DEFAULT_LOCALE", "en")
os.environ["PORTAL_INSTANCE_DIR"] = tempfile.mkdtemp(prefix=f"portal-test-{_WORKER}-")
if os.environ.get("REDIS_URL"):
    # One Redis database per xdist worker, so queues of parallel workers never mix (a second checkout
    # running its suite at the same time sets another PORTAL_TEST_REDIS_DB_BASE).
    _REDIS_BASE = int(os.environ.get("PORTAL_TEST_REDIS_DB_BASE", "10"))
    os.environ["REDIS_URL"] = re.sub(r"/\d+$", "", os.environ["REDIS_URL"]) + f"/{_REDIS_BASE + _WORKER_INDEX}"

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask import has_app_context  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.database import DirectoryBasedExampleDatabase  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.tasks import huey  # noqa: E402
from tests.helpers import DATABASE, STRONG_PASSWORD, csrf_token_from, free_port, postgres_database  # noqa: E402

# Fixtures more than one folder uses live in plugins (never imported by a test or another conftest).
pytest_plugins = ["tests.fixtures.clock", "tests.fixtures.cluster", "tests.fixtures.billing",
                  "tests.fixtures.dns_server"]

# Property tests: `make test` runs the same examples every time and keeps none between runs ("ci"); `make security`
# explores at random, remembers failing examples under .hypothesis/ (gitignored) and prints each one's blob.
HYPOTHESIS_EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".hypothesis",
                                   "examples")
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", derandomize=False, database=DirectoryBasedExampleDatabase(HYPOTHESIS_EXAMPLES),
                          deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _base_config(url: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "MAIL_SERVER": None,
        "FRONTEND_URL": "http://portal.test",
        "SERVER_NAME": None,
    }


@pytest.fixture(scope="session")
def database_url():
    """A database of this test session's own, migrated with `flask db upgrade`, dropped afterwards."""
    if DATABASE == "sqlite":
        path = os.path.join(os.environ["PORTAL_INSTANCE_DIR"], "test.db")
        url = f"sqlite:///{path}"
        yield _migrate(url)
        return
    with postgres_database(f"portal_test_{_WORKER}_{uuid.uuid4().hex[:8]}") as url:
        yield _migrate(url)


def _migrate(url: str) -> str:
    from flask_migrate import upgrade

    app = create_app(_base_config(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture
def app_config():
    """Override in a test module to change the app's configuration."""
    return {}


class IsolatedClient(FlaskClient):
    """A test client whose requests each get their own app context, as in production.

    The app fixture keeps a context pushed for the test's own queries; without this, requests
    would share its `g` (Flask-Login's cached user, Flask-WTF's cached CSRF token) across calls.
    """

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():  # a client used from another thread has no test context to refresh
            db.session.expire_all()  # the request committed in its own session: read afresh
        return response


@pytest.fixture
def app(database_url, app_config):
    app = create_app({**_base_config(database_url), **app_config})
    app.test_client_class = IsolatedClient
    huey.immediate = True
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def _empty_tables():
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(sa.text(f"DELETE FROM {table}"))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(app):
    """Create a user through the model (fast); password is STRONG_PASSWORD unless given."""
    from portal.accounts.models import User
    from portal.accounts.passwords import password_hash
    from portal.timestamps import utcnow

    def make(email="ana@example.com", name="Ana Putri", password=STRONG_PASSWORD, verified=True, staff=False,
             disabled=False):
        user = User(email=email.lower(), name=name, password_hash=password_hash(password), is_staff=staff,
                    disabled=disabled, email_verified_at=utcnow() if verified else None)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def login(client):
    """Log a user in through the real form, CSRF and all."""
    def do(user, password=STRONG_PASSWORD, remember=False):
        page = client.get("/login")
        data = {"email": user.email, "password": password, "csrf_token": csrf_token_from(page.get_data(as_text=True))}
        if remember:
            data["remember"] = "y"
        response = client.post("/login", data=data)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return response
    return do


class SmtpCollector:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server_factory():
    """Start real SMTP servers on loopback (on a given port, e.g. one that was down); stopped afterwards."""
    from aiosmtpd.controller import Controller

    controllers = []

    def start(port: int | None = None) -> SmtpCollector:
        collector = SmtpCollector()
        controller = Controller(collector, hostname="127.0.0.1", port=port or free_port())
        controller.start()
        controllers.append(controller)
        collector.port = controller.port
        return collector

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_server(smtp_server_factory):
    """A real SMTP server on loopback; `.messages` holds what it received."""
    return smtp_server_factory()


@pytest.fixture
def consumer(app):
    """A real Huey consumer in this process (threads), for what retries, schedules or watches."""
    huey.immediate = False
    huey.flush()
    worker = huey.create_consumer(workers=3, worker_type="thread", periodic=False, check_worker_health=False)
    worker.start()
    yield worker
    worker.stop(graceful=True)
    huey.flush()
    huey.immediate = True

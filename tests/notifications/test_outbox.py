"""The email outbox: queued once, rendered from templates, delivered over real SMTP with retries."""
import time

import pytest
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.extensions import db
from portal.notifications import services
from portal.notifications.models import Email
from portal.unit_of_work import atomic
from tests.helpers import (
    STRONG_PASSWORD,
    csrf_token_from,
    free_port,
    message_parts,
    refused_port,
    tasks_held,
    wait_for_queue_idle,
)


def smtp_config(port: int) -> dict:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_USE_TLS": False, "MAIL_TIMEOUT_SECONDS": 3,
            "MAIL_DEFAULT_SENDER": "Portal <no-reply@portal.test>"}


def queue(key="k1", template="welcome", recipient="ana@example.com", **context):
    """Queue an email in a use case of its own: its delivery is enqueued when that commits."""
    with atomic():
        email = services.email_queue(template=template, recipient=recipient, key=key,
                                     context={"name": "Ana", "link": "http://portal.test/", **context})
    return email


@pytest.mark.smoke
def test_without_a_mail_server_emails_stay_in_the_outbox_rendered(app):
    email = queue()
    email = db.session.get(Email, email.id)
    assert email.state == "queued" and email.attempts == 0
    assert email.subject == "Welcome to Portal"
    assert "Hi Ana" in email.body_text and "Hi Ana" in email.body_html


@pytest.mark.smoke
def test_the_same_idempotency_key_queues_one_email(app):
    assert queue(key="welcome:1") is not None
    assert queue(key="welcome:1") is None
    assert db.session.scalar(select(func.count(Email.id))) == 1


def test_context_from_outside_is_escaped_in_html_but_plain_in_text(app):
    email = queue(name="<script>alert(1)</script>")
    email = db.session.get(Email, email.id)
    assert "<script>" not in email.body_html and "&lt;script&gt;" in email.body_html
    assert "<script>alert(1)</script>" in email.body_text


class TestWithSmtpServer:
    @pytest.fixture
    def app_config(self, smtp_server):
        return smtp_config(smtp_server.port)

    def test_verification_email_arrives_with_both_parts_and_a_working_link(self, client, smtp_server):
        page = client.get("/signup").get_data(as_text=True)
        response = client.post("/signup", data={"name": "Ana Putri", "email": "Ana@Example.com",
                                                "password": STRONG_PASSWORD, "csrf_token": csrf_token_from(page)})
        assert response.status_code == 200  # "check your inbox"
        subjects = sorted(m["Subject"] for m in smtp_server.messages)
        assert subjects == ["Confirm your email address", "Welcome to Portal"]
        message = next(m for m in smtp_server.messages if m["Subject"] == "Confirm your email address")
        assert message["To"] == "ana@example.com"
        assert "no-reply@portal.test" in message["From"]
        text, html = message_parts(message)
        link = next(word for word in text.split() if word.startswith("http://portal.test/verify/"))
        assert f'href="{link}"' in html
        assert "Confirm my email" in html and "<table" in html
        assert client.get(link.replace("http://portal.test", "")).status_code == 302
        assert db.session.scalar(select(User)).is_verified
        assert set(db.session.scalars(select(Email.state))) == {"sent"}

    def test_delivering_the_same_email_twice_sends_it_once(self, app, smtp_server):
        email = queue()
        assert services.email_deliver(email_id=email.id) == "sent"
        assert services.email_deliver(email_id=email.id) == "sent"
        assert len(smtp_server.messages) == 1


class TestWithSmtpDown:
    @pytest.fixture
    def app_config(self):
        with refused_port() as port:  # nothing listens there, and no other test's server can start there
            yield {**smtp_config(port), "EMAIL_MAX_ATTEMPTS": 3, "EMAIL_RETRY_BASE_SECONDS": 7}

    def test_a_refused_connection_is_retried_then_marked_failed(self, app):
        with tasks_held():  # its own delivery task is dropped: this test delivers it, attempt by attempt
            email = queue()
        for attempt in (1, 2):
            with pytest.raises(services.EmailDeliveryDeferred) as deferred:
                services.email_deliver(email_id=email.id)
            assert deferred.value.delay == 7 * 2 ** (attempt - 1)  # exponential backoff
        assert services.email_deliver(email_id=email.id) == "failed"
        email = db.session.get(Email, email.id)
        assert email.attempts == 3 and "ConnectionRefused" in email.last_error

    def test_signup_while_smtp_is_down_still_succeeds(self, client):
        page = client.get("/signup").get_data(as_text=True)
        response = client.post("/signup", data={"name": "Ana", "email": "ana@example.com",
                                                "password": STRONG_PASSWORD, "csrf_token": csrf_token_from(page)})
        assert response.status_code == 200 and 'data-testid="signup-sent"' in response.get_data(as_text=True)
        assert db.session.scalar(select(func.count(User.id))) == 1
        assert set(db.session.scalars(select(Email.attempts))) == {1}


class TestRealConsumer:
    """A Huey consumer on the configured queue (Redis under `make test`) retries with backoff."""

    port = None

    @pytest.fixture
    def app_config(self):
        TestRealConsumer.port = free_port()
        return {**smtp_config(TestRealConsumer.port), "EMAIL_RETRY_BASE_SECONDS": 1, "EMAIL_MAX_ATTEMPTS": 6}

    def test_email_sent_once_after_smtp_comes_back(self, app, smtp_server_factory, consumer):
        email = queue()
        _wait_for(lambda: _email(email.id).attempts >= 1, "first attempt")
        assert _email(email.id).state == "queued"  # refused, waiting for the retry
        server = smtp_server_factory(TestRealConsumer.port)
        _wait_for(lambda: _email(email.id).state == "sent", "delivery after the server came back")
        wait_for_queue_idle(consumer)  # any duplicate retry has run by now: none is queued, scheduled or running
        assert len(server.messages) == 1
        assert _email(email.id).attempts >= 2


def _email(email_id: int) -> Email:
    db.session.rollback()
    return db.session.get(Email, email_id)


def _wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class TestOutboxSweep:
    """Emails whose delivery task was lost (a queue restart) are picked up again by the sweep."""

    @pytest.fixture
    def app_config(self, smtp_server):
        return smtp_config(smtp_server.port)

    def test_sweep_sends_old_queued_emails_and_leaves_fresh_ones(self, app, smtp_server):
        from datetime import timedelta

        from portal.timestamps import utcnow

        with tasks_held():  # their delivery tasks vanish with the queue
            stale = queue(key="stale")
            fresh = queue(key="fresh", recipient="budi@example.com")
        db.session.get(Email, stale.id).created_at = utcnow() - timedelta(minutes=30)
        db.session.commit()
        assert services.outbox_requeue() == 1
        assert [m["To"] for m in smtp_server.messages] == ["ana@example.com"]
        assert db.session.get(Email, fresh.id).state == "queued"
        assert services.outbox_requeue() == 0  # sent ones are not sent again


@pytest.mark.smoke
def test_sweep_does_nothing_without_a_mail_server(app):
    from datetime import timedelta

    from portal.timestamps import utcnow

    email = queue()
    db.session.get(Email, email.id).created_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    assert services.outbox_requeue() == 0

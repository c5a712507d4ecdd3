"""Housekeeping, the revenue report, re-sending a failed email, and jobs that never run twice at once."""
import threading
from datetime import timedelta

from sqlalchemy import func, select

from portal.billing.revenue import revenue_summary_send
from portal.extensions import db
from portal.instances.models import ResourceSample
from portal.jobs.models import JobRun
from portal.jobs.services import job_run
from portal.notifications import services as outbox
from portal.notifications.models import Email
from portal.ops.cleanup import data_cleanup
from portal.subscriptions.models import InstanceEvent
from portal.tasks import huey
from portal.timestamps import utcnow
from portal.unit_of_work import atomic
from tests.fixtures.billing import notification, post
from tests.helpers import free_port


def test_cleanup_removes_what_is_past_retention_only(app, order):
    invoice = order()
    now = utcnow()
    sid = invoice.subscription_id
    db.session.add_all([InstanceEvent(subscription_id=sid, kind="old", message="", created_at=now - timedelta(days=91)),
                        InstanceEvent(subscription_id=sid, kind="new", message="", created_at=now - timedelta(days=1)),
                        ResourceSample(subscription_id=sid, taken_at=now - timedelta(days=15), cpu_millicores=1,
                                       memory_mb=1),
                        ResourceSample(subscription_id=sid, taken_at=now, cpu_millicores=1, memory_mb=1)])
    old_email = Email(idempotency_key="old", recipient="a@example.com", template="welcome", context={"name": "A"},
                      state="sent", body_html="<p>x</p>", body_text="x", sent_at=now - timedelta(days=31))
    db.session.add(old_email)
    db.session.commit()
    assert data_cleanup() == {"events": 1, "samples": 1, "email_bodies": 1}
    assert db.session.scalar(select(func.count(InstanceEvent.id)).where(InstanceEvent.kind == "old")) == 0
    db.session.expire_all()
    assert db.session.get(Email, old_email.id).body_html is None  # the row stays, the body goes
    assert data_cleanup() == {"events": 0, "samples": 0, "email_bodies": 0}


def test_the_monthly_revenue_summary_reaches_staff_with_a_csv(app, client, order, make_user, smtp_server):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, MAIL_USE_TLS=False)
    app.extensions["mail"].server, app.extensions["mail"].port = "127.0.0.1", smtp_server.port
    make_user(email="boss@example.com", staff=True)
    invoice = order()
    post(client, notification(invoice))
    next_month = (utcnow().replace(day=1) + timedelta(days=32)).replace(day=2)
    result = revenue_summary_send(next_month)
    assert result["invoices"] == 1 and result["paid_idr"] == 79000
    assert revenue_summary_send(next_month)["invoices"] == 1  # a re-run sends nothing twice
    summaries = [m for m in smtp_server.messages if m["Subject"].startswith("[Staff] Revenue")]
    assert len(summaries) == 1 and "Rp79,000" in summaries[0]["Subject"]
    attachment = next(summaries[0].iter_attachments())
    assert attachment.get_filename().startswith("revenue-") and attachment.get_content_type() == "text/csv"
    rows = attachment.get_content().decode().splitlines() if isinstance(attachment.get_content(), bytes) \
        else attachment.get_content().splitlines()
    assert rows[0].startswith("invoice,paid_at,customer") and invoice.number in rows[1] and "79000" in rows[1]


def test_a_failed_email_can_be_sent_again(app, make_user, smtp_server_factory):
    port = free_port()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False, EMAIL_MAX_ATTEMPTS=1)
    app.extensions["mail"].server, app.extensions["mail"].port = "127.0.0.1", port
    with atomic():  # delivery starts when this commits, and fails: the server is down
        email = outbox.email_queue(template="welcome", recipient="a@example.com", key="w1",
                                   context={"name": "A", "link": "http://portal.test/"})
    assert db.session.get(Email, email.id).state == "failed"
    server = smtp_server_factory(port)
    outbox.email_resend(email_id=email.id, actor_id=None)
    db.session.expire_all()
    assert db.session.get(Email, email.id).state == "sent" and len(server.messages) == 1


def test_a_job_never_runs_twice_at_once(app):
    started, release = threading.Event(), threading.Event()
    outcomes = []

    def slow():
        started.set()
        release.wait(60)  # held until the second run has tried (set below), however slow the machine is
        return {"done": True}

    def first():
        with app.app_context():
            outcomes.append(job_run("demo", slow).outcome)

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(60)
    outcomes.append(job_run("demo", lambda: {"done": True}).outcome)  # a second consumer, same moment
    release.set()
    thread.join()
    assert sorted(outcomes) == ["ok", "skipped"]
    assert db.session.scalar(select(func.count(JobRun.id)).where(JobRun.name == "demo")) == 2
    huey.flush_locks()


def test_staff_send_a_failed_email_again_from_the_outbox(app, client, make_user, login):
    from tests.helpers import csrf_token_from

    login(make_user(email="boss@example.com", staff=True))
    email = Email(idempotency_key="f1", recipient="a@example.com", template="welcome", state="failed", attempts=6,
                  context={"name": "A", "link": "http://portal.test/"}, last_error="SMTPServerDisconnected")
    db.session.add(email)
    db.session.commit()
    page = client.get(f"/admin/outbox/{email.id}").get_data(as_text=True)
    assert "Send again" in page and "SMTPServerDisconnected" in page
    client.post(f"/admin/outbox/{email.id}/resend", data={"csrf_token": csrf_token_from(page)})
    db.session.expire_all()
    assert db.session.get(Email, email.id).state == "queued"  # no mail server here: back in the outbox
    assert db.session.get(Email, email.id).attempts == 0


def test_a_periodic_task_runs_once_per_minute_however_many_consumers_enqueue_it(app):
    """Each consumer's scheduler enqueues every periodic task; the copies after the first are cancelled."""
    from portal.commands import periodic_jobs

    huey.immediate = False  # the Redis queue, as the consumers use it
    try:
        huey.flush()
        sweep = periodic_jobs()["outbox_sweep"]
        executed = []
        for _consumer in range(3):  # three consumers' copies of the same minute's task
            task = sweep()
            result = huey.execute(task)
            executed.append(result is not None)
        runs = db.session.scalars(select(JobRun.name).where(JobRun.name == "outbox-sweep")).all()
        assert runs == ["outbox-sweep"] and executed == [True, False, False]
    finally:
        huey.flush()
        huey.immediate = True

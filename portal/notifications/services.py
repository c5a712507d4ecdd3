"""The email outbox: queue an email once, render it, deliver it with retries."""
from datetime import timedelta

from flask import current_app, render_template
from flask_babel import force_locale
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from portal.audit.services import audit_record
from portal.extensions import db
from portal.links import absolute_url
from portal.notifications import mailer
from portal.notifications.models import Email
from portal.notifications.selectors import recipient_locale, recipient_zone, staff_alert_recipients
from portal.timestamps import utcnow
from portal.unit_of_work import after_commit, use_case

TEMPLATES = ("welcome", "verify_email", "password_reset", "email_changed", "signup_existing", "email_change_attempt",
             "staff_alert", "instance_ready",
             "payment_receipt", "order_received", "renewal_invoice", "expiry_reminder", "grace_started", "suspended",
             "termination_warning", "terminated", "provisioning_failed", "instance_down", "revenue_summary",
             "payment_refunded", "payment_chargeback", "payment_declined", "payment_refund_due",
             "domain_verified", "domain_certificate_issued", "domain_certificate_failing",
             "restore_finished", "restore_failed")


class EmailDeliveryDeferred(Exception):
    """The mail server could not take the email now; try again after `delay` seconds."""

    def __init__(self, message: str, delay: float):
        super().__init__(message)
        self.delay = delay


def email_queue(*, template: str, recipient: str, context: dict, key: str,
                user_id: int | None = None) -> Email | None:
    """Add an email to the caller's transaction unless one with this key exists (then None); it is sent
    once that transaction commits, and never if it rolls back."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown email template {template!r}")
    if db.session.scalar(select(Email.id).where(Email.idempotency_key == key)) is not None:
        return None
    email = Email(template=template, recipient=recipient, context=context,
                  idempotency_key=key, user_id=user_id, state="queued", attempts=0)
    db.session.add(email)
    db.session.flush()
    after_commit("email.send", email_id=email.id)
    return email


def email_parts(email: Email) -> tuple[str, str, str]:
    """Subject, text and HTML of an email from templates/email/<template>.{html,txt} (nothing stored), in the
    recipient's language and zone (whoever reads it here: the worker, staff's outbox, the kept-mail page)."""
    context = {**email.context, "recipient": email.recipient, "zone": recipient_zone(email.user_id)}
    html_name = f"email/{email.template}.html"
    with force_locale(recipient_locale(email.user_id, email.template)):
        return (render_block(html_name, "subject", **context).strip(),
                render_template(f"email/{email.template}.txt", **context), render_template(html_name, **context))


def email_render(email: Email) -> None:
    """Fill in subject, text and HTML from templates/email/<template>.{html,txt}."""
    email.subject, email.body_text, email.body_html = email_parts(email)


@use_case(keep_on=(EmailDeliveryDeferred,))
def email_deliver(*, email_id: int) -> str:
    """Render and send one queued email; returns its state afterwards.

    With no mail server configured the email stays queued in the outbox, where staff read it.
    A refused or unreachable server counts an attempt and raises EmailDeliveryDeferred, until
    the attempts run out and the email is marked failed.
    """
    email = db.session.get(Email, email_id, with_for_update=True, populate_existing=True)
    if email is None or email.state != "queued":
        return email.state if email else "missing"
    if email.body_html is None:
        email_render(email)
    if not mailer.mail_server_configured():
        return "queued"
    email.attempts += 1
    try:
        mailer.send(recipient=email.recipient, subject=email.subject, text=email.body_text,
                    html=email.body_html, attachments=email.context.get("attachments"))
    except mailer.SMTP_ERRORS as exc:
        email.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        attempts = email.attempts
        if attempts >= current_app.config["EMAIL_MAX_ATTEMPTS"]:
            email.state = "failed"
            return "failed"
        delay = current_app.config["EMAIL_RETRY_BASE_SECONDS"] * 2 ** (attempts - 1)
        raise EmailDeliveryDeferred(email.last_error, delay) from exc
    email.state = "sent"
    email.sent_at = utcnow()
    email.last_error = None
    return "sent"


class EmailNotResendable(Exception):
    """Only a failed email can be sent again; the text is for staff."""


@use_case
def email_resend(*, email_id: int, actor_id: int | None = None) -> Email:
    """Send a failed email again (staff), from a fresh count of attempts."""
    email = db.session.get(Email, email_id, with_for_update=True, populate_existing=True)
    if email.state != "failed":
        raise EmailNotResendable("Only a failed email can be sent again.")
    email.state, email.attempts, email.last_error = "queued", 0, None
    audit_record(action="email.resent", actor_id=actor_id, target_type="email", target_id=email.id)
    after_commit("email.send", email_id=email.id)
    return email


@use_case
def outbox_requeue(*, older_than: timedelta | None = None) -> int:
    """Enqueue delivery again for emails still queued (a lost task, or a mail server added later)."""
    if not mailer.mail_server_configured():
        return 0
    if older_than is None:
        older_than = timedelta(minutes=current_app.config["OUTBOX_REQUEUE_MINUTES"])
    cutoff = utcnow() - older_than
    ids = db.session.scalars(
        select(Email.id).where(Email.state == "queued", Email.created_at < cutoff).limit(500)).all()
    for email_id in ids:
        after_commit("email.send", email_id=email_id)
    return len(ids)


def staff_alert(*, key: str, title: str, message: str) -> int:
    """Email every active staff member (and STAFF_ALERT_EMAIL) once per key, in the caller's transaction;
    returns how many were queued."""
    queued = [email_queue(template="staff_alert", recipient=address, user_id=user_id, key=f"{key}:{address}",
                          context={"title": title, "message": message})
              for address, user_id in staff_alert_recipients().items()]
    return sum(1 for email in queued if email is not None)


def subscription_email_context(subscription) -> dict:
    """What every email about a subscription says of it."""
    return {"name": subscription.user.name, "app_name": subscription.plan.service.name,
            "plan_name": subscription.plan.name,
            "address": f"{subscription.subdomain}.{current_app.config['K8S_CLUSTER_DOMAIN']}",
            "link": absolute_url("home.index")}


def subscription_email(subscription, template: str, key: str, **context) -> bool:
    """Queue one email about a subscription to its owner, once per key, in the caller's transaction;
    True when it was new."""
    email = email_queue(template=template, recipient=subscription.user.email, user_id=subscription.user_id, key=key,
                        context={**subscription_email_context(subscription), **context})
    return email is not None

"""The one module that talks SMTP: Flask-Mail with a connect/read timeout."""
import smtplib

from flask import current_app
from flask_mail import Connection, Message

SMTP_ERRORS = (smtplib.SMTPException, OSError)


class _TimedConnection(Connection):
    """Flask-Mail opens SMTP without a timeout; a hung mail server must not hang a worker."""

    def configure_host(self):
        timeout = current_app.config["MAIL_TIMEOUT_SECONDS"]
        smtp_class = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = smtp_class(self.mail.server, self.mail.port, timeout=timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


def mail_server_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def send(*, recipient: str, subject: str, text: str, html: str, attachments: list[dict] | None = None) -> None:
    """Send one message; raises one of SMTP_ERRORS when the server refuses or cannot be reached."""
    message = Message(subject=subject, recipients=[recipient], body=text, html=html,
                      sender=current_app.config["MAIL_DEFAULT_SENDER"])
    for attachment in attachments or []:
        message.attach(attachment["filename"], attachment["content_type"], attachment["data"].encode())
    with _TimedConnection(current_app.extensions["mail"]) as connection:
        message.send(connection)


"""The one module that talks SMTP: Flask-Mail with a connect/read timeout, and a test message to a customer's server."""
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from flask import current_app
from flask_babel import gettext as _
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



@dataclass(frozen=True)
class ServerAnswer:
    """What a mail server said to a test message, in plain words; `accepted` only when it took the message."""
    accepted: bool
    message: str


def _said(error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
    return f"{error.smtp_code} {' '.join(text.split())}"[:300]


def server_test_send(*, host: str, port: int, tls_mode: str, username: str, password: str, sender: str,
                     recipient: str, subject: str, text: str, timeout: float) -> ServerAnswer:
    """Send one message through a customer's server and say how it went; never raises for the server's doing.

    The answer names what went wrong (refused connection, TLS, login, sender, recipient) and quotes the server's
    own reply, but never the password."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, recipient, subject
    message.set_content(text)
    context = ssl.create_default_context()
    stage = "connect"
    try:
        if tls_mode == "tls":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            stage = "hello"
            client.ehlo()
            if tls_mode == "starttls":
                stage = "starttls"
                client.starttls(context=context)
                client.ehlo()
            if username:
                stage = "login"
                client.login(username, password)
            stage = "send"
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as error:
        return ServerAnswer(False, _("The server refused the user name or password (%(reply)s).", reply=_said(error)))
    except smtplib.SMTPNotSupportedError:
        if stage == "starttls":
            return ServerAnswer(False, _("The server does not offer STARTTLS. Choose TLS from the first byte (usually "
                                         "port 465) or, only if the server allows nothing else, no encryption."))
        return ServerAnswer(False, _("The server does not offer a login. Leave the user name empty if it needs none."))
    except smtplib.SMTPSenderRefused as error:
        return ServerAnswer(False, _("The server refused the sender address %(sender)s (%(reply)s).",
                                     sender=sender, reply=_said(error)))
    except smtplib.SMTPRecipientsRefused as error:
        said = "; ".join(f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
                         for code, reply in error.recipients.values())
        return ServerAnswer(False, _("The server refused to deliver to %(recipient)s (%(reply)s).",
                                     recipient=recipient, reply=" ".join(said.split())[:300]))
    except smtplib.SMTPServerDisconnected:
        if stage == "starttls":
            return ServerAnswer(False, _("The server closed the connection before the message was sent "
                                         "(while starting TLS)."))
        if stage == "login":
            return ServerAnswer(False, _("The server closed the connection before the message was sent "
                                         "(while logging in)."))
        return ServerAnswer(False, _("The server closed the connection before the message was sent."))
    except smtplib.SMTPResponseException as error:
        return ServerAnswer(False, _("The server answered with an error (%(reply)s).", reply=_said(error)))
    except ssl.SSLCertVerificationError as error:
        return ServerAnswer(False, _("TLS failed: the server's certificate is not valid for %(host)s (%(reason)s).",
                                     host=host, reason=error.verify_message))
    except ssl.SSLError as error:
        if error.reason:  # OpenSSL's own code, such as WRONG_VERSION_NUMBER
            return ServerAnswer(False, _("TLS failed (%(reason)s): check the encryption setting and the port.",
                                         reason=error.reason))
        return ServerAnswer(False, _("TLS failed: check the encryption setting and the port."))
    except TimeoutError:
        return ServerAnswer(False, _("No answer from %(host)s port %(port)s within %(seconds)s seconds.",
                                     host=host, port=port, seconds=format(timeout, "g")))
    except ConnectionRefusedError:
        return ServerAnswer(False, _("Nothing accepts connections on %(host)s port %(port)s.", host=host, port=port))
    except socket.gaierror:
        return ServerAnswer(False, _("The name %(host)s does not resolve to an address.", host=host))
    except (smtplib.SMTPException, OSError) as error:
        return ServerAnswer(False, _("Could not talk to the server: %(error)s.", error=type(error).__name__))
    return ServerAnswer(True, _("The server accepted the test message for %(recipient)s.", recipient=recipient))

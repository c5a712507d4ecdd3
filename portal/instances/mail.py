"""A customer's choice of mail server for an instance: checked, stored (the password in the cluster only), tested."""
import ipaddress
import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _

from portal.audit.services import audit_record
from portal.domains.selectors import instance_domains
from portal.notifications.mailer import ServerAnswer, server_test_send
from portal.provisioning.cluster import ClusterError
from portal.provisioning.mail import (
    OWN_PASSWORD_SECRET,
    TLS_MODES,
    address_not_public,
    instance_mail_sender,
    mail_host_addresses,
)
from portal.provisioning.services import instance_secret_value, instance_secret_values_set, instance_target
from portal.subscriptions.mail import instance_mail_server_of, subscription_mail_relay_use, subscription_mail_server_set
from portal.subscriptions.models import Subscription
from portal.unit_of_work import use_case

HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class MailServerInvalid(Exception):
    """The customer's server settings cannot be used; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class MailServerInput:
    host: str
    port: int | None
    tls_mode: str
    username: str
    password: str  # "" keeps the stored one
    sender: str


@dataclass(frozen=True)
class MailChoice:
    """What the page says about an instance's mail: where it goes and from which address."""
    own_server: bool
    relay_configured: bool
    sender: str
    host: str
    port: int | None
    tls_mode: str
    username: str
    password_set: bool


def instance_mail_choice(*, subscription: Subscription) -> MailChoice:
    config = current_app.config
    server = instance_mail_server_of(subscription_id=subscription.id)
    relay_sender = instance_mail_sender(host=instance_target(subscription).names.host,
                                        subdomain=subscription.subdomain,
                                        sender_domain=config["APP_MAIL_SENDER_DOMAIN"],
                                        customer_domain=instance_domains(subscription.id).mail_domain)
    if server is None:
        return MailChoice(False, bool(config["APP_MAIL_RELAY_HOST"]), relay_sender, "", 587, "starttls", "", False)
    return MailChoice(server.own_server, bool(config["APP_MAIL_RELAY_HOST"]),
                      server.sender if server.own_server else relay_sender, server.host, server.port,
                      server.tls_mode, server.username, server.password_set)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _checked(value: MailServerInput) -> MailServerInput:
    """The input cleaned, or MailServerInvalid naming each bad field. The host must resolve, and (unless operators
    allow private servers) only to public addresses: the portal and the instance's pods connect to it."""
    errors = {}
    host = value.host.strip().lower().rstrip(".")
    if not host:
        errors["host"] = _("Enter the mail server's host name, like smtp.example.com.")
    elif not (HOST_NAME.match(host) or _is_address(host)):
        errors["host"] = _("That is not a host name (like smtp.example.com) or an IP address.")
    port = value.port
    if port is None or not 1 <= port <= 65535:
        errors["port"] = _("Enter a port between 1 and 65535 (usually 587, or 465 for TLS from the first byte).")
    if value.tls_mode not in TLS_MODES:
        errors["tls_mode"] = _("Choose how the connection is encrypted.")
    username = value.username.strip()
    if len(username) > 254 or CONTROL.search(username):
        errors["username"] = _("That user name is too long or holds control characters.")
    if len(value.password) > 500 or CONTROL.search(value.password):
        errors["password"] = _("That password is too long or holds control characters.")
    sender = value.sender.strip()
    try:
        sender = validate_email(sender, check_deliverability=False).normalized
    except EmailNotValidError as error:
        errors["sender"] = _("That sender address is not valid: %(reason)s", reason=str(error))
    if "host" not in errors and "port" not in errors:
        addresses = mail_host_addresses(host, port)
        config = current_app.config
        excepted = tuple(config["K8S_EGRESS_EXCEPT_CIDRS"]) + tuple(config["K8S_CLUSTER_CIDRS"])
        if not addresses:
            errors["host"] = _("%(host)s does not resolve to an address.", host=host)
        elif not config["APP_MAIL_ALLOW_PRIVATE_SERVERS"] and any(address_not_public(ip, excepted)
                                                                  for ip in addresses):
            errors["host"] = _("%(host)s points to a private or internal address. Use a mail server reachable "
                                       "on the internet.", host=host)
    if errors:
        raise MailServerInvalid(errors)
    return MailServerInput(host, port, value.tls_mode, username, value.password, sender)


def _stored_password_for(subscription: Subscription, value: MailServerInput) -> str | None:
    """The stored password, when it may be used for these settings: only for the same host and user it was
    given for, so a changed host never receives it. None when it may not."""
    server = instance_mail_server_of(subscription_id=subscription.id)
    if server is None or not server.password_set or server.host != value.host or server.username != value.username:
        return None
    return instance_secret_value(subscription_id=subscription.id, key=OWN_PASSWORD_SECRET)


@use_case
def instance_mail_server_save(*, subscription: Subscription, value: MailServerInput, actor_id: int,
                              ip: str | None = None) -> None:
    """Use the customer's own server from now on: checked, its password written to the instance's Secret (only
    there), the rest stored, and the instance re-applied like any settings change."""
    value = _checked(value)
    password_stored = None
    if value.username and not value.password:
        try:
            kept = _stored_password_for(subscription, value)
        except ClusterError:
            raise MailServerInvalid({"password": _("The stored password cannot be read just now. Enter it again, "
                                                   "or try again in a minute.")}) from None
        if kept is None:
            raise MailServerInvalid({"password": _("Enter the password (it is asked again when the host or user "
                                                   "name changes).")})
    new_password = value.password if value.username else ""
    if value.password or not value.username:
        try:
            # Written before the row: if the cluster refuses, nothing is saved and the customer is told.
            instance_secret_values_set(subscription_id=subscription.id, values={OWN_PASSWORD_SECRET: new_password})
        except ClusterError:
            raise MailServerInvalid({"password": _("The password could not be stored just now. Nothing was changed; "
                                                   "please try again in a minute.")}) from None
        except LookupError:
            if new_password:
                raise MailServerInvalid({"password": _("Your instance is still being set up; set your own mail "
                                                       "server once it is running.")}) from None
            # Nothing to keep and nowhere yet to keep it: the row alone is enough.
        password_stored = bool(new_password)
    subscription_mail_server_set(subscription_id=subscription.id, host=value.host, port=value.port,
                                 tls_mode=value.tls_mode, username=value.username, sender=value.sender,
                                 password_stored=password_stored)
    audit_record(action="instance.mail_server_set", actor_id=actor_id, target_type="subscription",
                 target_id=subscription.id, ip=ip, details={"host": value.host, "port": value.port,
                                                            "tls_mode": value.tls_mode})


@use_case
def instance_mail_relay_use(*, subscription: Subscription, actor_id: int, ip: str | None = None) -> bool:
    """One click back to the business's relay; the customer's server is kept for switching back."""
    changed = subscription_mail_relay_use(subscription_id=subscription.id)
    if changed:
        audit_record(action="instance.mail_relay_used", actor_id=actor_id, target_type="subscription",
                     target_id=subscription.id, ip=ip)
    return changed


def instance_mail_server_test(*, subscription: Subscription, value: MailServerInput, recipient: str) -> ServerAnswer:
    """Send a test message through the server as typed (the stored password when the field is left blank) to
    the customer's own address; MailServerInvalid when the settings cannot even be tried."""
    value = _checked(value)
    password = value.password
    if value.username and not password:
        try:
            password = _stored_password_for(subscription, value)
        except ClusterError:
            password = None
        if password is None:
            raise MailServerInvalid({"password": _("Enter the password to test with.")})
    product = current_app.config["PRODUCT_NAME"]
    return server_test_send(
        host=value.host, port=value.port, tls_mode=value.tls_mode, username=value.username, password=password,
        sender=value.sender, recipient=recipient,
        subject=_("Test message for %(address)s", address=subscription.subdomain),
        text=_("This is a test message from %(product)s. Your instance %(address)s will send its email through "
               "%(host)s port %(port)s once you save these settings.", product=product,
               address=subscription.subdomain, host=value.host, port=value.port) + "\n",
        timeout=current_app.config["APP_MAIL_TEST_TIMEOUT_SECONDS"])

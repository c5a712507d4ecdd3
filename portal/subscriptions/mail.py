"""Which mail server an instance's apps send through: the stored choice (the business's relay or the customer's own)."""
from sqlalchemy import select

from portal.extensions import db
from portal.phrases import N_
from portal.subscriptions.models import InstanceMailServer
from portal.subscriptions.services import IllegalTransition, _locked, subscription_settings_changed
from portal.subscriptions.states import ENDED


def instance_mail_server_of(*, subscription_id: int) -> InstanceMailServer | None:
    return db.session.scalar(select(InstanceMailServer).where(InstanceMailServer.subscription_id == subscription_id))


def subscription_mail_server_set(*, subscription_id: int, host: str, port: int, tls_mode: str, username: str,
                                 sender: str, password_stored: bool | None) -> InstanceMailServer:
    """The customer's own server from now on (values already checked); the instance is re-applied with it.

    `password_stored`: True when a new password was just written to the Secret, False when it was cleared,
    None to keep what was there."""
    subscription = _locked(subscription_id)
    if subscription.state in ENDED:
        raise IllegalTransition(subscription.state, "provisioning")
    server = instance_mail_server_of(subscription_id=subscription_id)
    if server is None:
        server = InstanceMailServer(subscription_id=subscription_id, password_set=False)
        db.session.add(server)
    server.own_server, server.host, server.port, server.tls_mode = True, host, port, tls_mode
    server.username, server.sender = username, sender
    if password_stored is not None:
        server.password_set = password_stored
    subscription_settings_changed(subscription, message=N_("Mail server changed."))
    db.session.flush()
    return server


def subscription_mail_relay_use(*, subscription_id: int) -> bool:
    """Back to the business's relay; the customer's server stays noted for switching back. False: already there."""
    subscription = _locked(subscription_id)
    if subscription.state in ENDED:
        raise IllegalTransition(subscription.state, "provisioning")
    server = instance_mail_server_of(subscription_id=subscription_id)
    if server is None or not server.own_server:
        return False
    server.own_server = False
    subscription_settings_changed(subscription, message=N_("Mail goes through the hosting's mail relay again."))
    return True

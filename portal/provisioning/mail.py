"""Where an instance's apps send email: the business's relay or the customer's own server, its sender, its addresses."""
import ipaddress
import socket
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from portal.catalog.templates import MAIL_PLACEHOLDERS, MAIL_SECRETS

TLS_MODES = ("none", "starttls", "tls")
# The choices as the customer reads them (lazy: translated when the mail form is drawn).
TLS_MODE_LABELS = {"none": _l("None (plain text)"), "starttls": _l("STARTTLS (usually port 587)"),
                   "tls": _l("TLS from the first byte (usually port 465)")}
# The instance Secret's keys for the login the apps use (MAIL_SECRETS, which templates name) and the customer's
# own password, kept apart so that switching to the relay and back never loses it.
OWN_PASSWORD_SECRET = "own_mail_password"
__all__ = ["MAIL_PLACEHOLDERS", "MAIL_SECRETS", "OWN_PASSWORD_SECRET", "MailServer", "TLS_MODES",
           "address_not_public", "instance_mail_sender", "mail_host_addresses"]


@dataclass(frozen=True)
class MailServer:
    """One SMTP server as an instance's apps see it; `addresses` are its IPs at apply time (for the egress rule)."""
    host: str
    port: int
    tls_mode: str
    username: str
    password: str
    sender: str
    addresses: tuple[str, ...] = ()

    def placeholders(self) -> dict[str, str]:
        values = {"mail.host": self.host, "mail.port": str(self.port), "mail.sender": self.sender,
                "mail.tls_mode": self.tls_mode,
                # Implicit TLS (465): Ghost's `secure`, n8n's N8N_SMTP_SSL. STARTTLS is required when asked for and
                # never attempted in plain mode, so a "none" server is not upgraded behind the customer's back.
                "mail.implicit_tls": _flag(self.tls_mode == "tls"),
                "mail.starttls": _flag(self.tls_mode == "starttls"),
                "mail.plain": _flag(self.tls_mode == "none")}
        assert set(values) == MAIL_PLACEHOLDERS
        return values


def _flag(value: bool) -> str:
    return "true" if value else "false"


def instance_mail_sender(*, host: str, subdomain: str, sender_domain: str = "", customer_domain: str | None = None
                         ) -> str:
    """The address an instance sends from through the business's relay: on the customer's own domain once its
    ownership is verified; else, when operators name a sender domain (one domain verified at the relay), the
    instance's subdomain at that domain; else on the instance's own host."""
    if customer_domain:
        return f"noreply@{customer_domain}"
    if sender_domain:
        return f"{subdomain}@{sender_domain}"
    return f"noreply@{host}"


def mail_host_addresses(host: str, port: int) -> tuple[str, ...]:
    """The host's IP addresses now (an IP literal is itself); () when the name does not resolve.

    Resolved at every apply: a NetworkPolicy holds addresses, not names, so a relay that moves to new addresses is
    reachable again after the instance's next apply (any settings or mail change)."""
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        return ()
    return tuple(sorted({str(ipaddress.ip_address(info[4][0].split("%")[0])) for info in infos},
                        key=lambda ip: (ipaddress.ip_address(ip).version, ipaddress.ip_address(ip))))


def address_not_public(ip: str, excepted_cidrs: tuple[str, ...]) -> bool:
    """An address customers' pods may not be pointed at: loopback, private, link-local, reserved, or in the
    ranges the egress policy keeps them out of (the cluster's own among them)."""
    address = ipaddress.ip_address(ip)
    if not address.is_global or address.is_multicast:
        return True
    return any(address in network for network in (ipaddress.ip_network(c) for c in excepted_cidrs)
               if network.version == address.version)


# -- manifests (pure) -----------------------------------------------------------------------------

def mail_plugin_config_map(*, name: str, namespace: str, labels: dict, filename: str, content: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "data": {filename: content}}


PLUGIN_MOUNT = "/portal-mail-plugin"


def mail_plugin_init_container(*, image: str, directory: str, filename: str, volume_mounts: list[dict],
                               security_context: dict) -> dict:
    """Copy the plugin from its ConfigMap into the app's own volume before the app starts.

    Not a mount into the volume: the runtime would create the missing parent folders (wp-content on a new site)
    as root, and the app, running as its own user, could then not write its themes and uploads there. Copied as
    the app's user, the folders are the app's; a copy the customer edited is put back at the next start."""
    script = 'mkdir -p "$1" && cp "$3/$2" "$1/.$2.new" && mv -f "$1/.$2.new" "$1/$2"'
    return {"name": "mail-plugin", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", script, "mail-plugin", directory, filename, PLUGIN_MOUNT],
            "resources": {"limits": {"cpu": "100m", "memory": "64Mi", "ephemeral-storage": "16Mi"},
                          "requests": {"cpu": "10m", "memory": "16Mi", "ephemeral-storage": "4Mi"}},
            "securityContext": security_context,
            "volumeMounts": [*volume_mounts, {"name": "mail-plugin", "mountPath": PLUGIN_MOUNT, "readOnly": True}]}


def mail_network_policy(*, name: str, namespace: str, labels: dict, instance: str, components: list[str],
                        mail: "MailServer | None") -> dict:
    """Out of the instance's mail-sending pods to exactly its mail server: each address it resolved to at apply
    time (/32 or /128) on its one port. Rendered with no rule when there is no server, so switching servers never
    leaves the old one open."""
    egress = []
    if mail is not None and mail.addresses:
        egress.append({"to": [{"ipBlock": {"cidr": f"{ip}/{32 if ipaddress.ip_address(ip).version == 4 else 128}"}}
                              for ip in mail.addresses],
                       "ports": [{"protocol": "TCP", "port": mail.port}]})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": instance},
                                     "matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "In",
                                                           "values": sorted(components)}]},
                     "policyTypes": ["Egress"], "egress": egress}}

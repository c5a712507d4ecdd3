"""Which domain names a customer may bring: refusals with their reasons; IDNs kept as punycode, shown in Unicode."""
import ipaddress
import re
from dataclasses import dataclass

import idna
from flask_babel import gettext as _

MAX_NAME = 253
MAX_LABEL = 63
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
# Second-level registries where the registrable name has three labels (blog.co.id's apex is "blog.co.id"): only a
# hint for which DNS records to show first; the check accepts either kind of record.
_SECOND_LEVELS = {"co", "com", "net", "org", "or", "ac", "go", "web", "my", "sch", "biz", "gov", "edu", "ne", "mil",
                  "ltd", "plc", "id"}


class DomainRefused(ValueError):
    """A name the portal will not serve; the text says why, for the customer."""


@dataclass(frozen=True)
class DomainName:
    ascii: str  # what DNS, the Ingress and the database hold
    unicode: str  # what the customer reads

    @property
    def looks_like_apex(self) -> bool:
        labels = self.ascii.split(".")
        return len(labels) == 2 or (len(labels) == 3 and labels[1] in _SECOND_LEVELS and len(labels[2]) == 2)


def unicode_name(ascii_name: str) -> str:
    try:
        return idna.decode(ascii_name)
    except idna.IDNAError:
        return ascii_name


def domain_name_parse(text: str, *, provider_suffixes: tuple[str, ...] = ()) -> DomainName:
    """The name as typed (Unicode or punycode, any case, an optional trailing dot or scheme-less URL pasted by
    mistake is not accepted) turned into its ASCII form, or DomainRefused saying what is wrong with it."""
    name = (text or "").strip()
    if not name:
        raise DomainRefused(_("Enter a domain name, such as blog.example.co.id."))
    if "://" in name or "/" in name or ":" in name.strip("[]") and not _is_ip(name):
        raise DomainRefused(_("Enter only the domain name, without http://, a path or a port."))
    name = name.rstrip(".")
    if _is_ip(name):
        raise DomainRefused(_("An IP address cannot be used: enter a domain name and point it at your instance."))
    if "*" in name:
        raise DomainRefused(_("Wildcard domains (*.example.com) are not supported: add each name you use."))
    if len(name) > MAX_NAME:
        raise DomainRefused(_("A domain name has at most %(max)d characters.", max=MAX_NAME))
    labels = [_label_ascii(label) for label in name.split(".")]
    ascii_name = ".".join(labels)
    if len(ascii_name) > MAX_NAME:
        raise DomainRefused(_("A domain name has at most %(max)d characters (in its ASCII form, %(length)d here).",
                              max=MAX_NAME, length=len(ascii_name)))
    if len(labels) < 2:
        raise DomainRefused(_("Enter a full domain name with its ending, such as example.com."))
    if labels[-1].isdigit():
        raise DomainRefused(_("The ending of a domain name cannot be a number."))
    for suffix in provider_suffixes:
        suffix = suffix.strip(".").lower()
        if suffix and (ascii_name == suffix or ascii_name.endswith("." + suffix)):
            raise DomainRefused(_("Addresses under %(suffix)s belong to us: your instance already has one. "
                                  "Enter a domain you own.", suffix=suffix))
    return DomainName(ascii_name, unicode_name(ascii_name))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return False


def _label_ascii(label: str) -> str:
    """One part of the name in its ASCII form, or the reason it cannot be one."""
    if not label:
        raise DomainRefused(_("A domain name cannot have an empty part (two dots in a row, or a leading dot)."))
    shown = label if len(label) <= 30 else label[:27] + "..."
    try:
        ascii_label = idna.encode(label, uts46=True).decode("ascii").lower()
    except idna.IDNAError:
        ascii_label = None
    # What the label would take in DNS: punycode makes a short Unicode label long.
    length = len(ascii_label) if ascii_label is not None else len(label) if label.isascii() else \
        len("xn--" + label.lower().encode("punycode").decode("ascii"))
    if length > MAX_LABEL:
        raise DomainRefused(_("Each part of a domain name has at most %(max)d characters; “%(part)s” is longer.",
                               max=MAX_LABEL, part=shown))
    if ascii_label is None or not _LABEL.match(ascii_label):
        raise DomainRefused(_("“%(part)s” is not a valid part of a domain name: use letters, digits and hyphens, "
                              "not starting or ending with a hyphen.", part=shown))
    return ascii_label

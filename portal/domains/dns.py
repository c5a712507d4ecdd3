"""The DNS gateway: the one module that asks DNS, through dnspython, a resolver named in config (DOMAINS_DNS_RESOLVER
host:port; the system's when empty), with a timeout on every question."""
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.resolver

from portal.phrases import Phrase, phrase


@dataclass(frozen=True)
class DnsExpectation:
    """What a custom domain's records must say."""
    name: str  # ASCII
    verify_name: str  # the TXT record's name
    token: str
    cname_target: str  # where a CNAME must point
    addresses: tuple[str, ...]  # what A/AAAA records may hold instead (the ingress's addresses)


@dataclass
class DnsFinding:
    ownership: bool = False
    routing: bool = False
    problems: list[Phrase] = field(default_factory=list)  # read in the customer's language

    @property
    def verified(self) -> bool:
        return self.ownership and self.routing


class DnsUnavailable(Exception):
    """The resolver did not answer: nothing is known about the records (try again later)."""


def _host_port(address: str) -> tuple[str, int]:
    """"192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:5353" or a bare IPv6 address."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if address.count(":") == 1:
        host, port = address.split(":")
        return host, int(port)
    return address, 53


def resolver_for(address: str, timeout: float) -> dns.resolver.Resolver:
    if address:
        resolver = dns.resolver.Resolver(configure=False)
        host, port = _host_port(address)
        resolver.nameservers = [host]
        resolver.port = port
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = resolver.lifetime = timeout
    # The portal asks again within minutes: an answer cached from before the customer fixed a record would lie.
    resolver.cache = None
    return resolver


def _answers(resolver, name: str, rdtype: str) -> list[str]:
    try:
        answer = resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
        return []
    except (dns.exception.Timeout, dns.resolver.LifetimeTimeout) as error:
        raise DnsUnavailable(phrase("The DNS resolver did not answer for %(name)s (%(type)s); checking again "
                                    "later.", name=name, type=rdtype)) from error
    if answer.rrset is None:
        return []
    if rdtype == "TXT":
        return [b"".join(r.strings).decode(errors="replace") for r in answer.rrset]
    if rdtype == "CNAME":
        return [r.target.to_text(omit_final_dot=True).lower() for r in answer.rrset]
    return [r.address for r in answer.rrset]


def records_check(expectation: DnsExpectation, *, resolver_address: str, timeout: float) -> DnsFinding:
    """Ownership (the TXT record holds the token) and routing (a CNAME to the target, or only the ingress's
    addresses in A/AAAA); each problem in words the customer can act on. Raises DnsUnavailable."""
    resolver = resolver_for(resolver_address, timeout)
    finding = DnsFinding()
    texts = _answers(resolver, expectation.verify_name, "TXT")
    finding.ownership = expectation.token in texts
    if not finding.ownership:
        finding.problems.append(
            phrase("No TXT record %(name)s with the verification value yet.", name=expectation.verify_name)
            if not texts else
            phrase("The TXT record %(name)s does not hold the verification value (found: %(found)s).",
                   name=expectation.verify_name, found=", ".join(t[:60] for t in texts[:3])))
    target = expectation.cname_target.lower().rstrip(".")
    cnames = _answers(resolver, expectation.name, "CNAME")
    if cnames:
        finding.routing = target in cnames
        if not finding.routing:
            finding.problems.append(phrase("%(name)s is a CNAME to %(found)s, not to %(target)s.",
                                           name=expectation.name, found=cnames[0], target=target))
        return finding
    found = _answers(resolver, expectation.name, "A") + _answers(resolver, expectation.name, "AAAA")
    allowed = set(expectation.addresses)
    finding.routing = bool(found) and bool(allowed) and set(found) <= allowed
    if not found:
        finding.problems.append(phrase("%(name)s has no CNAME, A or AAAA record yet.", name=expectation.name))
    elif not finding.routing:
        stray = sorted(set(found) - allowed)
        finding.problems.append(
            phrase("%(name)s points at %(found)s, which is not our ingress (%(ours)s).", name=expectation.name,
                   found=", ".join(stray[:3]), ours=", ".join(expectation.addresses)) if allowed else
            phrase("%(name)s points at %(found)s, which is not our ingress.", name=expectation.name,
                   found=", ".join(stray[:3])))
    return finding

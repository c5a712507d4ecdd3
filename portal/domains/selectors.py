"""Reading custom domains: an instance's, the records a customer must create, the hosts its Ingresses serve,
and every domain for staff."""
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import User
from portal.catalog.models import Plan
from portal.domains.dns import DnsExpectation
from portal.domains.models import CustomDomain
from portal.domains.names import DomainName
from portal.extensions import db
from portal.rendering import translated
from portal.subscriptions.models import Subscription


@dataclass(frozen=True)
class DnsRecord:
    type: str
    name: str
    value: str
    purpose: str


@dataclass(frozen=True)
class ServedDomain:
    """One verified domain as the cluster serves it: the app, or a redirect to the primary."""
    id: int
    host: str
    redirect_to: str | None


@dataclass(frozen=True)
class InstanceDomains:
    public_host: str | None  # the address the app calls itself by, when it is not the provider's
    routes: tuple[ServedDomain, ...]
    # The customer's verified primary domain, which the apps send email from: ownership is proved by DNS, so no
    # certificate is needed for it (mail does not go through the Ingress).
    mail_domain: str | None = None


def provider_host(subscription: Subscription) -> str:
    return f"{subscription.subdomain}.{current_app.config['K8S_CLUSTER_DOMAIN']}"


def provider_suffixes() -> tuple[str, ...]:
    config = current_app.config
    return (config["K8S_CLUSTER_DOMAIN"], *config["DOMAINS_PROVIDER_SUFFIXES"])


def verify_name(name: str) -> str:
    return f"{current_app.config['DOMAINS_VERIFY_PREFIX']}.{name}"


def cname_target(subscription: Subscription) -> str:
    return current_app.config["DOMAINS_CNAME_TARGET"] or provider_host(subscription)


def dns_expectation(domain: CustomDomain) -> DnsExpectation:
    config = current_app.config
    return DnsExpectation(name=domain.name, verify_name=verify_name(domain.name), token=domain.token,
                          cname_target=cname_target(domain.subscription),
                          addresses=tuple(config["DOMAINS_APEX_A"]) + tuple(config["DOMAINS_APEX_AAAA"]))


def dns_records(domain: CustomDomain, *, apex: bool) -> list[DnsRecord]:
    """The records to create, the routing ones first: a CNAME for a subdomain, A/AAAA for an apex (DNS allows no
    CNAME there) when the ingress's addresses are configured."""
    config = current_app.config
    routing = []
    if apex and (config["DOMAINS_APEX_A"] or config["DOMAINS_APEX_AAAA"]):
        routing += [DnsRecord("A", domain.name, address, _("points the domain at our ingress"))
                    for address in config["DOMAINS_APEX_A"]]
        routing += [DnsRecord("AAAA", domain.name, address, _("points the domain at our ingress (IPv6)"))
                    for address in config["DOMAINS_APEX_AAAA"]]
    else:
        routing.append(DnsRecord("CNAME", domain.name, cname_target(domain.subscription),
                                 _("points the domain at your instance")))
    return routing + [DnsRecord("TXT", verify_name(domain.name), domain.token, _("proves the domain is yours"))]


def domains_of(subscription_id: int) -> list[CustomDomain]:
    return list(db.session.scalars(select(CustomDomain).where(CustomDomain.subscription_id == subscription_id)
                                   .order_by(CustomDomain.is_primary.desc(), CustomDomain.created_at,
                                             CustomDomain.id)))


def domain_limit(subscription: Subscription) -> int:
    return subscription.plan.custom_domains


def instance_domains(subscription_id: int) -> InstanceDomains:
    """What the instance's Ingresses serve. Non-primary domains redirect to the primary once its certificate is
    issued (a redirect to an address without TLS would break); until then every verified domain serves the app,
    which keeps calling itself by the provider's address."""
    verified = [d for d in domains_of(subscription_id) if d.dns_state == "verified"]
    primary = next((d for d in verified if d.is_primary and d.certificate_state == "issued"), None)
    routes = tuple(ServedDomain(d.id, d.name, None if primary is None or d is primary else f"https://{primary.name}")
                   for d in verified)
    mail_domain = next((d.name for d in verified if d.is_primary), None)
    return InstanceDomains(primary.name if primary else None, routes, mail_domain)


def domains_pending_dns() -> list[int]:
    return list(db.session.scalars(select(CustomDomain.id).where(CustomDomain.dns_state == "pending")
                                   .order_by(CustomDomain.checked_at.is_(None).desc(), CustomDomain.checked_at)))


def subscriptions_with_certificates() -> list[int]:
    """Instances with a verified domain: their certificates are read from the cluster."""
    return list(db.session.scalars(select(CustomDomain.subscription_id).where(CustomDomain.dns_state == "verified")
                                   .distinct().order_by(CustomDomain.subscription_id)))


def certificates_waiting(subscription_id: int) -> bool:
    return db.session.scalar(select(func.count(CustomDomain.id)).where(
        CustomDomain.subscription_id == subscription_id, CustomDomain.dns_state == "verified",
        CustomDomain.certificate_state == "pending")) > 0


STAFF_PAGE_SIZE = 50


def domains_for_staff(*, query: str = "", page: int = 1) -> tuple[list[CustomDomain], int]:
    """Every custom domain with its instance and owner, newest first; `query` matches the name or the owner."""
    statement = select(CustomDomain).join(Subscription).join(User, User.id == Subscription.user_id)
    if query:
        pattern = f"%{query.lower()}%"
        statement = statement.where(or_(CustomDomain.name.like(pattern), func.lower(User.email).like(pattern),
                                        Subscription.subdomain.like(pattern)))
    total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = list(db.session.scalars(statement.options(
        joinedload(CustomDomain.subscription).joinedload(Subscription.user),
        joinedload(CustomDomain.subscription).joinedload(Subscription.plan).joinedload(Plan.service))
        .order_by(CustomDomain.created_at.desc(), CustomDomain.id.desc())
        .limit(STAFF_PAGE_SIZE).offset((page - 1) * STAFF_PAGE_SIZE)))
    return rows, total


@dataclass(frozen=True)
class DomainView:
    """One domain as the customer's page shows it (values only: the template decides nothing)."""
    id: int
    name: str
    display_name: str
    is_primary: bool
    dns_state: str
    dns_problem: str | None
    checked_at: object
    records: list[DnsRecord]
    certificate_state: str
    certificate_label: str
    certificate_tone: str
    certificate_not_after: object
    certificate_reason: str | None
    redirects_to: str | None
    can_be_primary: bool
    can_retry_certificate: bool


_CERTIFICATE_WORDS = {"none": (_l("Waiting for DNS"), "secondary"), "pending": (_l("Being issued"), "info"),
                      "issued": (_l("Issued"), "success"), "failed": (_l("Failing"), "danger")}


def _findings_text(domain: CustomDomain) -> str | None:
    """The last DNS check's findings in the reader's language (as stored, in English, when kept before phrases)."""
    if domain.dns_findings:
        return " ".join(translated(finding) for finding in domain.dns_findings)
    return domain.dns_problem


def domain_views(subscription: Subscription) -> list[DomainView]:
    domains = domains_of(subscription.id)
    served = {route.id: route for route in instance_domains(subscription.id).routes}
    views = []
    for domain in domains:
        label, tone = _CERTIFICATE_WORDS[domain.certificate_state]
        label = str(label)
        route = served.get(domain.id)
        views.append(DomainView(
            id=domain.id, name=domain.name, display_name=domain.display_name, is_primary=domain.is_primary,
            dns_state=domain.dns_state, dns_problem=_findings_text(domain), checked_at=domain.checked_at,
            records=dns_records(domain, apex=DomainName(domain.name, domain.display_name).looks_like_apex),
            certificate_state=domain.certificate_state, certificate_label=label, certificate_tone=tone,
            certificate_not_after=domain.certificate_not_after, certificate_reason=domain.certificate_reason,
            redirects_to=route.redirect_to if route else None,
            can_be_primary=domain.dns_state == "verified" and not domain.is_primary,
            can_retry_certificate=domain.certificate_state == "failed" and subscription.state == "active"))
    return views


def domains_settled(views: list[DomainView]) -> bool:
    """Nothing on the page changes by itself any more (DNS verified, certificates issued or failed)."""
    return all(v.dns_state == "verified" and v.certificate_state in ("issued", "failed") for v in views)

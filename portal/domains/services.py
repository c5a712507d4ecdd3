"""Custom domain use cases: add (refused with a reason), check DNS, choose the primary, record cert-manager's
word on each certificate, try a failing certificate again, remove; emails to the customer and staff's expiry
alert."""
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.domains import dns, selectors
from portal.domains.models import CustomDomain
from portal.domains.names import DomainRefused, domain_name_parse
from portal.extensions import db
from portal.links import absolute_url
from portal.notifications.services import staff_alert, subscription_email
from portal.phrases import Phrase, as_phrase, phrase, phrase_english
from portal.subscriptions.events import instance_event_record
from portal.subscriptions.models import Subscription
from portal.subscriptions.states import HOLDS_RESOURCES
from portal.timestamps import utcnow
from portal.unit_of_work import after_commit, use_case

__all__ = ["DomainRefused", "DomainNotFound", "CertificateObservation"]


class DomainNotFound(LookupError):
    """No such domain on this instance."""


@dataclass(frozen=True)
class CertificateObservation:
    """What cert-manager's Certificate says: pending, issued (with its expiry) or failed (with its reason)."""
    state: str
    not_after: datetime | None = None
    reason: str | None = None


def _subscription_locked(subscription_id: int) -> Subscription:
    subscription = db.session.get(Subscription, subscription_id, with_for_update=True, populate_existing=True)
    if subscription is None:
        raise DomainNotFound("No such instance.")
    return subscription


def _domain_of(subscription_id: int, domain_id: int) -> CustomDomain:
    domain = db.session.get(CustomDomain, domain_id, with_for_update=True, populate_existing=True)
    if domain is None or domain.subscription_id != subscription_id:
        raise DomainNotFound("No such domain on this instance.")
    return domain


def _email_context(domain: CustomDomain) -> dict:
    return {"domain": domain.display_name, "domain_url": f"https://{domain.name}",
            "domains_link": absolute_url("domains.index", subscription_id=domain.subscription_id)}


@use_case
def domain_add(*, subscription_id: int, name: str) -> CustomDomain:
    """Add a domain to an instance, waiting for its DNS; DomainRefused says why it cannot be (the instance's
    state, the plan's limit, a name the portal does not serve, a name another instance has)."""
    subscription = _subscription_locked(subscription_id)
    if subscription.state not in HOLDS_RESOURCES:
        raise DomainRefused(_("Domains can be added once the instance is paid for and until it is deleted."))
    parsed = domain_name_parse(name, provider_suffixes=selectors.provider_suffixes())
    limit = selectors.domain_limit(subscription)
    count = db.session.scalar(select(func.count(CustomDomain.id))
                              .where(CustomDomain.subscription_id == subscription.id))
    existing = db.session.scalar(select(CustomDomain).where(CustomDomain.name == parsed.ascii))
    if existing is not None:
        raise DomainRefused(_("%(name)s is already added to this instance.", name=parsed.unicode) if
                            existing.subscription_id == subscription.id else
                            _("%(name)s is already used by another instance. If it is yours, remove it there "
                              "first, or contact support.", name=parsed.unicode))
    if limit == 0:
        raise DomainRefused(_("The %(plan)s plan serves your instance on its own address only: "
                              "choose a bigger plan to use your own domain.", plan=subscription.plan.name))
    if count >= limit:
        raise DomainRefused(ngettext("The %(plan)s plan includes %(num)d custom domain: remove one to add another.",
                                     "The %(plan)s plan includes %(num)d custom domains: remove one to add another.",
                                     limit, plan=subscription.plan.name))
    domain = CustomDomain(subscription_id=subscription.id, name=parsed.ascii, token=secrets.token_urlsafe(24),
                          is_primary=False, dns_state="pending", certificate_state="none")
    try:
        with db.session.begin_nested():
            db.session.add(domain)
            db.session.flush()
    except IntegrityError:
        # Another instance took the name between the check above and this insert.
        raise DomainRefused(_("%(name)s is already used by another instance.", name=parsed.unicode)) from None
    instance_event_record(subscription_id=subscription.id, kind="domain.added",
                          message=phrase("Domain %(name)s added; waiting for its DNS records.", name=parsed.unicode))
    after_commit("domain.check", domain_id=domain.id)
    return domain


def domain_dns_check(*, domain_id: int) -> str:
    """Ask DNS whether the domain's records are right (outside any transaction: DNS may take seconds), then
    record it; "verified", "pending", "unavailable" (no answer from DNS) or "missing"."""
    domain = db.session.get(CustomDomain, domain_id)
    if domain is None:
        return "missing"
    if domain.dns_state == "verified":
        return "verified"
    expectation = selectors.dns_expectation(domain)
    db.session.rollback()  # hold no transaction open while DNS answers
    config = current_app.config
    try:
        finding = dns.records_check(expectation, resolver_address=config["DOMAINS_DNS_RESOLVER"],
                                    timeout=config["DOMAINS_DNS_TIMEOUT_SECONDS"])
    except dns.DnsUnavailable as error:
        return domain_dns_record(domain_id=domain_id, verified=False, problems=[as_phrase(error.args[0])],
                                 unavailable=True)
    return domain_dns_record(domain_id=domain_id, verified=finding.verified, problems=finding.problems)


@use_case
def domain_dns_record(*, domain_id: int, verified: bool, problems: list[str | Phrase], unavailable: bool = False
                      ) -> str:
    """Record a DNS check. Verified: the domain goes on the instance's Ingress (the first verified one becomes the
    primary), cert-manager is asked for its certificate and the customer is told."""
    domain = db.session.get(CustomDomain, domain_id, with_for_update=True, populate_existing=True)
    if domain is None:
        return "missing"
    if domain.dns_state == "verified":
        return "verified"
    domain.checked_at = utcnow()
    if not verified:
        domain.dns_problem = " ".join(phrase_english(problem) for problem in problems)[:2000] or None
        domain.dns_findings = [as_phrase(problem) for problem in problems] or None
        return "unavailable" if unavailable else "pending"
    domain.dns_state, domain.dns_problem, domain.dns_findings, domain.verified_at = "verified", None, None, utcnow()
    domain.certificate_state, domain.certificate_reason = "pending", None
    has_primary = db.session.scalar(select(func.count(CustomDomain.id)).where(
        CustomDomain.subscription_id == domain.subscription_id, CustomDomain.is_primary)) > 0
    if not has_primary:
        domain.is_primary = True
    subscription = domain.subscription
    instance_event_record(subscription_id=subscription.id, kind="domain.verified",
                          message=phrase("Domain %(name)s verified; requesting its TLS certificate.",
                                         name=domain.display_name))
    subscription_email(subscription, "domain_verified", key=f"domain-verified:{domain.id}",
                       **_email_context(domain))
    after_commit("instance.domains_apply", subscription_id=subscription.id)
    return "verified"


@use_case
def domain_primary_set(*, subscription_id: int, domain_id: int) -> CustomDomain:
    """The app calls itself by this domain (once its certificate is issued); the others redirect to it."""
    domain = _domain_of(subscription_id, domain_id)
    if domain.dns_state != "verified":
        raise DomainRefused(_("Only a verified domain can be the primary one."))
    if domain.is_primary:
        return domain
    for other in db.session.scalars(select(CustomDomain).where(CustomDomain.subscription_id == subscription_id,
                                                                CustomDomain.is_primary)):
        other.is_primary = False
    db.session.flush()  # the one-primary index sees the old primary gone before the new one
    domain.is_primary = True
    instance_event_record(subscription_id=subscription_id, kind="domain.primary",
                          message=phrase("%(name)s is now the primary address; the others redirect to it.",
                                         name=domain.display_name))
    after_commit("instance.domains_apply", subscription_id=subscription_id)
    return domain


@use_case
def domain_remove(*, subscription_id: int, domain_id: int) -> str:
    """Take a domain off the instance: its Ingress and certificate go (after the commit); the provider's
    address and the other domains keep working. Returns the name removed (for the message)."""
    domain = _domain_of(subscription_id, domain_id)
    shown, was_primary, was_live = domain.display_name, domain.is_primary, domain.dns_state == "verified"
    db.session.delete(domain)
    db.session.flush()
    if was_primary:
        successor = db.session.scalar(select(CustomDomain).where(
            CustomDomain.subscription_id == subscription_id, CustomDomain.dns_state == "verified")
            .order_by(CustomDomain.verified_at, CustomDomain.id).limit(1))
        if successor is not None:
            successor.is_primary = True
    instance_event_record(subscription_id=subscription_id, kind="domain.removed",
                          message=phrase("Domain %(name)s removed.", name=shown))
    if was_live:
        after_commit("instance.domains_detach", subscription_id=subscription_id, domain_id=domain_id)
    return shown


@use_case
def domain_certificates_record(*, subscription_id: int, observed: dict[int, CertificateObservation]) -> bool:
    """Record what cert-manager says of each verified domain's certificate; tell the customer when one is issued
    or failing (once per certificate and per failure). When the primary's certificate is first issued, the app's
    own address setting is re-applied. Returns True while a certificate is still pending."""
    reapply = False
    waiting = False
    now = utcnow()
    domains = list(db.session.scalars(select(CustomDomain).where(
        CustomDomain.subscription_id == subscription_id, CustomDomain.dns_state == "verified")
        .with_for_update()))
    for domain in domains:
        seen = observed.get(domain.id)
        domain.certificate_checked_at = now
        if seen is None or seen.state == "pending":
            if domain.certificate_state != "issued":  # an issued one being renewed stays issued
                domain.certificate_state = "pending"
                waiting = True
            continue
        before = (domain.certificate_state, domain.certificate_not_after, domain.certificate_reason)
        if seen.state == "issued":
            domain.certificate_state, domain.certificate_not_after = "issued", seen.not_after
            domain.certificate_reason = None
            if before[0] != "issued":
                reapply |= domain.is_primary
                instance_event_record(subscription_id=subscription_id, kind="domain.certificate",
                                      message=phrase("TLS certificate issued for %(name)s.",
                                                     name=domain.display_name))
                subscription_email(domain.subscription, "domain_certificate_issued",
                                   key=f"domain-certificate-issued:{domain.id}:{seen.not_after:%Y%m%d%H%M}",
                                   not_after=seen.not_after.isoformat(), **_email_context(domain))
        elif seen.state == "failed":
            domain.certificate_state, domain.certificate_reason = "failed", (seen.reason or "")[:2000]
            if before[0] != "failed" or before[2] != domain.certificate_reason:
                instance_event_record(subscription_id=subscription_id, kind="domain.certificate", level="warning",
                                      message=phrase("The TLS certificate for %(name)s could not be issued yet: "
                                                     "%(reason)s", name=domain.display_name,
                                                     reason=domain.certificate_reason))
                subscription_email(domain.subscription, "domain_certificate_failing",
                                   key=f"domain-certificate-failing:{domain.id}:{now:%Y%m%d}",
                                   reason=domain.certificate_reason, **_email_context(domain))
    if reapply:
        after_commit("instance.domains_apply", subscription_id=subscription_id)
    return waiting


@use_case
def domain_certificate_retry(*, subscription_id: int, domain_id: int) -> CustomDomain:
    """The customer fixed what made the certificate fail (a CAA record, a firewall) and asks for a new attempt now,
    rather than after cert-manager's own backoff: the certificate is pending again and cert-manager is asked
    after the commit. DomainRefused unless it is failing (a second click while pending changes nothing)."""
    domain = _domain_of(subscription_id, domain_id)
    if domain.certificate_state == "pending":
        raise DomainRefused(_("A new certificate for %(name)s is already being requested; this page shows the "
                              "outcome.", name=domain.display_name))
    if domain.certificate_state != "failed":
        raise DomainRefused(_("The certificate for %(name)s is not failing: there is nothing to try again.",
                              name=domain.display_name))
    if domain.subscription.state != "active":
        raise DomainRefused(_("A certificate can be requested again while the instance is running."))
    domain.certificate_state, domain.certificate_reason = "pending", None
    instance_event_record(subscription_id=subscription_id, kind="domain.certificate",
                          message=phrase("New attempt at the TLS certificate for %(name)s requested.",
                                         name=domain.display_name))
    after_commit("instance.certificate_renew", subscription_id=subscription_id, domain_id=domain.id)
    return domain


@use_case
def domain_certificate_retry_failed(*, domain_id: int, reason: str) -> None:
    """The new attempt could not be started (the cluster refused it, the Certificate is gone): the certificate is
    failing again with the cluster's reason, not left pending."""
    domain = db.session.get(CustomDomain, domain_id, with_for_update=True, populate_existing=True)
    if domain is None or domain.certificate_state != "pending":
        return
    domain.certificate_state, domain.certificate_reason = "failed", reason[:2000]
    instance_event_record(subscription_id=domain.subscription_id, kind="domain.certificate", level="warning",
                          message=phrase("The new attempt at the TLS certificate for %(name)s could not be started: "
                                         "%(reason)s", name=domain.display_name, reason=domain.certificate_reason))


@use_case
def domains_expiry_alert() -> int:
    """Staff are told of every issued certificate within DOMAINS_EXPIRY_ALERT_DAYS of its end: cert-manager
    renews at two thirds of the lifetime, so one this close has failed to renew. Once per certificate."""
    days = current_app.config["DOMAINS_EXPIRY_ALERT_DAYS"]
    soon = utcnow() + timedelta(days=days)
    count = 0
    for domain in db.session.scalars(select(CustomDomain).where(
            CustomDomain.certificate_state == "issued", CustomDomain.certificate_not_after < soon)
            .order_by(CustomDomain.certificate_not_after)):
        subscription = domain.subscription
        queued = staff_alert(
            key=f"certificate-expiry:{domain.id}:{domain.certificate_not_after:%Y%m%d%H%M}",
            title=f"Certificate for {domain.display_name} expires {domain.certificate_not_after:%d %b %Y}",
            message=f"The TLS certificate of {domain.display_name} (instance {subscription.subdomain}, subscription "
                    f"#{subscription.id}) ends on {domain.certificate_not_after:%Y-%m-%d %H:%M} UTC and has not been "
                    f"renewed. Look at its Certificate and CertificateRequest in namespace "
                    f"{subscription.namespace or '?'}.")
        count += 1 if queued else 0
    return count


def domains_release(*, subscription_id: int) -> list[int]:
    """The instance is deleted: its domains are free for any instance again (in the caller's transaction);
    returns their ids (their cluster objects go with the instance's)."""
    domains = list(db.session.scalars(select(CustomDomain).where(CustomDomain.subscription_id == subscription_id)))
    for domain in domains:
        db.session.delete(domain)
    return [domain.id for domain in domains]

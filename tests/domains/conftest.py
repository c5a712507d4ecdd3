"""Custom domain tests: the emulated cluster (with its cert-manager) on a clock the test moves, and a DNS server
on loopback that the portal's checks ask."""
import pytest

from portal.accounts.services import user_by_email
from portal.instances.sweep import instances_sweep

INGRESS_V4 = "203.0.113.10"
INGRESS_V6 = "2001:db8::10"


@pytest.fixture
def app_config(cluster_config, dns_zone):
    return {**cluster_config, "DOMAINS_DNS_RESOLVER": dns_zone.address, "DOMAINS_DNS_TIMEOUT_SECONDS": 2,
            "DOMAINS_APEX_A": (INGRESS_V4,), "DOMAINS_APEX_AAAA": (INGRESS_V6,),
            "DOMAINS_PROVIDER_SUFFIXES": ("portal.example.id",), "K8S_CLUSTER_ISSUER": "letsencrypt-prod"}


@pytest.fixture
def live(app, kube_clock, paid):
    """An active instance; `live("ghost", plan_slug="pro")` for another."""
    def make(app_slug="ghost", plan_slug="pro", subdomain="ana-blog", email="ana@example.com"):
        sid = paid(app_slug, plan_slug=plan_slug, subdomain=subdomain, email=email)
        kube_clock.advance(30)
        instances_sweep()
        return sid
    return make


@pytest.fixture
def logged_in(client, login):
    def as_user(email="ana@example.com"):
        login(user_by_email(email))
        return client
    return as_user


def point_dns(zone, domain, *, cname: str | None = None, addresses=(INGRESS_V4,), token: str | None = None,
              prefix: str = "_portal-verify"):
    """Create the records a customer would: the TXT proof and a CNAME (or A/AAAA records)."""
    if token is not None:
        zone.set(f"{prefix}.{domain}", "TXT", token)
    if cname:
        zone.set(domain, "CNAME", cname)
    else:
        v4 = [a for a in addresses if ":" not in a]
        v6 = [a for a in addresses if ":" in a]
        if v4:
            zone.set(domain, "A", *v4)
        if v6:
            zone.set(domain, "AAAA", *v6)

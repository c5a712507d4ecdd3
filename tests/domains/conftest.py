"""Custom domain tests: the emulated cluster (with its cert-manager) on a clock the test moves, and a DNS server
on loopback that the portal's checks ask."""
import pytest

from portal.accounts.services import user_by_email
from portal.instances.sweep import instances_sweep
from tests.domains.dns_records import INGRESS_V4, INGRESS_V6


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

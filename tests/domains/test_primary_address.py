"""Once the customer's own primary domain serves the app over TLS, the instance page's header and the dashboard
card name it and open it (the provider's address redirects there); before, and for a domain still waiting, the
provider's address. An internationalised domain reads in Unicode and opens by its ASCII name."""
import re

import pytest

from portal.domains import services
from portal.provisioning import services as provisioning
from tests.domains.dns_records import point_dns

pytestmark = pytest.mark.smoke


def _header(client, sid, headers=None) -> str:
    body = client.get(f"/instances/{sid}", headers=headers or {}).get_data(as_text=True)
    return re.search(r'<h1 class="h4 mb-0">(.*?)</h1>', body, re.S).group(1)


def test_the_live_primary_domain_is_the_instances_address(app, kube_clock, dns_zone, live, logged_in):
    sid = live("ghost")
    client = logged_in()
    domain = services.domain_add(subscription_id=sid, name="Töko-Ana.id")
    point_dns(dns_zone, "xn--tko-ana-90a.id", token=domain.token)
    assert services.domain_dns_check(domain_id=domain.id) == "verified"
    # Verified, its certificate still being issued: the provider's address is the one that works over https.
    assert ">https://ana-blog.localtest.me</a>" in _header(client, sid)
    tag = client.get(f"/instances/{sid}", headers={"HX-Request": "true"}).headers["ETag"]

    kube_clock.advance(10)
    assert provisioning.instance_certificates_read(subscription_id=sid) is False
    header = _header(client, sid)
    assert ">https://töko-ana.id</a>" in header and "/_ingress/xn--tko-ana-90a.id/" in header
    # A poll made with the old tag is answered in full: the address is part of what it shows.
    poll = client.get(f"/instances/{sid}", headers={"HX-Request": "true", "If-None-Match": tag})
    assert poll.status_code in (200, 286) and "https://töko-ana.id" in poll.get_data(as_text=True)
    dashboard = client.get("/").get_data(as_text=True)
    assert ">töko-ana.id</a>" in dashboard and "/_ingress/xn--tko-ana-90a.id/" in dashboard

    services.domain_remove(subscription_id=sid, domain_id=domain.id)
    assert ">https://ana-blog.localtest.me</a>" in _header(client, sid)
    assert ">ana-blog.localtest.me</a>" in client.get("/").get_data(as_text=True)

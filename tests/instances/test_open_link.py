"""Where "Open" takes a customer: the emulated cluster's placeholder for the address (over real HTTP) in emulated
mode, with a note saying so; https://<address> with a real cluster, and no note."""
import re

import requests

from portal.extensions import db
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import Subscription


def _links(body: str) -> set[str]:
    return set(re.findall(r'<a[^>]*href="([^"]*ana-flows[^"]*)"', body))


def test_in_emulated_mode_open_leads_to_the_emulated_clusters_page_for_the_address(client, kube, live):
    expected = f"{kube.url}/_ingress/ana-flows.localtest.me/"
    page = client.get(f"/instances/{live}").get_data(as_text=True)
    dashboard = client.get("/").get_data(as_text=True)
    assert _links(page) == {expected} and _links(dashboard) == {expected}
    for body in (page, dashboard):
        assert 'data-testid="emulated-note"' in body and "emulated cluster" in body
    assert "https://ana-flows.localtest.me" in page  # the address is still named as customers will know it

    placeholder = requests.get(expected, timeout=5)
    assert placeholder.status_code == 200
    text = placeholder.text
    assert "n8n" in text and "https://ana-flows.localtest.me" in text and "emulated Kubernetes cluster" in text
    assert "customer-" in text and f"n8n-{live}" in text  # the Ingress the portal applied, and where it routes
    assert "Pods ready</dt><dd>1 of 1" in text
    assert "script-src" not in placeholder.headers["Content-Security-Policy"]  # default-src 'none': no script


def test_with_a_real_cluster_open_is_the_https_address_and_no_note(app, client, live):
    app.config["KUBE_MODE"] = "kubeconfig"  # the pages read the database only: no cluster is contacted
    page = client.get(f"/instances/{live}").get_data(as_text=True)
    dashboard = client.get("/").get_data(as_text=True)
    assert _links(page) == {"https://ana-flows.localtest.me"}
    assert _links(dashboard) == {"https://ana-flows.localtest.me"}
    assert "emulated-note" not in page and "emulated-note" not in dashboard


def test_an_address_without_an_ingress_is_a_404_page_with_the_host_escaped(kube):
    answer = requests.get(f"{kube.url}/_ingress/nobody.localtest.me/", timeout=5)
    assert answer.status_code == 404 and "has no Ingress for <strong>nobody.localtest.me</strong>" in answer.text
    hostile = requests.get(f"{kube.url}/_ingress/%3Cscript%3Ealert(1)%3C%2Fscript%3E/", timeout=5)
    assert hostile.status_code == 404 and "<script>" not in hostile.text and "&lt;script&gt;" in hostile.text


def test_the_page_follows_the_cluster_no_ready_pod_then_no_ingress(app, kube, kube_clock, live):
    address = f"{kube.url}/_ingress/ana-flows.localtest.me/"
    kube.crash_loop(db.session.get(Subscription, live).namespace, f"n8n-{live}-app")
    kube_clock.advance(30)
    crashing = requests.get(address, timeout=5)
    assert crashing.status_code == 503 and "No pod behind this address is ready" in crashing.text
    subscriptions.subscription_suspend(subscription_id=live, reason="non_payment")  # the portal removes the Ingress
    assert requests.get(address, timeout=5).status_code == 404

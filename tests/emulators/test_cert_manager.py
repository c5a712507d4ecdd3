"""The emulated cert-manager, through the official client: a Certificate per TLS secret of an annotated Ingress
(named, labelled and owned as ingress-shim does), Ready with notAfter/renewalTime and the TLS Secret after the
delay on the cluster clock, or failed with the HTTP-01 reason for a host set to fail; re-issued when the hosts
change, dropped with its tls entry or its Ingress; every Certificate valid against the CRD kept in the repo."""
import json
import urllib.request
from datetime import datetime, timedelta

import pytest
from kubernetes import client

from emulators.kube import crds


def ingress(name: str, tls: list[tuple[str, str]], issuer: str | None = "letsencrypt-prod") -> dict:
    annotations = {"cert-manager.io/cluster-issuer": issuer} if issuer else {}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "shop", "labels": {"portal/subscription": "9"},
                         "annotations": annotations},
            "spec": {"ingressClassName": "nginx",
                     "tls": [{"hosts": [host], "secretName": secret} for host, secret in tls],
                     "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                         "service": {"name": "web", "port": {"number": 80}}}}]}} for host, _ in tls]}}


@pytest.fixture
def custom(api_client):
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def shop(gateway):
    gateway.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    return gateway


def certificates(custom) -> dict[str, dict]:
    items = custom.list_namespaced_custom_object("cert-manager.io", "v1", "shop", "certificates")["items"]
    for item in items:  # a list's items carry no apiVersion/kind, as a real API server answers
        crds.validate({**{k: v for k, v in item.items() if k != "status"}, "apiVersion": "cert-manager.io/v1",
                       "kind": "Certificate"})
    return {item["metadata"]["name"]: item for item in items}


def condition(certificate: dict, kind: str) -> dict:
    return next(c for c in certificate["status"]["conditions"] if c["type"] == kind)


def test_ingress_shim_issues_a_certificate_per_tls_secret_after_the_delay(shop, custom, core, clock):
    applied = shop.apply(ingress("blog", [("blog.example.com", "blog-tls"), ("www.example.com", "www-tls")]))
    found = certificates(custom)
    assert sorted(found) == ["blog-tls", "www-tls"]
    blog = found["blog-tls"]
    assert blog["spec"] == {"secretName": "blog-tls", "dnsNames": ["blog.example.com"],
                            "issuerRef": {"name": "letsencrypt-prod", "kind": "ClusterIssuer",
                                          "group": "cert-manager.io"},
                            "usages": ["digital signature", "key encipherment"]}
    assert blog["metadata"]["labels"] == {"portal/subscription": "9"}
    assert blog["metadata"]["ownerReferences"][0]["uid"] == applied["metadata"]["uid"]
    assert condition(blog, "Ready")["status"] == "False" and condition(blog, "Issuing")["status"] == "True"
    assert "notAfter" not in blog["status"]
    assert core.list_namespaced_secret("shop").items == []

    clock.advance(2.5)
    blog = certificates(custom)["blog-tls"]
    ready = condition(blog, "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "Ready")
    not_after = datetime.fromisoformat(blog["status"]["notAfter"].replace("Z", "+00:00"))
    renewal = datetime.fromisoformat(blog["status"]["renewalTime"].replace("Z", "+00:00"))
    assert not_after - renewal == timedelta(days=30)
    secret = core.read_namespaced_secret("blog-tls", "shop")
    assert secret.type == "kubernetes.io/tls" and set(secret.data) == {"tls.crt", "tls.key"}
    assert secret.metadata.annotations["cert-manager.io/certificate-name"] == "blog-tls"


def test_a_host_whose_challenge_fails_gets_the_reason_and_no_secret(cluster, shop, custom, core, clock):
    cluster.certificate_fails("shop.example.com")
    shop.apply(ingress("shop", [("shop.example.com", "shop-tls")]))
    clock.advance(2.5)
    found = certificates(custom)["shop-tls"]
    issuing = condition(found, "Issuing")
    assert (issuing["status"], issuing["reason"]) == ("False", "Failed")
    assert "acme: authorization error for shop.example.com" in issuing["message"]
    assert condition(found, "Ready")["status"] == "False"
    assert found["status"]["failedIssuanceAttempts"] == 1 and found["status"]["lastFailureTime"]
    assert core.list_namespaced_secret("shop").items == []


def test_the_control_endpoint_sets_failing_hosts_and_the_delay(cluster, shop, custom, clock):
    def post(body):
        request = urllib.request.Request(cluster.url + "/_emulator/certificates", data=json.dumps(body).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(request).read())

    state = post({"failHost": "Bad.Example.com", "reason": "DNS points elsewhere", "delay": 10})
    assert state["failingHosts"] == {"bad.example.com": "DNS points elsewhere"} and state["delay"] == 10
    shop.apply(ingress("bad", [("bad.example.com", "bad-tls")]))
    clock.advance(5)
    assert condition(certificates(custom)["bad-tls"], "Issuing")["status"] == "True"
    clock.advance(6)
    assert "DNS points elsewhere" in condition(certificates(custom)["bad-tls"], "Issuing")["message"]
    urllib.request.urlopen(urllib.request.Request(cluster.url + "/_emulator/certificates", method="DELETE"))
    assert cluster.describe()["certificates"]["failingHosts"] == {}


def test_changed_hosts_reissue_and_a_dropped_tls_entry_or_ingress_takes_its_certificate(shop, custom, clock,
                                                                                         networking):
    shop.apply(ingress("blog", [("blog.example.com", "blog-tls"), ("www.example.com", "www-tls")]))
    clock.advance(2.5)
    shop.apply(ingress("blog", [("news.example.com", "blog-tls")]))
    found = certificates(custom)
    assert sorted(found) == ["blog-tls"]  # www-tls no longer named by the Ingress
    assert found["blog-tls"]["spec"]["dnsNames"] == ["news.example.com"]
    assert condition(found["blog-tls"], "Issuing")["reason"] == "Reissuing"
    clock.advance(2.5)
    assert "Issuing" not in {c["type"] for c in certificates(custom)["blog-tls"]["status"]["conditions"]}
    networking.delete_namespaced_ingress("blog", "shop")
    assert certificates(custom) == {}


def test_an_ingress_without_an_issuer_annotation_gets_no_certificate(shop, custom):
    shop.apply(ingress("plain", [("plain.example.com", "plain-tls")], issuer=None))
    assert certificates(custom) == {}


def test_a_certificate_written_through_the_api_is_checked_against_the_crd(shop, custom):
    bad = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "bad", "namespace": "shop"},
           "spec": {"secretName": "bad", "dnsNames": ["a.example.com"], "issuerRef": {"name": "x"}, "duration": 5}}
    with pytest.raises(client.ApiException) as refused:
        custom.create_namespaced_custom_object("cert-manager.io", "v1", "shop", "certificates", bad)
    assert refused.value.status == 422
    assert "duration" in refused.value.body


def renew(custom, name: str) -> dict:
    """What `cmctl renew` does (cert-manager/cmctl pkg/renew): the Issuing condition set True with reason
    ManuallyTriggered, written with UpdateStatus (a PUT on the status subresource)."""
    found = custom.get_namespaced_custom_object("cert-manager.io", "v1", "shop", "certificates", name)
    conditions = [c for c in found["status"]["conditions"] if c["type"] != "Issuing"]
    conditions.append({"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
                       "message": "Certificate re-issuance manually triggered",
                       "lastTransitionTime": "2030-01-01T00:00:00Z", "observedGeneration": 1})
    found["status"]["conditions"] = conditions
    return custom.replace_namespaced_custom_object_status("cert-manager.io", "v1", "shop", "certificates", name,
                                                          found)


def test_a_manual_trigger_issues_a_failed_certificate_again_at_once(cluster, shop, custom, core, clock):
    cluster.certificate_fails("shop.example.com", "CAA record forbids letsencrypt.org")
    shop.apply(ingress("shop", [("shop.example.com", "shop-tls")]))
    clock.advance(2.5)
    assert certificates(custom)["shop-tls"]["status"]["failedIssuanceAttempts"] == 1

    # Still failing: a trigger makes a new attempt now (no backoff), which fails again and counts.
    renew(custom, "shop-tls")
    assert condition(certificates(custom)["shop-tls"], "Issuing")["reason"] == "ManuallyTriggered"
    clock.advance(2.5)
    found = certificates(custom)["shop-tls"]
    assert condition(found, "Issuing")["reason"] == "Failed" and found["status"]["failedIssuanceAttempts"] == 2

    # The cause fixed: nothing happens by itself before the backoff ends, a trigger issues it at once.
    cluster.certificate_failures_clear()
    clock.advance(60)
    assert condition(certificates(custom)["shop-tls"], "Issuing")["reason"] == "Failed"
    renew(custom, "shop-tls")
    clock.advance(1)
    assert condition(certificates(custom)["shop-tls"], "Issuing")["status"] == "True"  # the delay, as any issuance
    clock.advance(1.5)
    found = certificates(custom)["shop-tls"]
    assert condition(found, "Ready")["status"] == "True" and found["status"]["notAfter"]
    assert "lastFailureTime" not in found["status"] and "failedIssuanceAttempts" not in found["status"]
    assert [s.metadata.name for s in core.list_namespaced_secret("shop").items] == ["shop-tls"]


def test_a_failed_certificate_is_tried_again_by_itself_after_an_exponential_backoff(cluster, shop, custom, clock):
    cluster.certificate_fails("shop.example.com")
    shop.apply(ingress("shop", [("shop.example.com", "shop-tls")]))
    clock.advance(2)  # the first attempt fails now
    assert certificates(custom)["shop-tls"]["status"]["failedIssuanceAttempts"] == 1

    clock.advance(3600 - 1)
    assert condition(certificates(custom)["shop-tls"], "Issuing")["reason"] == "Failed"
    clock.advance(1)  # an hour after the first failure: the trigger controller starts a new issuance
    issuing = condition(certificates(custom)["shop-tls"], "Issuing")
    assert (issuing["status"], issuing["reason"]) == ("True", "DoesNotExist")
    clock.advance(2)
    assert certificates(custom)["shop-tls"]["status"]["failedIssuanceAttempts"] == 2

    clock.advance(2 * 3600 - 1)  # two hours after the second failure
    assert certificates(custom)["shop-tls"]["status"]["failedIssuanceAttempts"] == 2
    clock.advance(1 + 2)
    assert certificates(custom)["shop-tls"]["status"]["failedIssuanceAttempts"] == 3

    # Fixed meanwhile: the next retry (four hours on) issues it, without anyone asking.
    cluster.certificate_failures_clear()
    clock.advance(4 * 3600 + 2)
    found = certificates(custom)["shop-tls"]
    assert condition(found, "Ready")["status"] == "True" and "lastFailureTime" not in found["status"]
    assert cluster.describe()["certificates"]["backingOff"] == 0


@pytest.mark.parametrize("attempts, hours", [(0, 1), (1, 1), (2, 2), (3, 4), (6, 32), (7, 32), (99, 32)])
def test_the_backoff_doubles_from_an_hour_up_to_32_hours(attempts, hours):
    from emulators.kube.certmanager import retry_delay
    assert retry_delay(attempts) == hours * 3600


def test_a_status_write_is_checked_against_the_crd_and_the_resource_version(shop, custom, clock):
    shop.apply(ingress("blog", [("blog.example.com", "blog-tls")]))
    found = custom.get_namespaced_custom_object("cert-manager.io", "v1", "shop", "certificates", "blog-tls")
    stale = {"metadata": {"resourceVersion": "1"}, "status": {"conditions": []}}
    with pytest.raises(client.ApiException) as refused:
        custom.patch_namespaced_custom_object_status("cert-manager.io", "v1", "shop", "certificates", "blog-tls",
                                                     stale)
    assert refused.value.status == 409
    bad = {"metadata": {"resourceVersion": found["metadata"]["resourceVersion"]},
           "status": {"conditions": [{"type": "Issuing", "status": "Perhaps"}]}}
    with pytest.raises(client.ApiException) as refused:
        custom.patch_namespaced_custom_object_status("cert-manager.io", "v1", "shop", "certificates", "blog-tls",
                                                     bad)
    assert refused.value.status == 422
    assert custom.get_namespaced_custom_object("cert-manager.io", "v1", "shop", "certificates",
                                               "blog-tls")["status"] == found["status"]

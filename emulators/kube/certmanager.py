"""cert-manager, emulated: ingress-shim makes a Certificate per TLS secret of an annotated Ingress, and the
issuer answers after `certificate_delay` seconds of cluster time: Ready with notAfter/renewalTime and the
TLS Secret written, or failed with the reason an ACME HTTP-01 challenge gives for a host listed as failing.

As in cert-manager (pkg/controller/certificate-shim): the Certificate is named after tls[].secretName, lives in
the Ingress's namespace, is owned by the Ingress (garbage-collected with it), and one no longer named by the
Ingress's tls is deleted. Conditions and fields follow cert-manager v1 (Ready, Issuing; notAfter, renewalTime,
failedIssuanceAttempts, lastFailureTime).

As its trigger and issuing controllers (pkg/controller/certificates/trigger, .../issuing): a Certificate whose
status gains Issuing=True (`cmctl renew` writes it with reason ManuallyTriggered through the status subresource)
is issued again at once; a failed one is tried again by itself after a backoff of 1 h x 2^(failedIssuanceAttempts
- 1), at most 32 h, counted from its lastFailureTime.
"""
import base64
import copy
import math

from . import crds

ISSUER_ANNOTATIONS = (("cert-manager.io/cluster-issuer", "ClusterIssuer"), ("cert-manager.io/issuer", "Issuer"))
VALIDITY_SECONDS = 90 * 86400  # Let's Encrypt's certificates
RENEW_BEFORE_SECONDS = 30 * 86400  # cert-manager's default: renew at two thirds of the lifetime
BACKOFF_INITIAL_SECONDS = 3600.0  # trigger controller: an hour after the first failure, doubling...
BACKOFF_MAX_SECONDS = 32 * 3600.0  # ...up to 32 h (failedIssuanceAttempts above 6 stay there)
DEFAULT_FAILURE = ("Failed to wait for order resource to become ready: order is in \"invalid\" state: "
                   "acme: authorization error for {host}: 403 urn:ietf:params:acme:error:unauthorized: "
                   "Invalid response from http://{host}/.well-known/acme-challenge/: 404")


def _issuer(ingress: dict) -> dict | None:
    annotations = ingress["metadata"].get("annotations") or {}
    for key, kind in ISSUER_ANNOTATIONS:
        if annotations.get(key):
            return {"name": annotations[key], "kind": kind, "group": "cert-manager.io"}
    return None


def _owner(ingress: dict) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": ingress["metadata"]["name"],
            "uid": ingress["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _owned_by(certificate: dict, uid: str) -> bool:
    return any(o.get("uid") == uid for o in certificate["metadata"].get("ownerReferences") or [])


def _condition(kind: str, status: str, reason: str, message: str, stamp: str) -> dict:
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": stamp,
            "observedGeneration": 1}


def _issuing(certificate: dict) -> bool:
    return any(c["type"] == "Issuing" and c["status"] == "True"
               for c in (certificate.get("status") or {}).get("conditions", []))


def _failed(certificate: dict) -> bool:
    return bool((certificate.get("status") or {}).get("lastFailureTime")) and not _issuing(certificate)


def retry_delay(failed_attempts: int) -> float:
    """How long cert-manager backs off after a failed issuance (shouldBackoffReissuingOnFailure)."""
    if failed_attempts < 1:
        return BACKOFF_INITIAL_SECONDS
    return min(BACKOFF_INITIAL_SECONDS * 2 ** min(failed_attempts - 1, 6), BACKOFF_MAX_SECONDS)


def _settled(certificate: dict) -> bool:
    status = certificate.get("status") or {}
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
    return ready or bool(status.get("lastFailureTime"))


def desired(ingress: dict) -> list[dict]:
    """The Certificates ingress-shim wants for an Ingress (none without an issuer annotation)."""
    issuer = _issuer(ingress)
    if issuer is None:
        return []
    result = []
    for entry in (ingress.get("spec") or {}).get("tls") or []:
        if not entry.get("secretName") or not entry.get("hosts"):
            continue
        result.append({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                       "metadata": {"name": entry["secretName"], "namespace": ingress["metadata"]["namespace"],
                                    "labels": dict(ingress["metadata"].get("labels") or {}),
                                    "ownerReferences": [_owner(ingress)]},
                       "spec": {"secretName": entry["secretName"], "dnsNames": list(entry["hosts"]),
                                "issuerRef": dict(issuer), "usages": ["digital signature", "key encipherment"]}})
    return result


class CertManager:
    """The emulated controller's own memory: when each Certificate's current issuance began."""

    def __init__(self):
        self.issuing: dict[str, float] = {}  # certificate uid -> cluster time its request began
        self.backoff: dict[str, float] = {}  # failed certificate uid -> cluster time it is tried again by itself
        self.failing_hosts: dict[str, str] = {}  # host -> the reason its challenge fails
        self.delay: float | None = None  # None: the cluster's ready_delay

    def describe(self) -> dict:
        return {"failingHosts": dict(self.failing_hosts), "delay": self.delay, "issuing": len(self.issuing),
                "backingOff": len(self.backoff)}


def reconcile(state, namespaces: set[str] | None) -> float:
    """ingress-shim for the Ingresses of these namespaces (None: all), then the issuer for every Certificate in
    flight; returns when a Certificate next changes by itself."""
    manager = state.cert_manager
    now = state.now()
    stamp = state.clock.stamp(now)
    ingresses = state.items("Ingress") if namespaces is None else [
        ingress for namespace in sorted(namespaces) for ingress in state.items("Ingress", namespace)]
    for ingress in ingresses:
        wanted = desired(ingress)
        names = {c["metadata"]["name"] for c in wanted}
        namespace = ingress["metadata"]["namespace"]
        for certificate in wanted:
            crds.validate(certificate)
            existing = state.get("Certificate", namespace, certificate["metadata"]["name"])
            if existing is None:
                certificate["status"] = {"conditions": [
                    _condition("Ready", "False", "DoesNotExist", "Issuing certificate as Secret does not exist",
                               stamp),
                    _condition("Issuing", "True", "DoesNotExist", "Issuing certificate as Secret does not exist",
                               stamp)]}
                created = state.create_object(certificate, "cert-manager-ingress-shim")
                manager.issuing[created["metadata"]["uid"]] = now
            elif existing["metadata"]["uid"] not in manager.issuing and not _settled(existing):
                # Restored from a state file mid-issuance (the controller's memory is not kept): start again.
                manager.issuing[existing["metadata"]["uid"]] = now
            if existing is not None and existing["spec"] != certificate["spec"]:
                existing["spec"] = certificate["spec"]
                existing["metadata"]["generation"] = existing["metadata"].get("generation", 1) + 1
                existing["status"] = {**existing.get("status", {}), "conditions": [
                    c for c in existing.get("status", {}).get("conditions", []) if c["type"] == "Ready"] + [
                    _condition("Issuing", "True", "Reissuing", "Re-issuance forced by changed spec", stamp)]}
                state.bump(existing)
                manager.issuing[existing["metadata"]["uid"]] = now
        for certificate in state.items("Certificate", namespace):
            if _owned_by(certificate, ingress["metadata"]["uid"]) and certificate["metadata"]["name"] not in names:
                state.remove("Certificate", namespace, certificate["metadata"]["name"])
    certificates = state.items("Certificate") if namespaces is None else [
        certificate for namespace in sorted(namespaces) for certificate in state.items("Certificate", namespace)]
    for certificate in certificates:
        uid = certificate["metadata"]["uid"]
        if uid in manager.issuing:
            continue
        if _issuing(certificate):
            # Issuing=True written by someone else (`cmctl renew`: ManuallyTriggered), or restored from a state
            # file mid-issuance: the issuing controller requests a certificate now, backoff or not.
            manager.backoff.pop(uid, None)
            manager.issuing[uid] = now
        elif _failed(certificate) and uid not in manager.backoff:
            manager.backoff[uid] = _retry_at(state, certificate)
    return min(_retry(state, now), _issue(state, now))


def _retry_at(state, certificate: dict) -> float:
    status = certificate["status"]
    return state.clock.from_stamp(status["lastFailureTime"]) + retry_delay(status.get("failedIssuanceAttempts", 0))


def _retry(state, now: float) -> float:
    """The trigger controller: a failed Certificate whose backoff is over gets Issuing=True and a new request."""
    manager = state.cert_manager
    wake = math.inf
    for uid, at in list(manager.backoff.items()):
        certificate = next((c for c in state.each("Certificate") if c["metadata"]["uid"] == uid), None)
        if certificate is None or uid in manager.issuing or not _failed(certificate):
            del manager.backoff[uid]
            continue
        if now < at:
            wake = min(wake, at)
            continue
        del manager.backoff[uid]
        stamp = state.clock.stamp(at)
        status = copy.deepcopy(certificate["status"])
        status["conditions"] = [c for c in status.get("conditions", []) if c["type"] != "Issuing"] + [
            _condition("Issuing", "True", "DoesNotExist", "Issuing certificate as Secret does not exist", stamp)]
        certificate["status"] = status
        state.bump(certificate, status_only=True)
        manager.issuing[uid] = at
    return wake


def _issue(state, now: float) -> float:
    manager = state.cert_manager
    delay = state.ready_delay if manager.delay is None else manager.delay
    wake = math.inf
    for uid, began in list(manager.issuing.items()):
        certificate = next((c for c in state.each("Certificate") if c["metadata"]["uid"] == uid), None)
        if certificate is None:
            del manager.issuing[uid]
            continue
        if now < began + delay:
            wake = min(wake, began + delay)
            continue
        del manager.issuing[uid]
        at = began + delay
        stamp = state.clock.stamp(at)
        status = copy.deepcopy(certificate.get("status") or {})
        failing = [h for h in certificate["spec"]["dnsNames"] if h in manager.failing_hosts]
        if failing:
            reason = manager.failing_hosts[failing[0]] or DEFAULT_FAILURE.format(host=failing[0])
            ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None) or \
                _condition("Ready", "False", "DoesNotExist", "Issuing certificate as Secret does not exist", stamp)
            status["conditions"] = [ready, _condition(
                "Issuing", "False", "Failed",
                f"The certificate request has failed to complete and will be retried: {reason}", stamp)]
            status["failedIssuanceAttempts"] = status.get("failedIssuanceAttempts", 0) + 1
            status["lastFailureTime"] = stamp
            manager.backoff[uid] = at + retry_delay(status["failedIssuanceAttempts"])
            wake = min(wake, manager.backoff[uid])
        else:
            status = {"conditions": [_condition("Ready", "True", "Ready",
                                                "Certificate is up to date and has not expired", stamp)],
                      "notBefore": stamp, "notAfter": state.clock.stamp(at + VALIDITY_SECONDS),
                      "renewalTime": state.clock.stamp(at + VALIDITY_SECONDS - RENEW_BEFORE_SECONDS),
                      "revision": (certificate.get("status") or {}).get("revision", 0) + 1}
            _write_secret(state, certificate, stamp)
        certificate["status"] = status
        state.bump(certificate, status_only=True)
    return wake


def _write_secret(state, certificate: dict, stamp: str) -> None:
    namespace, name = certificate["metadata"]["namespace"], certificate["spec"]["secretName"]
    pem = base64.b64encode(f"-----BEGIN CERTIFICATE-----\nemulated {name} {stamp}\n-----END CERTIFICATE-----\n"
                           .encode()).decode()
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": name, "namespace": namespace,
                           "annotations": {"cert-manager.io/certificate-name": certificate["metadata"]["name"],
                                           "cert-manager.io/alt-names": ",".join(certificate["spec"]["dnsNames"])}},
              "data": {"tls.crt": pem, "tls.key": base64.b64encode(b"emulated key").decode()}}
    existing = state.get("Secret", namespace, name)
    if existing is None:
        state.create_object(secret, "cert-manager-certificates-issuing")
    else:
        existing["data"] = secret["data"]
        existing["metadata"].setdefault("annotations", {}).update(secret["metadata"]["annotations"])
        state.bump(existing)


def remove_owned(state, ingress: dict) -> None:
    """The garbage collector's part: an Ingress's Certificates go with it (their Secrets stay, as in cert-manager
    without --enable-certificate-owner-ref)."""
    uid = ingress["metadata"].get("uid")
    for certificate in state.items("Certificate", ingress["metadata"]["namespace"]):
        if _owned_by(certificate, uid):
            state.remove("Certificate", certificate["metadata"]["namespace"], certificate["metadata"]["name"])

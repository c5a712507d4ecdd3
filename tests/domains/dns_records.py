"""What a customer does at their DNS provider, for the custom domain tests: the records that prove and point."""

INGRESS_V4 = "203.0.113.10"
INGRESS_V6 = "2001:db8::10"


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

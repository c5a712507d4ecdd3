"""Catalog changes: seeding services and plans from the template files, staff edits of plans."""
from sqlalchemy import select

from portal.audit.services import audit_record
from portal.catalog.models import Plan, Service
from portal.catalog.templates import ServiceTemplate
from portal.extensions import db
from portal.unit_of_work import use_case


@use_case
def catalog_seed(*, templates: dict[str, ServiceTemplate]) -> dict[str, int]:
    """Create the services and plans the templates describe; idempotent.

    What staff may have changed in the database stays: prices, active flags and resources of
    existing plans. Descriptive fields of services follow the files.
    """
    counts = {"services_created": 0, "plans_created": 0, "services_updated": 0}
    for slug, template in templates.items():
        service = db.session.scalar(select(Service).where(Service.slug == slug))
        if service is None:
            service = Service(slug=slug, active=True)
            db.session.add(service)
            counts["services_created"] += 1
        else:
            counts["services_updated"] += 1
        service.name = template.name
        service.description = template.description
        service.category = template.category
        service.logo = template.logo
        service.template_file = f"{slug}.yaml"
        db.session.flush()
        existing = {plan.slug: plan for plan in db.session.scalars(select(Plan).where(Plan.service_id == service.id))}
        for spec in template.plans:
            if spec.slug in existing:
                existing[spec.slug].name = spec.name
                existing[spec.slug].custom_domains = spec.custom_domains
                continue
            db.session.add(Plan(service_id=service.id, slug=spec.slug, name=spec.name,
                                cpu_millicores=spec.cpu_millicores, memory_mb=spec.memory_mb,
                                storage_gb=spec.storage_gb, price_idr=spec.price_idr,
                                period_days=spec.period_days, custom_domains=spec.custom_domains, active=True))
            counts["plans_created"] += 1
    return counts


class CatalogChangeRefused(Exception):
    pass


# Midtrans takes amounts up to 12 digits; a plan above this is a typo, not a price.
MAX_PRICE_IDR = 100_000_000


@use_case
def plan_update(*, plan_id: int, price_idr: int, active: bool, actor_id: int, ip: str | None = None) -> Plan:
    """Staff change a plan's price or availability. Existing subscriptions keep running and renew on
    the plan; a new price applies to invoices issued from now on; an inactive plan is no longer sold."""
    if not 1_000 <= price_idr <= MAX_PRICE_IDR:
        raise CatalogChangeRefused(f"A price must be between Rp 1.000 and Rp {MAX_PRICE_IDR:,}".replace(",", ".") + ".")
    plan = db.session.get(Plan, plan_id, with_for_update=True, populate_existing=True)
    before = {"price_idr": plan.price_idr, "active": plan.active}
    plan.price_idr, plan.active = price_idr, active
    after = {"price_idr": price_idr, "active": active}
    if before != after:
        audit_record(action="plan.updated", actor_id=actor_id, target_type="plan", target_id=plan.id, ip=ip,
                     details={"before": before, "after": after})
    return plan

"""Catalog changes: seeding services and plans from the template files."""
from sqlalchemy import select

from portal.catalog.models import Plan, Service
from portal.catalog.templates import ServiceTemplate
from portal.extensions import db


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
                continue
            db.session.add(Plan(service_id=service.id, slug=spec.slug, name=spec.name,
                                cpu_millicores=spec.cpu_millicores, memory_mb=spec.memory_mb,
                                storage_gb=spec.storage_gb, price_idr=spec.price_idr,
                                period_days=spec.period_days, active=True))
            counts["plans_created"] += 1
    db.session.commit()
    return counts

"""Reading the catalog: services with their plans, and the template behind each."""
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Plan, Service
from portal.catalog.templates import ServiceTemplate, templates_load
from portal.extensions import db


def service_templates() -> dict[str, ServiceTemplate]:
    return templates_load(current_app.config["SERVICE_TEMPLATES_DIR"])


def template_for(slug: str) -> ServiceTemplate | None:
    return service_templates().get(slug)


def catalog_services() -> list[Service]:
    """Active services that have a template and at least one active plan, with those plans loaded."""
    services = db.session.scalars(
        select(Service).where(Service.active.is_(True)).options(selectinload(Service.plans)).order_by(Service.name)).all()
    known = service_templates()
    return [s for s in services if s.slug in known and any(p.active for p in s.plans)]


def service_by_slug(slug: str) -> Service | None:
    service = db.session.scalar(
        select(Service).where(Service.slug == slug, Service.active.is_(True)).options(selectinload(Service.plans)))
    if service is None or template_for(service.slug) is None:
        return None
    return service


def active_plans(service: Service) -> list[Plan]:
    return sorted((p for p in service.plans if p.active), key=lambda p: (p.price_idr, p.id))


def cheapest_monthly_price(service: Service) -> int | None:
    """The lowest price of an active plan, scaled to 30 days, for "from Rp …/month"."""
    prices = [round(p.price_idr * 30 / p.period_days) for p in active_plans(service)]
    return min(prices) if prices else None


def plan_for_checkout(plan_id: int) -> Plan | None:
    plan = db.session.get(Plan, plan_id)
    if plan is None or not plan.active or not plan.service.active or template_for(plan.service.slug) is None:
        return None
    return plan

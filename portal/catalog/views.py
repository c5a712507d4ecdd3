"""The public catalog and a service's plans (choosing one leads to checkout, in billing)."""
from flask import Blueprint, abort

from portal.catalog import selectors
from portal.rendering import render_page

blueprint = Blueprint("catalog", __name__)


@blueprint.route("/catalog")
def index():
    services = selectors.catalog_services()
    return render_page("catalog/index.html", services=services,
                       from_prices={s.id: selectors.cheapest_monthly_price(s) for s in services})


@blueprint.route("/catalog/<slug>")
def service(slug: str):
    service = selectors.service_by_slug(slug) or abort(404)
    return render_page("catalog/service.html", service=service, plans=selectors.active_plans(service),
                       template=selectors.template_for(slug))

"""The public catalog, a service's plans, and choosing a plan (the settings step of checkout)."""
from flask import Blueprint, abort, current_app
from flask_login import current_user, login_required

from portal.catalog import selectors
from portal.catalog.forms import settings_form_class
from portal.rendering import render_page
from portal.subscriptions.selectors import subdomain_taken

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


@blueprint.route("/checkout/plan/<int:plan_id>", methods=["GET", "POST"])
@login_required
def choose_plan(plan_id: int):
    plan = selectors.plan_for_checkout(plan_id) or abort(404)
    template = selectors.template_for(plan.service.slug)
    form = settings_form_class(template)()
    settings = None
    if form.is_submitted():
        settings = form.validate_settings(subdomain_taken=subdomain_taken)
    status = 422 if form.is_submitted() and settings is None else 200
    return render_page("catalog/choose.html", block="settings", status=status, plan=plan, form=form,
                       settings=settings, cluster_domain=current_app.config["K8S_CLUSTER_DOMAIN"],
                       verified=current_user.is_verified)

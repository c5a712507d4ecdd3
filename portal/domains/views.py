"""A customer's domains on an instance: the list with DNS records to create and certificate state, add, check
now, make primary, try a failing certificate again, remove. The instance page loads the list's block into itself."""
from flask import Blueprint, abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.domains import selectors, services
from portal.domains.forms import DomainForm
from portal.extensions import db
from portal.rendering import redirect_after_post, render_page, render_polling
from portal.subscriptions.models import Subscription
from portal.subscriptions.states import HOLDS_RESOURCES

blueprint = Blueprint("domains", __name__, url_prefix="/instances")


def _own(subscription_id: int) -> Subscription:
    subscription = db.session.scalar(select(Subscription).where(Subscription.id == subscription_id,
                                                                Subscription.user_id == current_user.id))
    return subscription or abort(404)


def _render(subscription: Subscription, form: DomainForm | None = None, status: int = 200, notice: str = ""):
    """The page, or its `domains` block for htmx; the list polls itself until nothing is left to wait for."""
    views = selectors.domain_views(subscription)
    context = {"subscription": subscription, "domains": views, "form": form or DomainForm(formdata=None),
               "limit": selectors.domain_limit(subscription), "can_add": subscription.state in HOLDS_RESOURCES,
               "provider_host": selectors.provider_host(subscription), "notice": notice,
               "settled": selectors.domains_settled(views)}
    if status != 200:
        return render_page("domains/index.html", block="domains", status=status, **context)
    return render_polling("domains/index.html", block="domains", **context)


def _done(subscription: Subscription, message: str, category: str = "success"):
    """After a change: htmx gets the block again with the message in it (it may sit inside the instance page);
    a plain browser is redirected to the domains page."""
    if getattr(request, "htmx", False):
        return _render(subscription, notice=message)
    flash(message, category)
    return redirect_after_post(url_for("domains.index", subscription_id=subscription.id))


# One rule for both methods: with a GET rule and a POST rule on one path, werkzeug answers a POST whose id is
# beyond the database 405 (it sees the GET rule's path match before the id converter refuses), not 404.
@blueprint.route("/<int:subscription_id>/domains", methods=["GET", "POST"])
@login_required
def index(subscription_id: int):
    if request.method == "POST":
        return add(subscription_id)
    return _render(_own(subscription_id))


def add(subscription_id: int):
    subscription = _own(subscription_id)
    form = DomainForm()
    if form.validate_on_submit():
        try:
            domain = services.domain_add(subscription_id=subscription.id, name=form.name.data)
        except services.DomainRefused as refusal:
            form.name.errors.append(str(refusal))
        else:
            return _done(subscription, _("%(name)s added. Create the DNS records below; we check them every few "
                                         "minutes.", name=domain.display_name))
    return _render(subscription, form=form, status=422)


@blueprint.route("/<int:subscription_id>/domains/<int:domain_id>/check", methods=["POST"])
@login_required
def check(subscription_id: int, domain_id: int):
    subscription = _own(subscription_id)
    if domain_id not in {d.id for d in selectors.domains_of(subscription.id)}:
        abort(404)
    outcome = services.domain_dns_check(domain_id=domain_id)
    words = {"verified": _("DNS records found: the domain is verified."),
             "pending": _("The DNS records are not right yet (see below). Changes can take a while to spread."),
             "unavailable": _("DNS did not answer just now; we try again shortly.")}
    return _done(subscription, words.get(outcome, _("Checked.")), "success" if outcome == "verified" else "warning")


def _domain_action(subscription_id: int, domain_id: int, use_case, said):
    """One of the owner's domains changed by `use_case`: what it says when done, its refusal as a warning, a
    stranger's domain not found."""
    subscription = _own(subscription_id)
    try:
        domain = use_case(subscription_id=subscription.id, domain_id=domain_id)
    except services.DomainNotFound:
        abort(404)
    except services.DomainRefused as refusal:
        return _done(subscription, str(refusal), "warning")
    return _done(subscription, said(domain))


@blueprint.route("/<int:subscription_id>/domains/<int:domain_id>/primary", methods=["POST"])
@login_required
def primary(subscription_id: int, domain_id: int):
    return _domain_action(subscription_id, domain_id, services.domain_primary_set, lambda domain: _(
        "%(name)s is now your primary address; the app is updated to it once its certificate is issued.",
        name=domain.display_name))


@blueprint.route("/<int:subscription_id>/domains/<int:domain_id>/remove", methods=["POST"])
@login_required
def remove(subscription_id: int, domain_id: int):
    subscription = _own(subscription_id)
    try:
        name = services.domain_remove(subscription_id=subscription.id, domain_id=domain_id)
    except services.DomainNotFound:
        abort(404)
    return _done(subscription, _("%(name)s removed. Your instance stays at %(host)s.", name=name,
                                   host=selectors.provider_host(subscription)), "info")


@blueprint.route("/<int:subscription_id>/domains/<int:domain_id>/certificate", methods=["POST"])
@login_required
def certificate(subscription_id: int, domain_id: int):
    """Try a failing certificate again, now rather than after cert-manager's own backoff."""
    return _domain_action(subscription_id, domain_id, services.domain_certificate_retry, lambda domain: _(
        "A new certificate for %(name)s is being requested; this page shows the outcome in a minute or two.",
        name=domain.display_name))

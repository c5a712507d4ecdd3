"""Checkout, paying an invoice (Snap or the simulator), its status, billing history, and the webhook."""
import logging

from flask import Blueprint, abort, current_app, flash, jsonify, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from portal.accounts.services import EmailNotVerified
from portal.billing import selectors, services, simulator
from portal.billing.midtrans import PaymentGatewayUnavailable, notification_json, payments_simulated
from portal.billing.states import PAID_ONCE, invoice_actions
from portal.catalog import selectors as catalog
from portal.catalog.forms import settings_form_class
from portal.catalog.parameters import SettingsInvalid
from portal.conditional import not_modified_or
from portal.extensions import csrf, limiter
from portal.phrases import N_
from portal.rendering import client_ip, redirect_after_post, render_page, render_polling
from portal.security import body_checked_by_view
from portal.subscriptions.selectors import subdomain_taken
from portal.subscriptions.services import SubdomainUnavailable

log = logging.getLogger(__name__)
blueprint = Blueprint("billing", __name__)
GATEWAY_DOWN = _l("The payment provider is not answering right now. Your order is saved: "
                  "try paying again in a few minutes.")
# An invoice's state as the customer reads it (the state itself stays the machine value). "pending" has its
# context: an instance's part is pending too, and Indonesian words the two differently (pgettext is read at display
# time, as extraction knows it only by that name).
STATE_WORDS = {"review": _l("under review"), "paid": _l("paid"), "failed": _l("failed"),
               "refunded": _l("refunded"), "cancelled": _l("cancelled"), "refund_due": _l("paid, refund due")}


@blueprint.app_template_filter("invoice_state")
def invoice_state(state: str) -> str:
    """An invoice state in the reader's language (an unknown one as it is)."""
    if state == "pending":
        return pgettext("invoice state", "pending")
    return str(STATE_WORDS.get(state, state))


# Midtrans' payment types and its refusing statuses as the customer reads them (others: the value, spaced out).
PAYMENT_WORDS = {"bank_transfer": _l("bank transfer"), "credit_card": _l("credit card"),
                 "cstore": _l("convenience store"), "echannel": _l("Mandiri bill payment"),
                 "deny": _l("deny"), "expire": _l("expire"), "cancel": _l("cancel"), "failure": _l("failure")}


@blueprint.app_template_filter("payment_words")
def payment_words(value: str | None) -> str:
    """A Midtrans payment type or status in the reader's language."""
    return str(PAYMENT_WORDS.get(value or "", (value or "").replace("_", " ")))


def _checkout_page(plan, form, *, review=None, status=200, error=None):
    return render_page("billing/checkout.html", block="checkout", status=status, plan=plan, form=form, review=review,
                       error=error, cluster_domain=current_app.config["K8S_CLUSTER_DOMAIN"],
                       verified=current_user.is_verified)


@blueprint.route("/checkout/plan/<int:plan_id>", methods=["GET", "POST"])
@login_required
def checkout(plan_id: int):
    """Settings first; valid settings show the review with the price and the future address."""
    plan = catalog.plan_for_checkout(plan_id) or abort(404)
    form = settings_form_class(catalog.template_for(plan.service.slug))()
    if not form.is_submitted():
        return _checkout_page(plan, form)
    settings = form.validate_settings(subdomain_taken=subdomain_taken)
    if settings is None:
        return _checkout_page(plan, form, status=422)
    return _checkout_page(plan, form, review=settings)


@blueprint.route("/checkout/plan/<int:plan_id>/pay", methods=["POST"])
@login_required
def checkout_pay(plan_id: int):
    plan = catalog.plan_for_checkout(plan_id) or abort(404)
    form = settings_form_class(catalog.template_for(plan.service.slug))()
    settings = form.validate_settings(subdomain_taken=subdomain_taken)
    if settings is None:
        return _checkout_page(plan, form, status=422)
    try:
        invoice = services.checkout_start(user_id=current_user.id, plan_id=plan.id, subdomain=form.subdomain.data,
                                          settings=settings)
    except services.PaymentDeferred as deferred:
        flash(str(GATEWAY_DOWN), "warning")
        return redirect_after_post(url_for("billing.invoice", invoice_id=deferred.invoice_id))
    except (services.CheckoutError, EmailNotVerified) as error:
        return _checkout_page(plan, form, review=settings, status=422, error=error.message)
    except SubdomainUnavailable as error:  # the address was taken a moment ago
        return _checkout_page(plan, form, review=settings, status=422, error=str(error))
    except SettingsInvalid as invalid:  # the settings changed under us (a template update)
        return _checkout_page(plan, form, review=settings, status=422, error=" ".join(invalid.errors.values()))
    return redirect_after_post(url_for("billing.pay", invoice_id=invoice.id))


def _own_invoice(invoice_id: int):
    invoice = selectors.invoice_for(user_id=current_user.id, invoice_id=invoice_id)
    return invoice or abort(404)


@blueprint.route("/billing/invoices/<int:invoice_id>/pay")
@login_required
def pay(invoice_id: int):
    invoice = _own_invoice(invoice_id)
    if not invoice_actions(invoice).pay:  # paid, refunded or cancelled: nothing to pay
        return redirect(url_for("billing.invoice", invoice_id=invoice.id))
    attempt = invoice.current_attempt
    if attempt is None or not attempt.snap_redirect_url:
        return redirect(url_for("billing.invoice", invoice_id=invoice.id))
    if payments_simulated():
        return redirect(attempt.snap_redirect_url)
    gateway = services.gateway()
    return render_page("billing/pay.html", invoice=invoice, attempt=attempt, snap_js_url=gateway.snap_js_url,
                       client_key=gateway.client_key)


@blueprint.route("/billing/invoices/<int:invoice_id>")
@login_required
def invoice(invoice_id: int):
    """The payment status; the status block polls itself until the invoice is final (then 286 stops it), and an
    unchanged poll is a 304 decided from one query."""
    def render():
        invoice = _own_invoice(invoice_id)
        return render_polling("billing/invoice.html", block="status", settled=invoice.final, invoice=invoice,
                              actions=invoice_actions(invoice), subscription=invoice.subscription,
                              simulated=payments_simulated(), cancellable=services.order_cancellable(invoice),
                              cluster_domain=current_app.config["K8S_CLUSTER_DOMAIN"])

    def versions():  # None for another customer's invoice: checked before any 304
        version = selectors.invoice_version(user_id=current_user.id, invoice_id=invoice_id)
        return version and (version, payments_simulated())

    return not_modified_or(render, versions)


@blueprint.route("/billing/invoices/<int:invoice_id>/retry", methods=["POST"])
@login_required
def retry(invoice_id: int):
    invoice = _own_invoice(invoice_id)
    try:
        services.payment_attempt_start(invoice_id=invoice.id)
    except PaymentGatewayUnavailable:
        flash(str(GATEWAY_DOWN), "warning")
        return redirect_after_post(url_for("billing.invoice", invoice_id=invoice.id))
    except services.CheckoutError as error:
        flash(error.message, "info")
        return redirect_after_post(url_for("billing.invoice", invoice_id=invoice.id))
    return redirect_after_post(url_for("billing.pay", invoice_id=invoice.id))


@blueprint.route("/billing/invoices/<int:invoice_id>/cancel", methods=["POST"])
@login_required
def cancel_order(invoice_id: int):
    """The customer drops an order awaiting payment; any payment still open at Midtrans is closed."""
    invoice = _own_invoice(invoice_id)
    try:
        services.order_cancel(subscription_id=invoice.subscription_id, reason=N_("Cancelled by the customer."))
    except services.OrderNotCancellable as refused:
        flash(refused.message, "warning")
    else:
        flash(_("Your order is cancelled. Nothing was charged."), "success")
    return redirect_after_post(url_for("billing.invoice", invoice_id=invoice.id))


@blueprint.route("/billing/subscriptions/<int:subscription_id>/renew", methods=["POST"])
@login_required
def renew(subscription_id: int):
    subscription = selectors.subscription_for(user_id=current_user.id, subscription_id=subscription_id) or abort(404)
    try:
        invoice = services.renewal_payment_start(subscription_id=subscription.id)
    except PaymentGatewayUnavailable:
        flash(str(GATEWAY_DOWN), "warning")
        return redirect_after_post(url_for("billing.index"))
    except services.CheckoutError as error:
        flash(error.message, "warning")
        return redirect_after_post(url_for("home.index"))
    return redirect_after_post(url_for("billing.pay", invoice_id=invoice.id))


@blueprint.route("/billing")
@login_required
def index():
    invoices = selectors.invoices_of(user_id=current_user.id)
    return render_page("billing/index.html", invoices=[(invoice, invoice_actions(invoice)) for invoice in invoices])


@blueprint.route("/billing/invoices/<int:invoice_id>/receipt")
@login_required
def receipt(invoice_id: int):
    invoice = _own_invoice(invoice_id)
    if invoice.state not in PAID_ONCE:
        abort(404)
    return render_page("billing/receipt.html", invoice=invoice, plan=invoice.subscription.plan)


@blueprint.route("/billing/simulator/<order_id>", methods=["GET", "POST"], endpoint="simulator")
@login_required
def simulator_page(order_id: str):
    """The payment simulator (only with no Midtrans keys): each choice becomes a signed notification."""
    if not payments_simulated():
        abort(404)
    invoice = selectors.invoice_for_order(user_id=current_user.id, order_id=order_id) or abort(404)
    if request.method == "POST":
        outcome = request.form.get("outcome", "")
        if outcome not in simulator.OUTCOMES:
            abort(400)
        simulator.simulator_record(order_id=order_id, outcome=outcome, amount_idr=int(invoice.amount_idr))
        return redirect_after_post(url_for("billing.invoice", invoice_id=invoice.id))
    return render_page("billing/simulator.html", invoice=invoice, order_id=order_id, outcomes=simulator.OUTCOME_WORDS)


@blueprint.route("/billing/midtrans/notification", methods=["POST"])
@csrf.exempt
@body_checked_by_view
@limiter.limit(lambda: current_app.config["WEBHOOK_RATE_LIMIT"])
def midtrans_notification():
    """Midtrans' webhook: no login, no CSRF; trusted only through signature and amount, then stored in the payment
    inbox and answered 200 at once (a worker confirms it with the status API and applies it).

    Every answer is JSON: refusals here are {"status": "rejected", "reason": ...} and audited; what refuses it
    before this view (a wrong method, the rate limit, NUL in the address) answers in the same shape (errors.py).
    """
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    request.max_content_length = limit  # also caps a chunked body
    if (request.content_length or 0) > limit:
        return _too_large()
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return _too_large()
    if request.content_length is None and len(body) >= limit:  # a chunked body is cut at the cap, not refused
        return _too_large()
    try:
        payload = notification_json(body)  # numbers kept as the text Midtrans signed
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the decoder goes: not a notification
        payload = None
    try:
        result = services.notification_receive(payload)
    except services.NotificationRejected as rejected:
        log.warning("payment notification refused (%s): %s", rejected.status, rejected.reason)
        order_id = payload.get("order_id") if isinstance(payload, dict) else None
        services.notification_rejection_record(status=rejected.status, reason=rejected.reason, ip=client_ip(),
                                               order_id=order_id if isinstance(order_id, str) else None)
        return jsonify(status="rejected", reason=rejected.reason), rejected.status
    return make_response(jsonify(status="ok", result=result), 200)


def _too_large():
    log.warning("payment notification refused: body over %s bytes", current_app.config["WEBHOOK_MAX_BYTES"])
    services.notification_rejection_record(status=413, reason="body too large", order_id=None, ip=client_ip())
    return jsonify(status="rejected", reason="body too large"), 413

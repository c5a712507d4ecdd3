"""Staff pages under /admin: overview, users, subscriptions, payments, catalog, cluster and nodes,
backups, outbox, jobs, audit log, reports."""
from datetime import date

from flask import Blueprint, Response, abort, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from portal.accounts import services as accounts
from portal.accounts.models import User
from portal.admin import reports, selectors
from portal.admin import services as staff
from portal.admin.access import staff_required
from portal.arguments import int_arg
from portal.backups import selectors as backup_selectors
from portal.billing import services as billing
from portal.billing.midtrans import payments_simulated
from portal.billing.models import STATES as INVOICE_STATES
from portal.billing.models import Invoice
from portal.billing.selectors import inbox_waiting
from portal.billing.states import invoice_actions
from portal.catalog import services as catalog
from portal.catalog.models import Plan
from portal.catalog.templates import templates_check
from portal.domains.selectors import STAFF_PAGE_SIZE as DOMAINS_PAGE_SIZE
from portal.domains.selectors import domains_for_staff
from portal.extensions import db
from portal.instances import selectors as instance_selectors
from portal.instances.charts import bar_chart
from portal.instances.watching import status_keeper
from portal.notifications import services as notifications
from portal.notifications.mailer import mail_server_configured
from portal.notifications.models import STATES, Email
from portal.provisioning import services as provisioning
from portal.provisioning.cluster import ClusterError, ObjectNotFound, cluster_for
from portal.rendering import client_ip, csv_text, format_idr, redirect_after_post, render_page
from portal.subscriptions.services import IllegalTransition
from portal.subscriptions.states import STAFF_DECIDES, SUSPENSION_WORDS, staff_actions
from portal.subscriptions.states import STATES as SUBSCRIPTION_STATES
from portal.tasks import huey
from portal.timestamps import utcnow

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
# The states staff read, in the reader's language; the stored code stays in links, filter values and data attributes.
SUBSCRIPTION_WORDS = {"pending_payment": _l("awaiting payment"), "provisioning": _l("setting up"),
                      "provisioning_failed": _l("setup failed"), "active": _l("active"), "suspended": _l("suspended"),
                      "terminated": _l("terminated"), "cancelled": _l("cancelled")}
EMAIL_WORDS = {"queued": _l("queued"), "sent": _l("sent"), "failed": _l("failed")}


@blueprint.app_template_filter("subscription_state")
def subscription_state(state: str) -> str:
    return str(SUBSCRIPTION_WORDS.get(state, state.replace("_", " ")))


@blueprint.app_template_filter("email_state")
def email_state(state: str) -> str:
    return str(EMAIL_WORDS.get(state, state))


@blueprint.app_template_filter("part_state")
def part_state(phase: str) -> str:
    """A pod's phase as the cluster says it (Running, Pending), in the reader's words."""
    return instance_selectors.part_word(str(phase).lower())
# "Expiring within N days": ten years covers every period sold; far more would overflow the date arithmetic.
MAX_EXPIRING_DAYS = 3650


def _arg(name: str, limit: int = 100) -> str:
    return (request.args.get(name) or "").strip()[:limit]


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(_arg(name, 10))
    except ValueError:
        return None


def _page_arg() -> int:
    return int_arg("page", 1, minimum=1)


def _csv(filename: str, header: list[str], rows) -> Response:
    return Response(csv_text(header, rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@blueprint.route("/")
@staff_required
def overview():
    figures = reports.overview()
    chart = bar_chart([(label[2:], amount) for label, amount in figures["months"]],
                      title=_("Revenue, last 12 months"), value_label=format_idr)
    return render_page("admin/overview.html", figures=figures, chart=chart, queue_depth=huey.pending_count(),
                       emulated_cluster=current_app.config["KUBE_MODE"] == "emulated",
                       simulated_payments=payments_simulated(), inbox=inbox_waiting(limit=0),
                       now=utcnow())


@blueprint.route("/cluster")
@staff_required
def cluster_health():
    check = cluster_for(current_app.config).check()
    return render_page("admin/cluster.html", check=check, mode=current_app.config["KUBE_MODE"],
                       keeper=status_keeper(current_app.config),
                       nodes=selectors.nodes(), per_node=selectors.instances_per_node())


@blueprint.route("/nodes/<name>")
@staff_required
def node(name: str):
    detail = selectors.node_detail(name[:253]) or abort(404)
    return render_page("admin/node.html", **detail)


@blueprint.route("/nodes/<name>/<any('cordon', 'uncordon'):action>", methods=["POST"])
@staff_required
def node_action(name: str, action: str):
    try:
        provisioning.node_cordon(name=name[:253], unschedulable=action == "cordon", actor_id=current_user.id,
                                 ip=client_ip())
        flash(_("%(name)s is cordoned: no new instances are placed on it.", name=name) if action == "cordon"
              else _("%(name)s is schedulable again.", name=name), "success")
    except ObjectNotFound:
        abort(404)
    except ClusterError as error:
        flash(_("The cluster refused: %(error)s", error=error), "danger")
    return redirect_after_post(url_for("admin.node", name=name))


@blueprint.route("/outbox")
@staff_required
def outbox():
    state = _arg("state") or None
    state = state if state in STATES else None
    template, recipient = _arg("template", 64) or None, _arg("recipient")
    page = selectors.outbox_page(state=state, template=template, recipient=recipient, page=_page_arg())
    return render_page("admin/outbox.html", block="list", page=page, state=state, states=STATES, template=template,
                       templates=selectors.email_templates(), recipient=recipient)


@blueprint.route("/domains")
@staff_required
def domains():
    """Every customer's own domain, with its DNS check and its certificate as cert-manager last said."""
    query, page = _arg("q"), _page_arg()
    rows, total = domains_for_staff(query=query, page=page)
    return render_page("admin/domains.html", rows=rows, total=total, query=query, page_number=page,
                       has_next=page * DOMAINS_PAGE_SIZE < total, expiry_days=current_app.config[
                           "DOMAINS_EXPIRY_ALERT_DAYS"], now=utcnow())


@blueprint.route("/outbox/<int:email_id>")
@staff_required
def outbox_email(email_id: int):
    email = db.session.get(Email, email_id) or abort(404)
    return render_page("admin/outbox_email.html", email=email)


@blueprint.route("/outbox/<int:email_id>/resend", methods=["POST"])
@staff_required
def outbox_resend(email_id: int):
    db.session.get(Email, email_id) or abort(404)
    try:
        notifications.email_resend(email_id=email_id, actor_id=current_user.id)
    except notifications.EmailNotResendable as error:
        flash(str(error), "warning")
    else:
        flash(_("The email is on its way again."), "success")
    return redirect_after_post(url_for("admin.outbox_email", email_id=email_id))


@blueprint.route("/users")
@staff_required
def users():
    search = _arg("q")
    page = selectors.users_page(search=search, page=_page_arg())
    return render_page("admin/users.html", block="list", page=page, search=search)


@blueprint.route("/users/<int:user_id>")
@staff_required
def user(user_id: int):
    detail = selectors.user_detail(user_id) or abort(404)
    return render_page("admin/user.html", **detail)


@blueprint.route("/users/<int:user_id>/"
                 "<any('disable', 'enable', 'grant-staff', 'revoke-staff', 'resend-verification'):action>",
                 methods=["POST"])
@staff_required
def user_action(user_id: int, action: str):
    user = db.session.get(User, user_id) or abort(404)
    email = user.email
    try:
        if action in ("disable", "enable"):
            accounts.user_set_disabled(user_id=user_id, disabled=action == "disable", actor_id=current_user.id,
                                       ip=client_ip())
            done = (_("Account disabled: %(email)s is logged out everywhere and cannot log in.", email=email)
                    if action == "disable" else _("Account enabled: %(email)s can log in again.", email=email))
        elif action in ("grant-staff", "revoke-staff"):
            accounts.user_set_staff(user_id=user_id, staff=action == "grant-staff", actor_id=current_user.id,
                                    ip=client_ip())
            done = (_("Staff access granted to %(email)s.", email=email) if action == "grant-staff"
                    else _("Staff access revoked from %(email)s.", email=email))
        else:
            accounts.email_verification_resend(user_id=user_id, actor_id=current_user.id, ip=client_ip())
            done = (_("A new confirmation link was sent to %(email)s.", email=email) if mail_server_configured()
                    else _("A new confirmation link for %(email)s is in the outbox "
                           "(no mail server: it is kept, not sent).", email=email))
        flash(done, "success")
    except accounts.AccountError as error:
        flash(error.message, "warning")
    return redirect_after_post(url_for("admin.user", user_id=user_id))


@blueprint.route("/subscriptions")
@staff_required
def subscriptions():
    state = _arg("state") or None
    filters = selectors.SubscriptionFilters(
        state=state if state in SUBSCRIPTION_STATES else None, app_slug=_arg("app", 40) or None,
        plan_id=int_arg("plan"), user_id=int_arg("user"), search=_arg("q"),
        expiring_days=int_arg("expiring", maximum=MAX_EXPIRING_DAYS))
    page = selectors.subscriptions_page(filters, page=_page_arg())
    return render_page("admin/subscriptions.html", block="list", page=page, filters=filters,
                       states=SUBSCRIPTION_STATES, catalog=selectors.catalog())


@blueprint.route("/subscriptions/<int:subscription_id>")
@staff_required
def subscription(subscription_id: int):
    subscription = selectors.subscription_detail(subscription_id) or abort(404)
    try:
        objects, cluster_error = provisioning.instance_objects(subscription_id=subscription_id), None
    except ClusterError as error:
        objects, cluster_error = [], str(error)
    return render_page("admin/subscription.html", subscription=subscription,
                       actions=staff_actions(subscription),
                       events=instance_selectors.events_of(subscription.id, limit=60),
                       instance_status=instance_selectors.status_of(subscription.id), objects=objects,
                       cluster_error=cluster_error, invoices=selectors.subscription_invoices(subscription.id),
                       suspension_words=SUSPENSION_WORDS, staff_decides=STAFF_DECIDES)


@blueprint.route("/subscriptions/<int:subscription_id>/"
                 "<any('suspend', 'resume', 'retry', 'restart', 'extend', 'terminate', 'cancel_order'):action>",
                 methods=["POST"])
@staff_required
def subscription_action(subscription_id: int, action: str):
    selectors.subscription_detail(subscription_id) or abort(404)
    form = request.form
    common = {"subscription_id": subscription_id, "actor_id": current_user.id, "ip": client_ip()}
    reason = form.get("reason", "").strip()
    try:
        if action == "suspend":
            staff.staff_suspend(reason=reason, **common)
            done = _("Subscription suspended: %(reason)s", reason=reason)
        elif action == "resume":
            staff.staff_resume(**common)
            done = _("Subscription resumed: its instance is being set up again.")
        elif action == "retry":
            staff.staff_retry(**common)
            done = _("Provisioning retried: the instance is being set up again.")
        elif action == "restart":
            staff.staff_restart(**common)
            done = _("Restart requested: the instance's pods are being replaced.")
        elif action == "cancel_order":
            staff.staff_cancel_order(reason=reason, **common)
            done = _("Order cancelled; its open payment at Midtrans is being closed.")
        elif action == "extend":
            days = form.get("days", 0, type=int)
            staff.staff_extend(days=days, reason=reason, **common)
            done = ngettext("Extended by %(num)d day: %(reason)s", "Extended by %(num)d days: %(reason)s", days,
                            reason=reason)
        else:
            staff.staff_terminate(confirmation=form.get("confirm", ""), **common)
            done = _("Subscription terminated: its objects are being deleted from the cluster.")
        flash(done, "success")
    except (staff.StaffActionRefused, IllegalTransition) as error:
        flash(str(error), "warning")
    return redirect_after_post(url_for("admin.subscription", subscription_id=subscription_id))


def _invoice_filters() -> selectors.InvoiceFilters:
    state = _arg("state") or None
    return selectors.InvoiceFilters(state=state if state in INVOICE_STATES else None, date_from=_date_arg("from"),
                                    date_to=_date_arg("to"), search=_arg("q"))


@blueprint.route("/payments")
@staff_required
def payments():
    filters = _invoice_filters()
    return render_page("admin/payments.html", block="list", page=selectors.invoices_page(filters, page=_page_arg()),
                       filters=filters, states=INVOICE_STATES, inbox=inbox_waiting(), now=utcnow())


@blueprint.route("/payments.csv")
@staff_required
def payments_csv():
    return _csv(f"payments-{utcnow():%Y%m%d-%H%M}.csv", selectors.INVOICE_EXPORT_HEADER,
                selectors.invoices_export(_invoice_filters()))


@blueprint.route("/payments/<int:invoice_id>")
@staff_required
def payment(invoice_id: int):
    invoice = selectors.invoice_detail(invoice_id) or abort(404)
    return render_page("admin/payment.html", invoice=invoice, actions=invoice_actions(invoice))


@blueprint.route("/payments/<int:invoice_id>/recheck", methods=["POST"])
@staff_required
def payment_recheck(invoice_id: int):
    db.session.get(Invoice, invoice_id) or abort(404)
    try:
        flash(billing.invoice_recheck(invoice_id=invoice_id, actor_id=current_user.id, ip=client_ip()), "success")
    except billing.RecheckFailed as error:
        flash(str(error), "warning")
    return redirect_after_post(url_for("admin.payment", invoice_id=invoice_id))


@blueprint.route("/catalog")
@staff_required
def catalog_page():
    return render_page("admin/catalog.html", services=selectors.catalog(), per_plan=selectors.subscriptions_per_plan(),
                       templates=templates_check(current_app.config["SERVICE_TEMPLATES_DIR"]))


@blueprint.route("/catalog/plans/<int:plan_id>", methods=["POST"])
@staff_required
def plan_update(plan_id: int):
    db.session.get(Plan, plan_id) or abort(404)
    try:
        price = int(request.form.get("price_idr", "").replace(".", "").replace(",", "").strip())
    except ValueError:
        flash(_("Enter the price as a whole number of rupiah, e.g. 150000."), "warning")
    else:
        try:
            plan = catalog.plan_update(plan_id=plan_id, price_idr=price, active=request.form.get("active") == "on",
                                       actor_id=current_user.id, ip=client_ip())
            values = {"service": plan.service.name, "plan": _(plan.name), "price": format_idr(plan.price_idr)}
            flash(_("%(service)s %(plan)s: %(price)s, on sale.", **values) if plan.active
                  else _("%(service)s %(plan)s: %(price)s, no longer sold (existing subscriptions keep running).",
                         **values), "success")
        except catalog.CatalogChangeRefused as error:
            flash(str(error), "warning")
    return redirect_after_post(url_for("admin.catalog_page"))


@blueprint.route("/catalog/plans/<int:plan_id>/preview")
@staff_required
def plan_preview(plan_id: int):
    plan = db.session.get(Plan, plan_id) or abort(404)
    try:
        manifests, error = provisioning.manifests_preview(plan_id=plan_id), None
    except LookupError as problem:
        manifests, error = [], str(problem)
    return render_page("admin/plan_preview.html", plan=plan, manifests=manifests, error=error)


@blueprint.route("/audit")
@staff_required
def audit():
    target_type = _arg("target_type", 32) or None
    actor = int_arg("actor")
    page = selectors.audit_page(action=_arg("action", 64) or None, actor_id=actor,
                                target_type=target_type, target_id=_arg("target_id", 64) or None, page=_page_arg())
    return render_page("admin/audit.html", block="list", page=page, action=_arg("action", 64),
                       actions=selectors.audit_actions(), target_type=target_type, target_id=_arg("target_id", 64),
                       actor=actor)


@blueprint.route("/backups")
@staff_required
def backups():
    """Backup health across instances: last success's age, failures, the ones past the alert threshold."""
    return render_page("admin/backups.html", rows=backup_selectors.backup_health(),
                       alert_hours=current_app.config["BACKUP_ALERT_HOURS"])


@blueprint.route("/jobs")
@staff_required
def jobs():
    return render_page("admin/jobs.html", runs=selectors.last_job_runs(), queue_depth=huey.pending_count(),
                       scheduled=huey.scheduled_count(), failures=selectors.recent_task_failures())


def _report_range() -> tuple[date, date]:
    today = utcnow().date()
    start = _date_arg("from") or reports.month_start(utcnow(), 11).date()
    end = _date_arg("to") or today
    return (start, end) if start <= end else (end, start)


@blueprint.route("/reports")
@staff_required
def reports_page():
    start, end = _report_range()
    begin, finish = reports.day_start(start), reports.day_start(end, 1)
    rows = reports.revenue_rows(start=begin, end=finish)
    by_month = reports.revenue_by_month(rows, reports.months_between(reports.month_start(begin), finish))
    chart = bar_chart([(label[2:], amount) for label, amount in by_month], title=_("Revenue by month"),
                      value_label=format_idr)
    return render_page("admin/reports.html", start=start, end=end, rows=rows, by_month=by_month,
                       by_app=reports.revenue_by_app(rows), chart=chart,
                       total=sum(amount for _, amount in by_month))


@blueprint.route("/reports.csv")
@staff_required
def reports_csv():
    start, end = _report_range()
    rows = reports.revenue_rows(start=reports.day_start(start), end=reports.day_start(end, 1))
    return _csv(f"revenue-{start}-{end}.csv", ["month", "app", "invoices", "amount_idr", "refunded_idr"],
                ([row.month, row.app, row.invoices, row.amount_idr, row.refunded_idr] for row in rows))

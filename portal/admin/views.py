"""Staff pages under /admin: users, subscriptions with actions, jobs, audit log, outbox, cluster health."""
from flask import Blueprint, abort, current_app, flash, request, url_for
from flask_login import current_user

from portal.accounts import services as accounts
from portal.accounts.models import User
from portal.admin import selectors
from portal.admin import services as staff
from portal.admin.access import staff_required
from portal.extensions import db
from portal.notifications.models import STATES, Email
from portal.provisioning.cluster import cluster_for
from portal.notifications import services as notifications
from portal.instances import selectors as instance_selectors
from portal.rendering import client_ip, redirect_after_post, render_page
from portal.subscriptions.models import STATES as SUBSCRIPTION_STATES
from portal.subscriptions.services import IllegalTransition
from portal.tasks import huey

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


@blueprint.route("/cluster")
@staff_required
def cluster_health():
    check = cluster_for(current_app.config).check()
    return render_page("admin/cluster.html", check=check, mode=current_app.config["KUBE_MODE"],
                       nodes=selectors.nodes())


@blueprint.route("/outbox")
@staff_required
def outbox():
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        state = None
    page = request.args.get("page", 1, type=int) or 1
    emails, total = selectors.outbox_page(state=state, page=page)
    return render_page("admin/outbox.html", block="list", emails=emails, total=total, state=state,
                       states=STATES, page=page, page_size=selectors.PAGE_SIZE)


@blueprint.route("/outbox/<int:email_id>")
@staff_required
def outbox_email(email_id: int):
    email = db.session.get(Email, email_id) or abort(404)
    return render_page("admin/outbox_email.html", email=email)


@blueprint.route("/outbox/<int:email_id>/resend", methods=["POST"])
@staff_required
def outbox_resend(email_id: int):
    try:
        notifications.email_resend(email_id=email_id, actor_id=current_user.id)
    except ValueError as error:
        flash(str(error), "warning")
    else:
        flash("The email is on its way again.", "success")
    return redirect_after_post(url_for("admin.outbox_email", email_id=email_id))


@blueprint.route("/users")
@staff_required
def users():
    search = (request.args.get("q") or "").strip()[:100]
    page = selectors.users_page(search=search, page=request.args.get("page", 1, type=int) or 1)
    return render_page("admin/users.html", block="list", page=page, search=search)


@blueprint.route("/users/<int:user_id>")
@staff_required
def user(user_id: int):
    detail = selectors.user_detail(user_id) or abort(404)
    return render_page("admin/user.html", **detail)


@blueprint.route("/users/<int:user_id>/<any('disable', 'enable', 'grant-staff', 'revoke-staff', 'resend-verification'):action>",
                 methods=["POST"])
@staff_required
def user_action(user_id: int, action: str):
    db.session.get(User, user_id) or abort(404)
    try:
        if action in ("disable", "enable"):
            accounts.user_set_disabled(user_id=user_id, disabled=action == "disable", actor_id=current_user.id,
                                       ip=client_ip())
        elif action in ("grant-staff", "revoke-staff"):
            accounts.user_set_staff(user_id=user_id, staff=action == "grant-staff", actor_id=current_user.id,
                                    ip=client_ip())
        else:
            accounts.email_verification_resend(user_id=user_id)
        flash("Done.", "success")
    except accounts.AccountError as error:
        flash(error.message, "warning")
    return redirect_after_post(url_for("admin.user", user_id=user_id))


@blueprint.route("/subscriptions")
@staff_required
def subscriptions():
    state = request.args.get("state") or None
    state = state if state in SUBSCRIPTION_STATES else None
    app_slug = (request.args.get("app") or "").strip()[:40] or None
    search = (request.args.get("q") or "").strip()[:100]
    expiring = request.args.get("expiring", type=int)
    page = selectors.subscriptions_page(state=state, app_slug=app_slug, search=search, expiring_days=expiring,
                                        page=request.args.get("page", 1, type=int) or 1)
    return render_page("admin/subscriptions.html", block="list", page=page, state=state, app_slug=app_slug,
                       search=search, expiring=expiring, states=SUBSCRIPTION_STATES)


@blueprint.route("/subscriptions/<int:subscription_id>")
@staff_required
def subscription(subscription_id: int):
    subscription = selectors.subscription_detail(subscription_id) or abort(404)
    return render_page("admin/subscription.html", subscription=subscription,
                       events=instance_selectors.events_of(subscription.id, limit=60),
                       status=instance_selectors.status_of(subscription.id))


@blueprint.route("/subscriptions/<int:subscription_id>/<any('suspend', 'resume', 'retry', 'restart', 'extend', 'terminate'):action>",
                 methods=["POST"])
@staff_required
def subscription_action(subscription_id: int, action: str):
    selectors.subscription_detail(subscription_id) or abort(404)
    form = request.form
    common = {"subscription_id": subscription_id, "actor_id": current_user.id, "ip": client_ip()}
    try:
        if action == "suspend":
            staff.staff_suspend(reason=form.get("reason", ""), **common)
        elif action == "resume":
            staff.staff_resume(**common)
        elif action == "retry":
            staff.staff_retry(**common)
        elif action == "restart":
            staff.staff_restart(**common)
        elif action == "extend":
            staff.staff_extend(days=form.get("days", 0, type=int), reason=form.get("reason", ""), **common)
        else:
            staff.staff_terminate(confirmation=form.get("confirm", ""), **common)
        flash(f"{action.title()}: done.", "success")
    except (staff.StaffActionRefused, IllegalTransition) as error:
        flash(str(error), "warning")
    return redirect_after_post(url_for("admin.subscription", subscription_id=subscription_id))


@blueprint.route("/audit")
@staff_required
def audit():
    action = (request.args.get("action") or "").strip()[:64] or None
    page = selectors.audit_page(action=action, page=request.args.get("page", 1, type=int) or 1)
    return render_page("admin/audit.html", block="list", page=page, action=action)


@blueprint.route("/jobs")
@staff_required
def jobs():
    return render_page("admin/jobs.html", runs=selectors.last_job_runs(), queue_depth=huey.pending_count(),
                       scheduled=huey.scheduled_count())

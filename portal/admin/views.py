"""Staff pages under /admin: the cluster's health and the email outbox (more to come)."""
from flask import Blueprint, abort, current_app, flash, request, url_for
from flask_login import current_user

from portal.admin import selectors
from portal.admin.access import staff_required
from portal.extensions import db
from portal.notifications.models import STATES, Email
from portal.provisioning.cluster import cluster_for
from portal.notifications import services as notifications
from portal.rendering import redirect_after_post, render_page

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

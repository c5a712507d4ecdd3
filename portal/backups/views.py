"""An instance's backups page: the list, "Back up now", and "Restore" with typed confirmation."""
from flask import Blueprint, abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.backups import selectors, services
from portal.rendering import redirect_after_post, render_polling

blueprint = Blueprint("backups", __name__, url_prefix="/instances")


def _own(subscription_id: int):
    return selectors.owned_instance(user_id=current_user.id, subscription_id=subscription_id) or abort(404)


# One rule for both methods: with a GET rule and a POST rule on one path, werkzeug answers a POST whose id is
# beyond the database 405 (it sees the GET rule's path match before the id converter refuses), not 404.
@blueprint.route("/<int:subscription_id>/backups", methods=["GET", "POST"])
@login_required
def index(subscription_id: int):
    """The backups, polled while one runs or a restore is under way (286 stops the poll); POST backs up now."""
    if request.method == "POST":
        return back_up_now(subscription_id)
    subscription = _own(subscription_id)
    view = selectors.backups_view(subscription)
    return render_polling("backups/index.html", block="backups", settled=view.settled, subscription=subscription,
                          view=view, restore_words=selectors.RESTORE_WORDS)


def back_up_now(subscription_id: int):
    subscription = _own(subscription_id)
    try:
        services.backup_request(subscription_id=subscription.id, user_id=current_user.id)
    except services.BackupRefused as refusal:
        flash(str(refusal), "warning")
    else:
        flash(_("Backing up your instance now. It takes a few minutes; it keeps running meanwhile."), "info")
    return redirect_after_post(url_for("backups.index", subscription_id=subscription.id))


@blueprint.route("/<int:subscription_id>/backups/<int:backup_id>/restore", methods=["POST"])
@login_required
def restore(subscription_id: int, backup_id: int):
    subscription = _own(subscription_id)
    try:
        services.restore_request(subscription_id=subscription.id, backup_id=backup_id,
                                 confirmation=request.form.get("confirm", "")[:100], user_id=current_user.id)
    except services.BackupRefused as refusal:
        flash(str(refusal), "warning")
    else:
        flash(_("Restoring. Your instance keeps running with its current data until the restored copy is ready, "
                "then switches over; we email you when it is done."), "info")
    return redirect_after_post(url_for("backups.index", subscription_id=subscription.id))

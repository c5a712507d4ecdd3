"""The landing page for guests and the dashboard for logged-in customers."""
from flask import Blueprint
from flask_login import current_user

from portal.home import selectors
from portal.rendering import render_page

blueprint = Blueprint("home", __name__)


@blueprint.route("/")
def index():
    if not current_user.is_authenticated:
        return render_page("home/landing.html")
    return render_page("home/dashboard.html",
                       subscriptions=selectors.dashboard_subscriptions(user_id=current_user.id))

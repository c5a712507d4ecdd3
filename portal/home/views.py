"""The landing page for guests and the dashboard for logged-in customers."""
from flask import Blueprint, current_app, request
from flask_login import current_user

from portal.home import selectors
from portal.rendering import render_page

blueprint = Blueprint("home", __name__)


@blueprint.route("/")
def index():
    if not current_user.is_authenticated:
        return render_page("home/landing.html")
    cards = selectors.dashboard_cards(user_id=current_user.id)
    changing = any(card.transitional for card in cards)
    response = render_page("home/dashboard.html", block="cards", cards=cards, changing=changing,
                           cluster_domain=current_app.config["K8S_CLUSTER_DOMAIN"])
    if request.htmx and not changing:
        response.status_code = 286  # nothing is changing: the cards stop polling
    return response

"""The landing page for guests and the dashboard for logged-in customers."""
from flask import Blueprint, current_app
from flask_login import current_user

from portal.conditional import not_modified_or
from portal.home import selectors
from portal.provisioning.cluster import is_emulated
from portal.rendering import render_page, render_polling
from portal.timestamps import utcnow

blueprint = Blueprint("home", __name__)


@blueprint.route("/")
def index():
    if not current_user.is_authenticated:
        return render_page("home/landing.html")

    def render():
        cards = selectors.dashboard_cards(user_id=current_user.id)
        changing = any(card.transitional for card in cards)
        return render_polling("home/dashboard.html", block="cards", settled=not changing, cards=cards,
                              changing=changing, cluster_domain=current_app.config["K8S_CLUSTER_DOMAIN"],
                              emulated_cluster=is_emulated(current_app.config))

    def versions():
        # The clock is read before the cards render: what changes with it only ever changes one way (fewer days
        # left, a renewal now due), so a tag matching later means nothing changed in between either.
        return (selectors.dashboard_version(user_id=current_user.id, now=utcnow()),
                current_app.config["K8S_CLUSTER_DOMAIN"], current_app.config["KUBE_EMULATOR_URL"],
                is_emulated(current_app.config))

    return not_modified_or(render, versions)

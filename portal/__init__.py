"""The Portal application factory."""
import importlib

from flask import Flask
from flask_babel import lazy_gettext as _l
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import config as portal_config

DOMAINS = ("accounts", "catalog", "billing", "subscriptions", "instances", "provisioning", "domains", "backups",
           "notifications", "audit", "jobs", "admin", "home", "ops")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(portal_config.INSTANCE_DIR),
        template_folder=str(portal_config.ROOT / "templates"),
        static_folder=str(portal_config.ROOT / "static"),
    )
    app.config.update(portal_config.from_environment())
    if config:
        app.config.update(config)
    app.config["SQLALCHEMY_DATABASE_URI"] = portal_config.normalise_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"])
    register_logging(app)
    load_service_templates(app)
    register_extensions(app)
    register_models()
    connect_domains()
    register_url_converters(app)
    register_blueprints(app)
    register_tasks(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    if app.config["PROXY_HOPS"]:
        # Behind an ingress: trust its X-Forwarded-* (client address for rate limits, https for cookies).
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app


def load_service_templates(app: Flask) -> None:
    """Read every service template now, so a broken one stops start-up naming its file and field."""
    from portal.catalog.templates import templates_load

    templates_load(app.config["SERVICE_TEMPLATES_DIR"])


def register_extensions(app: Flask) -> None:
    from portal.extensions import csrf, db, htmx, limiter, login_manager, mail, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(portal_config.ROOT / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    # Lazy: flashed as text in the reader's language when a page asks for log-in.
    login_manager.login_message, login_manager.localize_callback = _l("Please log in to continue."), str
    login_manager.login_message_category = "info"
    # "basic": a changed network marks the session not fresh instead of logging out (phones switch networks).
    login_manager.session_protection = "basic"
    csrf.init_app(app)
    mail.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    from portal.i18n import i18n_init
    i18n_init(app)
    from portal import unit_of_work  # noqa: F401  (its session events keep follow-up work until the commit)
    from portal.billing.midtrans import snap_origins
    from portal.security import security_init
    security_init(app, payment_origins=snap_origins(app.config))


def register_models() -> None:
    """Import every domain's models so the metadata (and Alembic) sees all tables."""
    for domain in DOMAINS:
        try:
            importlib.import_module(f"portal.{domain}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"portal.{domain}.models":
                raise


def connect_domains() -> None:
    """Hand a lower domain what it needs to ask a higher one (imports only go down the layers in pyproject.toml)."""
    from portal.accounts.selectors import staff_members, user_locale, user_zone
    from portal.billing.models import subscriptions_awaiting_midtrans
    from portal.notifications.selectors import accounts_connect
    from portal.subscriptions.lifecycle import expiry_holds_connect

    accounts_connect(staff_members=staff_members, user_zone=user_zone, user_locale=user_locale)
    expiry_holds_connect(subscriptions_awaiting_midtrans)


def register_url_converters(app: Flask) -> None:
    from portal.arguments import url_converters_register

    url_converters_register(app)


def register_blueprints(app: Flask) -> None:
    for domain in DOMAINS:
        try:
            views = importlib.import_module(f"portal.{domain}.views")
        except ModuleNotFoundError as exc:
            if exc.name != f"portal.{domain}.views":
                raise
            continue
        app.register_blueprint(views.blueprint)


def register_tasks(app: Flask) -> None:
    """Load every domain's tasks so web processes can enqueue and the consumer can run them."""
    from portal import tasks

    tasks.huey_configure(app.config)
    tasks.bind_app(app)
    for domain in DOMAINS:
        try:
            importlib.import_module(f"portal.{domain}.tasks")
        except ModuleNotFoundError as exc:
            if exc.name != f"portal.{domain}.tasks":
                raise


def register_errorhandlers(app: Flask) -> None:
    from portal.errors import register

    register(app)


def register_logging(app: Flask) -> None:
    from portal.ops.logs import logging_configure

    logging_configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])


def register_template_helpers(app: Flask) -> None:
    from portal.rendering import register

    register(app)


def register_commands(app: Flask) -> None:
    from portal.commands import register

    register(app)

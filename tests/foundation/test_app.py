"""The app factory, configuration defaults, migrations and error pages."""
import pytest
import sqlalchemy as sa
from flask import abort

from portal import config as portal_config
from portal import create_app
from portal.extensions import db

pytestmark = pytest.mark.smoke


def test_database_urls_are_normalised_for_psycopg3():
    assert portal_config.normalise_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert portal_config.normalise_database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert portal_config.normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_embedded_defaults_need_no_outside_service(monkeypatch):
    for name in ("DATABASE_URL", "MAIL_SERVER", "KUBE_MODE", "MIDTRANS_SERVER_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = portal_config.from_environment()
    assert settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert settings["SQLALCHEMY_DATABASE_URI"].endswith("portal.db")
    assert settings["MAIL_SERVER"] is None
    assert settings["KUBE_MODE"] == "emulated"
    assert settings["MIDTRANS_SERVER_KEY"] is None
    # The generated secret key is kept, so sessions survive a restart.
    assert portal_config.from_environment()["SECRET_KEY"] == settings["SECRET_KEY"]
    assert len(settings["SECRET_KEY"]) >= 32


def test_schema_comes_from_migrations_and_matches_the_models(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert version == "0018"
    assert differences == []


def test_database_refuses_what_would_corrupt_money_or_identity(app, make_user):
    from portal.catalog.models import Plan, Service

    make_user(email="ana@example.com")
    service = Service(slug="n8n", name="n8n", template_file="n8n.yaml")
    db.session.add(service)
    db.session.commit()
    checks = [
        "INSERT INTO users (email, name, password_hash, session_token, is_staff, disabled) "
        "VALUES ('ana@example.com', 'Twin', 'x', 't', false, false)",
        "INSERT INTO users (email, name, password_hash, session_token, is_staff, disabled) "
        "VALUES ('Upper@Example.com', 'Upper', 'x', 't', false, false)",
        "INSERT INTO plans (service_id, slug, name, cpu_millicores, memory_mb, storage_gb, price_idr, period_days, "
        f"active) VALUES ({service.id}, 'neg', 'Negative', 500, 512, 1, -1, 30, true)",
        "INSERT INTO plans (service_id, slug, name, cpu_millicores, memory_mb, storage_gb, price_idr, period_days, "
        "active) VALUES (9999, 'orphan', 'Orphan', 500, 512, 1, 1000, 30, true)",
    ]
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    for statement in checks:
        with pytest.raises(sa.exc.IntegrityError):
            with db.engine.begin() as conn:
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.execute(sa.text(statement))
    assert db.session.scalar(sa.select(sa.func.count(Plan.id))) == 0


def test_unknown_page_is_a_404_page_and_an_htmx_fragment(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert "<html" in page.get_data(as_text=True)
    assert "Page not found" in page.get_data(as_text=True)
    fragment = client.get("/no-such-page", headers={"HX-Request": "true"})
    assert fragment.status_code == 404
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "Page not found" in body
    assert fragment.headers["HX-Retarget"] == "#main"


def test_forbidden_and_server_errors_render_friendly_pages(database_url):
    app = create_app({"TESTING": True, "SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": database_url,
                      "RATELIMIT_ENABLED": False})

    @app.route("/boom")
    def boom():
        raise RuntimeError("kaput")

    @app.route("/forbidden")
    def forbidden():
        abort(403)

    client = app.test_client()
    for path, status, title in (("/boom", 500, "Something went wrong"), ("/forbidden", 403, "Not allowed")):
        response = client.get(path)
        body = response.get_data(as_text=True)
        assert response.status_code == status
        assert title in body and "<html" in body and "kaput" not in body
        htmx = client.get(path, headers={"HX-Request": "true"})
        assert htmx.status_code == status
        assert title in htmx.get_data(as_text=True) and "<html" not in htmx.get_data(as_text=True)


def test_admin_pages_are_hidden_from_customers_and_guests(client, make_user, login):
    assert client.get("/admin/outbox").status_code == 404
    login(make_user(email="c@example.com"))
    assert client.get("/admin/outbox").status_code == 404


def test_staff_reads_the_outbox(client, make_user, login):
    from portal.notifications.services import email_queue
    from portal.unit_of_work import atomic

    staff = make_user(email="staff@example.com", staff=True)
    with atomic():
        email = email_queue(template="welcome", recipient="x@example.com", key="k1",
                            context={"name": "<b>X</b>", "link": "http://portal.test/"})
    login(staff)
    listing = client.get("/admin/outbox")
    assert listing.status_code == 200 and "x@example.com" in listing.get_data(as_text=True)
    detail = client.get(f"/admin/outbox/{email.id}").get_data(as_text=True)
    assert "Welcome to Portal" in detail
    assert "<b>X</b>" not in detail  # the name came from outside: escaped, never raw HTML

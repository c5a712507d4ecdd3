"""Command-line tasks: create-staff, seed, run-job, cluster-check, catalog-pin and the other `flask` commands."""
import secrets

import click
from flask import Flask, current_app

from portal.accounts import services as accounts
from portal.catalog.parameters import SettingsInvalid
from portal.catalog.pinning import PinFailed, catalog_pin
from portal.catalog.registry import DOCKER_HUB_URL, Registry
from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.config import INSTANCE_DIR
from portal.provisioning.cluster import cluster_for
from portal.provisioning.manifests import ClusterOptions
from portal.provisioning.policy import NETWORK, catalog_scan
from portal.subscriptions.services import SubdomainUnavailable, subscription_order_paid

DEV_STAFF_EMAIL = "staff@portal.localtest.me"


def register(app: Flask) -> None:
    @app.cli.command("create-staff")
    @click.argument("email")
    @click.option("--password", help="Password for a new account (one is generated when omitted).")
    @click.option("--name", help="Name for a new account.")
    def create_staff(email: str, password: str | None, name: str | None):
        """Make EMAIL a staff member, creating the account if needed."""
        try:
            user, generated = accounts.staff_create(email=email, password=password, name=name)
        except accounts.AccountError as error:
            raise click.ClickException(error.message) from error
        click.echo(f"{user.email} is staff.")
        if generated:
            click.echo(f"Password: {generated}")

    @app.cli.command("cluster-check")
    def cluster_check():
        """Connect to the cluster KUBE_MODE names and check what the portal needs to do there."""
        result = cluster_for(current_app.config).check()
        click.echo(f"Mode: {current_app.config['KUBE_MODE']}")
        if result.error:
            raise click.ClickException(f"Cannot use the cluster: {result.error}")
        click.echo(f"Server: {result.version} {result.platform}".rstrip())
        for permission, allowed in result.permissions.items():
            click.echo(f"  {'ok ' if allowed else 'NO '} {permission}")
        if not result.ok:
            raise click.ClickException("The portal lacks permissions it needs.")

    @app.cli.command("order-paid")
    @click.argument("email")
    @click.argument("app_slug")
    @click.argument("plan_slug")
    @click.argument("subdomain")
    def order_paid(email: str, app_slug: str, plan_slug: str, subdomain: str):
        """Place an order for EMAIL and mark it paid, as a settled payment would (for the shell and demos)."""
        try:
            subscription = subscription_order_paid(email=email, app_slug=app_slug, plan_slug=plan_slug,
                                                   subdomain=subdomain)
        except (LookupError, SubdomainUnavailable, SettingsInvalid) as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"Subscription #{subscription.id} paid; provisioning {subscription.subdomain} "
                   f"in {subscription.namespace or 'its namespace'}.")

    @app.cli.command("run-job")
    @click.argument("name", required=False)
    def run_job(name: str | None):
        """Run periodic job NAME now, in this process (e.g. after an outage); without NAME, list them."""
        jobs = periodic_jobs()
        if name not in jobs:
            click.echo("Periodic jobs: " + ", ".join(sorted(jobs)))
            if name:
                raise click.ClickException(f"No periodic job named {name!r}.")
            return
        click.echo(f"{name}: {jobs[name]().execute()}")

    @app.cli.command("catalog-pin")
    @click.option("--check", is_flag=True, help="Report what would change and fail if a file is not pinned; "
                                                "write nothing.")
    @click.option("--docker-hub-url", default=DOCKER_HUB_URL, show_default=True,
                  help="Docker Hub's registry API (a pull-through mirror of it serves the same digests).")
    def catalog_pin_command(check: bool, docker_hub_url: str):
        """Resolve each template's image tag to its digest through the registry and write name:tag@sha256:..."""
        directory = current_app.config["SERVICE_TEMPLATES_DIR"]
        try:
            pins = catalog_pin(directory=directory, registry=Registry(docker_hub_url=docker_hub_url),
                               write=not check)
        except PinFailed as error:
            raise click.ClickException(f"{error} Nothing was written.") from error
        for pin in pins:
            state = ("unchanged" if not pin.changed else "would pin" if check else "pinned")
            click.echo(f"{pin.file} {pin.component}: {state} {pin.after}")
        if check and any(pin.changed for pin in pins):
            raise click.ClickException("Some images are not pinned to the digest their tag resolves to now.")

    @app.cli.command("catalog-scan")
    def catalog_scan_command():
        """Scan every app x plan: root containers, added or kept capabilities, privilege escalation, and egress
        (default-deny, where a tenant's pods can connect, DNS) as this install's K8S_* settings render it."""
        results = catalog_scan(templates=service_templates(), options=ClusterOptions.from_config(current_app.config))
        for where, finding in results:
            mark = "FAIL" if finding.failing else "note"
            click.echo(f"{mark} {where} {finding.subject}: {finding.kind}: {finding.detail}")
        failing = [f for _, f in results if f.failing]
        counts = {kind: sum(1 for f in failing if f.kind == kind) for kind in ("root container", "added capability")}
        egress = sum(1 for f in failing if f.kind in NETWORK)
        click.echo(f"{counts['root container']} root containers, {counts['added capability']} added capabilities, "
                   f"{egress} network isolation gaps, {len(failing)} failing findings in all.")
        if failing:
            raise click.ClickException("Some pods are not hardened or not isolated.")

    @app.cli.command("seed-catalog")
    def seed_catalog():
        """Create the catalog's services and plans from service-templates/ (idempotent)."""
        counts = catalog_seed(templates=service_templates())
        click.echo(f"Catalog: {counts['services_created']} services and {counts['plans_created']} plans created, "
                   f"{counts['services_updated']} services refreshed.")

    @app.cli.command("seed")
    def seed():
        """Seed what a fresh embedded install needs: the catalog and a staff login (kept under instance/)."""
        catalog_seed(templates=service_templates())
        password = seed_staff()
        click.echo(f"Staff login: {DEV_STAFF_EMAIL} / {password}")
        click.echo(f"Portal: {current_app.config['FRONTEND_URL']}")


def seed_staff() -> str:
    """Create the embedded install's staff account once; returns its password (kept under instance/)."""
    password_file = INSTANCE_DIR / "staff-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(12))
        password_file.chmod(0o600)
    password = password_file.read_text().strip()
    if accounts.user_by_email(DEV_STAFF_EMAIL) is None:
        accounts.staff_create(email=DEV_STAFF_EMAIL, password=password, name="Portal Staff")
    return password


def periodic_jobs() -> dict:
    """Every periodic task by its function's name (instances_reconcile, outbox_sweep, invoices_sync...)."""
    from huey.api import PeriodicTask

    from portal.tasks import huey

    return {key.rsplit(".", 1)[-1]: task_class for key, task_class in huey._registry._registry.items()  # noqa: SLF001
            if issubclass(task_class, PeriodicTask)}

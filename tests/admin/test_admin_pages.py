"""Staff pages beyond users and subscriptions: overview, payments, catalog, nodes, outbox, jobs, audit, reports."""
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.admin import reports
from portal.audit.models import AuditEntry
from portal.billing import services as billing
from portal.billing.models import Invoice, PaymentNotification, Refund
from portal.catalog.models import Plan
from portal.catalog.templates import templates_check
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.jobs.models import TaskFailure
from portal.notifications.models import Email
from portal.provisioning.cluster import cluster_for
from portal.provisioning.models import Node
from portal.provisioning.services import nodes_sync
from portal.subscriptions.models import Subscription
from portal.tasks import task
from portal.timestamps import utcnow
from tests.fixtures.billing import notification, plan_of, post, set_status
from tests.helpers import post_form


def pay(invoice: Invoice, client, paid_at: datetime | None = None) -> None:
    """Pay through the real webhook; then, if asked, move the payment into the past."""
    assert post(client, notification(invoice)).status_code == 200
    if paid_at is not None:
        row = db.session.get(Invoice, invoice.id)
        row.paid_at = paid_at
        db.session.commit()


@pytest.mark.smoke
def test_overview_shows_the_business_at_a_glance(app, client, staff_client, order, paid):
    now = utcnow()
    ghost = order("ghost", subdomain="blog-one")
    pay(ghost, app.test_client())
    old = order("wordpress", subdomain="old-shop")
    pay(old, app.test_client(), paid_at=reports.month_start(now, 2) + timedelta(days=3))
    order("n8n", subdomain="never-paid")  # pending: neither revenue nor recurring
    db.session.expire_all()
    page = staff_client.get("/admin/").get_data(as_text=True)
    ghost_plan, wordpress_plan = plan_of("ghost"), plan_of("wordpress")
    mrr = round(ghost_plan.price_idr * 30 / ghost_plan.period_days
                + wordpress_plan.price_idr * 30 / wordpress_plan.period_days)
    figures = reports.overview()
    assert figures["mrr_idr"] == mrr
    assert figures["revenue_this_month_idr"] == ghost.amount_idr
    assert figures["months"][-3][1] == old.amount_idr and len(figures["months"]) == 12
    assert figures["provisioning"] + figures["active"] == 2
    from portal.rendering import format_idr
    assert format_idr(mrr) in page and format_idr(ghost.amount_idr) in page
    assert 'data-testid="banner-emulated-cluster"' not in page or app.config["KUBE_MODE"] == "emulated"
    assert 'data-testid="banner-simulated-payments"' in page  # no Midtrans keys in tests
    assert "<svg" in page and "Revenue, last 12 months" in page


def test_overview_counts_failed_degraded_nodes_and_failed_emails(app, paid, kube, kube_clock, staff_client):
    healthy = paid("n8n", subdomain="fine-one")
    broken = paid("ghost", subdomain="broken-one", email="b@example.com")
    kube_clock.advance(30)
    instances_sweep()
    broken_row = db.session.get(Subscription, broken)
    kube.crash_loop(broken_row.namespace, broken_row.instance_name)
    kube_clock.advance(30)
    instances_sweep()
    nodes_sync()
    db.session.add(Email(idempotency_key="x", recipient="a@b.c", template="welcome", state="failed"))
    db.session.commit()
    figures = reports.overview()
    assert figures["active"] == 2 and figures["degraded"] == 1
    assert (figures["nodes_ready"], figures["nodes_total"]) == (3, 3)
    assert figures["failed_emails"] == 1
    page = staff_client.get("/admin/").get_data(as_text=True)
    assert 'data-testid="degraded">1<' in page and 'data-testid="nodes-ready">3 / 3<' in page
    assert healthy


def test_payments_filter_by_state_and_date_and_show_raw_notifications(app, staff_client, order):
    paid_invoice = order("ghost", subdomain="paid-one")
    pay(paid_invoice, app.test_client())
    pending = order("n8n", subdomain="pending-one")
    body = staff_client.get("/admin/payments?state=paid", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert paid_invoice.number in body and pending.number not in body and "<html" not in body
    today = utcnow().date()
    assert pending.number in staff_client.get(f"/admin/payments?from={today}&to={today}").get_data(as_text=True)
    tomorrow = today + timedelta(days=1)
    assert pending.number not in staff_client.get(f"/admin/payments?from={tomorrow}").get_data(as_text=True)
    assert staff_client.get("/admin/payments?from=not-a-date").status_code == 200  # ignored, not an error
    detail = staff_client.get(f"/admin/payments/{paid_invoice.id}").get_data(as_text=True)
    assert 'data-testid="notification"' in detail and "settlement" in detail and "signature_key" in detail


@pytest.mark.smoke
def test_payments_csv_export_follows_the_filters(app, staff_client, order):
    first = order("ghost", subdomain="csv-one")
    pay(first, app.test_client())
    second = order("wordpress", subdomain="csv-two")
    response = staff_client.get("/admin/payments.csv?state=paid")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["invoice"] for row in rows] == [first.number]
    assert rows[0]["amount_idr"] == str(first.amount_idr) and rows[0]["app"] == "Ghost"
    everything = list(csv.DictReader(io.StringIO(staff_client.get("/admin/payments.csv").get_data(as_text=True))))
    assert [row["invoice"] for row in everything] == [first.number, second.number]


def test_recheck_applies_what_midtrans_says_and_is_audited(app, staff, staff_client, order):
    invoice = order("ghost", subdomain="lost-webhook")
    path = f"/admin/payments/{invoice.id}"
    post_form(staff_client, path, f"{path}/recheck")
    assert db.session.get(Invoice, invoice.id).state == "pending"  # Midtrans knows nothing final yet
    set_status(invoice.order_id, "settlement", amount_idr=invoice.amount_idr)  # paid; the webhook was lost
    response = post_form(staff_client, path, f"{path}/recheck")
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).state == "paid"
    assert db.session.get(Subscription, invoice.subscription_id).state in ("provisioning", "active")
    assert "Midtrans says settlement" in staff_client.get(response.headers["Location"]).get_data(as_text=True)
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "invoice.rechecked")
                                 .order_by(AuditEntry.id)).all()
    assert [e.details["answer"] for e in entries] == [None, "settlement"] and entries[0].actor_id == staff.id
    post_form(staff_client, path, f"{path}/recheck")  # again: nothing changes twice
    assert db.session.scalar(select(Invoice.state).where(Invoice.id == invoice.id)) == "paid"


def test_rejected_webhooks_are_security_events_in_the_audit_log(app, staff_client, order):
    invoice = order("ghost", subdomain="forged")
    forged = notification(invoice, record=False)
    forged["signature_key"] = "0" * 128
    assert post(app.test_client(), forged).status_code == 401
    assert post(app.test_client(), None, raw=b"not json").status_code == 400
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "payment.notification_rejected")
                                 .order_by(AuditEntry.id)).all()
    assert [(e.details["status"], e.target_id) for e in entries] == [(401, invoice.order_id), (400, None)]
    assert db.session.scalar(select(PaymentNotification)) is None  # nothing untrusted was applied or kept
    page = staff_client.get("/admin/audit?action=payment.").get_data(as_text=True)
    assert page.count("<td>payment.notification_rejected</td>") == 2 and "signature does not match" in page


def test_plan_price_and_availability_change_without_breaking_subscriptions(app, staff, staff_client, order, paid):
    sid = paid("ghost", subdomain="keeps-running", email="old@example.com")
    plan = plan_of("ghost")
    old_price = plan.price_idr
    response = post_form(staff_client, "/admin/catalog", f"/admin/catalog/plans/{plan.id}", price_idr="12")
    assert "between Rp 1.000" in staff_client.get(response.headers["Location"]).get_data(as_text=True)
    post_form(staff_client, "/admin/catalog", f"/admin/catalog/plans/{plan.id}", price_idr="abc")
    assert db.session.get(Plan, plan.id).price_idr == old_price
    post_form(staff_client, "/admin/catalog", f"/admin/catalog/plans/{plan.id}", price_idr="175.000")  # not on sale
    db.session.expire_all()
    plan = db.session.get(Plan, plan.id)
    assert (plan.price_idr, plan.active) == (175_000, False)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "plan.updated"))
    assert entry.details == {"before": {"price_idr": old_price, "active": True},
                             "after": {"price_idr": 175_000, "active": False}} and entry.actor_id == staff.id
    # No longer sold...
    assert staff_client.get(f"/checkout/plan/{plan.id}").status_code == 404
    with pytest.raises(billing.CheckoutError):
        order("ghost", subdomain="too-late")
    # ...but the existing subscription keeps its instance and renews at the new price.
    assert db.session.get(Subscription, sid).state in ("provisioning", "active")
    renewal = billing.invoice_issue_renewal(subscription_id=sid)
    assert renewal.amount_idr == 175_000
    post_form(staff_client, "/admin/catalog", f"/admin/catalog/plans/{plan.id}", price_idr="175000", active="on")
    assert db.session.get(Plan, plan.id).active


def test_catalog_shows_template_validity_and_a_valid_manifest_preview(app, staff_client, paid, tmp_path):
    paid("wordpress", subdomain="seeded")
    page = staff_client.get("/admin/catalog").get_data(as_text=True)
    assert page.count("badge text-bg-success\">valid") == 3 and "wordpress.yaml" in page
    # Staff see each component's exact image (the version customers run) and how it runs.
    assert "app: <code>wordpress:6.8.3-php8.3-apache</code> · uid 33 · read-only root" in page
    assert "db: <code>postgres:16.13-alpine</code> · uid 70" in page and "WordPress 6.8.3" in page
    assert "app: <code>ghost:6.45.0-alpine</code> · uid 1000 · <span title=\"Ghost writes under its install" in page
    plan = plan_of("wordpress")
    preview = staff_client.get(f"/admin/catalog/plans/{plan.id}/preview").get_data(as_text=True)
    assert "pass the strict Kubernetes schema" in preview
    for kind in ("Namespace", "ResourceQuota", "Secret", "PersistentVolumeClaim", "StatefulSet", "Deployment",
                 "Ingress"):
        assert f"<strong>{kind}</strong>" in preview, kind
    assert "(generated at provisioning)" in preview and "cpu:" in preview
    # A broken file is reported with the file and field at fault, next to the good ones.
    source = Path(app.config["SERVICE_TEMPLATES_DIR"])
    (tmp_path / "ghost.yaml").write_text((source / "ghost.yaml").read_text())
    (tmp_path / "broken.yaml").write_text("slug: broken\nname: Broken\nplans: nope\n")
    results = {name: error for name, _, error in templates_check(str(tmp_path))}
    assert results["ghost.yaml"] is None and results["broken.yaml"].startswith("broken.yaml: ")


def test_nodes_page_cordon_and_uncordon_reach_the_cluster(app, paid, kube_clock, staff, staff_client):
    for i in range(4):
        paid("n8n", subdomain=f"spread-{i}", email=f"u{i}@example.com")
    kube_clock.advance(30)
    instances_sweep()
    nodes_sync()
    page = staff_client.get("/admin/cluster").get_data(as_text=True)
    name = db.session.scalars(select(Node.name).order_by(Node.name)).first()
    assert f"/admin/nodes/{name}" in page
    detail = staff_client.get(f"/admin/nodes/{name}").get_data(as_text=True)
    assert "Instances on this node" in detail
    post_form(staff_client, f"/admin/nodes/{name}", f"/admin/nodes/{name}/cordon")
    remote = {n["metadata"]["name"]: n for n in cluster_for(app.config).list_nodes()}
    assert remote[name]["spec"].get("unschedulable") is True
    assert db.session.scalar(select(Node.unschedulable).where(Node.name == name)) is True
    assert 'data-testid="cordoned"' in staff_client.get(f"/admin/nodes/{name}").get_data(as_text=True)
    post_form(staff_client, f"/admin/nodes/{name}", f"/admin/nodes/{name}/uncordon")
    remote = {n["metadata"]["name"]: n for n in cluster_for(app.config).list_nodes()}
    assert not remote[name]["spec"].get("unschedulable")
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "node")
                                 .order_by(AuditEntry.id)).all()
    assert actions == ["node.cordoned", "node.uncordoned"]
    assert staff_client.get("/admin/nodes/no-such-node").status_code == 404
    from portal.admin.selectors import instances_per_node
    per_node = instances_per_node()
    assert sum(per_node.values()) == 4  # every instance counted on its node
    assert f"Instances on this node ({per_node.get(name, 0)})" in detail


def test_subscription_detail_shows_cluster_objects_and_invoices(app, staff_client, order, kube):
    invoice = order("ghost", subdomain="objects-here")
    pay(invoice, app.test_client())
    page = staff_client.get(f"/admin/subscriptions/{invoice.subscription_id}").get_data(as_text=True)
    assert 'data-testid="cluster-objects"' in page
    for kind in ("Deployment", "Service", "Ingress", "PersistentVolumeClaim", "Secret"):
        assert f"<td>{kind}</td>" in page, kind
    assert "objects-here." in page  # the ingress host
    assert invoice.number in page
    kube.fail_next(20, status=500, method="GET")
    page = staff_client.get(f"/admin/subscriptions/{invoice.subscription_id}").get_data(as_text=True)
    assert 'data-testid="cluster-error"' in page  # the page still works while the cluster does not


def test_subscription_filters_by_plan_and_user(app, staff_client, paid):
    first = paid("ghost", "starter", subdomain="by-plan", email="p@example.com")
    other = paid("n8n", "starter", subdomain="other-plan", email="q@example.com")
    ghost = plan_of("ghost")
    body = staff_client.get(f"/admin/subscriptions?plan={ghost.id}").get_data(as_text=True)
    assert "by-plan" in body and "other-plan" not in body
    user_id = db.session.get(Subscription, other).user_id
    body = staff_client.get(f"/admin/subscriptions?user={user_id}").get_data(as_text=True)
    assert "other-plan" in body and "by-plan" not in body
    body = staff_client.get("/admin/subscriptions?q=by_").get_data(as_text=True)  # "_" is a character, not a wildcard
    assert "No subscriptions match." in body
    assert first


@pytest.mark.smoke
def test_outbox_filters_by_state_template_and_recipient(app, staff_client):
    for i, (template, state) in enumerate([("welcome", "sent"), ("welcome", "failed"), ("payment_receipt", "sent")]):
        db.session.add(Email(idempotency_key=f"k{i}", recipient=f"person{i}@kopi.id", template=template, state=state,
                             subject=f"Subject {i}"))
    db.session.commit()
    body = staff_client.get("/admin/outbox?template=welcome&state=failed").get_data(as_text=True)
    assert "person1@kopi.id" in body and "person0@kopi.id" not in body and "person2@kopi.id" not in body
    body = staff_client.get("/admin/outbox?recipient=PERSON2", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "person2@kopi.id" in body and "person1@kopi.id" not in body and "<html" not in body


@task()
def exploding_task(label: str) -> None:
    raise RuntimeError(f"boom for {label}")


def test_jobs_page_lists_recent_task_failures_with_their_error(app, staff_client):
    exploding_task("<b>label</b>")
    failure = db.session.scalar(select(TaskFailure))
    assert failure.task.endswith("exploding_task") and "boom for" in failure.error
    page = staff_client.get("/admin/jobs").get_data(as_text=True)
    assert "RuntimeError: boom for &lt;b&gt;label&lt;/b&gt;" in page and "<b>label</b>" not in page


def test_audit_log_filters_by_prefix_target_and_actor_and_has_no_edit_route(app, staff, staff_client, paid):
    sid = paid("n8n", subdomain="audited")
    from tests.helpers import act
    act(staff_client, sid, "suspend", reason="check")
    act(staff_client, sid, "resume")
    body = staff_client.get("/admin/audit?action=subscription.").get_data(as_text=True)
    assert "<td>subscription.suspended</td>" in body and "<td>subscription.resumed</td>" in body
    assert "<td>user.login</td>" not in body
    body = staff_client.get(f"/admin/audit?target_type=subscription&target_id={sid}&actor={staff.id}"
                            ).get_data(as_text=True)
    assert "subscription.suspended" in body
    assert "<td>user.login</td>" in staff_client.get(f"/admin/audit?actor={staff.id}").get_data(as_text=True)
    audit_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin/audit")]
    assert all(r.methods <= {"GET", "HEAD", "OPTIONS"} for r in audit_rules)


@pytest.mark.smoke
def test_reports_sum_revenue_by_month_and_app_with_csv(app, staff_client, order):
    now = utcnow()
    a = order("ghost", subdomain="r-one")
    pay(a, app.test_client(), paid_at=reports.month_start(now, 1) + timedelta(days=2))
    b = order("ghost", subdomain="r-two")
    pay(b, app.test_client())
    c = order("wordpress", subdomain="r-three")
    pay(c, app.test_client())
    refunded = order("n8n", subdomain="r-four")
    pay(refunded, app.test_client())
    row = db.session.get(Invoice, refunded.id)
    row.state = "refunded"  # refunded in full the same month: it nets to nothing
    db.session.add(Refund(invoice_id=row.id, amount=row.amount_idr, kind="full", refunded_at=utcnow()))
    db.session.commit()
    page = staff_client.get("/admin/reports").get_data(as_text=True)
    from portal.rendering import format_idr
    assert f'data-testid="total">{format_idr(a.amount_idr + b.amount_idr + c.amount_idr)}<' in page
    assert "<svg" in page
    rows = list(csv.DictReader(io.StringIO(staff_client.get("/admin/reports.csv").get_data(as_text=True))))
    this_month, last_month = f"{now:%Y-%m}", f"{reports.month_start(now, 1):%Y-%m}"
    assert {(r["month"], r["app"], r["invoices"], r["amount_idr"], r["refunded_idr"]) for r in rows} == {
        (last_month, "Ghost", "1", str(a.amount_idr), "0"), (this_month, "Ghost", "1", str(b.amount_idr), "0"),
        (this_month, "WordPress", "1", str(c.amount_idr), "0"),
        (this_month, "n8n", "1", "0", str(refunded.amount_idr))}
    # A range picks only its days.
    start = reports.month_start(now, 1).date()
    rows = list(csv.DictReader(io.StringIO(
        staff_client.get(f"/admin/reports.csv?from={start}&to={start + timedelta(days=5)}").get_data(as_text=True))))
    assert [(r["month"], r["amount_idr"]) for r in rows] == [(last_month, str(a.amount_idr))]


def test_month_arithmetic_crosses_years():
    moment = datetime(2026, 1, 15, 10, tzinfo=UTC)
    assert reports.month_start(moment, 1) == datetime(2025, 12, 1, tzinfo=UTC)
    assert reports.month_start(moment, -12) == datetime(2027, 1, 1, tzinfo=UTC)
    assert reports.months_between(datetime(2025, 11, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)) \
        == ["2025-11", "2025-12", "2026-01"]

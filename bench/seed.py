"""Bulk seeding of a migrated PostgreSQL database with realistic portal data, through COPY (psycopg).

Sizes are parameters: users, subscriptions (across the three apps, every plan and every state), invoices
(one per order plus renewals, each with its Snap attempt), instance events and resource samples. Rows obey
the models' constraints: states and kinds from the models' own lists, unique emails/subdomains/order ids,
cluster names from the provisioning code. The catalog itself is seeded by the portal (catalog_seed).
Run alone: `python -m bench.seed DATABASE_URL --users 100 --subscriptions 500 ...`.
"""
import argparse
import json
import random
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from portal.accounts.passwords import password_hash
from portal.billing.models import KINDS as INVOICE_KINDS
from portal.billing.models import STATES as INVOICE_STATES
from portal.catalog.parameters import settings_clean
from portal.catalog.selectors import service_templates
from portal.provisioning.manifests import instance_names
from portal.subscriptions.models import EVENT_LEVELS
from portal.subscriptions.states import STATES as SUBSCRIPTION_STATES

PASSWORD = "bench horse battery staple"
STAFF_EMAIL = "staff@bench.example.com"
# Share of subscriptions in each life-cycle state (every state present).
STATE_WEIGHTS = {"active": 40, "pending_payment": 10, "provisioning": 2, "provisioning_failed": 2, "suspended": 10,
                 "terminated": 18, "cancelled": 18}
HAS_STATUS = ("provisioning", "provisioning_failed", "active", "suspended")
HAS_CLUSTER_NAMES = HAS_STATUS + ("terminated",)
EVENT_KINDS = [("step.namespace", "info", "Namespace prepared."), ("step.secret", "info", "Secrets stored."),
               ("step.workloads", "info", "Workloads created."), ("step.ingress", "info", "Address published."),
               ("restart", "info", "Restarting: new containers are starting."),
               ("restarted", "warning", "Restarted 1 time(s) by the cluster."),
               ("health.problem", "error", "The app keeps crashing and restarting."),
               ("health.ready", "info", "Your instance is healthy again."), ("renewed", "info", "Renewed.")]
SAMPLE_INTERVAL = timedelta(minutes=5)
assert set(STATE_WEIGHTS) == set(SUBSCRIPTION_STATES)
assert {"new", "renewal"} == set(INVOICE_KINDS) and {"pending", "paid", "failed", "cancelled"} <= set(INVOICE_STATES)
assert {level for _, level, _ in EVENT_KINDS} <= set(EVENT_LEVELS)


@dataclass
class Sizes:
    users: int
    subscriptions: int
    invoices: int
    events: int
    samples: int


@dataclass
class SeedSummary:
    sizes: Sizes
    seconds: float = 0.0
    rows: dict = field(default_factory=dict)
    by_state: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {**asdict(self), "seconds": round(self.seconds, 1)}


def _copy(conn, table: str, columns: list[str], rows) -> int:
    count = 0
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def _plans(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT p.id, s.slug, p.price_idr, p.period_days FROM plans p "
                    "JOIN services s ON s.id = p.service_id WHERE p.active ORDER BY p.id")
        return cur.fetchall()


def seed(database_url: str, sizes: Sizes, *, now: datetime | None = None, rng_seed: int = 7,
         state_weights: dict[str, int] | None = None, namespace_prefix: str = "customer-",
         cluster_domain: str = "localtest.me") -> SeedSummary:
    """Fill the (migrated, catalog-seeded) database; returns what was written. Runs in an app context (for the
    service templates). Ids are explicit, then the sequences are moved past them, so the portal's own inserts
    carry on normally afterwards."""
    started = time.perf_counter()
    rng = random.Random(rng_seed)
    now = now or datetime.now(UTC)
    summary = SeedSummary(sizes)
    templates = service_templates()
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo) as conn:
        plans = _plans(conn)
        if not plans:
            raise RuntimeError("seed the catalog first (catalog_seed)")
        defaults = {slug: json.dumps(settings_clean(template, {})) for slug, template in templates.items()}
        hashed = password_hash(PASSWORD)

        # Users: id 1 is staff, the rest customers.
        def users():
            for uid in range(1, sizes.users + 1):
                email = STAFF_EMAIL if uid == 1 else f"user{uid}@bench.example.com"
                created = now - timedelta(days=rng.uniform(0, 700))
                yield (uid, email, f"Bench User {uid}", hashed, uid == 1, created, False, secrets.token_urlsafe(24),
                       created, None)

        summary.rows["users"] = _copy(conn, "users", ["id", "email", "name", "password_hash", "is_staff",
                                                      "email_verified_at", "disabled", "session_token", "created_at",
                                                      "last_login_at"], users())

        # Subscriptions, spread over the customers, apps, plans and states.
        states = list(state_weights or STATE_WEIGHTS)
        weights = list((state_weights or STATE_WEIGHTS).values())
        customers = max(1, sizes.users - 1)
        subs = []  # (id, user_id, plan, state, created)
        for sid in range(1, sizes.subscriptions + 1):
            user_id = 2 + (sid - 1) % customers if sizes.users > 1 else 1
            # The first subscription of each customer is active, so every customer has something to look at.
            state = "active" if sid <= customers else rng.choices(states, weights)[0]
            plan = plans[rng.randrange(len(plans))]
            subs.append((sid, user_id, plan, state, now - timedelta(days=rng.uniform(1, 700))))
        summary.by_state = {s: sum(1 for row in subs if row[3] == s) for s in states}

        def subscription_rows():
            for sid, user_id, (plan_id, slug, _, period), state, created in subs:
                names = instance_names(namespace_prefix=namespace_prefix, user_id=user_id, service_slug=slug,
                                       subscription_id=sid, subdomain=f"b{sid}-{slug}", cluster_domain=cluster_domain)
                clustered = state in HAS_CLUSTER_NAMES
                if state in ("active", "provisioning", "provisioning_failed"):
                    period_end = now + timedelta(days=rng.uniform(1, period))
                elif state in ("suspended", "terminated"):
                    period_end = now - timedelta(days=rng.uniform(1, 30))
                else:
                    period_end = None
                yield (sid, user_id, plan_id, state, f"b{sid}-{slug}", defaults[slug], period_end,
                       names.namespace if clustered else None, names.instance if clustered else None, False,
                       "non_payment" if state == "suspended" else None,
                       "ImagePullBackOff" if state == "provisioning_failed" else "",
                       now - timedelta(minutes=rng.uniform(5, 600)) if state != "active" else created, created)

        summary.rows["subscriptions"] = _copy(conn, "subscriptions", [
            "id", "user_id", "plan_id", "state", "subdomain", "settings", "current_period_end", "namespace",
            "instance_name", "cancel_at_period_end", "suspension_reason", "state_note", "state_changed_at",
            "created_at"], subscription_rows())

        def status_rows():
            for sid, _, (_, slug, _, _), state, _ in subs:
                if state not in HAS_STATUS:
                    continue
                ready = state == "active"
                components = {c.name: {"phase": "Running" if ready else "Pending", "ready": ready, "restarts": 0,
                                        "problem": None} for c in templates[slug].components}
                yield (sid, "Running" if ready else "Pending", ready, 0, f"node-{sid % 3 + 1}" if ready else None,
                       None, json.dumps(components), now - timedelta(minutes=1), now - timedelta(minutes=1))

        summary.rows["instance_statuses"] = _copy(conn, "instance_statuses", [
            "subscription_id", "phase", "ready", "restart_count", "node_name", "last_error", "components",
            "last_seen_at", "updated_at"], status_rows())

        # Invoices: the order's invoice for every subscription, then renewals of those that ran.
        renewable = [s for s in subs if s[3] in ("active", "suspended", "terminated")]
        invoice_rows = []
        for sid, user_id, (_plan_id, _slug, price, period), state, created in subs:
            if len(invoice_rows) >= sizes.invoices:
                break
            if state == "pending_payment":
                inv_state, paid_at, made = "pending", None, now - timedelta(minutes=rng.uniform(1, 60))
            elif state == "cancelled":
                inv_state, paid_at, made = rng.choice(["failed", "cancelled"]), None, created
            else:
                inv_state, paid_at, made = "paid", created + timedelta(minutes=3), created
            invoice_rows.append((sid, user_id, "new", price, period, inv_state, paid_at, made))
        while len(invoice_rows) < sizes.invoices and renewable:
            sid, user_id, (plan_id, slug, price, period), state, created = renewable[rng.randrange(len(renewable))]
            made = created + timedelta(days=rng.uniform(25, 700))
            made = min(made, now - timedelta(hours=1))
            invoice_rows.append((sid, user_id, "renewal", price, period, "paid", made + timedelta(minutes=5), made))

        def invoices():
            for iid, (sid, user_id, kind, price, period, state, paid_at, made) in enumerate(invoice_rows, 1):
                order_id = f"PTL-{iid}-{secrets.token_hex(4)}"
                final = state != "pending"
                yield (iid, order_id, sid, user_id, kind, price, period, state,
                       {"paid": "settlement", "failed": "expire", "cancelled": None}.get(state) if final else None,
                       "bank_transfer" if state == "paid" else None, paid_at,
                       made + timedelta(hours=24), made, paid_at or made)

        attempts = []

        def invoices_keeping_attempts():
            for row in invoices():
                attempts.append((row[0], row[0], row[1], None,
                                 f"https://app.sandbox.midtrans.com/snap/v4/redirection/bench-{row[0]}", row[12]))
                yield row

        summary.rows["invoices"] = _copy(conn, "invoices", [
            "id", "order_id", "subscription_id", "user_id", "kind", "amount_idr", "period_days", "state",
            "midtrans_status", "payment_type", "paid_at", "expires_at", "created_at",
            "updated_at"], invoices_keeping_attempts())
        summary.rows["payment_attempts"] = _copy(conn, "payment_attempts", [
            "id", "invoice_id", "order_id", "snap_token", "snap_redirect_url", "created_at"], attempts)

        # Events: "created" for each subscription, the rest on those that reached the cluster.
        reached = [s for s in subs if s[3] in HAS_CLUSTER_NAMES] or subs

        def events():
            eid = 0
            for sid, _, _, _, created in subs[:sizes.events]:
                eid += 1
                yield (eid, sid, "created", "info", "Order created, awaiting payment.", created)
            while eid < sizes.events:
                eid += 1
                sid = reached[rng.randrange(len(reached))][0]
                kind, level, message = EVENT_KINDS[rng.randrange(len(EVENT_KINDS))]
                yield (eid, sid, kind, level, message, now - timedelta(minutes=rng.uniform(1, 90 * 24 * 60)))

        summary.rows["instance_events"] = _copy(conn, "instance_events", [
            "id", "subscription_id", "kind", "level", "message", "created_at"], events())

        # Samples: every 5 minutes back from now for active instances, so the 6-hour charts are full.
        active = [s for s in subs if s[3] == "active"] or subs

        def samples():
            per = -(-sizes.samples // max(1, len(active)))
            made = 0
            for sid, _, (_, _, _, _), _, _ in active:
                for step in range(per):
                    if made >= sizes.samples:
                        return
                    made += 1
                    yield (made, sid, now - step * SAMPLE_INTERVAL, rng.randrange(5, 900), rng.randrange(80, 1800))

        summary.rows["resource_samples"] = _copy(conn, "resource_samples", [
            "id", "subscription_id", "taken_at", "cpu_millicores", "memory_mb"], samples())

        with conn.cursor() as cur:
            for table in ("users", "subscriptions", "invoices", "payment_attempts", "instance_events",
                          "resource_samples"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"GREATEST((SELECT max(id) FROM {table}), 1))")
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
    summary.seconds = time.perf_counter() - started
    return summary


def main(argv=None) -> int:
    from portal import create_app
    from portal.catalog.services import catalog_seed
    from portal.extensions import db

    parser = argparse.ArgumentParser(prog="python -m bench.seed", description="Bulk-seed a migrated portal database.")
    parser.add_argument("database_url")
    for name, default in (("users", 100), ("subscriptions", 500), ("invoices", 2000), ("events", 10000),
                          ("samples", 10000)):
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args(argv)
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url})
    with app.app_context():
        catalog_seed(templates=service_templates())
        db.engine.dispose()
        summary = seed(args.database_url, Sizes(args.users, args.subscriptions, args.invoices, args.events,
                                                args.samples))
    print(json.dumps(summary.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Unchanged polls: logged-in customers' htmx polls of the three polled fragments (instance status, dashboard
cards, invoice status), each sent with the version it already holds (If-None-Match), so every answer is a 304.

Figures: CPU per unchanged poll by process, the same for the bare `/bench-hello` at the same rate on the same
server, and their ratio (server side: every process but the load generator), which goes into the run's
`ratios` as `unchanged_poll_cpu`; latency p50/p99 per fragment; how many answers were 304.
"""
import requests
from sqlalchemy import func, select

from bench.loadgen import Target, login_all, open_loop, settle
from bench.seed import PASSWORD
from bench.stack import cpu_lines, cpu_per_request_ms, cpu_seconds_by_part, server_side

NAME = "unchanged_poll"
TARGET_RATIO = 1.5  # an unchanged poll costs at most 1.5 times a bare hello


def _invoices(bench, subscription_ids: list[int]) -> dict[int, int]:
    """Each subscription's newest invoice: the invoice page its owner would be watching."""
    from portal.billing.models import Invoice
    from portal.extensions import db

    app = bench.app(bench.main_url)
    with app.app_context():
        found = dict(db.session.execute(select(Invoice.subscription_id, func.max(Invoice.id))
                                        .where(Invoice.subscription_id.in_(subscription_ids))
                                        .group_by(Invoice.subscription_id)).all())
        db.engine.dispose()
    return found


def _held_version(base_url: str, target: Target) -> Target:
    """The target as a browser holds it after one rendered poll: with that answer's ETag."""
    answer = requests.get(base_url + target.path, headers={"Cookie": target.cookie, "HX-Request": "true"},
                          allow_redirects=False, timeout=30)
    if answer.status_code not in (200, 286) or not answer.headers.get("ETag"):
        raise RuntimeError(f"{target.path} answered {answer.status_code} without a version to hold")
    # As a browser would: a cookie the answer sets (the session, once it holds its first form token) is sent on.
    cookies = dict(part.split("=", 1) for part in target.cookie.split("; ") if "=" in part)
    cookies.update(answer.cookies.get_dict())
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return Target(target.page, target.path, cookie, True, answer.headers["ETag"])


def run(bench) -> dict:
    settings = bench.settings
    web = bench.main_web()
    customers = bench.load_customers(settings.load_users)
    cookies = login_all(web.url, [email for email, _ in customers], PASSWORD)
    invoices = _invoices(bench, [sid for _, sid in customers])
    polls = []
    for email, subscription_id in customers:
        cookie = cookies[email]
        polls += [Target("instance status", f"/instances/{subscription_id}", cookie, True),
                  Target("dashboard cards", "/", cookie, True)]
        if subscription_id in invoices:
            polls.append(Target("invoice status", f"/billing/invoices/{invoices[subscription_id]}", cookie, True))
    polls = [_held_version(web.url, target) for target in polls]
    hello = Target("hello", "/bench-hello")

    def measured(chooser, seconds):
        settle(web.url)
        before = cpu_seconds_by_part(bench.stack)
        result = open_loop(web.url, settings.pages_rate, seconds, chooser)
        return result, cpu_per_request_ms(before, cpu_seconds_by_part(bench.stack), len(result.all_latencies))

    open_loop(web.url, settings.warmup_rate, settings.warmup_seconds, lambda i: polls[i % len(polls)])
    unchanged, poll_cpu_ms = measured(lambda i: polls[i % len(polls)], settings.pages_seconds)
    bare, hello_cpu_ms = measured(lambda i: hello, settings.hello_seconds)
    ratio = round(server_side(poll_cpu_ms) / server_side(hello_cpu_ms), 2) if server_side(hello_cpu_ms) else None
    # The web workers alone: PostgreSQL's share counts every backend on the machine, busy or not with this run.
    web_ratio = round(poll_cpu_ms["web"] / hello_cpu_ms["web"], 2) if hello_cpu_ms.get("web") else None
    figures, rate = unchanged.figures(), f"{settings.pages_rate:g}/s"
    not_modified = figures["statuses"].get("304", 0)
    table = [{"figure": f"{page} p50 / p99 at {rate}, unchanged", "value": f"{f['p50_ms']} / {f['p99_ms']}",
              "unit": "ms"} for page, f in figures["pages"].items()]
    table += [{"figure": "answered 304", "value": f"{not_modified} of {figures['all']['count']}"},
              *cpu_lines(f"an unchanged poll at {rate}", poll_cpu_ms),
              *cpu_lines(f"bare hello at {rate}", hello_cpu_ms),
              {"figure": "web workers' CPU per unchanged poll / per hello", "value": web_ratio, "unit": "x"}]
    return {
        "fragments": sorted({target.page for target in polls}), "polls_held": len(polls), "at_rate": figures,
        "hello": bare.figures(), "answered_304": not_modified, "cpu_ms_per_poll": poll_cpu_ms,
        "cpu_ms_per_hello": hello_cpu_ms, "server_cpu_ms_per_poll": server_side(poll_cpu_ms),
        "server_cpu_ms_per_hello": server_side(hello_cpu_ms), "web_cpu_ratio": web_ratio,
        "ratios": {"unchanged_poll_cpu": ratio}, "table": table,
        "targets": [{"figure": "server CPU per unchanged poll / per hello", "value": ratio, "unit": "x",
                     "target": f"<= {TARGET_RATIO:g}x", "met": ratio is not None and ratio <= TARGET_RATIO}],
    }

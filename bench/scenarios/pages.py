"""Pages under load: logged-in customers (and one staff member) at a fixed arrival rate, the realistic mix.

Figures: p50/p95/p99 per page at the nominal rate, the same for the bare `/bench-hello` route on the same
server at the same rate (and the ratio), the highest rate of a ramp at which p99 stays under 200 ms for the mix and
for the bare hello, and the generator's share of the machine's CPU (it runs on the same 2 cores). Into the run's
`ratios`: the mix's server CPU per request over hello's (`pages_mix_cpu`), its p99 over hello's at the same rate
(`pages_mix_p99`), and its highest rate within 200 ms over hello's (`mix_max_rate_fraction`).
"""
import random

from bench.loadgen import Target, login_all, open_loop, settle
from bench.seed import PASSWORD, STAFF_EMAIL
from bench.stack import cpu_lines, cpu_per_request_ms, cpu_seconds_by_part, server_side

NAME = "pages"
# (page, weight): what a customer does most is glance at the dashboard and at polling fragments.
MIX = (("dashboard", 20), ("instance page", 15), ("status fragment", 25), ("log fragment", 10),
       ("billing page", 15), ("admin subscriptions", 15))
RAMP_LIMIT_MS = 200.0


def _targets(customers: list[tuple[str, int]], cookies: dict[str, str]) -> list:
    """Every request the mix may make, by page: each customer's own pages, the staff list."""
    by_page = {page: [] for page, _ in MIX}
    for email, subscription_id in customers:
        cookie = cookies[email]
        by_page["dashboard"].append(Target("dashboard", "/", cookie))
        by_page["instance page"].append(Target("instance page", f"/instances/{subscription_id}", cookie))
        by_page["status fragment"].append(Target("status fragment", f"/instances/{subscription_id}", cookie, True))
        by_page["log fragment"].append(Target("log fragment", f"/instances/{subscription_id}/logs", cookie, True))
        by_page["billing page"].append(Target("billing page", "/billing", cookie))
    by_page["admin subscriptions"].append(Target("admin subscriptions", "/admin/subscriptions?state=active",
                                                 cookies[STAFF_EMAIL]))
    return by_page


def _picker(by_page: dict, seed: int):
    rng = random.Random(seed)
    pages = [page for page, _ in MIX]
    weights = [weight for _, weight in MIX]
    choices = [rng.choice(by_page[page]) for page in rng.choices(pages, weights, k=50_000)]
    return lambda i: choices[i % len(choices)]


def run(bench) -> dict:
    settings = bench.settings
    web = bench.main_web()
    customers = bench.load_customers(settings.load_users)  # [(email, active subscription id)], pods loaded
    cookies = login_all(web.url, [email for email, _ in customers] + [STAFF_EMAIL], PASSWORD)
    by_page = _targets(customers, cookies)
    pick = _picker(by_page, seed=11)
    hello = Target("hello", "/bench-hello")

    open_loop(web.url, settings.warmup_rate, settings.warmup_seconds, pick)  # warm caches and pools, not recorded

    def measured(rate, seconds, chooser):
        """One open-loop run after the server settled, with the CPU each process spent per answered request."""
        settle(web.url)
        before = cpu_seconds_by_part(bench.stack)
        run_result = open_loop(web.url, rate, seconds, chooser)
        return run_result, cpu_per_request_ms(before, cpu_seconds_by_part(bench.stack),
                                              len(run_result.all_latencies))

    at_rate, cpu_ms = measured(settings.pages_rate, settings.pages_seconds, pick)
    bare, hello_cpu_ms = measured(settings.pages_rate, settings.hello_seconds, lambda i: hello)

    def ramped(rates, chooser):
        """Step up the rate until p99 passes 200 ms (or 1 % fail): the steps, the highest passing rate and its CPU."""
        steps, top, top_cpu_ms = [], None, None
        for rate in rates:
            step, step_cpu_ms = measured(rate, settings.ramp_seconds, chooser)
            p99 = step.p99_ms()
            ok = p99 is not None and p99 < RAMP_LIMIT_MS and step.error_count <= 0.01 * rate * settings.ramp_seconds
            steps.append({"rate_per_s": rate, "p99_ms": round(p99, 2) if p99 else None, "errors": step.error_count,
                          "achieved_rate_per_s": step.figures()["achieved_rate_per_s"],
                          "generator_cpu_share_pct": step.figures()["generator_cpu_share_pct"],
                          "cpu_ms_per_request": step_cpu_ms, "ok": ok})
            if not ok:
                break
            top, top_cpu_ms = rate, step_cpu_ms
        return steps, top, top_cpu_ms

    ramp, highest, highest_cpu_ms = ramped(settings.ramp_rates, pick)
    # The same ramp for the bare hello: the mix's capacity as a share of the floor's, on this machine, now.
    hello_ramp, hello_highest, _ = ramped(settings.hello_ramp_rates, lambda i: hello)
    # Beyond the last step hello's limit is unknown: the fraction is then an upper bound, and says so.
    hello_capped = bool(hello_ramp) and hello_ramp[-1]["ok"]
    fraction = round((highest or 0) / hello_highest, 2) if hello_highest else None

    figures = at_rate.figures()
    hello_figures = bare.figures()
    page_p99 = figures["all"]["p99_ms"]
    hello_p99 = hello_figures["all"]["p99_ms"]
    cpu_ratio = round(server_side(cpu_ms) / server_side(hello_cpu_ms), 2) if server_side(hello_cpu_ms) else None
    p99_ratio = round(page_p99 / hello_p99, 2) if page_p99 is not None and hello_p99 else None
    rate = f"{settings.pages_rate:g}/s"
    table = [{"figure": f"{page} p50 / p95 / p99 at {rate}",
              "value": f"{f['p50_ms']} / {f['p95_ms']} / {f['p99_ms']}", "unit": "ms"}
             for page, f in figures["pages"].items()]
    table += [{"figure": f"bare hello p50 / p99 at {rate}",
               "value": f"{hello_figures['all']['p50_ms']} / {hello_figures['all']['p99_ms']}", "unit": "ms"},
              {"figure": "mix / hello, p50 and p99", "value": "{} / {}".format(
                  round(figures["all"]["p50_ms"] / hello_figures["all"]["p50_ms"], 1),
                  round(page_p99 / hello_figures["all"]["p99_ms"], 1)), "unit": "x"},
              {"figure": f"generator CPU share at {rate} (machine busy)",
               "value": f"{figures['generator_cpu_share_pct']} % ({figures['machine_busy_pct']} %)"},
              *cpu_lines(f"the mix at {rate}", cpu_ms),
              *cpu_lines(f"the mix at {highest or 0:g}/s (highest rate within 200 ms)", highest_cpu_ms),
              *cpu_lines(f"bare hello at {rate}", hello_cpu_ms),
              {"figure": "server CPU per request, the mix / hello", "value": cpu_ratio, "unit": "x"},
              {"figure": "highest rate within 200 ms, the mix / bare hello",
               "value": f"{highest or 0:g} / {'>= ' if hello_capped else ''}{hello_highest or 0:g}", "unit": "req/s"},
              {"figure": f"p99 of the mix / of bare hello at {rate}", "value": f"{page_p99} / {hello_p99}",
               "unit": "ms"}]
    return {
        "mix": dict(MIX), "logged_in_customers": len(customers), "at_rate": figures, "hello": hello_figures,
        "ratio_to_hello_p50": round(figures["all"]["p50_ms"] / hello_figures["all"]["p50_ms"], 1),
        "ratio_to_hello_p99": round(page_p99 / hello_figures["all"]["p99_ms"], 1),
        "ramp": ramp, "highest_rate_p99_under_200ms": highest or 0,
        "hello_ramp": hello_ramp, "hello_highest_rate_p99_under_200ms": hello_highest or 0,
        "hello_ramp_capped": hello_capped, "server_cpu_ms_per_request": server_side(cpu_ms),
        "server_cpu_ms_per_hello": server_side(hello_cpu_ms),
        "ratios": {"pages_mix_cpu": cpu_ratio, "pages_mix_p99": p99_ratio, "mix_max_rate_fraction": fraction},
        "generator_cpu_share_pct": figures["generator_cpu_share_pct"], "cpu_ms_per_request": cpu_ms,
        "cpu_ms_per_request_at_highest_rate": highest_cpu_ms, "cpu_ms_per_hello": hello_cpu_ms, "table": table,
        # The targets are ratios to hello (bench/run.py RATIO_TARGETS); these absolute figures are for the record.
        "targets": [],
    }

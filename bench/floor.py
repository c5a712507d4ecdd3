"""`python -m bench.floor DATABASE_URL`: CPU per request of each page and of a bare hello, in one process.

The web worker's side of the bench's account, without sockets or a load generator: the app exactly as gunicorn
serves it (`bench.hello`), Flask's test client, the emulated cluster in its own process, a database seeded by
`bench.seed` (`python -m bench --smoke --only webhook --keep --database NAME` leaves one). Rounds alternate the
pages, so a machine whose speed changes within the minute moves every page alike; medians of CPU time
(`time.process_time`), and the RSS after each page. Run it from two checkouts back to back (the committed code and
the working tree) to put a change's before and after side by side.
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per-round", type=int, default=25)
    parser.add_argument("--redis-db", type=int, default=2)
    parser.add_argument("--trace", help="a page name: print the statements and transactions of one request")
    parser.add_argument("--profile", help="a page name: profile it with pyinstrument instead")
    args = parser.parse_args(argv)

    import psutil

    from bench import stack as stacks
    from bench.run import SMOKE, Bench
    from bench.seed import PASSWORD, STAFF_EMAIL

    os.environ.setdefault("PORTAL_INSTANCE_DIR", tempfile.mkdtemp(prefix="portal-floor-"))
    stack = stacks.Stack(name="floor", redis_db=args.redis_db)
    bench = Bench(settings=SMOKE, stack=stack, template="", main_url=args.database_url)
    process = psutil.Process()
    try:
        bench._main["kube"] = stack.start_kube()
        customers = bench.load_customers(4)
        os.environ.update(stack.env(args.database_url, bench._main["kube"].url))
        rss_before_import = process.memory_info().rss
        from bench.hello import app

        rss_app = process.memory_info().rss
        clients = {}
        for email in [e for e, _ in customers] + [STAFF_EMAIL]:
            client = app.test_client()
            token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
            answer = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
            assert answer.status_code == 303, (email, answer.status_code)
            clients[email] = client
        email, sid = customers[0]
        me = clients[email]
        htmx = {"HX-Request": "true"}
        etag = me.get(f"/instances/{sid}", headers=htmx).headers.get("ETag")
        pages = {
            "hello": (me, "/bench-hello", {}),
            "dashboard": (me, "/", {}),
            "instance page": (me, f"/instances/{sid}", {}),
            "status fragment": (me, f"/instances/{sid}", htmx),
            "log fragment": (me, f"/instances/{sid}/logs", htmx),
            "billing page": (me, "/billing", {}),
            "admin subscriptions": (clients[STAFF_EMAIL], "/admin/subscriptions?state=active", {}),
            "unchanged status poll": (me, f"/instances/{sid}", {**htmx, "If-None-Match": etag or ""}),
        }
        if args.trace:
            from sqlalchemy import event

            from portal.extensions import db

            client, path, headers = pages[args.trace]
            with app.app_context():
                engine = db.engine
            for hook in ("begin", "commit", "rollback"):
                event.listen(engine, hook, lambda *a, hook=hook: print("  ", hook.upper()))
            event.listen(engine, "before_cursor_execute",
                         lambda conn, cursor, statement, *a: print("  ", " ".join(statement.split())[:150]))
            print(args.trace, client.get(path, headers=headers).status_code)
            return 0
        if args.profile:
            from pyinstrument import Profiler

            client, path, headers = pages[args.profile]
            for _ in range(20):
                client.get(path, headers=headers)
            if os.environ.get("FLOOR_CPROFILE"):
                import cProfile
                import pstats

                profile = cProfile.Profile(time.process_time)
                profile.enable()
                for _ in range(args.rounds * args.per_round):
                    client.get(path, headers=headers)
                profile.disable()
                pstats.Stats(profile).sort_stats(os.environ["FLOOR_CPROFILE"]).print_stats(45)
                return 0
            profiler = Profiler(interval=0.0002)
            profiler.start()
            for _ in range(args.rounds * args.per_round):
                client.get(path, headers=headers)
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=True))
            return 0
        samples = {name: [] for name in pages}
        rss = {}
        for name, (client, path, headers) in pages.items():  # warm: templates compiled, pools filled
            for _ in range(5):
                status = client.get(path, headers=headers).status_code
            assert status in (200, 286, 304), (name, status)
        for _ in range(args.rounds):
            for name, (client, path, headers) in pages.items():
                for _ in range(args.per_round):
                    began = time.process_time()
                    client.get(path, headers=headers)
                    samples[name].append(time.process_time() - began)
                rss[name] = round(process.memory_info().rss / 2**20, 1)
        hello = statistics.median(samples["hello"])
        mix = {"dashboard": 20, "instance page": 15, "status fragment": 25, "log fragment": 10, "billing page": 15,
               "admin subscriptions": 15}
        medians = {name: statistics.median(values) for name, values in samples.items()}
        weighted = sum(medians[name] * weight for name, weight in mix.items()) / sum(mix.values())
        report = {name: {"cpu_ms": round(value * 1000, 3), "over_hello": round(value / hello, 2),
                         "rss_mib": rss[name]} for name, value in medians.items()}
        report["weighted mix"] = {"cpu_ms": round(weighted * 1000, 3), "over_hello": round(weighted / hello, 2)}
        report["rss_mib"] = {"before import": round(rss_before_import / 2**20, 1), "app": round(rss_app / 2**20, 1),
                             "end": round(process.memory_info().rss / 2**20, 1)}
        print(json.dumps(report, indent=1))
        return 0
    finally:
        stack.stop_all()


if __name__ == "__main__":
    sys.exit(main())

"""Memory: peak RSS of a gunicorn worker and of the Huey consumer, sampled every 0.2 s through the whole run."""
NAME = "memory"
WEB_WORKER_TARGET_MIB = 200  # issue 20: a web worker through the pages scenario (384 MiB before)


def run(bench) -> dict:
    peaks = bench.stack.sampler.peaks
    overall = peaks.get("all", {})
    per_scenario = {scenario: {role: round(mib, 1) for role, mib in roles.items()}
                    for scenario, roles in peaks.items() if scenario != "all"}
    web, consumer = overall.get("web worker"), overall.get("consumer")
    through_pages = per_scenario.get("pages", {}).get("web worker")
    targets = []
    if through_pages is not None:
        targets.append({"figure": "peak RSS of a web worker through the pages scenario", "value": through_pages,
                        "unit": "MiB", "target": f"<= {WEB_WORKER_TARGET_MIB} MiB",
                        "met": through_pages <= WEB_WORKER_TARGET_MIB})
    return {"peak_rss_mib": {role: round(mib, 1) for role, mib in overall.items()}, "by_scenario": per_scenario,
            "table": [{"figure": "peak RSS of a web worker", "value": round(web, 1) if web else None, "unit": "MiB"},
                      {"figure": "peak RSS of the consumer", "value": round(consumer, 1) if consumer else None,
                       "unit": "MiB"}],
            "targets": targets}

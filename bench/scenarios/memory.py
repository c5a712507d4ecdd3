"""Memory: peak RSS of a gunicorn worker and of the Huey consumer, sampled every 0.2 s through the whole run."""
NAME = "memory"


def run(bench) -> dict:
    peaks = bench.stack.sampler.peaks
    overall = peaks.get("all", {})
    per_scenario = {scenario: {role: round(mib, 1) for role, mib in roles.items()}
                    for scenario, roles in peaks.items() if scenario != "all"}
    web, consumer = overall.get("web worker"), overall.get("consumer")
    return {"peak_rss_mib": {role: round(mib, 1) for role, mib in overall.items()}, "by_scenario": per_scenario,
            "table": [{"figure": "peak RSS of a web worker", "value": round(web, 1) if web else None, "unit": "MiB"},
                      {"figure": "peak RSS of the consumer", "value": round(consumer, 1) if consumer else None,
                       "unit": "MiB"}]}

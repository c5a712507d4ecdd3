"""`python -m bench.merge A.json B.json -o OUT.json`: one results file from runs of different scenarios.

For runs split by `--only` (e.g. the watcher's sizes beside the rest, when one run would not fit the time at
hand): the scenarios, `ratios` and `watch` of each run are gathered (a later file wins for a key both hold),
`run` keeps the first run's facts and lists every run's under `runs`, and the targets are judged again.
"""
import argparse
import json
import sys
from pathlib import Path

from bench.run import ratio_verdicts, table, targets_table, watch_verdicts


def merge(runs: list[dict]) -> dict:
    merged = {"run": {**runs[0]["run"], "merged_from": len(runs)}, "runs": [run["run"] for run in runs],
              "scenarios": {}}
    for run in runs:
        merged["scenarios"].update(run.get("scenarios", {}))
        for key in ("ratios", "watch"):
            if run.get(key):
                merged.setdefault(key, {}).update(run[key])
    merged["targets"] = ratio_verdicts(merged) + watch_verdicts(merged)
    return merged


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.merge", description=__doc__)
    parser.add_argument("inputs", nargs="+", help="results files, in order")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    merged = merge([json.loads(Path(name).read_text()) for name in args.inputs])
    Path(args.output).write_text(json.dumps(merged, indent=2, default=str) + "\n")
    print(targets_table(merged))
    print()
    print(table(merged))
    print(f"\nWritten to {args.output} (from {', '.join(args.inputs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

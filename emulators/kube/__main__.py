"""`python -m emulators.kube --port 8001 --ready-delay 3`: serve the emulated cluster until Ctrl-C."""
import argparse
import sys

from ..serving import serve_until_signal
from .cluster import EmulatedCluster


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.kube",
                                     description="Serve an emulated Kubernetes API (no real containers run).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--ready-delay", type=float, default=2.0, help="seconds from scheduling to Ready")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--namespace-grace", type=float, default=1.0,
                        help="seconds a deleted namespace stays Terminating")
    parser.add_argument("--state-file", help="keep the cluster in this file: loaded at start when it exists, "
                                             "saved while serving (objects survive a restart)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    cluster = EmulatedCluster(ready_delay=args.ready_delay, node_count=args.nodes,
                              namespace_grace=args.namespace_grace, verbose=args.verbose,
                              state_file=args.state_file)
    banner = ["Emulated Kubernetes API (portal emulator, no real containers) at {url}",
              "Controls: {url}/_emulator   Ctrl-C stops it."]
    if args.state_file:
        kept = f"State: {args.state_file} ({'restored' if cluster.restored else 'a new cluster'})"
        banner.append(kept.replace("{", "{{").replace("}", "}}"))
    return serve_until_signal(cluster, args.host, args.port, banner)

if __name__ == "__main__":
    sys.exit(main())

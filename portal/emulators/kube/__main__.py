"""`python -m portal.emulators.kube --port 8001 --ready-delay 3`: serve the emulated cluster until Ctrl-C."""
import argparse
import signal
import sys

from .cluster import EmulatedCluster


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.emulators.kube",
                                     description="Serve an emulated Kubernetes API (no real containers run).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--ready-delay", type=float, default=2.0, help="seconds from scheduling to Ready")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--namespace-grace", type=float, default=1.0,
                        help="seconds a deleted namespace stays Terminating")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    cluster = EmulatedCluster(ready_delay=args.ready_delay, node_count=args.nodes,
                              namespace_grace=args.namespace_grace, verbose=args.verbose)
    try:
        cluster.start(host=args.host, port=args.port)
    except OSError as error:
        print(f"Cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2

    def stop(*_):
        cluster.stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    print(f"Emulated Kubernetes API (portal emulator, no real containers) at {cluster.url}", flush=True)
    print(f"Controls: {cluster.url}/_emulator   Ctrl-C stops it.", flush=True)
    cluster.serve_forever()
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

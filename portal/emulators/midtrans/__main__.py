"""`python -m portal.emulators.midtrans --port 8002 --server-key KEY`: serve the Midtrans emulator until Ctrl-C."""
import argparse
import signal
import sys

from .emulator import MidtransEmulator


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.emulators.midtrans",
                                     description="Serve an emulated Midtrans Snap + status API (no real payments).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002, help="0 picks a free port")
    parser.add_argument("--server-key", default="SB-Mid-server-emulator",
                        help="the key clients must send as HTTP Basic user name")
    parser.add_argument("--merchant-id", default="G000000000")
    parser.add_argument("--timeout-sleep", type=float, default=5.0,
                        help='seconds an injected "timeout" failure hangs before answering 504')
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    emulator = MidtransEmulator(server_key=args.server_key, merchant_id=args.merchant_id,
                                timeout_sleep=args.timeout_sleep, verbose=args.verbose)
    try:
        emulator.start(host=args.host, port=args.port)
    except OSError as error:
        print(f"Cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2

    def stop(*_):
        emulator.stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    print(f"Emulated Midtrans (portal emulator, no real payments) at {emulator.url}", flush=True)
    print(f"Snap base URL: {emulator.url}/snap/v1   Core API base URL: {emulator.url}", flush=True)
    print(f"Controls: {emulator.url}/_emulator   Ctrl-C stops it.", flush=True)
    emulator.serve_forever()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

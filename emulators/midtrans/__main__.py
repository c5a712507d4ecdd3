"""`python -m emulators.midtrans --port 8002 --server-key KEY`: serve the Midtrans emulator until Ctrl-C."""
import argparse
import sys

from ..serving import serve_until_signal
from .emulator import MidtransEmulator


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.midtrans",
                                     description="Serve an emulated Midtrans Snap + status API (no real payments).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002, help="0 picks a free port")
    parser.add_argument("--server-key", default="SB-Mid-server-emulator",
                        help="the key clients must send as HTTP Basic user name")
    parser.add_argument("--merchant-id", default="G000000000")
    parser.add_argument("--timeout-sleep", type=float, default=5.0,
                        help='seconds an injected "timeout" failure hangs before answering 504')
    parser.add_argument("--notification-url", default=None,
                        help="the merchant's Payment Notification URL: changes made through the Core API "
                             "(cancel, expire, approve, deny) and the dashboard's decisions are posted there")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    emulator = MidtransEmulator(server_key=args.server_key, merchant_id=args.merchant_id,
                                timeout_sleep=args.timeout_sleep, verbose=args.verbose,
                                notification_url=args.notification_url)
    return serve_until_signal(emulator, args.host, args.port, [
        "Emulated Midtrans (portal emulator, no real payments) at {url}",
        "Snap base URL: {url}/snap/v1   Core API base URL: {url}",
        "Controls: {url}/_emulator   Ctrl-C stops it."])

if __name__ == "__main__":
    sys.exit(main())

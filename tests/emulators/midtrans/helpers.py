"""Helpers the Midtrans emulator tests share: keys, request bodies, signature checks, a webhook receiver."""
import hashlib
import itertools
import json
import threading

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

SERVER_KEY = "SB-Mid-server-test"
MERCHANT_ID = "G000000000"
_orders = itertools.count(1)


def sha512_signature(order_id: str, status_code: str, gross_amount: str, server_key: str = SERVER_KEY) -> str:
    """What a merchant computes to check a Midtrans body (written out here, not taken from the emulator)."""
    return hashlib.sha512((order_id + status_code + gross_amount + server_key).encode()).hexdigest()


def signature_ok(body: dict, server_key: str = SERVER_KEY) -> bool:
    return body["signature_key"] == sha512_signature(body["order_id"], body["status_code"], body["gross_amount"],
                                                     server_key)


def new_order_id() -> str:
    return f"INV-{next(_orders):04d}.test_~x"


def snap_body(order_id: str, amount: int = 99000, **extra) -> dict:
    body = {"transaction_details": {"order_id": order_id, "gross_amount": amount},
            "item_details": [{"id": "wordpress-small", "price": amount, "quantity": 1, "name": "WordPress (small)"}],
            "customer_details": {"first_name": "Budi", "email": "budi@example.co.id"}}
    body.update(extra)
    return body


class WebhookReceiver:
    """A tiny portal stand-in on loopback: records each POST and answers with `reply_status`."""

    def __init__(self):
        self.received: list[dict] = []
        self.reply_status = 200
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}/payments/midtrans/notification"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def _app(self, environ, start_response):
        request = Request(environ)
        self.received.append({"method": request.method, "path": request.path,
                              "content_type": request.mimetype, "json": json.loads(request.get_data() or b"null")})
        return Response("OK", status=self.reply_status)(environ, start_response)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Quiet(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        pass

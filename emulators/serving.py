"""What both emulators share: serving a WSGI app on loopback in a thread, the fail-next rule, the JSON
helpers of their /_emulator controls, and running one from the command line until a signal."""
import abc
import json
import signal
import sys
import threading
from dataclasses import dataclass

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        pass


class LoopbackServer(abc.ABC):
    """start() serves `wsgi_app()` on a thread; stop() wakes requests sleeping in an injected timeout."""

    thread_name = "emulator"

    def __init__(self, *, verbose: bool = False):
        self.stopping = threading.Event()
        self.verbose = verbose
        self._server = None
        self._thread = None
        self.url = None

    @abc.abstractmethod
    def wsgi_app(self):
        """The WSGI application each emulator serves (its API and its /_emulator controls)."""

    def start(self, host: str = "127.0.0.1", port: int = 0):
        if self._server is not None:
            raise RuntimeError(f"the {self.thread_name} is already serving")
        self.stopping.clear()
        handler = WSGIRequestHandler if self.verbose else _QuietHandler
        self._server = make_server(host, port, self.wsgi_app(), threaded=True, request_handler=handler)
        self.url = f"http://{host}:{self._server.server_port}"
        # A short poll interval keeps stop() quick (tests start and stop many emulators).
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Block until stop() (from another thread or a signal handler)."""
        self.stopping.wait()

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self):
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def serve_until_signal(server: LoopbackServer, host: str, port: int, banner: list[str]) -> int:
    """`python -m ...`: serve until Ctrl-C or SIGTERM, printing `banner` (with {url}) once listening."""
    try:
        server.start(host=host, port=port)
    except OSError as error:
        print(f"Cannot listen on {host}:{port}: {error}", file=sys.stderr)
        return 2
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.stopping.set())
    for line in banner:
        print(line.format(url=server.url), flush=True)
    server.serve_forever()
    server.stop()
    return 0


@dataclass
class FailRule:
    """The next `remaining` API calls matching method and path answer `status` instead."""
    remaining: int
    status: object
    method: str | None = None
    path_contains: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return ((self.method is None or self.method.upper() == method.upper())
                and (self.path_contains is None or self.path_contains in path))


def json_response(body, code: int = 200) -> Response:
    return Response(json.dumps(body), status=code, content_type="application/json")


def problem(message: str, code: int = 400) -> Response:
    return json_response({"error": message}, code)


def control_body(request: Request, aliases: dict[str, str]) -> dict:
    """A control's JSON object, camelCase keys mapped to the emulator's names."""
    if not request.get_data():
        return {}
    body = json.loads(request.get_data())
    if not isinstance(body, dict):
        raise TypeError("the body must be a JSON object")
    return {aliases.get(key, key): value for key, value in body.items()}

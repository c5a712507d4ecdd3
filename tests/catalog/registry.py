"""A small image registry on loopback, answering as Docker Hub does: a 401 Bearer challenge naming its token
service, anonymous pull tokens scoped to a repository, and manifests by tag with Docker-Content-Digest, chosen by
the Accept header (an index for clients that ask for one, a single-platform or schema-1 manifest otherwise)."""
import hashlib
import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

INDEX = "application/vnd.oci.image.index.v1+json"
LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
SINGLE = "application/vnd.docker.distribution.manifest.v2+json"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SERVICE = "registry.loopback.test"
_MANIFEST_PATH = re.compile(r"^/v2/(?P<repository>.+)/manifests/(?P<reference>[^/]+)$")


def manifest_bytes(repository: str, tag: str, media_type: str) -> bytes:
    """A manifest body for the repository and tag; its digest is the sha256 of these bytes, as in any registry."""
    return json.dumps({"schemaVersion": 1 if media_type == SCHEMA1 else 2, "mediaType": media_type,
                       "annotations": {"repository": repository, "tag": tag}}, sort_keys=True).encode()


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


class LoopbackRegistry:
    def __init__(self, tags: dict[str, list[str]]):
        self.tags = tags  # repository -> tags it has
        self.requests: list[dict] = []
        self.tokens: dict[str, str] = {}  # token -> scope
        self.refuse_tokens = False
        self.rate_limited = False
        self.omit_digest_header = False
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                registry.answer(self, "GET")

            def do_HEAD(self):
                registry.answer(self, "HEAD")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "LoopbackRegistry":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def expected_digest(self, repository: str, tag: str) -> str:
        return digest_of(manifest_bytes(repository, tag, INDEX))

    # -- answering -------------------------------------------------------------------------------------------------

    def answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(handler.path)
        self.requests.append({"method": method, "path": url.path, "query": parse_qs(url.query),
                              "accept": handler.headers.get("Accept", ""),
                              "authorization": handler.headers.get("Authorization", "")})
        if url.path == "/token" and method == "GET":
            return self._token(handler, parse_qs(url.query))
        match = _MANIFEST_PATH.match(url.path)
        if not match:
            return self._send(handler, method, 404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
        repository, reference = match["repository"], match["reference"]
        scope = f"repository:{repository}:pull"
        token = handler.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.tokens.get(token) != scope:
            challenge = f'Bearer realm="{self.url}/token",service="{SERVICE}",scope="{scope}"'
            return self._send(handler, method, 401, {"errors": [{"code": "UNAUTHORIZED",
                                                                 "message": "authentication required"}]},
                              {"WWW-Authenticate": challenge})
        if self.rate_limited:
            return self._send(handler, method, 429, {"errors": [{"code": "TOOMANYREQUESTS",
                                                                 "message": "You have reached your pull rate limit."}]})
        if reference not in self.tags.get(repository, []):
            return self._send(handler, method, 404, {"errors": [{"code": "MANIFEST_UNKNOWN",
                                                                 "message": "manifest unknown"}]})
        accepted = [part.split(";")[0].strip() for part in handler.headers.get("Accept", "").split(",")]
        media_type = next((t for t in (INDEX, LIST, SINGLE) if t in accepted), SCHEMA1)
        body = manifest_bytes(repository, reference, media_type)
        headers = {"Content-Type": media_type}
        if not self.omit_digest_header:
            headers["Docker-Content-Digest"] = digest_of(body)
        self._send_bytes(handler, method, 200, body, headers)

    def _token(self, handler, query: dict) -> None:
        if self.refuse_tokens:
            return self._send(handler, "GET", 401, {"details": "incorrect username or password"})
        if query.get("service") != [SERVICE] or not query.get("scope"):
            return self._send(handler, "GET", 400, {"details": "service and scope are required"})
        token = secrets.token_hex(16)
        self.tokens[token] = query["scope"][0]
        self._send(handler, "GET", 200, {"token": token, "access_token": token, "expires_in": 300})

    def _send(self, handler, method: str, status: int, body: dict, headers: dict | None = None) -> None:
        self._send_bytes(handler, method, status, json.dumps(body).encode(),
                         {"Content-Type": "application/json", **(headers or {})})

    @staticmethod
    def _send_bytes(handler, method: str, status: int, body: bytes, headers: dict) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(body)

"""`/_ingress/<host>/`: what the emulated cluster's ingress answers for a host, a placeholder page in place of the app.

No DNS points at an emulated address, and no real container runs behind it, so the page says what a real
cluster would route there: the Ingress the portal applied, its backend Service and whether pods are ready.
"""
from html import escape

from werkzeug.wrappers import Request, Response

from .workloads import is_ready

PREFIX = "/_ingress/"
# The page stands alone: no script, nothing fetched, its own small style.
_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                                       "form-action 'none'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
_STYLE = ("body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}"
          "h1{font-size:1.5rem}.note{background:#f3f6fa;border-left:4px solid #6c8ebf;padding:.75rem 1rem}"
          "dt{font-weight:600;margin-top:.5rem}dd{margin:0}")


def handle(state, request: Request) -> Response:
    host = request.path[len(PREFIX):].split("/", 1)[0].lower()
    with state.lock:
        state.settle()
        found = _route(state, host)
    if found is None:
        return _page(404, "No such address on the emulated cluster",
                     f"<p>The emulated cluster has no Ingress for <strong>{escape(host)}</strong>. "
                     f"An instance gets one while it is being set up and loses it when it is suspended or "
                     f"cancelled.</p>")
    ingress, service, port, ready, total = found
    redirect = (ingress["metadata"].get("annotations") or {}).get("nginx.ingress.kubernetes.io/permanent-redirect")
    if redirect:
        # ingress-nginx answers 301 with the annotation's target (permanent-redirect-code changes the code).
        return Response("", status=301, headers={**_HEADERS, "Location": redirect})
    labels = ingress["metadata"].get("labels") or {}
    app = labels.get("app.kubernetes.io/name", "the app")
    details = (f"<dl><dt>Address</dt><dd>https://{escape(host)}</dd>"
               f"<dt>App</dt><dd data-app>{escape(app)}</dd>"
               f"<dt>Ingress</dt><dd>{escape(ingress['metadata']['namespace'])}/"
               f"{escape(ingress['metadata']['name'])}</dd>"
               f"<dt>Routed to</dt><dd>service {escape(service)}, port {escape(str(port))}</dd>"
               f"<dt>Pods ready</dt><dd>{ready} of {total}</dd></dl>")
    note = ("<p class=note>This is the portal's <strong>emulated Kubernetes cluster</strong>: no real containers "
            f"run here, so {escape(app)} itself is not behind this page. With a real cluster this address "
            f"opens {escape(app)}.</p>")
    if not ready:
        return _page(503, f"{app} at {host} is not running",
                     note + "<p>No pod behind this address is ready: it is starting, restarting or "
                            "stopped.</p>" + details)
    return _page(200, f"{app} at {host}", note + details)


def _route(state, host: str):
    """The Ingress rule for the host, its backend Service and port, and how many of its pods are ready."""
    for ingress in state.items("Ingress"):
        for rule in (ingress.get("spec") or {}).get("rules") or []:
            if (rule.get("host") or "").lower() != host:
                continue
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = (path.get("backend") or {}).get("service") or {}
                port = (backend.get("port") or {}).get("number") or (backend.get("port") or {}).get("name")
                namespace = ingress["metadata"]["namespace"]
                service = state.get("Service", namespace, backend.get("name", ""))
                selector = ((service or {}).get("spec") or {}).get("selector") or {}
                pods = [pod for pod in state.items("Pod", namespace) if selector and
                        all((pod["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())]
                return ingress, backend.get("name", ""), port, sum(1 for pod in pods if is_ready(pod)), len(pods)
    return None


def _page(code: int, title: str, body: str) -> Response:
    html = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<meta name=viewport content='width=device-width, initial-scale=1'><style>{_STYLE}</style></head>"
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")
    return Response(html, status=code, content_type="text/html; charset=utf-8", headers=_HEADERS)

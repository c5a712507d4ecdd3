"""HTTP routing of the emulated API server: /version, object paths, subresources, injected failures, and the
placeholder pages its ingress serves for instance addresses. No discovery (/api, /apis): the portal's gateway
builds its paths itself."""
import sys
import traceback
from typing import NamedTuple
from urllib.parse import unquote_plus

import orjson
from werkzeug.wrappers import Request, Response

from . import controls, ingress, kinds, logs, metrics, verbs, watch, writes
from .errors import ApiError


class ApiRequest(NamedTuple):
    """One API call as received; query is URL-decoded for easy assertions."""
    method: str
    path: str
    query: str


def _json(body, code: int = 200) -> Response:
    # A real API server writes JSON in Go; json.dumps made the emulator, not the portal, most of a large list's cost.
    return Response(orjson.dumps(body), status=code, content_type="application/json")


def _error(error: ApiError) -> Response:
    return _json(error.status(), error.code)


_INJECTED = {
    500: lambda path: ApiError(500, "InternalError", f"Internal error occurred: injected failure for {path} "
                                                     f"(portal emulator fail_next)"),
    409: lambda path: ApiError(409, "Conflict", f"Operation cannot be fulfilled on {path}: the object has been "
                                                f"modified; please apply your changes to the latest version and "
                                                f"try again (portal emulator fail_next)"),
    422: lambda path: ApiError(422, "Invalid", f"{path} is invalid: spec.template.spec.containers[0].image: "
                                               f"Required value (portal emulator fail_next)"),
    403: lambda path: ApiError(403, "Forbidden", f"{path} is forbidden: exceeded quota: portal-quota, requested: "
                                                 f"limits.cpu=2, used: limits.cpu=1, limited: limits.cpu=1 "
                                                 f"(portal emulator fail_next)"),
    "timeout": lambda path: ApiError(504, "Timeout", "Timeout: request did not complete within the allotted "
                                                     "timeout (portal emulator fail_next)"),
}


class ApiServer:
    """The WSGI application; `cluster` is the EmulatedCluster that owns the state and the fault controls."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.state = cluster.state

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path == "/_emulator" or request.path.startswith("/_emulator/"):
            response = controls.handle(self.cluster, request)
        elif request.path.startswith(ingress.PREFIX):
            response = ingress.handle(self.state, request)
        else:
            self.cluster.requests.append(ApiRequest(request.method, request.path,
                                                    unquote_plus(request.query_string.decode("latin-1"))))
            response = self._serve(request)
        return response(environ, start_response)

    def _serve(self, request: Request) -> Response:
        with self.state.lock:
            rule = self.state.faults.take_failure(request.method, request.path)
        if rule is not None:
            if rule.status == "timeout":
                self.cluster.stopping.wait(self.cluster.timeout_sleep)
            return _error(_INJECTED[rule.status](request.path))
        try:
            return self._route(request)
        except ApiError as error:
            return _error(error)
        except Exception as error:  # noqa: BLE001 - a bug must reach the client as a 500, not a hang-up
            traceback.print_exc(file=sys.stderr)
            return _error(ApiError(500, "InternalError", f"Internal error occurred: {type(error).__name__}: {error}"))

    def _route(self, request: Request) -> Response:
        path = "/" + request.path.strip("/")
        if path in ("/healthz", "/livez", "/readyz"):
            return Response("ok", content_type="text/plain")
        if path == "/version":
            return _json(kinds.version_info())
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise self._not_found()
        route = self._resolve(group, version, rest)
        with self.state.lock:
            if group == "velero.io" and route.namespace == self.cluster.velero_namespace \
                    and self.state.get("Namespace", None, route.namespace) is None:
                self._velero_install(route.namespace)
            self.state.settle()
            try:
                return self._dispatch(route, request)
            finally:
                self.state.flush_events()  # a delete settles nothing after it: its event leaves now

    def _velero_install(self, namespace: str) -> None:
        """Velero's own namespace, as its install makes it (made when first used, so clusters that never see Velero
        look as they always did)."""
        writes.create(self.state, kinds.BY_KIND["Namespace"], None,
                      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, {}, "velero-install")

    @staticmethod
    def _not_found():
        raise ApiError(404, "NotFound", "the server could not find the requested resource",
                       {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})

    def _resolve(self, group: str, version: str, rest: list[str]) -> kinds.Route:
        if group == "velero.io" and not self.state.velero.installed:
            self._not_found()  # no CRDs: the group is not served at all
        if rest[0] == "namespaces" and len(rest) >= 3:
            info = kinds.lookup(group, version, rest[2])
            if info is not None and info.namespaced:
                if len(rest) > 5:
                    self._not_found()
                return kinds.Route(info, rest[1], rest[3] if len(rest) > 3 else None,
                                   rest[4] if len(rest) > 4 else None)
        info = kinds.lookup(group, version, rest[0])
        if info is None or len(rest) > 3 or (info.namespaced and len(rest) > 1):
            self._not_found()
        return kinds.Route(info, None, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None)

    def _dispatch(self, route: kinds.Route, request: Request) -> Response:
        state, info, method = self.state, route.info, request.method
        namespace, name, query = route.namespace, route.name, request.args
        agent = request.headers.get("User-Agent", "")
        raw, mimetype = request.get_data(), request.mimetype
        if not info.stored:
            if method != "GET":
                raise self._not_allowed(method)
            return _json(metrics.serve(state, info, namespace, name, query))
        if route.subresource is not None:
            if route.subresource not in info.subresources:
                self._not_found()
            if route.subresource == "log":
                if method != "GET":
                    raise self._not_allowed(method)
                pod = verbs.get_object(state, info, namespace, name)
                return Response(logs.pod_log(state, pod, query), content_type="text/plain")
            if method not in ("GET", "PATCH", "PUT"):
                raise self._not_allowed(method)
            handler = verbs.scale if route.subresource == "scale" else verbs.status
            answer = handler(state, info, namespace, name, method, raw, mimetype, query, agent)
            if method != "GET":
                state.settle()  # controllers react to a status written now (cert-manager to Issuing=True), not later
            return _json(answer)
        if name is None:
            if method == "GET" and watch.is_watch(query):
                return watch.stream(self.cluster, info, namespace, query, request.environ.get("werkzeug.socket"))
            if method == "GET":
                return _json(verbs.list_objects(state, info, namespace, query))
            if info.namespaced and namespace is None:
                raise self._not_allowed(method)
            if method == "POST":
                code, obj = writes.create(state, info, namespace, writes.parse_body(raw, True), query, agent)
                state.settle()
                return _json(obj, code)
            if method == "DELETE" and "deletecollection" in info.verbs:
                return _json(verbs.delete_collection(state, info, namespace, query, raw))
            raise self._not_allowed(method)
        if method == "GET":
            return _json(verbs.get_object(state, info, namespace, name))
        if method == "PATCH":
            code, obj = writes.patch(state, info, namespace, name, raw, mimetype, query, agent)
        elif method == "PUT":
            code, obj = writes.replace(state, info, namespace, name, raw, query, agent)
        elif method == "DELETE":
            return _json(verbs.delete_object(state, info, namespace, name, query, raw))
        else:
            raise self._not_allowed(method)
        state.settle()  # so the answer already shows what controllers did (pods made, status)
        return _json(obj, code)

    @staticmethod
    def _not_allowed(method: str) -> ApiError:
        return ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource "
                                                 f"({method})")

"""`/_emulator/...`: the emulator's own controls over HTTP, for a separate process or a browser test."""
# GET    /_emulator                    state summary (version, nodes, faults, clock, settings)
# GET    /_emulator/faults             active faults
# POST   /_emulator/faults             {"fault": "fail_next", "count": 1, "status": 500|409|"timeout",
#                                       "method": "GET", "pathContains": "/pods"}
#                                      {"fault": "crash_loop"|"never_ready"|"image_pull_fails",
#                                       "namespace": "ns", "namePrefix": "web-"}
#                                      {"fault": "print_log", "namespace": "ns", "namePrefix": "web-",
#                                       "lines": ["printed after the container's own lines"]}
#                                      {"fault": "backup_fails"|"restore_fails", "count": 1, "phase": "Failed"|
#                                       "PartiallyFailed", "namespace": "", "reason": "..."}  (Velero)
# DELETE /_emulator/faults             reset_faults()
# POST   /_emulator/velero             {"installed": false}  (the velero.io group answers 404 until true again)
# POST   /_emulator/nodes/NAME         {"ready": false}
# POST   /_emulator/clock              {"advance": 30}   (seconds added to the cluster clock)
# PATCH  /_emulator/settings           {"readyDelay": 3, "timeoutSleep": 5, "namespaceGrace": 1,
#                                       "watchWindow": 100, "bookmarkInterval": 60}
#                                      (watchWindow: changes kept for watches; older resourceVersions get 410 Gone)
# GET    /_emulator/requests           the API request log; DELETE clears it
# POST   /_emulator/certificates       {"failHost": "blog.example.com", "reason": "..."} its HTTP-01 challenge fails
#                                      (reason optional); {"delay": 2} seconds until an issuer answers
# DELETE /_emulator/certificates       every host's challenge passes again

from werkzeug.wrappers import Request, Response

from ..serving import control_body, json_response, problem

_ALIASES = {"namePrefix": "name_prefix", "pathContains": "path_contains", "readyDelay": "ready_delay",
            "timeoutSleep": "timeout_sleep", "namespaceGrace": "namespace_grace", "n": "count",
            "watchWindow": "watch_window", "bookmarkInterval": "bookmark_interval"}




def _body(request: Request) -> dict:
    return control_body(request, _ALIASES)


def handle(cluster, request: Request) -> Response:
    parts = request.path.strip("/").split("/")[1:]
    method = request.method
    try:
        body = _body(request) if method in ("POST", "PUT", "PATCH") else {}
        if not parts and method == "GET":
            return json_response(cluster.describe())
        if parts == ["faults"]:
            return _faults(cluster, method, body)
        if len(parts) == 2 and parts[0] == "nodes" and method in ("POST", "PUT", "PATCH"):
            if not isinstance(body.get("ready"), bool):
                return problem('send {"ready": true} or {"ready": false}')
            cluster.set_node_ready(parts[1], body["ready"])
            return json_response({"node": parts[1], "ready": body["ready"]})
        if parts == ["velero"] and method in ("POST", "PUT", "PATCH"):
            if not isinstance(body.get("installed"), bool):
                return problem('send {"installed": true} or {"installed": false}')
            cluster.velero_installed(body["installed"])
            return json_response({"installed": body["installed"]})
        if parts == ["clock"] and method == "POST":
            cluster.advance(float(body.get("advance", 0)))
            return json_response({"now": cluster.state.now()})
        if parts == ["settings"] and method in ("POST", "PUT", "PATCH"):
            for key in ("ready_delay", "timeout_sleep", "namespace_grace", "watch_window", "bookmark_interval"):
                if key in body:
                    setattr(cluster, key, float(body[key]))
            return json_response(cluster.describe()["settings"])
        if parts == ["certificates"] and method == "POST":
            if body.get("failHost"):
                cluster.certificate_fails(str(body["failHost"]), str(body.get("reason") or ""))
            if "delay" in body:
                cluster.certificate_delay = float(body["delay"])
            return json_response(cluster.describe()["certificates"])
        if parts == ["certificates"] and method == "DELETE":
            cluster.certificate_failures_clear()
            return json_response(cluster.describe()["certificates"])
        if parts == ["requests"] and method == "GET":
            return json_response([request._asdict() for request in list(cluster.requests)])
        if parts == ["requests"] and method == "DELETE":
            cluster.requests.clear()
            return json_response({"cleared": True})
    except KeyError as error:
        return problem(f"unknown: {error}", 404)
    except (ValueError, TypeError) as error:
        return problem(str(error))
    return problem(f"no emulator control at {method} {request.path}", 404)


def _faults(cluster, method: str, body: dict) -> Response:
    if method == "GET":
        return json_response(cluster.describe()["faults"])
    if method == "DELETE":
        cluster.reset_faults()
        return json_response({"reset": True})
    if method != "POST":
        return problem(f"{method} is not allowed on /_emulator/faults", 405)
    fault = body.pop("fault", None)
    if fault == "fail_next":
        status = body.get("status", 500)
        status = int(status) if str(status).isdigit() else status
        cluster.fail_next(int(body.get("count", 1)), status=status, method=body.get("method"),
                          path_contains=body.get("path_contains"))
    elif fault in ("crash_loop", "never_ready", "image_pull_fails"):
        if not body.get("namespace") or "name_prefix" not in body:
            return problem("a pod fault needs namespace and namePrefix")
        getattr(cluster, fault)(body["namespace"], body["name_prefix"])
    elif fault in ("backup_fails", "restore_fails"):
        options = {k: body[k] for k in ("phase", "namespace", "reason") if k in body}
        getattr(cluster, fault)(int(body.get("count", 1)), **options)
    elif fault == "print_log":
        if not body.get("namespace") or "name_prefix" not in body or not isinstance(body.get("lines"), list):
            return problem("print_log needs namespace, namePrefix and lines")
        cluster.print_log(body["namespace"], body["name_prefix"], body["lines"])
    else:
        return problem("fault must be one of fail_next, crash_loop, never_ready, image_pull_fails, print_log, "
                       "backup_fails, restore_fails")
    return json_response(cluster.describe()["faults"], 201)

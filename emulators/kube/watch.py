"""Watch streams: `?watch=1` answers newline-delimited JSON events from the retained changes, as the API server
does from etcd's history (ADDED/MODIFIED/DELETED, BOOKMARK on request, an ERROR 410 Gone past the window)."""
import select
import socket
import time

import orjson
from werkzeug.wrappers import Response

from .errors import bad_request
from .selectors import fields_match, labels_match, parse_fields, parse_labels
from .state import WATCHABLE

DEFAULT_TIMEOUT_SECONDS = 1800  # the real server's --min-request-timeout; clients pass timeoutSeconds
POLL_SECONDS = 0.2  # how often an idle watch settles time-based state (a pod turning ready by itself)
BOOKMARK_SECONDS = 60.0  # the real server sends a bookmark about once a minute to watches that ask


def is_watch(query) -> bool:
    return query.get("watch") in ("true", "1", "True")


def _line(event_type: str, data: bytes) -> bytes:
    return b'{"type":"' + event_type.encode() + b'","object":' + data + b"}\n"


def gone(since: int, oldest: int) -> bytes:
    """What the real server sends for a resourceVersion older than its window: a 200 whose only event is an
    ERROR carrying a Status with code 410."""
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": f"too old resource version: {since} ({oldest})", "reason": "Expired", "code": 410}
    return _line("ERROR", orjson.dumps(status))


def _peer_gone(sock) -> bool:
    """The client hung up (a stopped watch): its socket reads as closed. Nothing would tell an idle stream else."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def stream(cluster, info, namespace: str | None, query, sock=None) -> Response:
    """Start a watch; selectors and the resourceVersion are checked before the stream begins (a 400 then)."""
    state = cluster.state
    if info.kind not in WATCHABLE:
        raise bad_request(f"watch of {info.plural} is not supported by the portal's emulated cluster; list instead")
    labels = parse_labels(query.get("labelSelector"))
    fields = parse_fields(query.get("fieldSelector"), info.kind)
    text = query.get("resourceVersion") or ""
    try:
        since = int(text) if text else 0
        timeout = float(query.get("timeoutSeconds") or DEFAULT_TIMEOUT_SECONDS)
    except ValueError:
        raise bad_request(f"invalid resourceVersion {text!r} or timeoutSeconds") from None
    bookmarks = query.get("allowWatchBookmarks") in ("true", "1", "True")

    def matches(namespace_of: str, labels_of: dict, data: bytes | dict) -> bool:
        if namespace is not None and namespace_of != namespace:
            return False
        if not labels_match(labels, labels_of):
            return False
        return not fields or fields_match(fields, data if isinstance(data, dict) else orjson.loads(data))

    def events():
        nonlocal since
        deadline = time.monotonic() + max(0.0, timeout)
        with state.lock:
            state.settle()
            if since <= 0:
                # No resourceVersion (or "0"): the current objects as ADDED events, then the changes after them.
                since = int(state.resource_version)
                initial = [_line("ADDED", orjson.dumps(obj)) for obj in state.items(info.kind, namespace)
                           if matches(obj["metadata"].get("namespace") or "", obj["metadata"].get("labels") or {},
                                      obj)]
            elif since < state.compacted:
                yield gone(since, state.compacted + 1)
                return
            else:
                initial = []
        # The headers go out now, as the real server sends them (a client blocked waiting for them could not
        # even be stopped), then the current objects if asked for.
        yield b"".join(initial)
        bookmark_at = time.monotonic() + getattr(cluster, "bookmark_interval", BOOKMARK_SECONDS)
        while not cluster.stopping.is_set():
            now = time.monotonic()
            if now >= deadline or _peer_gone(sock):
                break
            with state.lock:
                state.settle()
                if since < state.compacted:
                    # This watcher fell behind the window while it was away: it must list again.
                    yield gone(since, state.compacted + 1)
                    return
                newer = state.events_after(since)
                if not newer:
                    state.changed.wait(min(POLL_SECONDS, deadline - now))
                    newer = state.events_after(since) if since >= state.compacted else []
                if newer:
                    since = newer[-1].version
                sending = [_line(e.type, e.data) for e in newer
                           if e.kind == info.kind and matches(e.namespace, e.labels, e.data)]
            if sending:
                yield b"".join(sending)
            if bookmarks and time.monotonic() >= bookmark_at:
                yield _bookmark(info, since)
                bookmark_at = time.monotonic() + getattr(cluster, "bookmark_interval", BOOKMARK_SECONDS)
        if bookmarks:
            yield _bookmark(info, since)

    return Response(events(), content_type="application/json", direct_passthrough=True)


def _bookmark(info, version: int) -> bytes:
    """Every change up to `version` has been sent (or did not match): a client resumes from here."""
    return _line("BOOKMARK", orjson.dumps({"kind": info.kind, "apiVersion": info.api_version,
                                           "metadata": {"resourceVersion": str(version)}}))

"""Logs with a request id: set per request (or taken from X-Request-ID), carried into the tasks it enqueues,
written as JSON lines (LOG_FORMAT=json) for the log collector, or as text on a terminal."""
import logging
import re
import sys
import uuid

from pythonjsonlogger.json import JsonFormatter

from portal.request_context import request_id_var

# An id from a proxy or a client is taken only if it looks like one (it ends up in every log line).
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"


def request_id_for(header: str | None) -> str:
    return header if header and VALID_REQUEST_ID.match(header) else uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts the current request's (or task's) id on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


def logging_configure(log_format: str, level: str = "INFO") -> None:
    """One handler on the root logger, for the web processes and the consumer alike (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "portal", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.portal = True
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level",
                                                                       "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)

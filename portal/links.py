"""Absolute links for emails and outside callers, built without a request (tasks, CLI)."""
from urllib.parse import urlsplit

from flask import current_app


def absolute_url(endpoint: str, **values) -> str:
    """FRONTEND_URL plus the route's path: the same link whether a view, a task or the CLI asks."""
    base = current_app.config["FRONTEND_URL"]
    root = urlsplit(base).path.rstrip("/")
    adapter = current_app.url_map.bind("portal", script_name=root or "/")
    path = adapter.build(endpoint, values)
    return f"{base.split('://', 1)[0]}://{urlsplit(base).netloc}{path}"

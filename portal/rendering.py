"""Rendering pages and their htmx fragments, and template helpers shared by every page."""
import csv
import functools
import io
from collections.abc import Iterable
from pathlib import Path

from flask import Flask, Response, current_app, make_response, redirect, render_template, request
from jinja2_fragments.flask import render_block


def render_page(template_name: str, /, *, block: str | None = None, status: int = 200, **context) -> Response:
    """The whole page, or only `block` of it when htmx asks (same URL, so Vary on HX-Request)."""
    if block and getattr(request, "htmx", False) and not request.htmx.boosted:
        body = render_block(template_name, block, **context)
    else:
        body = render_template(template_name, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def render_polling(template_name: str, /, *, block: str, settled: bool, **context) -> Response:
    """A page whose `block` polls itself: once nothing is left to wait for, htmx gets 286 and stops."""
    response = render_page(template_name, block=block, **context)
    if getattr(request, "htmx", False) and settled:
        response.status_code = 286
    return response


def redirect_after_post(url: str) -> Response:
    """After a successful form post: HX-Redirect for htmx, a 303 for a plain browser."""
    if getattr(request, "htmx", False):
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=303)


def client_ip() -> str | None:
    return request.remote_addr


def csv_text(header: list[str], rows: Iterable[list]) -> str:
    """A CSV document: the header line, then each row (exports, email attachments)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def format_idr(amount: int | None) -> str:
    """Rupiah the way Indonesians write it: Rp 150.000."""
    if amount is None:
        return ""
    return "Rp " + f"{int(amount):,}".replace(",", ".")


@functools.lru_cache(maxsize=64)
def _static_file_exists(static_folder: str, filename: str) -> bool:
    return (Path(static_folder) / filename).is_file()


def app_logo_file(logo: str | None) -> str:
    """The app's logo under static/img/apps/, or the generic one when it has none or the file is missing
    (decided here: an onerror fallback would be an inline script, which the security policy forbids)."""
    filename = f"img/apps/{logo}" if logo else ""
    if filename and "/" not in logo and _static_file_exists(current_app.static_folder, filename):
        return filename
    return "img/apps/generic.svg"


def register(app: Flask) -> None:
    app.jinja_env.filters["idr"] = format_idr
    app.jinja_env.globals["app_logo_file"] = app_logo_file

    @app.context_processor
    def product():
        return {
            "product_name": current_app.config["PRODUCT_NAME"],
            "support_email": current_app.config["SUPPORT_EMAIL"],
            "mail_outbox_only": not current_app.config.get("MAIL_SERVER"),
        }

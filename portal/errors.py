"""Error pages (403, 404, 429, 500, 503, CSRF) as a full page or, for htmx, a fragment in the main area."""
import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from portal.i18n import guest_locale
from portal.rendering import render_page
from portal.request_context import request_id_var

log = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("Bad request"), _l("We could not understand that request.")),
    403: (_l("Not allowed"), _l("You do not have access to this page.")),
    404: (_l("Page not found"), _l("The page you asked for does not exist or has moved.")),
    405: (_l("Not allowed"), _l("That action is not available here.")),
    429: (_l("Slow down"), _l("Too many attempts. Please wait a minute and try again.")),
    500: (_l("Something went wrong"),
          _l("We hit an error on our side and have been told about it. Please try again.")),
}


def _error_page(status: int, detail: str | None = None):
    if _for_the_payment_webhook():
        return _webhook_answer(status)
    title, message = MESSAGES.get(status, (_("Error %(code)d", code=status), _("Something went wrong.")))
    # A server error names the request id that is on its log lines, so support can find them from a screenshot.
    reference = request_id_var.get() if status >= 500 else None
    response = render_page("errors/error.html", block="content", status=status,
                           title=title, message=detail or message, code=status, reference=reference)
    if getattr(request, "htmx", False):
        # htmx would otherwise drop an error body; show it in place of the page's main area.
        response.headers["HX-Retarget"] = "#main"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _error_page(400, _("Your form expired or was sent without its security token. "
                                  "Please reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        if _for_the_payment_webhook():
            return _webhook_answer(error.code, error.get_headers())
        return _error_page(error.code)

    @app.errorhandler(InternalServerError)
    def server_error(error: InternalServerError):
        if error.original_exception is not None:
            log.error("error on %s %s", request.method, request.path, exc_info=error.original_exception)
        return _error_page(500)

    @app.errorhandler(OperationalError)
    @app.errorhandler(RedisConnectionError)
    def unavailable(error):
        """The database or Redis is out of reach: a calm 503, the transaction rolled back (no partial write)."""
        outage = not isinstance(error, DBAPIError) or error.connection_invalidated or _is_connection_error(error)
        if outage:
            log.error("backing service unavailable on %s %s: %s", request.method, request.path, type(error).__name__)
        else:
            log.exception("database error on %s %s", request.method, request.path)
        _rollback_quietly()
        if _for_the_payment_webhook() or request.accept_mimetypes.best == "application/json":
            response = jsonify(status="unavailable", reason="try again later")  # Midtrans retries a 5xx
        else:
            # In the guest's language: the profile's would need the database that is out of reach.
            with force_locale(guest_locale()):
                response = make_response(render_template("errors/unavailable.html", reference=request_id_var.get()))
            if getattr(request, "htmx", False):
                response.headers["HX-Retarget"] = "body"
                response.headers["HX-Reswap"] = "innerHTML"
        response.status_code = 503
        response.headers["Retry-After"] = "30"
        return response

    @app.errorhandler(Exception)
    def unhandled(error):
        log.exception("unhandled error on %s %s", request.method, request.path)
        _rollback_quietly()  # the error page reads the session's user: not through a failed transaction
        return _error_page(500)


def _for_the_payment_webhook() -> bool:
    """Midtrans reads JSON: whatever refuses its webhook (method, rate limit, NUL guard, size) answers in JSON,
    and so does an error on our side (a 5xx, which Midtrans retries)."""
    return request.path.startswith("/billing/midtrans/")


def _webhook_answer(status: int, headers=()):
    response = jsonify(status="rejected" if status < 500 else "error",
                       reason=HTTP_STATUS_CODES.get(status, "error").lower())
    response.status_code = status
    for name, value in headers:  # Allow on a 405, Retry-After where werkzeug gives one
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _is_connection_error(error: DBAPIError) -> bool:
    text = str(error.orig).lower()
    return any(part in text for part in ("connection", "could not connect", "server closed", "database is locked",
                                         "terminating"))


def _rollback_quietly() -> None:
    from portal.extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection is gone; the database rolls back what it had
        log.debug("rollback after an unavailable database failed", exc_info=True)

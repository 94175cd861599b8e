"""Every refusal has one shape: the status, the reason in the status line and the body (twine prints both)."""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, current_app, request
from sqlalchemy.exc import DataError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from ..core.errors import Refusal, TooManyRequests
from .database import RETRY_AFTER, Unavailable, health, one_line
from .metrics import count_unavailable

log = logging.getLogger(__name__)
REALM = 'Basic realm="flaskpypi"'


def wants_page() -> bool:
    """Whether the asker is a browser: it names text/html at full quality (pip asks with q=0.01, curl */*)."""
    return any(value == "text/html" and quality == 1 for value, quality in request.accept_mimetypes)


def error_page(status: int, message: str) -> Response | None:
    """The site's error page (its layout, header and footer), or None when it cannot be drawn."""
    from .ui.common import error_page as page

    try:
        body, _ = page(status, message)
    except Exception:  # a lost database fails the header too: the plain answer still goes out
        log.warning("Could not draw the error page for %s %s", request.method, request.path, exc_info=True)
        return None
    return Response(body, status=status, mimetype="text/html")


def refusal_response(status: int, message: str) -> Response:
    """An error whose reason phrase carries the message (one line, latin-1 safe): the site's page for a
    browser, JSON for who asks for it, else plain text."""
    line = " ".join(message.split())
    reason = line.encode("latin-1", "replace").decode("latin-1")[:400]
    wants_json = request.accept_mimetypes.best == "application/json"
    page = error_page(status, line) if not wants_json and wants_page() else None
    if page is not None:
        response = page
    elif wants_json:
        response = Response(f'{{"error": {json.dumps(line)}}}\n', status=status, mimetype="application/json")
    else:
        response = Response(line + "\n", status=status, mimetype="text/plain")
    response.status = f"{status} {reason}"
    if status == 401:
        response.headers["WWW-Authenticate"] = REALM
    return response


def register_error_handlers(app: Flask) -> None:
    """Map domain errors and HTTP exceptions to the common shape."""

    @app.errorhandler(Refusal)
    def on_refusal(exc: Refusal) -> Response:
        if exc.status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        response = refusal_response(exc.status, exc.message)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(Unavailable)
    def on_unavailable(exc: Unavailable) -> Response:
        count_unavailable(exc)
        response = refusal_response(503, exc.message)
        response.headers["Retry-After"] = str(RETRY_AFTER)
        return response

    @app.errorhandler(SQLAlchemyError)
    def on_database(exc: SQLAlchemyError) -> Response:
        """A value the database refuses is the client's (400); a lost database or schema is a 503."""
        if isinstance(exc, DataError):
            return refusal_response(400, f"The database refused a value of this request: {one_line(exc)}")
        unavailable = health(current_app).classify(exc)
        if unavailable is None:
            raise exc  # a bug: Flask logs it and answers 500
        log.warning("%s %s: %s", request.method, request.path, unavailable.message)
        return on_unavailable(unavailable)

    @app.errorhandler(HTTPException)
    def on_http(exc: HTTPException) -> Response:
        if exc.code is None or exc.code < 400:
            return exc.get_response()
        if exc.code == 413:
            limit = app.extensions["flaskpypi"].settings.max_upload_size
            return refusal_response(413, f"Request too large: the upload limit is {limit} bytes.")
        message = exc.description or exc.name
        if exc.code == 400 and exc.__class__.__name__ == "ClientDisconnected":
            message = "The request body ended before its Content-Length: nothing was stored."
        response = refusal_response(exc.code, f"{exc.name}: {message}" if exc.code != 404 else exc.name)
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(InternalServerError)
    def on_bug(exc: InternalServerError) -> Response:
        """A bug: Flask has logged it; the asker gets the site's page or one plain line, never a traceback."""
        return refusal_response(500, "Internal server error: the server logged what went wrong.")

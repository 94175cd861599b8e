"""Browser hardening for every response: Secure cookies over HTTPS, CSP, framing, sniffing and referrers."""

from __future__ import annotations

from flask import Flask, Request, Response, has_request_context, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from ..settings import Settings

# Scripts and styles only from our own static files (no inline code: an injected <script> does not run);
# README images may come from anywhere, as on PyPI; no framing (clickjacking), no <base>, forms post here.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src * data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # private project names in URLs do not leak to linked sites
}
HARDENING = tuple(HEADERS.items())  # for a view that builds its headers in one list (downloads)
_NAMES = frozenset(name.lower() for name in HEADERS)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, marked Secure as `session_cookie_secure` says: `auto` follows the
    request's scheme (HTTPS directly, or X-Forwarded-Proto through ProxyFix when proxy_fix is set)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Flask's, without building the signing serializer when the request brings no session cookie (most
        requests: pip, uv and every download), since Flask's answer then is a new empty session anyway."""
        if app.secret_key and not ("HTTP_COOKIE" in request.environ  # no Cookie header: no cookies to parse
                                   and request.cookies.get(self.get_cookie_name(app))):  # fmt: skip
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SecureCookieSession, response: Response) -> None:  # type: ignore[override]
        """Flask's, without working out the cookie's settings for an empty session left unchanged (nearly
        every request): Flask then sets no cookie either, and only adds Vary: Cookie if it was looked at."""
        if session or session.modified:
            super().save_session(app, session, response)
        elif session.accessed:  # flask-login's after_request hook looks at every request's session
            if "Vary" in response.headers:
                response.vary.add("Cookie")
            else:  # what vary.add gives, without parsing and writing back a header set
                response.headers.add("Vary", "Cookie")

    def get_cookie_secure(self, app: Flask) -> bool:
        if self.mode == "auto":
            return has_request_context() and request.is_secure
        return self.mode == "true"


def init_security(app: Flask, settings: Settings) -> None:
    """Install the session interface, the cookie flags and the response headers."""
    mode = settings.session_cookie_secure
    app.session_interface = SessionInterface(mode)
    # flask-login's remember cookie is never issued (no "remember me"); should it be, it is Secure unless
    # the setting says false. The CSRF token lives in the session cookie, so it follows the session.
    app.config.update(SESSION_COOKIE_SECURE=mode == "true", REMEMBER_COOKIE_SECURE=mode != "false",
                      REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax")  # fmt: skip

    app.after_request(harden)


def harden(response: Response) -> Response:
    """Add the hardening headers a response does not set itself, in one pass over its headers."""
    headers = response.headers
    present = _NAMES.intersection(name.lower() for name, _ in headers)
    if len(present) < len(HARDENING):
        headers.extend([(name, value) for name, value in HARDENING if name.lower() not in present])
    return response

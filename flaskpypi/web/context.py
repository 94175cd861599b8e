"""The app's runtime (flaskpypi.runtime, built by create_app) and per-request services and principal."""

from __future__ import annotations

import base64
import binascii

from flask import current_app, g, has_request_context, request
from flask_wtf.csrf import CSRFError

from ..auth import READ, WRITE, Principal
from ..auth.models import ACCESS_CHANGED
from ..core.errors import BadRequest, Forbidden, NotFound, Unauthorized
from ..core.names import DEFAULT_INDEX
from ..core.views import HOSTED
from ..extensions import csrf, db
from ..index.cached import CacheIndex
from ..index.models import Project
from ..index.uploads import Uploader
from ..runtime import Runtime
from ..sql import ACCESS, SERIAL
from ..views import ViewService
from .database import COUNTERS
from .pages import serial_cache

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


def runtime() -> Runtime:
    """The app's runtime."""
    return current_app.extensions["flaskpypi"]


def index() -> Uploader:
    """This request's service of the built-in `default` index (one SQL session per request)."""
    return hosted_index(DEFAULT_INDEX)


def hosted_index(name: str) -> Uploader:
    """This request's service of a hosted index of the layout (NotFound for any other name)."""
    services = g.setdefault("indexes", {})
    if name not in services:
        rt = runtime()
        found = rt.layout.indexes.get(name)
        if found is None or found.type != HOSTED:
            raise NotFound(f"No hosted index named {name!r}.")
        services[name] = Uploader(db.session, rt.storage, rt.policy, name)
    return services[name]


def views() -> ViewService:
    """This request's view service: every index and view as this request's asker sees them; the built-in
    index's project rows and whether it lists them come from per-serial caches, as /simple/'s do."""
    if "views" not in g:
        rt = runtime()
        g.views = ViewService(db.session, rt.storage, rt.policy, rt.layout, rt.upstreams, rt.access, principal(),
                              projects=local_project, holds=_holds)  # fmt: skip
    return g.views


def local_project(name: str) -> Project | None:
    """The project's row as of this request's serial, kept per process until the serial moves. The row is
    detached from any session and shared by threads: read it, never change it."""

    def load() -> Project | None:
        found = CacheIndex(db.session, runtime().storage).project(name)
        if found is not None:
            db.session.expunge(found)
        return found

    return serial_cache("projects").get(generations()[SERIAL], name, load)


def _holds(found: Project) -> bool:
    """Whether the built-in index lists a project (asked once per project serial)."""
    return serial_cache("holds").get(generations()[SERIAL], (found.name, found.serial), lambda: index().holds(found))


def generations() -> dict[str, int]:
    """The index's `serial` and `access` counters as this request first saw them (one read a request, see
    sql.Counters): what the per-process caches are keyed by, so a change anywhere is seen on the very next
    request. Read apart from the request's session: a request answered from caches opens none."""
    if "generations" not in g:
        g.generations = current_app.extensions[COUNTERS].read()
    return g.generations


def access_generation() -> int | None:
    """The `access` counter for cached permission decisions; None outside a request or after this request
    changed access itself (then every decision is made afresh)."""
    if not has_request_context():
        return None
    if db.session.registry.has() and db.session.info.get(ACCESS_CHANGED):  # (no session made: nothing changed)
        return None
    return generations()[ACCESS]


def client_address() -> str:
    """The asker's address (ProxyFix, when configured, has already applied X-Forwarded-For)."""
    return request.remote_addr or "unknown"


def basic_credentials() -> tuple[str, str] | None:
    """(username, password) from an Authorization: Basic header (RFC 7617), or None without one.

    The one place credentials are decoded, for uploads, reads and tokens alike: UTF-8 first (uv, curl,
    RFC 7617's charset), else latin-1, which requests-based clients (pip, twine, poetry) send. Every
    byte string is valid latin-1, so a non-UTF-8 header never turns into replacement characters.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=False)
    except (binascii.Error, ValueError):
        raise Unauthorized("Malformed Authorization header.")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        decoded = raw.decode("latin-1")
    username, sep, password = decoded.partition(":")
    if not sep or "\x00" in decoded:  # NUL: no backend stores such a name (PostgreSQL refuses it)
        raise Unauthorized("Malformed Authorization header.")
    return username, password


def principal() -> Principal | None:
    """Who is asking: HTTP basic (or token) credentials, else the logged-in UI session, else nobody.

    The one place a browser session is taken as the asker, so the one place its writes need the CSRF
    token (BadRequest without it), whichever blueprint the write is in: api, admin_api, fallback, ui.
    """
    if "principal" in g:
        return g.principal
    found: Principal | None = None
    creds = basic_credentials()
    if creds is not None:
        rt = runtime()
        if rt.authenticator is not None:
            found = rt.authenticator.authenticate(*creds, client_address())
        else:
            found = rt.access.backend.authenticate(*creds)
        if found is None:
            raise Unauthorized("Invalid or non-existent authentication information.")
    elif _has_session_cookie():  # no cookie, no browser session
        session_principal = runtime().session_principal
        found = session_principal() if session_principal else None
        if found is not None and request.method not in SAFE_METHODS:
            _require_csrf_token()
    g.principal = found
    return found


def names_nobody() -> bool:
    """Whether the request carries neither credentials nor a session cookie, so that principal() is None
    without asking any backend (the usual download: pip and uv send no credentials to a public index)."""
    return "HTTP_AUTHORIZATION" not in request.environ and not _has_session_cookie()


def _has_session_cookie() -> bool:
    return "HTTP_COOKIE" in request.environ and current_app.config["SESSION_COOKIE_NAME"] in request.cookies


def _require_csrf_token() -> None:
    """A change made on the strength of the session cookie needs the page's CSRF token: another site can
    make a browser send the cookie, not the token. HTTP basic auth and tokens need none (twine, uv)."""
    try:
        csrf.protect()
    except CSRFError as exc:
        raise BadRequest(
            f"CSRF check failed: {exc.description} A change authenticated by the browser session cookie needs "
            "the page's CSRF token (X-CSRFToken header or csrf_token field); scripts use HTTP basic auth or "
            "an API token instead."
        ) from None


def require(permission: str, project: str | None = None, *, hide: bool = False, missing: str | None = None,
            index: str = DEFAULT_INDEX) -> Principal | None:  # fmt: skip
    """Allow, or refuse with 401/403; with `hide`, an unreadable project answers as a missing one would.

    The projects are those of the hosted `index` (the built-in one unless said): where the asker may not read
    that index, each answers as missing (401 for anonymous askers), and writes follow AccessPolicy.can_index
    (grants on the index included)."""
    who = principal()
    access = runtime().access
    if not access.can_index(who, READ, index):
        if who is None:
            raise Unauthorized("Authentication required.")
        raise NotFound(missing or (f"No project named {project!r}." if project else f"No index named {index!r}."))
    if permission == WRITE:
        allowed = access.can_index(who, WRITE, index, project)
    else:
        allowed = access.can(who, permission, project)
    if allowed:
        return who
    if hide and project is not None and not access.can(who, READ, project) and access.can(who, permission):
        raise NotFound(missing or f"No project named {project!r}.")  # what the defaults on a missing one give
    if who is None:
        raise Unauthorized("Authentication required.")
    asker = f"This API token of {who.name!r}" if who.via_token else f"User {who.name!r}"
    raise Forbidden(f"{asker} may not {permission} {project or 'this index'}.")


def require_index(permission: str, index: str, project: str | None = None) -> Principal | None:
    """Allow `permission` (read, write, promote) on an index (and, for write, on `project`; see
    AccessPolicy.can_index), or refuse: an index the asker may not read answers as a missing one (401 for
    anonymous askers, 404 else); other refusals are 401 anonymous, 403 otherwise."""
    who = principal()
    access = runtime().access
    if access.can_index(who, permission, index, project):
        return who
    if who is None:
        raise Unauthorized("Authentication required.")
    if not access.can_index(who, READ, index):
        raise NotFound(f"No index named {index!r}.")
    asker = f"This API token of {who.name!r}" if who.via_token else f"User {who.name!r}"
    target = f"{project} in index {index!r}" if project and permission == WRITE else f"index {index!r}"
    raise Forbidden(f"{asker} may not {permission} {target}.")


def require_admin() -> Principal:
    """Only admins pass."""
    who = principal()
    if who is None:
        raise Unauthorized("Authentication required.")
    if not runtime().access.is_admin(who):
        raise Forbidden(f"User {who.name!r} is not an administrator.")
    return who

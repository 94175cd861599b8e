"""Per-app runtime (storage, auth, policy) and per-request services and principal."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g, request

from ..auth import READ, Principal
from ..auth.login import Authenticator
from ..auth.policy import AccessPolicy
from ..core.errors import Forbidden, NotFound, Unauthorized
from ..extensions import db
from ..index.service import Policy
from ..index.uploads import Uploader
from ..settings import Settings
from ..storage import Storage
from ..upstream.service import Upstream


@dataclass
class Runtime:
    """What create_app builds once: settings, the plugins they chose, and the services built on them."""

    settings: Settings
    storage: Storage
    access: AccessPolicy
    policy: Policy
    authenticator: Authenticator | None = None  # throttled credential checks (web.access)
    session_principal: Callable[[], Principal | None] | None = None  # the UI's logged-in user
    upstream: Upstream | None = None  # built on first use (web.fallback)
    rebuilt_at_start: tuple[int, int] | None = None  # (projects, files) when start-up rebuilt the index


def runtime() -> Runtime:
    """The app's runtime."""
    return current_app.extensions["flaskpypi"]


def index() -> Uploader:
    """This request's index service (one SQL session per request)."""
    if "index" not in g:
        rt = runtime()
        g.index = Uploader(db.session, rt.storage, rt.policy)
    return g.index


def client_address() -> str:
    """The asker's address (ProxyFix, when configured, has already applied X-Forwarded-For)."""
    return request.remote_addr or "unknown"


def basic_credentials() -> tuple[str, str] | None:
    """(username, password) from an Authorization: Basic header, tolerant of odd encodings."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        raise Unauthorized("Malformed Authorization header.")
    username, sep, password = decoded.partition(":")
    if not sep or "\x00" in decoded:  # NUL: no backend stores such a name (PostgreSQL refuses it)
        raise Unauthorized("Malformed Authorization header.")
    return username, password


def principal() -> Principal | None:
    """Who is asking: HTTP basic (or token) credentials, else the logged-in UI session, else nobody."""
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
    else:
        session_principal = runtime().session_principal
        found = session_principal() if session_principal else None
    g.principal = found
    return found


def require(permission: str, project: str | None = None, *, hide: bool = False,
            missing: str | None = None) -> Principal | None:  # fmt: skip
    """Allow, or refuse with 401/403; with `hide`, an unreadable project answers as a missing one would."""
    who = principal()
    access = runtime().access
    if access.can(who, permission, project):
        return who
    if hide and project is not None and not access.can(who, READ, project) and access.can(who, permission):
        raise NotFound(missing or f"No project named {project!r}.")  # what the defaults on a missing one give
    if who is None:
        raise Unauthorized("Authentication required.")
    asker = f"This API token of {who.name!r}" if who.via_token else f"User {who.name!r}"
    raise Forbidden(f"{asker} may not {permission} {project or 'this index'}.")


def require_admin() -> Principal:
    """Only admins pass."""
    who = principal()
    if who is None:
        raise Unauthorized("Authentication required.")
    if not runtime().access.is_admin(who):
        raise Forbidden(f"User {who.name!r} is not an administrator.")
    return who

"""Per-app runtime (storage, auth, policy) and per-request services and principal."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g, request

from ..auth import READ, Principal
from ..auth.policy import AccessPolicy
from ..core.errors import Forbidden, NotFound, Unauthorized
from ..extensions import db
from ..index.service import IndexService, Policy
from ..index.uploads import Uploader
from ..settings import Settings
from ..storage import Storage


@dataclass
class Runtime:
    """What create_app builds once: settings and the plugins they chose."""

    settings: Settings
    storage: Storage
    access: AccessPolicy
    policy: Policy
    extras: dict[str, Any] = field(default_factory=dict)


def runtime() -> Runtime:
    """The app's runtime."""
    return current_app.extensions["flaskpypi"]


def index() -> Uploader:
    """This request's index service (one SQL session per request)."""
    if "index" not in g:
        rt = runtime()
        g.index = Uploader(db.session, rt.storage, rt.policy)
    return g.index


def index_service() -> IndexService:
    """The index service, typed as the read/change interface."""
    return index()


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
    if not sep:
        raise Unauthorized("Malformed Authorization header.")
    return username, password


def principal() -> Principal | None:
    """Who is asking: HTTP basic (or token) credentials, else the logged-in UI session, else nobody."""
    if "principal" in g:
        return g.principal
    found: Principal | None = None
    creds = basic_credentials()
    if creds is not None:
        authenticate = runtime().extras.get("authenticate") or runtime().access.backend.authenticate
        found = authenticate(*creds)
        if found is None:
            raise Unauthorized("Invalid or non-existent authentication information.")
    else:
        session_principal = runtime().extras.get("session_principal")
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

"""Wire access control into the app: credentials, run-time defaults, the audit log and the account pages."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, has_app_context, has_request_context
from sqlalchemy.exc import SQLAlchemyError

from ..auth import defaults as defaults_store
from ..auth.admin import AccessAdmin
from ..auth.audit import Actor, record
from ..auth.policy import Defaults
from ..core.names import DEFAULT_INDEX
from ..extensions import csrf, db, login_manager
from ..index import signals
from ..runtime import Runtime
from .context import access_generation, client_address, principal, runtime

log = logging.getLogger(__name__)


def actor() -> Actor:
    """Who acts in this request (or `cli` outside one), for the audit log."""
    if not has_request_context():
        return Actor("cli", "local")
    who = principal()
    return Actor(who.name if who else None, client_address())


def access_admin() -> AccessAdmin:
    """The audited access-control service for this request's actor."""
    return AccessAdmin(runtime().access, db.session, actor())


def init_access(app: Flask) -> None:
    """Attach the database to the auth backend, install the authenticator and defaults, register views."""
    from . import admin_api, auth_views

    rt: Runtime = app.extensions["flaskpypi"]
    rt.access.backend.attach_database(db.session)
    rt.access.defaults_source = lambda: _current_defaults(rt.access.configured)
    rt.access.generation = access_generation
    login_manager.login_view = "account.login"
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(admin_api.bp)
    csrf.exempt(admin_api.bp)  # context.principal() checks the CSRF token when a session cookie authenticates
    _subscribe_audit()


def _current_defaults(configured: Defaults) -> Defaults:
    """The defaults in force (a stored override wins over the config file); the policy keeps them until the
    `access` counter moves."""
    if not has_app_context():
        return configured
    return defaults_store.load(db.session, configured)


def _on_change(action: str) -> Any:
    def receive(sender: Any, project: str, filenames: list[str] | None = None, **detail: Any) -> None:
        if not has_app_context():  # the index used as a library: nobody to attribute the change to
            return
        if filenames is not None:
            detail["files"] = filenames
        name = "unyank" if action == "yank" and not detail.get("yanked", True) else action
        try:
            record(db.session, actor(), name, project, **detail)
        except SQLAlchemyError:  # the change itself is committed: report the lost entry, do not fail it
            db.session.rollback()
            log.exception("Could not write the audit entry for %s of %s", name, project)

    return receive


def _on_uploading(sender: Any, project: str, filenames: list[str], session: Any, index: str = DEFAULT_INDEX,
                  **_: Any) -> None:  # fmt: skip
    """The upload's entry joins the upload's own transaction: one commit for both."""
    if has_app_context():
        where = {} if index == DEFAULT_INDEX else {"index": index}
        record(session, actor(), "upload", project, commit=False, files=filenames, **where)


def _on_promoting(sender: Any, project: str, filenames: list[str], session: Any, source: str, target: str,
                  **_: Any) -> None:  # fmt: skip
    """A promotion's entry commits with the promoted file's row."""
    if has_app_context():
        record(session, actor(), "promote", project, commit=False, files=filenames, source=source, target=target)


_RECEIVERS = {
    "upload": _on_uploading,
    "promote": _on_promoting,
    "delete": _on_change("delete"),
    "yank": _on_change("yank"),
    "status": _on_change("project.status"),
}


def _subscribe_audit() -> None:
    """Record every upload, delete, yank and status change the index service reports (once per process)."""
    signals.file_uploading.connect(_RECEIVERS["upload"])
    signals.files_promoting.connect(_RECEIVERS["promote"])
    signals.files_deleted.connect(_RECEIVERS["delete"])
    signals.files_yanked.connect(_RECEIVERS["yank"])
    signals.project_status_changed.connect(_RECEIVERS["status"])

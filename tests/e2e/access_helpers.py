"""Shared pieces of the access-control end-to-end tests: a private server and its users, over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from tests.conftest import ADMIN, base_settings
from tests.support.server import LiveServer

PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password",
             "dave": "dave-password", "root2": "root2-password"}  # fmt: skip
PRIVATE = {"auth_backend": "sql", "default_read": "authenticated", "default_write": "authenticated",
           "cache_update": "authenticated"}  # fmt: skip


def start_private(root: Path, **settings: Any) -> LiveServer:
    """A gunicorn server (2 workers) with the sql backend where only logged-in users read."""
    root.mkdir(parents=True, exist_ok=True)
    return LiveServer(root, {**base_settings(root), **PRIVATE, **settings}).start()


def admin_call(server: LiveServer, method: str, path: str, json: Any = None, auth: tuple = ADMIN) -> Any:
    """Call the admin API with basic auth; fail loudly on anything but 2xx."""
    response = requests.request(method, server.url + path.lstrip("/"), json=json, auth=auth, timeout=30)
    assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def add_users(server: LiveServer, *names: str) -> None:
    for name in names:
        admin_call(server, "POST", "/api/admin/users", {"name": name, "password": PASSWORDS[name]})


def new_token(server: LiveServer, user: str, **body: Any) -> dict[str, Any]:
    """Create a token as `user` (with the password); the answer carries the token text."""
    return admin_call(server, "POST", "/api/tokens", body, auth=(user, PASSWORDS[user]))

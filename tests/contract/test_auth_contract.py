"""The auth contract suite (flaskpypi.testing.auth_contract) on the config and sql plugins; the ldap plugin's
own directory tests live in tests/e2e/test_access_ldap.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flaskpypi.auth import AuthBackend
from flaskpypi.auth.config import ConfigAuth
from flaskpypi.auth.passwords import hash_password
from flaskpypi.settings import Settings
from flaskpypi.testing.auth_contract import AuthContract

UPSTREAM = {"type": "upstream", "url": "http://127.0.0.1:9/simple/", "mode": "redirect"}


class TestConfigAuth(AuthContract):
    @pytest.fixture
    def backend(self) -> AuthBackend:
        settings = Settings(
            users={"contract-user": hash_password("contract-password-1")},
            groups={"contract-group": ["contract-user"]},
            grants={"contract-project-a": {"group:contract-group": "write"}},
            indexes={"up": UPSTREAM},
            index_grants={"up": {"group:contract-group": ["read", "promote"]}, "default": {"someone": "write"}},
        )  # fmt: skip
        return ConfigAuth(settings)


class TestSqlAuth(AuthContract):
    @pytest.fixture
    def settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {**settings, "auth_backend": "sql", "indexes": {"up": UPSTREAM}}

    @pytest.fixture
    def backend(self, app) -> Iterator[AuthBackend]:
        with app.app_context():
            store = app.extensions["flaskpypi"].access.backend
            store.add_user("contract-user", "contract-password-1")
            store.add_group("contract-group")
            store.add_member("contract-group", "contract-user")
            store.grant("contract-project-b", "user", "contract-user", "read")
            store.grant_index("up", "group", "contract-group", "read")
            yield store

"""The auth contract suite: tests every auth plugin (AuthBackend) must pass, ours and third parties'.

Subclass `AuthContract` in a test module and give it a `backend` fixture: your plugin, built on settings
(or a directory) where the user `credentials` (name, password) exists and belongs to the group `group`::

    import pytest
    from flaskpypi.auth import load_auth
    from flaskpypi.settings import Settings
    from flaskpypi.testing.auth_contract import AuthContract

    class TestMyAuth(AuthContract):
        @pytest.fixture
        def backend(self):
            return load_auth("mine", Settings(), {"server": "..."})

Override `credentials` and `group` when your directory's test user has other names. An editable backend
(a `UserStore`) also runs the editing clauses; they change nothing the suite did not make itself.
"""

from __future__ import annotations

import pytest

from ..auth import (
    AUTHENTICATED,
    CONTRACT_VERSION,
    EVERYONE,
    GROUP,
    INDEX_PERMISSIONS,
    PERMISSIONS,
    READ,
    USER,
    WRITE,
    Acl,
    AuthBackend,
    Principal,
    UserStore,
)
from ..core.errors import Refusal


def _check_acl(acl: Acl, permissions: tuple[str, ...]) -> None:
    assert isinstance(acl, Acl)
    for table in (acl.users, acl.groups):
        for subject, granted in table.items():
            assert isinstance(subject, str) and subject
            assert set(granted) <= set(permissions), (subject, granted)


class AuthContract:
    """Clauses of the AuthBackend contract (version 3), each a test."""

    @pytest.fixture
    def backend(self) -> AuthBackend:
        raise NotImplementedError("give AuthContract a `backend` fixture returning your plugin")

    @pytest.fixture
    def credentials(self) -> tuple[str, str]:
        """A user the backend knows, and the password."""
        return "contract-user", "contract-password-1"

    @pytest.fixture
    def group(self) -> str:
        """A group the user of `credentials` belongs to."""
        return "contract-group"

    def test_declares_a_contract_version_the_host_speaks(self, backend: AuthBackend) -> None:
        assert 2 <= backend.contract_version <= CONTRACT_VERSION
        assert isinstance(backend.versioned, bool)

    def test_authenticates_the_right_password_only(self, backend: AuthBackend, credentials: tuple[str, str]) -> None:
        name, password = credentials
        found = backend.authenticate(name, password)
        assert isinstance(found, Principal) and found.name == name and not found.via_token
        assert backend.authenticate(name, password + "x") is None
        assert backend.authenticate(name, "") is None
        assert backend.authenticate("no-such-user-of-the-contract", password) is None

    def test_groups_are_names_without_the_pseudo_groups(self, backend: AuthBackend, credentials: tuple[str, str],
                                                        group: str) -> None:  # fmt: skip
        groups = backend.groups(Principal(credentials[0]))
        assert isinstance(groups, set) and group in groups
        assert not groups & {EVERYONE, AUTHENTICATED}
        assert backend.groups(Principal("no-such-user-of-the-contract")) == set()

    def test_an_unknown_user_is_no_admin(self, backend: AuthBackend) -> None:
        assert backend.is_admin(Principal("no-such-user-of-the-contract")) is False

    def test_project_acls_agree_with_project_acl(self, backend: AuthBackend) -> None:
        names = ["contract-project-a", "contract-project-b"]
        many = backend.project_acls(names)
        for name in names:
            one = backend.project_acl(name)
            _check_acl(one, PERMISSIONS)
            assert (name in many) == bool(one)

    def test_index_acls_are_a_dict_of_acls_by_index(self, backend: AuthBackend) -> None:
        acls = backend.index_acls()
        assert isinstance(acls, dict)
        for index, acl in acls.items():
            assert isinstance(index, str) and index
            _check_acl(acl, INDEX_PERMISSIONS)

    def test_list_index_grants_agrees_with_index_acls(self, backend: AuthBackend) -> None:
        listed = {(g.index, g.kind, g.subject, g.permission) for g in backend.list_index_grants()}
        expected = {
            (index, kind, subject, permission)
            for index, acl in backend.index_acls().items()
            for kind, table in ((USER, acl.users), (GROUP, acl.groups))
            for subject, permissions in table.items()
            for permission in permissions
        }
        assert listed == expected

    # -- editable backends (UserStore) ----------------------------------------------------------

    def _store(self, backend: AuthBackend) -> UserStore:
        if not isinstance(backend, UserStore):
            pytest.skip("a read-only backend: no editing clauses")
        return backend

    def test_a_store_grants_and_revokes_on_an_index(self, backend: AuthBackend, group: str) -> None:
        store = self._store(backend)
        before = store.index_acls().get("default", Acl()).groups.get(group, set())
        store.grant_index("default", GROUP, group, WRITE)
        store.grant_index("default", GROUP, group, WRITE)  # twice: the same grant
        assert WRITE in store.index_acls()["default"].groups[group]
        store.revoke_index("default", GROUP, group, WRITE)
        assert store.index_acls().get("default", Acl()).groups.get(group, set()) == before - {WRITE}
        with pytest.raises(Refusal):
            store.revoke_index("default", GROUP, group, WRITE)  # nothing left to revoke

    def test_a_store_refuses_unknown_indexes_and_permissions(self, backend: AuthBackend, group: str) -> None:
        store = self._store(backend)
        with pytest.raises(Refusal):
            store.grant_index("no-such-index-of-the-contract", GROUP, group, READ)
        with pytest.raises(Refusal):
            store.grant_index("default", GROUP, group, "administer")

"""Permissions per index (AccessPolicy.can_index): read, write and promote from grants on indexes, the
defaults when an index has none, tokens, the config plugin's [index_grants] and views that skip members."""

from __future__ import annotations

from typing import Any

import pytest

from flaskpypi.auth import PROMOTE, READ, WRITE, Acl, AuthBackend, Principal
from flaskpypi.auth.config import ConfigAuth
from flaskpypi.auth.policy import AccessPolicy
from flaskpypi.settings import Settings, SettingsError
from tests.unit.test_auth_policy import ALICE, BOB, CAROL, HASH, ROOT, token

UPSTREAM = {"type": "upstream", "url": "http://127.0.0.1:9/simple/", "mode": "redirect"}
DAVE = Principal("dave")


def policy(index_grants: dict[str, Any] | None = None, read=("everyone",), write=("authenticated",),
           **settings: Any) -> AccessPolicy:  # fmt: skip
    """Users alice, bob, carol (team), dave (ops) and admin root; indexes default and `up` (an upstream)."""
    config = Settings(
        admin_user="root", admin_password="root-password-1",
        users={"alice": HASH, "bob": HASH, "carol": HASH, "dave": HASH},
        groups={"team": ["carol"], "ops": ["dave"]},
        indexes={"up": UPSTREAM}, index_grants=index_grants or {},
        **settings,
    )  # fmt: skip
    return AccessPolicy(ConfigAuth(config), list(read), list(write), ["authenticated"])


def test_an_index_without_grants_changes_nothing() -> None:
    access = policy()
    for who in (None, ALICE, ROOT, token("alice", {"x"}, READ)):
        assert access.can_index(who, READ, "default") and access.can_index(who, READ, "up")
    # write: today's rules (default_write, then the project's grants)
    assert not access.can_index(None, WRITE, "default") and access.can_index(ALICE, WRITE, "default", "new")
    closed = policy(write=(), grants={"lib": {"bob": "write"}})
    assert not closed.can_index(ALICE, WRITE, "default", "new") and not closed.can_index(ALICE, WRITE, "default")
    assert closed.can_index(BOB, WRITE, "default", "Lib") and not closed.can_index(BOB, WRITE, "default", "other")
    # promote: admins only
    assert access.can_index(ROOT, PROMOTE, "default") and not access.can_index(ALICE, PROMOTE, "default")


def test_a_read_grant_makes_an_index_private_to_its_grantees() -> None:
    access = policy({"up": {"alice": "read", "group:team": "write", "bob": "promote"}})
    assert access.can_index(ALICE, READ, "up") and access.can_index(CAROL, READ, "up")  # write implies read
    assert access.can_index(BOB, READ, "up")  # so does promote
    assert not access.can_index(DAVE, READ, "up") and not access.can_index(None, READ, "up")
    assert access.can_index(ROOT, READ, "up")  # admins read everything
    assert access.can_index(DAVE, READ, "default")  # other indexes are untouched
    assert access.readable_indexes(DAVE, ["default", "up"]) == {"default"}
    assert access.readable_indexes(CAROL, ["default", "up"]) == {"default", "up"}


def test_a_pseudo_group_read_grant_opens_an_index_to_everyone_or_every_login() -> None:
    assert policy({"up": {"group:everyone": "read"}}).can_index(None, READ, "up")
    logged_in = policy({"up": {"group:authenticated": "read"}})
    assert not logged_in.can_index(None, READ, "up") and logged_in.can_index(DAVE, READ, "up")


def test_a_write_grant_restricts_uploads_to_its_grantees() -> None:
    access = policy({"default": {"group:ops": "write"}}, grants={"owned": {"alice": "write", "dave": "read"}})
    assert access.can_index(DAVE, WRITE, "default", "new-project")  # a group with write uploads a new project
    assert access.can_index(DAVE, WRITE, "default")
    assert not access.can_index(ALICE, WRITE, "default", "new-project")  # default_write no longer applies
    assert not access.can_index(ALICE, WRITE, "default", "owned")  # a project grant does not open the index
    assert not access.can_index(DAVE, WRITE, "default", "owned")  # and the project's own grants still hold
    assert access.can_index(ALICE, READ, "default") and access.can_index(None, READ, "default")  # not private
    assert access.can_index(ROOT, WRITE, "default", "owned")
    # with no grant on the index, a write default of nobody plus a group grant: only the group
    assert policy({"default": {"group:team": "write"}}, write=()).can_index(CAROL, WRITE, "default", "x")


def test_writers_of_a_private_index_must_read_it() -> None:
    access = policy({"default": {"bob": "read"}})  # default_write = authenticated, but default is private
    assert not access.can_index(ALICE, WRITE, "default", "new") and access.can_index(BOB, WRITE, "default", "new")


def test_promote_needs_a_promote_grant_or_admin() -> None:
    access = policy({"default": {"alice": "promote", "group:team": ["write", "promote"], "bob": "write"}})
    assert access.can_index(ALICE, PROMOTE, "default") and access.can_index(CAROL, PROMOTE, "default")
    assert not access.can_index(BOB, PROMOTE, "default") and not access.can_index(None, PROMOTE, "default")
    assert not access.can_index(ALICE, WRITE, "default", "x")  # promote does not imply write


def test_tokens_never_exceed_their_scope_permission_or_owner_on_an_index() -> None:
    access = policy({"default": {"alice": ["write", "promote"], "bob": "read"}})
    assert access.can_index(token("alice"), WRITE, "default", "x")
    assert access.can_index(token("alice"), PROMOTE, "default")
    assert not access.can_index(token("alice", permission=READ), WRITE, "default", "x")  # read-only token
    assert not access.can_index(token("alice", permission=READ), PROMOTE, "default")
    assert access.can_index(token("alice", permission=READ), READ, "default")
    scoped = token("alice", {"x"})
    assert access.can_index(scoped, WRITE, "default", "X") and not access.can_index(scoped, WRITE, "default", "y")
    assert not access.can_index(scoped, WRITE, "default")  # no blanket write for a scoped token
    assert not access.can_index(scoped, PROMOTE, "default")  # a scoped token never promotes
    assert access.can_index(scoped, READ, "default")
    assert not access.can_index(token("bob"), WRITE, "default", "x")  # the owner may not: the token may not
    assert not access.can_index(token("dave"), READ, "default")
    # an admin's token carries the admin's rights within its limits
    assert access.can_index(token("root"), PROMOTE, "default")
    assert not access.can_index(token("root", {"x"}), PROMOTE, "default")


def test_an_unknown_permission_is_an_error() -> None:
    with pytest.raises(ValueError, match="admin"):
        policy().can_index(ALICE, "admin", "default")


@pytest.mark.parametrize(
    ("grants", "message"),
    [
        ({"nowhere": {"alice": "read"}}, "no index named 'nowhere'"),
        ({"up": {"alice": "own"}}, "use read, write, promote"),
        ({"up": {"alice": []}}, "use read, write, promote"),
        ({"up": {"who:alice": "read"}}, "user:NAME or group:NAME"),
        ({"up": "alice"}, "table of subject = permission"),
    ],
)
def test_index_grants_in_the_config_are_checked_at_start(grants: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        policy(grants)


class OldPlugin(AuthBackend):
    """A contract-version-2 plugin: it knows nothing of indexes."""

    def authenticate(self, username: str, secret: str) -> Principal | None:
        return Principal(username) if secret == "pw-pw-pw-pw" else None

    def groups(self, principal: Principal) -> set[str]:
        return set()

    def is_admin(self, principal: Principal) -> bool:
        return principal.name == "boss"


def test_a_plugin_without_index_grants_keeps_working() -> None:
    access = AccessPolicy(OldPlugin(Settings()), ["everyone"], ["authenticated"], [])
    assert access.index_acl("default") == Acl() and access.backend.list_index_grants() == []
    assert access.can_index(None, READ, "default") and access.can_index(ALICE, WRITE, "default", "x")
    assert not access.can_index(ALICE, PROMOTE, "default") and access.can_index(Principal("boss"), PROMOTE, "default")


def test_decisions_are_kept_until_the_access_counter_moves() -> None:
    calls = []

    class Counting(ConfigAuth):
        def index_acls(self) -> dict[str, Acl]:
            calls.append(1)
            return super().index_acls()

    config = Settings(users={"alice": HASH}, indexes={"up": UPSTREAM}, index_grants={"up": {"alice": "read"}})
    access = AccessPolicy(Counting(config), ["everyone"], ["authenticated"], [])
    generation = [1]
    access.generation = lambda: generation[0]
    for _ in range(50):  # a hot path: one answer per asker and index, not one lookup per call
        assert access.readable_indexes(ALICE, ["default", "up"]) == {"default", "up"}
        assert access.readable_indexes(None, ["default", "up"]) == {"default"}
    assert len(calls) == 1
    generation[0] = 2
    access.readable_indexes(ALICE, ["default", "up"])
    assert len(calls) == 2


def test_the_ldap_plugin_reads_index_grants_from_the_config() -> None:
    ldap = pytest.importorskip("flaskpypi_ldap")
    config = Settings(indexes={"up": UPSTREAM}, index_grants={"up": {"group:devs": ["read", "promote"]}})
    backend = ldap.LdapAuth(config, url="ldap://127.0.0.1:9", user_dn="uid={username},ou=people,dc=x")
    assert backend.index_acls()["up"].groups == {"devs": {"read", "promote"}}
    assert [(g.index, g.subject, g.permission) for g in backend.list_index_grants()] == [
        ("up", "devs", "read"),
        ("up", "devs", "promote"),
    ]

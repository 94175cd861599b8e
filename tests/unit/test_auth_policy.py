"""The permission decision (policy.py) and the config plugin, without a database or a server."""

from __future__ import annotations

import pytest

from flaskpypi.auth import READ, WRITE, Principal
from flaskpypi.auth.config import ConfigAuth
from flaskpypi.auth.passwords import hash_password
from flaskpypi.auth.policy import CACHE, AccessPolicy
from flaskpypi.settings import Settings, SettingsError

HASH = hash_password("right-password")


def policy(read=("everyone",), write=("authenticated",), cache=("authenticated",), **settings) -> AccessPolicy:
    """A policy over a config backend with users alice, bob, carol (carol in group team) and admin root."""
    config = Settings(
        admin_user="root", admin_password="root-password-1",
        users={"alice": HASH, "bob": HASH, "carol": HASH, "dave": HASH},
        groups={"team": ["carol"], "ops": ["dave"]},
        **settings,
    )  # fmt: skip
    return AccessPolicy(ConfigAuth(config), list(read), list(write), list(cache))


def token(name: str, projects: set[str] | None = None, permission: str = WRITE) -> Principal:
    scope = frozenset(projects) if projects is not None else None
    return Principal(name, via_token=True, token_id=1, token_projects=scope, token_permission=permission)


ALICE, BOB, CAROL, ROOT = Principal("alice"), Principal("bob"), Principal("carol"), Principal("root")


def test_defaults_apply_to_projects_without_grants() -> None:
    access = policy()
    assert access.can(None, READ, "open") and not access.can(None, WRITE, "open")
    assert access.can(ALICE, WRITE, "open") and access.can(ALICE, READ)
    closed = policy(read=("authenticated",), write=())
    assert not closed.can(None, READ, "open") and closed.can(ALICE, READ, "open")
    assert not closed.can(ALICE, WRITE, "open") and closed.can(ROOT, WRITE, "open")


def test_a_project_with_grants_follows_them_alone() -> None:
    access = policy(grants={"Secret_Lib": {"alice": "read", "user:bob": "write", "group:team": "write"}})
    for name in ("secret-lib", "Secret.Lib"):  # any spelling of the name
        assert not access.can(None, READ, name)
        assert access.can(ALICE, READ, name) and not access.can(ALICE, WRITE, name)
        assert access.can(BOB, READ, name) and access.can(BOB, WRITE, name)  # write implies read
        assert access.can(CAROL, WRITE, name)  # through the group
        assert not access.can(Principal("dave"), READ, name)  # default_write no longer applies
        assert access.can(ROOT, WRITE, name)


def test_grants_to_pseudo_groups_make_a_project_public_but_write_restricted() -> None:
    access = policy(read=("authenticated",), grants={"tool": {"group:everyone": "read", "alice": "write"}})
    assert access.can(None, READ, "tool") and not access.can(BOB, WRITE, "tool")
    assert access.can(ALICE, WRITE, "tool")


def test_cache_needs_read_and_the_cache_default_or_write() -> None:
    access = policy(write=(), cache=("ops",), grants={"priv": {"alice": "read", "bob": "write"}})
    assert access.can(Principal("dave"), CACHE, "public-thing")  # in ops, may read
    assert not access.can(ALICE, CACHE, "public-thing")  # not in ops, no write
    assert not access.can(Principal("dave"), CACHE, "priv")  # in ops but may not read priv
    assert access.can(BOB, CACHE, "priv") and not access.can(ALICE, CACHE, "priv")
    assert not access.can(None, CACHE, "public-thing")


def test_tokens_never_exceed_their_scope_permission_or_owner() -> None:
    access = policy(grants={"priv": {"alice": "write"}})
    assert access.can(token("alice"), WRITE, "priv")
    assert not access.can(token("alice", permission=READ), WRITE, "priv")
    assert access.can(token("alice", permission=READ), READ, "priv")
    assert access.can(token("alice", {"priv"}), WRITE, "Priv") and not access.can(
        token("alice", {"priv"}), WRITE, "other"
    )
    assert not access.can(token("bob"), READ, "priv")  # the owner may not, so the token may not
    assert not access.can(token("alice", {"priv"}), WRITE)  # no blanket write for scoped tokens
    assert access.can(token("root", {"x"}), WRITE, "x") and not access.can(token("root", {"x"}), WRITE, "y")


def test_admins_from_config_and_never_through_tokens() -> None:
    access = policy(admins=["bob", "group:ops"])
    assert access.is_admin(ROOT) and access.is_admin(BOB) and access.is_admin(Principal("dave"))
    assert not access.is_admin(ALICE) and not access.is_admin(None)
    assert not access.is_admin(token("root"))


def test_visible_filters_listings_with_the_same_rules() -> None:
    access = policy(read=("authenticated",), grants={"priv": {"alice": "read"}})
    names = [("open", "Open"), ("priv", "Priv")]
    assert access.visible(None, names) == []
    assert access.visible(BOB, names) == [("open", "Open")]
    assert access.visible(ALICE, names) == names and access.visible(ROOT, names) == names
    assert access.visible(token("alice", {"open"}), names) == [("open", "Open")]


def test_config_plugin_checks_passwords_and_groups() -> None:
    backend = policy().backend
    assert backend.authenticate("alice", "right-password") == ALICE
    assert backend.authenticate("alice", "wrong") is None and backend.authenticate("nobody", "x") is None
    assert backend.authenticate("root", "root-password-1") == ROOT
    assert backend.groups(CAROL) == {"team"} and backend.groups(ALICE) == set()
    assert backend.user_exists("alice") and backend.user_exists("root") and not backend.user_exists("zed")


@pytest.mark.parametrize(
    "grants",
    [{"demo": {"alice": "admin"}}, {"demo": {"robot:x": "read"}}, {"demo": "alice"}],
)
def test_malformed_grants_are_refused_with_the_setting_named(grants) -> None:
    with pytest.raises(SettingsError, match="grants"):
        policy(grants=grants)


def test_askers_who_see_the_same_projects_share_a_sight() -> None:
    """The root keeps one list of visible projects per sight: a user no grant names counts by their groups."""
    access = policy(grants={"secret": {"alice": "read", "group:team": "read"}})
    named = access.named_users(["secret", "open"])
    assert named == {"alice"}
    assert access.sight(BOB, named) == access.sight(Principal("eve"), named)  # neither named nor grouped
    assert access.sight(ALICE, named) != access.sight(BOB, named)  # named by a grant
    assert access.sight(CAROL, named) != access.sight(BOB, named)  # acts as group team
    assert access.sight(None, named) != access.sight(BOB, named)
    assert access.sight(token("bob", {"open"}, READ), named) != access.sight(BOB, named)  # a scoped token
    assert access.sight(ROOT, named) != access.sight(BOB, named)
    for who in (None, ALICE, BOB, CAROL, Principal("eve"), ROOT, token("bob", {"open"}, READ)):
        assert [p for (p,) in access.visible(who, [("open",), ("secret",)])] == (
            ["open", "secret"] if who in (ALICE, CAROL, ROOT) else ["open"]
        ), who

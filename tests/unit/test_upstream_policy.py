"""Name rules against dependency confusion, per-project overrides, the minimum age, durations."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from flaskpypi.settings import SettingsError, load_settings
from flaskpypi.upstream import Overrides, UpstreamFile, effective_mode
from flaskpypi.upstream.policy import NamePolicy, old_enough

NAMES = NamePolicy.build(allow=[], deny=["evil*"], private=["Acme_*", "internal.tools"])


@pytest.mark.parametrize(
    ("name", "blocked"),
    [("acme-web", True), ("ACME.web", True), ("internal-tools", True), ("evil-pkg", True), ("requests", False)],
)
def test_reserved_prefixes_and_deny_list_match_normalised_names(name: str, blocked: bool) -> None:
    assert (NAMES.blocked(name) is not None) is blocked


def test_allow_list_admits_only_its_names() -> None:
    names = NamePolicy.build(allow=["requests", "django-*"], deny=[], private=[])
    assert names.blocked("requests") is None and names.blocked("Django_Filter") is None
    assert "allow-list" in (names.blocked("flask") or "")


def test_effective_mode_turns_upstream_off_for_private_and_blocked_projects() -> None:
    none, merge, cache = Overrides(), Overrides(merge=True), Overrides(fallback="cache")
    assert effective_mode("mirror", "demo", NAMES, none, private=False) == "mirror"
    assert effective_mode("mirror", "demo", NAMES, none, private=True) == "none"
    assert effective_mode("mirror", "demo", NAMES, merge, private=True) == "mirror"
    assert effective_mode("mirror", "acme-x", NAMES, merge, private=True) == "none"
    assert effective_mode("none", "demo", NAMES, cache, private=False) == "cache"
    assert effective_mode("cache", "demo", NAMES, Overrides(fallback="none"), private=False) == "none"
    assert Overrides.from_settings({"fallback": "bogus", "upstream_merge": 1}) == Overrides(None, True, False)


def test_min_age_uses_upload_time_else_first_sight() -> None:
    now = time.time()
    known = UpstreamFile("d-1.0.tar.gz", "u", "1.0", "0" * 64, upload_time=datetime.fromtimestamp(now - 100, UTC))
    unknown = UpstreamFile("d-1.0.tar.gz", "u", "1.0", "0" * 64, first_seen=now - 1000)
    assert old_enough(known, 50, now) and not old_enough(known, 500, now)
    assert old_enough(unknown, 500, now) and not old_enough(unknown, 5000, now)
    assert old_enough(known, 0, now)


def test_durations_and_upstream_settings_parse(tmp_path) -> None:
    settings, _ = load_settings(
        str(tmp_path),
        {"upstream_min_age": "7d", "upstream_ttl": "10m", "upstream_retry": 45, "private_prefixes": "acme-*, corp-*"},
    )
    assert (settings.upstream_min_age, settings.upstream_ttl, settings.upstream_retry) == (604800, 600, 45)
    assert settings.private_prefixes == ["acme-*", "corp-*"]
    with pytest.raises(SettingsError, match="upstream_ttl"):
        load_settings(str(tmp_path), {"upstream_ttl": "soon"})

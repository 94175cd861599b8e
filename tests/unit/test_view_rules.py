"""Indexes and views (issue 14): settings validated at start with clear errors, and the pure resolution of a
project through a view's members and rules (no Flask, no I/O)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flaskpypi.core.views import Candidate, ViewConfig, build_layout, parse_view, resolve
from flaskpypi.settings import SettingsError, load_settings

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CONFIG = """
[indexes.main]
type = "hosted"

[indexes.staging]
type = "hosted"

[indexes.public]
type = "upstream"
url = "http://127.0.0.1:9/simple"
mode = "cache"
ttl = "10m"

[indexes.wheels]
type = "upstream"
url = "http://127.0.0.1:9/whl/"

[views.prod]
resolve = "first"
members = [
  { index = "main" },
  { index = "staging", prereleases = false },
  { index = "public", min_age = "7d", deny = ["acme-*"] },
  { index = "wheels", pin = ["torch*"], files = "wheels" },
]

[views.snapshot]
resolve = "merge"
members = [{ index = "main" }, { index = "public", uploaded_before = 2026-01-01, versions = { django = "<5" } }]
"""


def _files(*specs: tuple[str, str, int]) -> list[Candidate[str]]:
    """(project, version, age in days) -> wheel candidates uploaded that long before NOW."""
    out = []
    for project, version, days in specs:
        name = f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
        out.append(Candidate(name, version, NOW - timedelta(days=days), False, name))
    return out


def _layout():
    data = tomllib.loads(CONFIG)
    return build_layout(data["indexes"], data["views"], "prod", "main")


def _names(chosen) -> list[tuple[str, str]]:
    return [(c.index, c.file.version) for c in chosen]


def test_settings_from_toml_and_their_defaults(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "flaskpypi.toml").write_text('default_view = "prod"\ndefault_index = "main"\n' + CONFIG)
    settings, _ = load_settings(str(instance), environ={"FLASKPYPI_INSTANCE_PATH": str(instance)})
    layout = settings.layout()
    assert list(layout.indexes) == ["default", "main", "staging", "public", "wheels"]
    assert layout.indexes["public"].ttl == 600 and layout.indexes["public"].url.endswith("/simple/")
    assert [m.index for m in layout.views["prod"].members] == ["main", "staging", "public", "wheels"]
    assert layout.views["prod"].members[2].min_age == 7 * 86400
    assert layout.views["snapshot"].members[1].uploaded_before == datetime(2026, 1, 1, tzinfo=UTC)
    assert "password" not in layout.indexes["public"].to_public()


def test_no_index_configured_is_todays_server(tmp_path: Path) -> None:
    settings, _ = load_settings(str(tmp_path), environ={})
    layout = settings.layout()
    assert list(layout.indexes) == ["default"] and not layout.views
    assert layout.default_index == "default" and layout.default_view == ""


@pytest.mark.parametrize(
    ("indexes", "views", "defaults", "message"),
    [
        ({"main": {"type": "mirror"}}, {}, {}, "[indexes.main]: type is one of hosted, upstream"),
        ({"main": {"type": "hosted", "url": "x"}}, {}, {}, "[indexes.main]: unknown key 'url'"),
        ({"up": {"type": "upstream"}}, {}, {}, "[indexes.up]: url is the upstream's simple index URL"),
        ({"up": {"type": "upstream", "url": "http://h/", "ttl": "soon"}}, {}, {}, "[indexes.up]: ttl: expected"),
        ({"Main": {}}, {}, {}, "Index name 'Main'"),
        ({"simple": {}}, {}, {}, "Index name 'simple' is taken"),
        ({}, {"v": {"members": ["nope"]}}, {}, "member 'nope' is not an index; known indexes: default"),
        ({}, {"v": {"members": []}}, {}, "[views.v]: members is a non-empty list"),
        ({}, {"v": {"members": ["default"], "resolve": "best"}}, {}, "resolve is 'first' or 'merge'"),
        ({}, {"v": {"members": [{"index": "default", "versions": {"a": "~>1"}}]}}, {}, "not a PEP 440 specifier"),
        ({}, {"v": {"members": [{"index": "default", "min_age": "a week"}]}}, {}, "min_age: expected a duration"),
        ({}, {"v": {"members": [{"index": "default", "uploaded_before": "last year"}]}}, {}, "uploaded_before"),
        ({}, {"v": {"members": [{"index": "default", "files": "eggs"}]}}, {}, "files is one of all, wheels"),
        ({}, {"v": {"members": [{"index": "default", "prereleases": "no"}]}}, {}, "prereleases is true or false"),
        ({}, {"v": {"members": [{"index": "default", "pin": "import os"}]}}, {}, None),  # a glob, never code
        ({}, {"v": {"members": [{"index": "default", "rules": 1}]}}, {}, "unknown key 'rules'"),
        ({}, {"v": {"members": ["default", "default"]}}, {}, "is a member twice"),
        ({"v": {}}, {"v": {"members": ["default"]}}, {}, "an index has that name"),
        ({}, {}, {"default_view": "prod"}, "default_view 'prod' is not a view"),
        ({"up": {"type": "upstream", "url": "http://h/"}}, {}, {"default_index": "up"}, "is not a hosted index"),
    ],
)
def test_malformed_indexes_and_views_fail_at_start_naming_the_key(tmp_path: Path, indexes, views, defaults,
                                                                  message) -> None:  # fmt: skip
    overrides = {"indexes": indexes, "views": views, **defaults}
    if message is None:
        load_settings(str(tmp_path), overrides, environ={})
        return
    with pytest.raises(SettingsError) as caught:
        load_settings(str(tmp_path), overrides, environ={})
    assert message in str(caught.value)


def test_views_come_from_the_environment_as_json(tmp_path: Path) -> None:
    environ = {"FLASKPYPI_VIEWS": '{"all": {"members": ["default"], "resolve": "merge"}}',
               "FLASKPYPI_DEFAULT_VIEW": "all"}  # fmt: skip
    settings, _ = load_settings(str(tmp_path), environ=environ)
    assert settings.layout().views["all"].resolve == "merge"


def test_first_member_holding_a_project_wins_even_with_higher_versions_elsewhere() -> None:
    prod = _layout().views["prod"]
    offers = {"main": _files(("acme-lib", "1.0", 30)), "public": _files(("acme-lib", "99.0", 30))}
    assert _names(resolve(prod, "acme-lib", offers, NOW)) == [("main", "1.0")]
    # Even if main's rules left nothing, a later member never fills in: main holds the name.
    offers = {"staging": _files(("acme-lib", "2.0rc1", 30)), "public": _files(("acme-lib", "99.0", 30))}
    assert resolve(prod, "acme-lib", offers, NOW) == []
    # A name main does not hold comes from the next member that has it, within its cooldown.
    offers = {"public": _files(("requests", "2.0", 30), ("requests", "2.1", 1))}
    assert _names(resolve(prod, "requests", offers, NOW)) == [("public", "2.0")]


def test_denied_names_never_come_from_that_member() -> None:
    prod = _layout().views["prod"]
    assert resolve(prod, "Acme_Other", {"public": _files(("acme-other", "1.0", 30))}, NOW) is None


def test_a_pinned_project_comes_only_from_its_member() -> None:
    prod = _layout().views["prod"]
    offers = {"public": _files(("torch", "9.0", 30)), "wheels": _files(("torch", "2.0", 30))}
    assert _names(resolve(prod, "torch", offers, NOW)) == [("wheels", "2.0")]
    assert resolve(prod, "torch", {"public": _files(("torch", "9.0", 30))}, NOW) is None


def test_merge_snapshot_and_version_rules() -> None:
    snapshot = _layout().views["snapshot"]
    old = datetime(2026, 1, 1, tzinfo=UTC)
    offers = {
        "main": _files(("django", "6.0", 1)),
        "public": [
            Candidate("django-4.2-py3-none-any.whl", "4.2", old - timedelta(days=10), False, "a"),
            Candidate("django-4.3-py3-none-any.whl", "4.3", old + timedelta(days=1), False, "b"),
            Candidate("django-5.0-py3-none-any.whl", "5.0", old - timedelta(days=1), False, "c"),
            Candidate("django-4.1-py3-none-any.whl", "4.1", None, False, "d"),  # age unknown: not in a snapshot
        ],
    }
    assert _names(resolve(snapshot, "django", offers, NOW)) == [("main", "6.0"), ("public", "4.2")]


def test_file_kind_yanked_and_prerelease_rules() -> None:
    view = parse_view("v", {"members": [{"index": "default", "files": "sdists", "yanked": False,
                                         "prereleases": False}]})  # fmt: skip
    files = [
        Candidate("demo-1.0.tar.gz", "1.0", NOW, False, 1),
        Candidate("demo-1.0-py3-none-any.whl", "1.0", NOW, False, 2),
        Candidate("demo-1.1.tar.gz", "1.1", NOW, True, 3),
        Candidate("demo-2.0b1.tar.gz", "2.0b1", NOW, False, 4),
        Candidate("demo-2.0.dev1.zip", "2.0.dev1", NOW, False, 5),
    ]
    assert [c.file.item for c in resolve(view, "demo", {"default": files}, NOW) or []] == [1]
    assert isinstance(view, ViewConfig) and resolve(view, "demo", {}, NOW) is None

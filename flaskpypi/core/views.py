"""Indexes and views (issue 14): their settings, validated with clear errors, and the pure resolution of one
project through a view's members and rules. No I/O: callers pass each member's listing and the time.

An index is `hosted` (uploads, kept in the storage) or `upstream` (another simple index, fetched and cached).
A view lists members (index names) in priority order, each with rules: `allow`/`deny` (name globs), `pin`
(names only this member may supply), `versions` (PEP 440 specifiers per name glob), `prereleases`, `yanked`,
`min_age` (a cooldown), `uploaded_before` (a snapshot at a date) and `files` (all, wheels, sdists).
`resolve = "first"` takes a project from the first member that holds it; `"merge"` unites the members' files,
an earlier member winning a filename. Globs match normalised names (PEP 503); nothing is ever eval'd.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from fnmatch import fnmatchcase
from typing import Any, Generic, TypeVar

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .names import DEFAULT_INDEX, INDEX_NAME, canonical

HOSTED, UPSTREAM = "hosted", "upstream"
INDEX_TYPES = (HOSTED, UPSTREAM)
UPSTREAM_MODES = ("none", "redirect", "cache")
FIRST, MERGE = "first", "merge"
FILE_KINDS = ("all", "wheels", "sdists")
# First path segments the server already answers; an index or view cannot be named like them.
RESERVED = frozenset(
    {
        "simple",
        "packages",
        "pypi",
        "legacy",
        "api",
        "account",
        "admin",
        "health",
        "readyz",
        "metrics",
        "login",
        "logout",
        "register",
        "project",
        "upload",
        "static",
        "search",
        "ui",
    }
)
_NAME = INDEX_NAME
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
INDEX_KEYS = {HOSTED: {"type", "description"},
              UPSTREAM: {"type", "description", "url", "username", "password", "mode", "ttl"}}  # fmt: skip
MEMBER_KEYS = {"index", "allow", "deny", "pin", "versions", "prereleases", "yanked", "min_age", "uploaded_before",
               "files"}  # fmt: skip
VIEW_KEYS = {"members", "resolve", "description"}


class ViewConfigError(ValueError):
    """An index or view setting that is unknown or malformed; the message names the table and key."""


def parse_duration(value: Any) -> int:
    """Seconds, from a number or text such as 30s, 10m, 12h, 7d, 2w. Raises ValueError."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("expected a duration of 0 or more")
        return int(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError("expected a duration such as 30s, 10m, 12h or 7d")
    return int(float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()])


def parse_instant(value: Any) -> datetime:
    """An aware UTC datetime from a TOML date or datetime or an ISO 8601 string (a date means its midnight
    UTC, a naive time is UTC). Raises ValueError."""
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        value = datetime.fromisoformat(text) if ("T" in text or " " in text) else date.fromisoformat(text)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    raise ValueError("expected a date or a date and time (ISO 8601)")


@dataclass(frozen=True)
class IndexConfig:
    """One index: hosted (uploads here) or upstream (url, credentials, mode, page TTL in seconds)."""

    name: str
    type: str = HOSTED
    description: str = ""
    url: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    mode: str = "cache"
    ttl: int = 600

    def to_public(self) -> dict[str, Any]:
        """What `flaskpypi index list` and the API show (never the password)."""
        shown = {"name": self.name, "type": self.type, "description": self.description}
        if self.type == UPSTREAM:
            shown.update(url=self.url, username=self.username, mode=self.mode, ttl=self.ttl)
        return shown


@dataclass(frozen=True)
class MemberRules:
    """One member of a view and the rules that filter what it supplies."""

    index: str
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    pin: tuple[str, ...] = ()
    versions: tuple[tuple[str, SpecifierSet], ...] = ()
    prereleases: bool = True
    yanked: bool = True
    min_age: int = 0
    uploaded_before: datetime | None = None
    files: str = "all"

    def admits(self, project: str) -> bool:
        """Whether this member may supply the (normalised) project at all: allow and deny globs."""
        if any(fnmatchcase(project, p) for p in self.deny):
            return False
        return not self.allow or any(fnmatchcase(project, p) for p in self.allow)

    def pins(self, project: str) -> bool:
        """Whether this member is the only one that may supply the project."""
        return any(fnmatchcase(project, p) for p in self.pin)

    def specifiers(self, project: str) -> list[SpecifierSet]:
        """The version specifiers whose glob matches the project."""
        return [spec for pattern, spec in self.versions if fnmatchcase(project, pattern)]


@dataclass(frozen=True)
class ViewConfig:
    """A view: members in priority order and how a project is resolved among them."""

    name: str
    members: tuple[MemberRules, ...]
    resolve: str = FIRST
    description: str = ""


@dataclass(frozen=True)
class Layout:
    """Every index and view of a server, and what `/simple/` and the root upload URLs serve."""

    indexes: Mapping[str, IndexConfig]
    views: Mapping[str, ViewConfig]
    default_view: str
    default_index: str

    def hosted(self) -> list[str]:
        """The names of the hosted indexes, `default` first."""
        return [name for name, index in self.indexes.items() if index.type == HOSTED]

    def stored(self) -> list[str]:
        """The indexes whose files live in the storage (`_indexes/<name>/`, the built-in one at its root): the
        hosted ones, `default` first, then the upstream ones in cache mode. What a rebuild reads back."""
        return self.hosted() + [name for name, index in self.indexes.items() if index.type == UPSTREAM
                                and index.mode == "cache"]  # fmt: skip


def _str_list(where: str, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ViewConfigError(f"{where}: {key} is a list of name patterns (globs), got {value!r}")
    return tuple(canonical(v.strip()) for v in value)


def _bool(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ViewConfigError(f"{where}: {key} is true or false, got {value!r}")
    return value


def _name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ViewConfigError(f"{kind} name {name!r}: use lower-case letters, digits, '.', '-' and '_' "
                              "(starting and ending with a letter or digit)")  # fmt: skip
    if name in RESERVED:
        raise ViewConfigError(f"{kind} name {name!r} is taken by the server's own URLs ({', '.join(sorted(RESERVED))})")
    return name


def _table(where: str, value: Any, allowed: Iterable[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ViewConfigError(f"{where} is a table, got {value!r}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ViewConfigError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(allowed))}")
    return value


def parse_index(name: str, value: Any) -> IndexConfig:
    """One [indexes.<name>] table. Raises ViewConfigError naming what is wrong."""
    where = f"[indexes.{name}]"
    _name("Index", name)
    kind = value.get("type", HOSTED) if isinstance(value, Mapping) else None
    if kind not in INDEX_TYPES:
        raise ViewConfigError(f"{where}: type is one of {', '.join(INDEX_TYPES)}, got {kind!r}")
    table = _table(where, value, INDEX_KEYS[kind])
    for key in ("description", "url", "username", "password"):
        if not isinstance(table.get(key, ""), str):
            raise ViewConfigError(f"{where}: {key} is a string")
    if kind == HOSTED:
        return IndexConfig(name, HOSTED, table.get("description", ""))
    url = table.get("url", "")
    if not re.match(r"^https?://[^/]+", url):
        raise ViewConfigError(f"{where}: url is the upstream's simple index URL (http:// or https://), got {url!r}")
    mode = table.get("mode", "cache")
    if mode not in UPSTREAM_MODES:
        raise ViewConfigError(f"{where}: mode is one of {', '.join(UPSTREAM_MODES)}, got {mode!r}")
    try:
        ttl = parse_duration(table.get("ttl", 600))
    except ValueError as exc:
        raise ViewConfigError(f"{where}: ttl: {exc}") from None
    return IndexConfig(name, UPSTREAM, table.get("description", ""), url.rstrip("/") + "/",
                       table.get("username", ""), table.get("password", ""), mode, ttl)  # fmt: skip


def parse_member(where: str, value: Any) -> MemberRules:
    """One member of a view: an index name, or a table with `index` and rules."""
    if isinstance(value, str):
        value = {"index": value}
    table = _table(where, value, MEMBER_KEYS)
    index = table.get("index")
    if not isinstance(index, str) or not index:
        raise ViewConfigError(f"{where}: index names the member's index")
    where = f"{where} (index {index!r})"
    versions = table.get("versions", {})
    if isinstance(versions, str):
        versions = {"*": versions}
    if not isinstance(versions, Mapping):
        raise ViewConfigError(f"{where}: versions maps name patterns to PEP 440 specifiers, got {versions!r}")
    specs = []
    for pattern, text in versions.items():
        try:
            specs.append((canonical(str(pattern)), SpecifierSet(str(text))))
        except InvalidSpecifier:
            raise ViewConfigError(f"{where}: versions[{pattern!r}] = {text!r} is not a PEP 440 specifier") from None
    files = table.get("files", "all")
    if files not in FILE_KINDS:
        raise ViewConfigError(f"{where}: files is one of {', '.join(FILE_KINDS)}, got {files!r}")
    try:
        min_age = parse_duration(table.get("min_age", 0))
    except ValueError as exc:
        raise ViewConfigError(f"{where}: min_age: {exc}") from None
    before = None
    if table.get("uploaded_before") not in (None, ""):
        try:
            before = parse_instant(table["uploaded_before"])
        except ValueError as exc:
            raise ViewConfigError(f"{where}: uploaded_before: {exc}") from None
    return MemberRules(
        index=index,
        allow=_str_list(where, "allow", table.get("allow", [])),
        deny=_str_list(where, "deny", table.get("deny", [])),
        pin=_str_list(where, "pin", table.get("pin", [])),
        versions=tuple(specs),
        prereleases=_bool(where, "prereleases", table.get("prereleases", True)),
        yanked=_bool(where, "yanked", table.get("yanked", True)),
        min_age=min_age,
        uploaded_before=before,
        files=files,
    )


def parse_view(name: str, value: Any) -> ViewConfig:
    """One [views.<name>] table. Raises ViewConfigError naming what is wrong."""
    where = f"[views.{name}]"
    _name("View", name)
    table = _table(where, value, VIEW_KEYS)
    members = table.get("members")
    if not isinstance(members, list | tuple) or not members:
        raise ViewConfigError(f"{where}: members is a non-empty list of index names or member tables")
    parsed = tuple(parse_member(f"{where} member {i + 1}", m) for i, m in enumerate(members))
    resolve = table.get("resolve", FIRST)
    if resolve not in (FIRST, MERGE):
        raise ViewConfigError(f"{where}: resolve is {FIRST!r} or {MERGE!r}, got {resolve!r}")
    return ViewConfig(name, parsed, resolve, str(table.get("description", "")))


def build_layout(indexes: Mapping[str, Any], views: Mapping[str, Any], default_view: str = "",
                 default_index: str = "") -> Layout:  # fmt: skip
    """Check indexes and views together: members name known indexes, names are unique across both, the
    defaults exist and the default index is hosted. The built-in `default` hosted index (today's storage)
    always exists. Raises ViewConfigError."""
    parsed = {DEFAULT_INDEX: IndexConfig(DEFAULT_INDEX, HOSTED, "the built-in index")}
    for name, value in indexes.items():
        index = parse_index(name, value)
        if name == DEFAULT_INDEX and index.type != HOSTED:
            raise ViewConfigError(f"[indexes.{name}]: the {DEFAULT_INDEX!r} index is the built-in hosted index")
        parsed[name] = index
    view_configs = {name: parse_view(name, value) for name, value in views.items()}
    for view in view_configs.values():
        if view.name in parsed:
            raise ViewConfigError(f"[views.{view.name}]: an index has that name; each answers at /<name>/simple/")
        seen: set[str] = set()
        for member in view.members:
            if member.index not in parsed:
                raise ViewConfigError(f"[views.{view.name}]: member {member.index!r} is not an index; "
                                      f"known indexes: {', '.join(sorted(parsed))}")  # fmt: skip
            if member.index in seen:
                raise ViewConfigError(f"[views.{view.name}]: index {member.index!r} is a member twice")
            seen.add(member.index)
    if default_view and default_view not in view_configs:
        raise ViewConfigError(
            f"default_view {default_view!r} is not a view; views: {', '.join(view_configs) or 'none'}"
        )
    default_index = default_index or DEFAULT_INDEX
    if parsed.get(default_index, IndexConfig("", UPSTREAM)).type != HOSTED:
        hosted = ", ".join(n for n, i in parsed.items() if i.type == HOSTED)
        raise ViewConfigError(f"default_index {default_index!r} is not a hosted index; hosted indexes: {hosted}")
    return Layout(parsed, view_configs, default_view, default_index)


# -- resolution ------------------------------------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True)
class Candidate(Generic[T]):
    """A file a member offers: what the rules look at, and the caller's own record of it (`item`).

    `uploaded` is the upload time (for upstream files without one, when the index first saw them); a file
    whose time is unknown never passes a time rule, since its age cannot be shown."""

    filename: str
    version: str
    uploaded: datetime | None
    yanked: bool
    item: T


@dataclass(frozen=True)
class Chosen(Generic[T]):
    """A file the view offers, and the member index it comes from."""

    index: str
    file: Candidate[T]


def _kind_ok(filename: str, files: str) -> bool:
    wheel = filename.endswith(".whl")
    return files == "all" or (files == "wheels") == wheel


def passes(rules: MemberRules, project: str, file: Candidate[Any], now: datetime) -> bool:
    """Whether a member's file rules let one file through (the name rules are checked before)."""
    if not _kind_ok(file.filename, rules.files) or (file.yanked and not rules.yanked):
        return False
    specs = rules.specifiers(project)
    if specs or not rules.prereleases:
        try:
            version = Version(file.version)
        except InvalidVersion:
            return False  # a rule on versions cannot vouch for an unparsable one
        if not rules.prereleases and (version.is_prerelease or version.is_devrelease):
            return False
        if not all(spec.contains(version, prereleases=True) for spec in specs):
            return False
    if rules.min_age or rules.uploaded_before is not None:
        if file.uploaded is None:
            return False
        uploaded = file.uploaded if file.uploaded.tzinfo else file.uploaded.replace(tzinfo=UTC)
        if rules.min_age and (now - uploaded).total_seconds() < rules.min_age:
            return False
        if rules.uploaded_before is not None and uploaded >= rules.uploaded_before:
            return False
    return True


def eligible(view: ViewConfig, project: str) -> list[MemberRules]:
    """The members that may supply a project, in priority order: if any member pins it, only those;
    then only members whose allow and deny globs admit it."""
    project = canonical(project)
    pinned = [m for m in view.members if m.pins(project)]
    return [m for m in (pinned or view.members) if m.admits(project)]


def resolve(view: ViewConfig, project: str, offers: Mapping[str, Sequence[Candidate[T]] | None],
            now: datetime) -> list[Chosen[T]] | None:  # fmt: skip
    """The files a view offers of a project, or None when no eligible member holds it (a 404).

    `offers` maps member index names to their files of the project; None (or a missing key) means the
    index does not hold it, or hides it from this asker (the same thing to the asker). With resolve
    "first", the first eligible member that holds the project supplies it, even when its rules leave no
    file: a later member never fills in (the dependency-confusion guard). With "merge", every eligible
    member's files that pass its rules are offered, an earlier member winning a filename."""
    project = canonical(project)
    chosen: list[Chosen[T]] = []
    names: set[str] = set()
    held = False
    for member in eligible(view, project):
        files = offers.get(member.index)
        if files is None:
            continue
        held = True
        for f in files:
            if f.filename not in names and passes(member, project, f, now):
                names.add(f.filename)
                chosen.append(Chosen(member.index, f))
        if view.resolve == FIRST:
            break
    return chosen if held else None

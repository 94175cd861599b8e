"""Which names may come from upstream (dependency confusion), per-project overrides, and the minimum age."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from ..core.names import canonical
from .modes import FALLBACKS, NONE
from .pages import UpstreamFile

# Keys of Project.settings (and _project.json) that an admin sets per project.
FALLBACK_KEY, MERGE_KEY, MIN_AGE_EXEMPT_KEY = "fallback", "upstream_merge", "min_age_exempt"
OVERRIDE_KEYS = (FALLBACK_KEY, MERGE_KEY, MIN_AGE_EXEMPT_KEY)


def _patterns(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(canonical(v.strip()) for v in values if v.strip())


@dataclass(frozen=True)
class NamePolicy:
    """The config's allow-list, deny-list and reserved private prefixes (glob patterns on normalised names)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    private: tuple[str, ...] = ()

    @classmethod
    def build(cls, allow: Iterable[str], deny: Iterable[str], private: Iterable[str]) -> NamePolicy:
        """Patterns normalised like project names (`Acme_*` and `acme-*` are one pattern)."""
        return cls(_patterns(allow), _patterns(deny), _patterns(private))

    def blocked(self, name: str) -> str | None:
        """Why a name never goes upstream, or None when it may."""
        name = canonical(name)
        if any(fnmatchcase(name, p) for p in self.private):
            return f"{name!r} matches a reserved private prefix"
        if any(fnmatchcase(name, p) for p in self.deny):
            return f"{name!r} is on the upstream deny-list"
        if self.allow and not any(fnmatchcase(name, p) for p in self.allow):
            return f"{name!r} is not on the upstream allow-list"
        return None


@dataclass(frozen=True)
class Overrides:
    """An admin's per-project choices: another fallback mode, merging a private project with the
    upstream one of the same name, exemption from the minimum age."""

    fallback: str | None = None
    merge: bool = False
    min_age_exempt: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> Overrides:
        """Read the keys an admin set in Project.settings; unknown values are ignored."""
        settings = settings or {}
        mode = settings.get(FALLBACK_KEY)
        return cls(mode if mode in FALLBACKS else None, bool(settings.get(MERGE_KEY)),
                   bool(settings.get(MIN_AGE_EXEMPT_KEY)))  # fmt: skip


def effective_mode(default: str, name: str, names: NamePolicy, overrides: Overrides, private: bool) -> str:
    """The mode that applies to one project: none for reserved, denied or not-allowed names, and for a
    project with private uploads unless an admin allowed merging it with the upstream project."""
    mode = overrides.fallback or default
    if mode == NONE or names.blocked(name):
        return NONE
    if private and not overrides.merge:
        return NONE
    return mode


def old_enough(file: UpstreamFile, min_age: int, now: float | None = None) -> bool:
    """Whether an upstream file is at least min_age seconds old (by upload-time, else first seen)."""
    if min_age <= 0:
        return True
    born = file.upload_time.timestamp() if file.upload_time is not None else file.first_seen
    return (time.time() if now is None else now) - born >= min_age

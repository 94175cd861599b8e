"""The upstream fallback as a service: pypicloud's table per asker and project, pages merged with the
upstream's, downloads of files not cached yet, and the admins' per-project upstream settings."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ..auth import READ, Principal
from ..auth.policy import CACHE as CACHE_PERMISSION
from ..auth.policy import AccessPolicy
from ..core import simple as pages
from ..core.errors import BadRequest, NotFound, Unauthorized, UpstreamError
from ..core.names import canonical
from ..core.records import METADATA_SUFFIX
from ..index.cached import CacheIndex, LocalFacts
from ..index.models import File, Project
from ..index.service import Policy, sort_key
from ..storage import Storage
from ..upstream import CACHE, FALLBACKS, MIRROR, NONE, Listing, Overrides, Upstream, effective_mode, listing_for
from ..upstream.listing import merge
from ..upstream.pages import UpstreamFile, UpstreamPage
from ..upstream.policy import FALLBACK_KEY, MERGE_KEY, MIN_AGE_EXEMPT_KEY

Link = Callable[[UpstreamFile], str]


@dataclass(frozen=True)
class Plan:
    """How one request for a project page is answered, and the facts the answer rests on."""

    name: str
    listing: Listing
    mode: str
    facts: LocalFacts
    overrides: Overrides


@dataclass(frozen=True)
class Redirect:
    """Send the client to the upstream's own page (302)."""

    url: str


@dataclass(frozen=True)
class Merged:
    """A project page combined from the local files and the upstream page's offered files.

    `key()` and `etag()` identify its content (the project's serial, the upstream page's digest, the
    minute when a minimum age applies, the listing and the format); `build()` makes the page.
    """

    plan: Plan
    page: UpstreamPage | None
    offered: tuple[UpstreamFile, ...]
    bucket: int

    @property
    def links_here(self) -> bool:
        """Upstream files link to this index (cache links), not to the upstream (redirect links)."""
        return self.plan.listing in (Listing.UPSTREAM, Listing.LOCAL_UPSTREAM)

    def key(self, fmt: str) -> tuple[Any, ...]:
        """A page-cache key for this content in format `fmt`."""
        return ("upstream", self.plan.name, self._serial, self._digest, self.bucket, self.plan.listing.name, fmt)

    def etag(self, fmt: str) -> str:
        """An entity tag for this content in format `fmt`."""
        return f"{self._serial}-{self._digest}-{self.bucket}-{self.plan.listing.name.lower()}-{fmt.rsplit('.', 1)[-1]}"

    @property
    def _serial(self) -> int:
        return self.plan.facts.project.serial if self.plan.facts.project is not None else 0

    @property
    def _digest(self) -> str:
        return self.page.digest if self.page is not None else "-"

    def build(self, local: pages.SimpleProject | None, link: Link | None) -> pages.SimpleProject:
        """The merged page; `local` is the project's own page (None: it holds nothing), `link` the URL
        of an upstream file here (used only when `links_here`)."""
        if local is None:
            local = pages.SimpleProject(self.plan.name, [], [])
        facts = self.plan.facts
        return merge(local, self.page, self.offered, link=link if self.links_here else None, cached=facts.cached,
                     hidden=facts.tombstones, order=sort_key)  # fmt: skip


@dataclass(frozen=True)
class FetchedMetadata:
    """The PEP 658 core metadata of an upstream file not cached yet."""

    data: bytes
    sha256: str


@dataclass(frozen=True)
class FetchedStream:
    """An upstream file streamed while it is stored; closing `chunks` ends the fetch (and frees its lock)."""

    chunks: Iterator[bytes]
    size: int | None
    sha256: str


class Fallback:
    """One asker's (or command's) view of the upstream fallback, in one SQL session."""

    def __init__(self, session: Session, storage: Storage, policy: Policy, upstream: Upstream,
                 access: AccessPolicy, who: Principal | None, default_mode: str,
                 projects: Callable[[str], Project | None] | None = None) -> None:  # fmt: skip
        self.index = CacheIndex(session, storage, policy)
        self.upstream = upstream
        self.access = access
        self.who = who
        self.default_mode = default_mode
        # how plan() finds a project's row: the host may answer from a cache kept per serial (rows read only)
        self.projects = projects or self.index.project

    def mode(self, name: str) -> tuple[str, LocalFacts, Overrides]:
        """The fallback mode that applies to a project after the dependency-confusion rules."""
        return self._mode(name, self.index.project(name))

    def _mode(self, name: str, project: Project | None) -> tuple[str, LocalFacts, Overrides]:
        overrides = Overrides.from_settings(project.settings if project is not None else None)
        if (overrides.fallback or self.default_mode) == NONE:
            return NONE, LocalFacts(project), overrides
        facts = self.index.facts(project)
        mode = effective_mode(self.default_mode, name, self.upstream.config.names, overrides, facts.private)
        return mode, facts, overrides

    def plan(self, name: str) -> Plan:
        """Apply pypicloud's fallback table to this asker and project (`name` normalised)."""
        access, who = self.access, self.who
        mode, facts, overrides = self._mode(name, self.projects(name))
        project = facts.project
        held = project is not None and (facts.live > 0 or mode == NONE)
        read = access.can(who, READ, name)
        cache = mode != NONE and access.can(who, CACHE_PERMISSION, name)
        listing = listing_for(mode, held, read, cache, who is not None, cached_only=not facts.private)
        if project is not None and not read and access.can(who, READ):
            listing = Listing.NOT_FOUND  # hidden from this asker: a missing project's 404, never the upstream's page
        return Plan(name, listing, mode, facts, overrides)

    def answer(self, plan: Plan, now: float | None = None) -> Redirect | Merged:
        """Every answer but a plain local page. Raises Unauthorized or NotFound for refusals, and
        UpstreamError (already logged by the upstream's health) when it fails and nothing is held here."""
        if plan.listing is Listing.LOGIN:
            raise Unauthorized("Authentication required.")
        if plan.listing is Listing.NOT_FOUND:
            raise NotFound(f"No project named {plan.name!r}.")
        if plan.listing is Listing.REDIRECT:
            return Redirect(self.upstream.project_url(plan.name))
        try:
            page = self.upstream.page(plan.name)
        except UpstreamError:
            if not plan.facts.live:
                raise
            page = None
        if page is None and not plan.facts.live:
            raise NotFound(f"No project named {plan.name!r}, here or upstream.")
        now = time.time() if now is None else now
        offered = tuple(self.upstream.offered(page, plan.overrides.min_age_exempt, now))
        bucket = int(now // 60) if self.upstream.config.min_age else 0
        return Merged(plan, page, offered, bucket)

    def fetch(self, name: str, filename: str, suffix: str, stream: bool) -> File | FetchedMetadata | FetchedStream:
        """A file the index does not hold: in cache and mirror modes, fetched from upstream for those who
        may update the cache. `suffix` is "" or METADATA_SUFFIX; with `stream`, large files come back as
        a stream stored meanwhile, small ones (and all without `stream`) are stored and verified first.
        Raises NotFound, Unauthorized, or UpstreamError when the upstream fails."""
        mode, facts, overrides = self.mode(name)
        project = facts.project
        missing = NotFound(f"No file {filename!r} in project {name!r}.")
        if mode not in (CACHE, MIRROR) or filename in facts.tombstones or suffix not in ("", METADATA_SUFFIX):
            raise missing
        if project is not None and project.status == "quarantined":
            raise NotFound(f"Project {project.display_name!r} is quarantined (PEP 792).")
        if not self.access.can(self.who, CACHE_PERMISSION, name):
            if self.who is None:
                raise Unauthorized("Authentication required: fetching from the upstream needs cache_update.")
            raise missing
        wanted = self.upstream.find(name, filename, overrides.min_age_exempt)
        return fetch_file(self.upstream, self.index, name, wanted, suffix, stream)

    # -- the admins' per-project upstream settings ---------------------------------------------------

    def settings_report(self, name: str) -> dict[str, Any]:
        """How the upstream fallback applies to a project: the default and effective modes, the overrides,
        whether it is private or blocked, and its cached files."""
        mode, facts, overrides = self.mode(name)
        return {
            "project": name,
            "fallback": self.default_mode,
            "effective": mode,
            "overrides": {
                FALLBACK_KEY: overrides.fallback,
                MERGE_KEY: overrides.merge,
                MIN_AGE_EXEMPT_KEY: overrides.min_age_exempt,
            },
            "private": facts.private,
            "blocked": self.upstream.config.names.blocked(name),
            "cached_files": sorted(facts.cached),
        }

    def change_settings(self, name: str, data: Mapping[str, Any] | Any) -> dict[str, Any]:
        """Override the fallback mode, allow merging a private project with upstream, exempt it from the
        minimum age (None removes an override). Raises BadRequest for any other shape; returns the report."""
        if not isinstance(data, Mapping) or not set(data) <= {FALLBACK_KEY, MERGE_KEY, MIN_AGE_EXEMPT_KEY}:
            raise BadRequest(f"Send a JSON object with any of {FALLBACK_KEY}, {MERGE_KEY}, {MIN_AGE_EXEMPT_KEY}.")
        if data.get(FALLBACK_KEY) not in (None, *FALLBACKS):
            raise BadRequest(f"Unknown fallback {data[FALLBACK_KEY]!r}; use one of {', '.join(FALLBACKS)} or null.")
        for key in (MERGE_KEY, MIN_AGE_EXEMPT_KEY):
            if data.get(key) not in (None, True, False):
                raise BadRequest(f"{key} is true, false or null.")
        changes = {k: (v or None) if k != FALLBACK_KEY else v for k, v in data.items()}
        self.index.set_project_settings(name, changes)
        return self.settings_report(canonical(name))


def fetch_file(up: Upstream, idx: CacheIndex, name: str, wanted: UpstreamFile, suffix: str,
               stream: bool) -> File | FetchedMetadata | FetchedStream:  # fmt: skip
    """An upstream file (`suffix` "" or METADATA_SUFFIX) fetched into the index `idx` once across workers
    and hosts (the upstream's fetch locks), verified against its listed sha256 and stored with its sidecar
    under the index's storage; a large one with `stream` comes back as a stream stored meanwhile. The
    caller has decided it may be offered. Raises UpstreamError when the upstream fails or the bytes differ."""
    if suffix == METADATA_SUFFIX:
        return FetchedMetadata(up.files.metadata(name, wanted), wanted.metadata_sha256 or "")
    args = (name, wanted, lambda: idx.is_cached(wanted.filename), idx.add_cached)
    if stream and (wanted.size is None or wanted.size >= up.config.stream_size):
        chunks = up.files.stream(*args)
        first = next(chunks, b"")  # failures before the first byte still raise here (a clear 502)
        return FetchedStream(_primed(first, chunks), wanted.size, wanted.sha256)
    up.files.ensure(*args)
    return idx.require_file(name, wanted.filename)


def _primed(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """The stream again, its first chunk put back; closing it closes the fetch (and frees its lock)."""
    try:
        yield first
        yield from rest
    finally:
        rest.close()  # type: ignore[attr-defined]

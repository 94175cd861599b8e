"""Views served at /<name>/simple/: each member's listing of a project gathered (the built-in hosted index
from the database, upstream indexes from their page caches), the asker's permissions applied, then the
view's rules and resolution (core.views.resolve). No Flask: a Session and the asker in, pages out."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from ..auth import READ, Principal
from ..auth.policy import CACHE as CACHE_PERMISSION
from ..auth.policy import AccessPolicy
from ..core import simple as pages
from ..core.errors import NotFound, Unauthorized
from ..core.names import canonical
from ..core.records import PROVENANCE_SUFFIX
from ..core.views import (
    DEFAULT_INDEX,
    FIRST,
    HOSTED,
    Candidate,
    Chosen,
    Layout,
    MemberRules,
    ViewConfig,
    eligible,
    resolve,
)
from ..index.cached import CacheIndex
from ..index.models import File, Project
from ..index.service import FileFacts, IndexService, Policy, sort_key
from ..storage import Storage
from ..upstream import CACHE, Upstream
from ..upstream.pages import UpstreamFile
from .fallback import FetchedMetadata, FetchedStream, fetch_file

HostedLink = Callable[[str, str, str], str]  # (project, filename, index) -> URL of a hosted file (or its provenance)


@dataclass(frozen=True)
class ViewPage:
    """A project's page in a view; `last_modified` only when every member that holds it is hosted."""

    page: pages.SimpleProject
    last_modified: datetime | None


@dataclass(frozen=True)
class HostedFile:
    """A hosted file a view offers: the member index it comes from and what a download needs of it."""

    index: str
    facts: FileFacts


@dataclass(frozen=True)
class UpstreamOffer:
    """An upstream file a view offers from a member index in cache mode: stored here on its first download."""

    index: str
    file: UpstreamFile


@dataclass(frozen=True)
class _Held:
    """What a member holds of a project: its files (loaded when asked), a version of them (serial or page
    digest), its PEP 792 status, when it last changed (hosted only) and its display name."""

    files: Callable[[], list[Candidate[Any]]]
    version: str
    status: str = "active"
    reason: str = ""
    changed: datetime | None = None
    display: str = ""
    serial: int = 0  # the hosted project's serial (0 for an upstream page)


@dataclass(frozen=True)
class Gathered:
    """The members of a view that were asked about a project, and a key for the page's content."""

    view: ViewConfig
    name: str
    held: Mapping[str, _Held | None]
    key: tuple[Any, ...]

    @property
    def serial(self) -> int:
        """The highest serial of the hosted members that hold the project (PyPI's `last_serial`), else 0."""
        return max((h.serial for h in self.held.values() if h is not None), default=0)

    @property
    def holder(self) -> _Held:
        """The first member that holds the project (its PEP 792 status and display name are the view's)."""
        return next(h for h in self.held.values() if h is not None)

    @property
    def last_modified(self) -> datetime | None:
        """The latest change of the holders, when all are hosted (an upstream page has no such date)."""
        changed = [h.changed for h in self.held.values() if h is not None]
        return max(changed) if changed and all(c is not None for c in changed) else None  # type: ignore[type-var]


class ViewService:
    """One asker's view of the indexes and views of the layout, in one SQL session."""

    def __init__(self, session: Session, storage: Storage, policy: Policy, layout: Layout,
                 upstreams: Mapping[str, Upstream], access: AccessPolicy, who: Principal | None,
                 projects: Callable[[str], Project | None] | None = None,
                 holds: Callable[[Project], bool] | None = None) -> None:  # fmt: skip
        """`projects` and `holds` find the built-in index's project row and whether it lists the project: the
        host may answer them from caches kept per serial (rows read only)."""
        self.index = IndexService(session, storage, policy)
        self.projects = projects or self.index.project
        self.holds = holds or self.index.holds
        self.hosted = {DEFAULT_INDEX: self.index}
        self.layout = layout
        self.upstreams = upstreams
        self.access = access
        self.who = who
        self._readable: frozenset[str] | None = None

    @property
    def readable(self) -> frozenset[str]:
        """The indexes this asker may read (AccessPolicy.can_index), decided once per service (request)."""
        if self._readable is None:
            self._readable = self.access.readable_indexes(self.who, list(self.layout.indexes))
        return self._readable

    def view(self, name: str) -> ViewConfig:
        """The view of that name as this asker sees it: the members whose index the asker may not read are
        left out (never asked). An index answers as a view of itself alone, without rules. NotFound else;
        an index the asker may not read is missing too (Unauthorized for anonymous askers: a login may help)."""
        if name in self.layout.views:
            view = self.layout.views[name]
            members = tuple(m for m in view.members if m.index in self.readable)
            return view if len(members) == len(view.members) else replace(view, members=members)
        if name in self.layout.indexes and name in self.readable:
            return ViewConfig(name, (MemberRules(name),))
        if name in self.layout.indexes and self.who is None:
            raise Unauthorized("Authentication required.")
        raise NotFound(f"No index or view named {name!r}.")

    def _hidden(self, view: ViewConfig) -> bool:
        """Whether the asker cannot read some member of the layout's view of that name."""
        full = self.layout.views.get(view.name)
        return full is not None and len(full.members) != len(view.members)

    def _require_read(self) -> None:
        if self.who is None and not self.access.can(None, READ):
            raise Unauthorized("Authentication required.")

    def hosted_index(self, name: str) -> IndexService:
        """The index service of a hosted index of the layout, in this session."""
        if name not in self.hosted:
            self.hosted[name] = self.index.for_index(name)
        return self.hosted[name]

    def project_names(self, view: ViewConfig) -> list[tuple[str, str]]:
        """(normalised, display) names the asker may read that a hosted member holds (upstream indexes
        cannot be listed), after each member's name rules; by name."""
        self._require_read()
        hosted = [m for m in view.members if self.layout.indexes[m.index].type == HOSTED]
        names: dict[str, str] = {}
        for member in hosted:
            for normal, display in self.hosted_index(member.index).project_names():
                if normal not in names and member.admits(normal):
                    names[normal] = display
        visible = self.access.visible(self.who, sorted(names.items()))
        return list(visible)

    def gather(self, view: ViewConfig, name: str, now: float | None = None) -> Gathered:
        """Who holds a project in a view, cheaply (one query per hosted member, the kept page per upstream
        one), and a key for the page's content. Raises NotFound (no member holds it, or the asker may not
        read it: the same answer), Unauthorized (anonymous askers of a private index) or UpstreamError."""
        self._require_read()
        name = canonical(name)
        if not self.access.can(self.who, READ, name):
            if self.who is None:
                raise Unauthorized("Authentication required.")
            raise NotFound(f"No project named {name!r} in {view.name!r}.")
        held: dict[str, _Held | None] = {}
        members = eligible(view, name)
        for member in members:  # in priority order; with "first", no member after the holder is asked
            held[member.index] = self._held(member.index, name)
            if held[member.index] is not None and view.resolve == FIRST:
                break
        if not any(h is not None for h in held.values()):
            if self.who is None and self._hidden(view):
                raise Unauthorized("Authentication required.")  # a member this asker may not read might hold it
            raise NotFound(f"No project named {name!r} in {view.name!r}.")
        aging = any(m.min_age for m in members)  # what a cooldown hides changes with time: a key per minute
        bucket = int((time.time() if now is None else now) // 60) if aging else 0
        readable = tuple(m.index for m in view.members)  # what this asker may read of the view
        key = ("view", view.name, name, bucket, readable,
               tuple((i, h.version if h else None) for i, h in held.items()))  # fmt: skip
        return Gathered(view, name, held, key)

    def chosen(self, gathered: Gathered, now: datetime | None = None) -> list[Chosen[Any]]:
        """The files the view offers of a gathered project, each with the member index it comes from:
        the rules and resolution applied (core.views.resolve), none while the project is quarantined."""
        offers = {index: h.files() if h is not None else None for index, h in gathered.held.items()}
        chosen = resolve(gathered.view, gathered.name, offers, now or datetime.now(UTC)) or []
        return [] if gathered.holder.status == "quarantined" else chosen

    def page(self, gathered: Gathered, link: HostedLink, provenance: HostedLink,
             now: datetime | None = None) -> ViewPage:  # fmt: skip
        """A project's page in a view: the files the resolution chose, hosted ones and those of upstream
        members in cache mode linked by `link` (their PEP 740 provenance by `provenance`), other upstream
        ones to the upstream itself; the PEP 792 status of the first member that holds it (quarantined: no
        files)."""
        chosen = self.chosen(gathered, now)
        first = gathered.holder
        files = [_simple_file(item, link, provenance) for item in self.linked(gathered.name, chosen, link, provenance)]
        order = {c.file.filename: sort_key(c.file.version) for c in chosen}
        files.sort(key=lambda f: (order[f.filename], f.filename))
        versions = sorted({c.file.version for c in chosen}, key=sort_key)
        page = pages.SimpleProject(gathered.name, files, versions, first.status, first.reason,
                                   first.display or gathered.name)  # fmt: skip
        return ViewPage(page, gathered.last_modified)

    def caches(self, index: str) -> bool:
        """Whether a member index is an upstream one in cache mode (its files are served from here)."""
        return index in self.upstreams and self.upstreams[index].config.mode == CACHE

    def linked(self, name: str, chosen: list[Chosen[Any]], link: HostedLink,
               provenance: HostedLink | None = None) -> list[File | UpstreamFile]:  # fmt: skip
        """The chosen files of project `name`, those of upstream members in cache mode with their URL (and
        their provenance's, when the upstream has one) turned to this server's (`link`, `provenance`)."""
        items: list[File | UpstreamFile] = []
        for c in chosen:
            item = c.file.item
            if isinstance(item, UpstreamFile) and self.caches(c.index):
                where = (name, item.filename, c.index)
                proof = provenance(*where) if provenance is not None and item.provenance_url else None
                item = replace(item, url=link(*where), provenance_url=proof)
            items.append(item)
        return items

    def offered(self, gathered: Gathered, now: datetime | None = None) -> dict[str, HostedFile | UpstreamOffer]:
        """The files a view offers of a gathered project now that this server serves, by filename: hosted
        ones, and those of upstream members in cache mode (a file the view filters out, or a redirected one,
        is absent)."""
        offered: dict[str, HostedFile | UpstreamOffer] = {}
        for c in self.chosen(gathered, now):
            if isinstance(c.file.item, File):
                offered[c.file.filename] = HostedFile(c.index, FileFacts.of(c.file.item))
            elif self.caches(c.index):
                offered[c.file.filename] = UpstreamOffer(c.index, c.file.item)
        return offered

    def fetch(self, name: str, offer: UpstreamOffer, suffix: str,
              stream: bool) -> File | FetchedMetadata | FetchedStream:  # fmt: skip
        """An offered upstream file of project `name` (`suffix` "", METADATA_SUFFIX or PROVENANCE_SUFFIX):
        its row when the member index holds it already, else fetched once into that index (its storage part,
        `index_name`, origin "cache") for those who may update the cache (`cache_update`), as the built-in
        fallback does. Raises Unauthorized, NotFound, or UpstreamError when the upstream fails."""
        idx = CacheIndex(self.index.session, self.index.root_storage, self.index.policy, offer.index)
        held = idx.file(name, offer.file.filename)
        if held is not None:
            return held
        if not self.access.can(self.who, CACHE_PERMISSION, name):
            if self.who is None:
                raise Unauthorized("Authentication required: fetching from the upstream needs cache_update.")
            raise NotFound(f"No file {offer.file.filename!r} of project {name!r} is cached in {offer.index!r}.")
        whole = suffix == PROVENANCE_SUFFIX  # the provenance is kept beside the file: fetch the file first
        return fetch_file(self.upstreams[offer.index], idx, name, offer.file, "" if whole else suffix,
                          stream and not whole)  # fmt: skip

    def project(self, view: ViewConfig, name: str, link: HostedLink, provenance: HostedLink,
                now: datetime | None = None) -> ViewPage:  # fmt: skip
        """gather() then page(): a project's page in a view, uncached."""
        return self.page(self.gather(view, name, now.timestamp() if now else None), link, provenance, now)

    def _held(self, index: str, name: str) -> _Held | None:
        """What an index holds of a project, its files loaded only when asked (None: it does not hold it)."""
        if self.layout.indexes[index].type == HOSTED:
            service = self.hosted_index(index)
            # the built-in index's rows come from the host's per-serial caches
            find, holds = (self.projects, self.holds) if index == DEFAULT_INDEX else (service.project, service.holds)
            project = find(name)
            if project is None or not holds(project):
                return None

            def hosted() -> list[Candidate[Any]]:
                return [Candidate(f.filename, f.version, _aware(f.upload_time), f.yanked, f)
                        for f in service.live_files(project)]  # fmt: skip

            return _Held(hosted, f"s{project.serial}", project.status, project.status_reason or "",
                         project.last_update, project.display_name, project.serial)  # fmt: skip
        page = self.upstreams[index].page(name)
        if page is None:
            return None
        files = [Candidate(f.filename, f.version, _uploaded(f), f.yanked, f) for f in page.files]
        return _Held(lambda: files, f"d{page.digest}", page.status, page.status_reason)


def _aware(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def _uploaded(f: UpstreamFile) -> datetime | None:
    """The upstream's upload time, else when this index first saw the file."""
    if f.upload_time is not None:
        return _aware(f.upload_time)
    return datetime.fromtimestamp(f.first_seen, UTC) if f.first_seen else None


def _simple_file(item: File | UpstreamFile, link: HostedLink, provenance: HostedLink) -> pages.SimpleFile:
    """A hosted file links to this server (`link`, `provenance`); an upstream one to its `url` (the upstream
    itself, or this server for a member in cache mode: see ViewService.linked)."""
    if isinstance(item, File):
        where = (item.project.name, item.filename, item.index_name)
        url, metadata = link(*where), item.core_metadata_sha256
        provenance_url = provenance(*where) if item.provenance_sha256 else None
    else:
        url, metadata, provenance_url = item.url, item.metadata_sha256, item.provenance_url
    return pages.SimpleFile(
        filename=item.filename,
        url=url,
        sha256=item.sha256,
        size=item.size,
        upload_time=item.upload_time,
        requires_python=item.requires_python,
        yanked=item.yanked,
        yanked_reason=item.yanked_reason,
        core_metadata_sha256=metadata,
        provenance_url=provenance_url,
    )

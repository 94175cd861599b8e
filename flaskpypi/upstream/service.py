"""The upstream service the web layer calls: pages with TTL, ETag revalidation and stale-if-error; files."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine

from ..core.errors import NotFound, UpstreamError
from ..storage import Storage
from . import signals
from .client import NotModified, UpstreamClient, UpstreamFailure
from .config import UpstreamConfig
from .files import FileCache
from .pages import UpstreamFile, UpstreamPage
from .policy import old_enough
from .state import FetchLocks, Health, PageStore, PgFetchLocks

log = logging.getLogger(__name__)


class Upstream:
    """One app's view of its upstream index; cheap to call on every request."""

    def __init__(self, config: UpstreamConfig, storage: Storage, engine: Callable[[], Engine] | None = None,
                 shared_locks: bool = False, files: Storage | None = None) -> None:  # fmt: skip
        """`engine` gives the database's engine; with `shared_locks` (PostgreSQL) fetch locks hold across hosts.
        Pages and health live in `storage`; cached files in `files` (a named index's own part), else `storage`."""
        self.config = config
        self.client = UpstreamClient(config)
        self.pages = PageStore(storage, config.ttl, prefix=config.state_prefix)
        self.health = Health(storage, config.retry, config.describe, config.state_prefix)
        wait = max(60.0, config.timeout * 6)
        locks: FetchLocks | PgFetchLocks
        if engine is not None and shared_locks:
            locks = PgFetchLocks(engine, wait)
        else:
            locks = FetchLocks(config.state_dir / "locks", wait)
        self.files = FileCache(self.client, files or storage, self.health, locks, config.state_dir / "tmp",
                               config.describe, config.limits)  # fmt: skip

    def project_url(self, name: str) -> str:
        """Where redirect mode sends a client."""
        return self.client.project_url(name)

    def page(self, name: str) -> UpstreamPage | None:
        """The upstream's page for a project (None: it has no such project). Within the TTL from the
        kept copy; then revalidated with If-None-Match; when the upstream fails, the last good copy."""
        kept = self.pages.read(name)
        now = time.time()
        if kept is not None and now - kept.checked < self.config.ttl:
            signals.page_looked_up.send(self, result="fresh")
            return None if kept.missing else kept
        if not self.health.should_try():
            return self._stale(name, kept, "it failed moments ago")
        try:
            fetched = self.client.page(name, kept.etag if kept is not None and not kept.missing else None)
        except UpstreamFailure as exc:
            if exc.outage:
                self.health.failed(str(exc))
            return self._stale(name, kept, str(exc))
        self.health.ok()
        if isinstance(fetched, NotModified):
            assert kept is not None
            page = self.pages.write(kept.checked_at(now))
        else:
            page = self.pages.write(fetched.seen_since(kept, now))
        signals.page_looked_up.send(self, result="revalidated" if isinstance(fetched, NotModified) else "fetched")
        return None if page.missing else page

    def _stale(self, name: str, kept: UpstreamPage | None, reason: str) -> UpstreamPage | None:
        signals.page_looked_up.send(self, result="stale" if kept is not None else "failed")
        if kept is not None:
            return None if kept.missing else kept
        raise UpstreamError(f"The upstream {self.config.describe()} cannot be reached ({reason}) and no copy of "
                            f"{name!r} is cached.")  # fmt: skip

    def offered(self, page: UpstreamPage | None, min_age_exempt: bool, now: float | None = None) -> list[UpstreamFile]:
        """The page's files that may be listed: none of a quarantined project, none younger than the
        minimum age (unless the project is exempt)."""
        if page is None or page.status == "quarantined":
            return []
        min_age = 0 if min_age_exempt else self.config.min_age
        return [f for f in page.files if old_enough(f, min_age, now)]

    def find(self, name: str, filename: str, min_age_exempt: bool) -> UpstreamFile:
        """The upstream file a download asks for, if it may be offered."""
        page = self.page(name)
        found = page.file(filename) if page is not None else None
        if found is None:
            raise NotFound(f"No file {filename!r} in project {name!r}, here or upstream.")
        if found not in self.offered(page, min_age_exempt):
            raise NotFound(f"{filename!r} is not offered: it is quarantined upstream or younger than "
                           "upstream_min_age.")  # fmt: skip
        return found

"""Upstream project pages as the index keeps them: the files it may offer, with PEP 592/658/700/740/792 facts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from ..core.dists import parse_filename
from ..core.errors import InvalidDistribution
from ..core.names import canonical
from ..core.records import iso, parse_iso

PAGE_VERSION = 1


@dataclass(frozen=True)
class UpstreamFile:
    """One file of an upstream project page that the index can cache (a wheel or sdist with a sha256)."""

    filename: str
    url: str
    version: str
    sha256: str
    size: int | None = None
    upload_time: datetime | None = None
    requires_python: str = ""
    yanked: bool = False
    yanked_reason: str = ""
    metadata_sha256: str | None = None
    provenance_url: str | None = None
    first_seen: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["upload_time"] = iso(self.upload_time) if self.upload_time else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UpstreamFile:
        """Inverse of to_dict()."""
        data = dict(data)
        data["upload_time"] = parse_iso(data["upload_time"]) if data.get("upload_time") else None
        return cls(**data)


@dataclass(frozen=True)
class UpstreamPage:
    """A project page as last fetched: files, PEP 792 status, the validator and when it was checked."""

    name: str
    files: tuple[UpstreamFile, ...] = ()
    status: str = "active"
    status_reason: str = ""
    etag: str | None = None
    checked: float = 0.0
    missing: bool = False
    digest: str = field(default="", compare=False)

    def file(self, filename: str) -> UpstreamFile | None:
        """The file of that name, if the page lists it."""
        return next((f for f in self.files if f.filename == filename), None)

    def checked_at(self, when: float) -> UpstreamPage:
        """The same page, revalidated at `when` (a 304)."""
        return replace(self, checked=when)

    def seen_since(self, older: UpstreamPage | None, now: float) -> UpstreamPage:
        """Carry first-seen times over from the previous copy; new files are first seen now."""
        known = {f.filename: f.first_seen for f in older.files} if older is not None else {}
        files = tuple(replace(f, first_seen=known.get(f.filename) or now) for f in self.files)
        return replace(self, files=files)

    def to_json(self) -> bytes:
        """The stored form; `digest` identifies the content for ETags and page caches."""
        data = {"version": PAGE_VERSION, "name": self.name, "status": self.status,
                "status_reason": self.status_reason, "etag": self.etag, "checked": self.checked,
                "missing": self.missing, "files": [f.to_dict() for f in self.files]}  # fmt: skip
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> UpstreamPage:
        """Inverse of to_json(); the digest covers everything but the check time."""
        data = json.loads(raw)
        files = tuple(UpstreamFile.from_dict(f) for f in data["files"])
        page = cls(data["name"], files, data["status"], data["status_reason"], data["etag"],
                   data["checked"], data["missing"])  # fmt: skip
        return replace(page, digest=page.content_digest())

    def content_digest(self) -> str:
        """A hash of what clients see from this page (not when it was checked)."""
        body = json.dumps([self.status, self.status_reason, self.missing, [f.to_dict() for f in self.files]])
        return hashlib.sha256(body.encode()).hexdigest()[:20]


def missing_page(name: str, when: float) -> UpstreamPage:
    """The upstream answered 404 for this name (kept for the TTL, like a found page)."""
    return UpstreamPage(canonical(name), checked=when, missing=True)


def from_pypi_simple(name: str, page: Any, etag: str | None, when: float) -> UpstreamPage:
    """Convert pypi-simple's ProjectPage (JSON or HTML, PEP 592/658/700/740/792) into the kept form."""
    project = canonical(name)
    files = []
    for pkg in page.packages:
        converted = _file(project, pkg)
        if converted is not None:
            files.append(converted)
    status = getattr(page.status, "value", page.status) or "active"
    return UpstreamPage(project, tuple(files), str(status), page.status_reason or "", etag, when)


def _file(project: str, pkg: Any) -> UpstreamFile | None:
    """A cacheable file, or None: other kinds (eggs, .exe), other projects' files, files without sha256."""
    sha256 = (pkg.digests or {}).get("sha256")
    try:
        dist = parse_filename(pkg.filename)
    except InvalidDistribution:
        return None
    if not sha256 or dist.project != project:
        return None
    metadata = (pkg.metadata_digests or {}).get("sha256") if pkg.has_metadata else None
    return UpstreamFile(
        filename=pkg.filename,
        url=pkg.url,
        version=pkg.version or str(dist.version),
        sha256=sha256.lower(),
        size=pkg.size,
        upload_time=pkg.upload_time,
        requires_python=pkg.requires_python or "",
        yanked=bool(pkg.is_yanked),
        yanked_reason=pkg.yanked_reason or "",
        metadata_sha256=metadata,
        provenance_url=pkg.provenance_url,
    )

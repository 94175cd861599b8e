"""The facts the index keeps about a file: written beside it in storage (the truth) and indexed in SQL."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime

from .metadata import upgrade_fields

SIDECAR_SUFFIX = ".json"
METADATA_SUFFIX = ".metadata"
PROVENANCE_SUFFIX = ".provenance"
PROJECT_FILE = "_project.json"
PROJECT_STATUSES = ("active", "archived", "quarantined", "deprecated")
SIDECAR_VERSION = 2  # 2: metadata keyed by packaging.metadata.RawMetadata names


def utcnow() -> datetime:
    """Now, in UTC, to the microsecond (PEP 700 upload-time)."""
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """PEP 700's yyyy-mm-ddThh:mm:ss.ffffffZ."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Inverse of iso(), tolerant of offsets."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass
class FileRecord:
    """One distribution file and everything shown about it."""

    filename: str
    project: str
    name: str
    version: str
    packagetype: str
    python_version: str
    size: int
    sha256: str
    md5: str
    blake2b_256: str
    upload_time: datetime
    uploader: str | None = None
    requires_python: str = ""
    summary: str = ""
    core_metadata_sha256: str | None = None
    provenance_sha256: str | None = None
    yanked: bool = False
    yanked_reason: str = ""
    origin: str = "upload"
    deleted: bool = False
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The storage key of the distribution itself."""
        return f"{self.project}/{self.filename}"

    def to_json(self) -> bytes:
        """The sidecar's bytes."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # asdict()'s deep copy is not needed
        data["upload_time"] = iso(self.upload_time)
        data["sidecar_version"] = SIDECAR_VERSION
        return json.dumps(data, sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> FileRecord:
        """Read a sidecar, ignoring keys a newer version may have added."""
        data = json.loads(raw)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["upload_time"] = parse_iso(data["upload_time"])
        data["metadata"] = upgrade_fields(data.get("metadata") or {})
        return cls(**data)


@dataclass
class ProjectState:
    """Project-level facts stored in storage: PEP 792 status and admin choices."""

    status: str = "active"
    status_reason: str = ""
    settings: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """The project file's bytes."""
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ProjectState:
        """Read a project file, ignoring unknown keys."""
        data = json.loads(raw)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

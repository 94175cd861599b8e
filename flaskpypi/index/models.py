"""Plain SQLAlchemy models (a DeclarativeBase handed to Flask-SQLAlchemy as model_class)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.names import DEFAULT_INDEX
from ..core.records import FileRecord, utcnow
from ..sql import Base, UTCDateTime

__all__ = ["Base", "Counter", "File", "Project", "listed"]

PENDING, LIVE, DELETED = "pending", "live", "deleted"


class Counter(Base):
    """Named counters; `serial` grows with every change and feeds ETags and last_serial."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Project(Base):
    """A project a hosted index holds files for (or that an admin configured); a name is unique per index."""

    __tablename__ = "projects"
    __table_args__ = (
        Index("ix_projects_last_update_id", "last_update", "id"),  # the UI's listing order
        UniqueConstraint("index_name", "name", name="uq_projects_index_name"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    index_name: Mapped[str] = mapped_column(String(64), default=DEFAULT_INDEX, server_default=DEFAULT_INDEX)
    name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_update: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    serial: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[list[File]] = relationship(back_populates="project", cascade="all, delete-orphan")


class File(Base):
    """A distribution file; `state` pending while being written, deleted as a tombstone (names are not reused).
    A filename is unique per hosted index (`index_name`, its project's): a promoted file is in both."""

    __tablename__ = "files"
    __table_args__ = (
        Index("ix_files_project_state", "project_id", "state"),
        UniqueConstraint("index_name", "filename", name="uq_files_index_filename"),
        # uploads in flight: start-up recovers dead claims without reading every row
        Index(
            "ix_files_pending",
            "state",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    index_name: Mapped[str] = mapped_column(String(64), default=DEFAULT_INDEX, server_default=DEFAULT_INDEX)
    filename: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(Text)
    packagetype: Mapped[str] = mapped_column(String(16))
    python_version: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    md5: Mapped[str] = mapped_column(String(32))
    blake2b_256: Mapped[str] = mapped_column(String(64))
    upload_time: Mapped[datetime] = mapped_column(UTCDateTime)
    uploader: Mapped[str | None] = mapped_column(String(200), nullable=True)
    requires_python: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    core_metadata_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    provenance_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    yanked: Mapped[bool] = mapped_column(default=False)
    yanked_reason: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(16), default="upload")
    state: Mapped[str] = mapped_column(String(16), default=LIVE)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    project: Mapped[Project] = relationship(back_populates="files")

    def to_record(self) -> FileRecord:
        """The storage sidecar's view of this row."""
        return FileRecord(
            filename=self.filename,
            project=self.project.name,
            name=self.name,
            version=self.version,
            packagetype=self.packagetype,
            python_version=self.python_version,
            size=self.size,
            sha256=self.sha256,
            md5=self.md5,
            blake2b_256=self.blake2b_256,
            upload_time=self.upload_time,
            uploader=self.uploader,
            requires_python=self.requires_python,
            summary=self.summary,
            core_metadata_sha256=self.core_metadata_sha256,
            provenance_sha256=self.provenance_sha256,
            yanked=self.yanked,
            yanked_reason=self.yanked_reason,
            origin=self.origin,
            deleted=self.state == DELETED,
            metadata=dict(self.meta or {}),
        )

    def update_from(self, record: FileRecord) -> None:
        """Copy a sidecar's facts into this row."""
        for attr, value in record_values(record).items():
            setattr(self, attr, value)


RECORD_FIELDS = ("name", "version", "packagetype", "python_version", "size", "sha256", "md5", "blake2b_256",
                 "upload_time", "uploader", "requires_python", "summary", "core_metadata_sha256",
                 "provenance_sha256", "yanked", "yanked_reason", "origin")  # fmt: skip


def record_values(record: FileRecord) -> dict[str, Any]:
    """A sidecar's facts as File attributes (`meta` for the metadata column), for rows and bulk inserts."""
    values = {attr: getattr(record, attr) for attr in RECORD_FIELDS}
    values["meta"] = dict(record.metadata)
    values["state"] = DELETED if record.deleted else LIVE
    return values


def listed() -> ColumnElement[bool]:
    """Projects the index lists (/simple/, the UI): those with a live file, or with a status an admin set.

    The file probe is a LIMIT 1 subquery, which PostgreSQL runs per project row through
    ix_files_project_state: a page of 50 costs 50 probes. (An EXISTS there becomes a hashed subplan that
    reads every file row first, whatever the page shows.)
    """
    live = (
        select(File.id)
        .where(File.project_id == Project.id, File.state == LIVE)
        .limit(1)
        .correlate(Project)
        .scalar_subquery()
    )
    return or_(live.is_not(None), Project.status != "active")

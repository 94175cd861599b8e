"""hosted indexes: projects and files carry their index; a project name and a filename are unique per index

Revision ID: 0008_index_names
Revises: 0007_pending_access
Create Date: 2026-12-01 04:30:00

Every existing row becomes index `default` (the column's default). PostgreSQL: two columns added (no table
rewrite: a constant default) and the unique constraints swapped. SQLite cannot drop a table's UNIQUE
constraint, so both tables are copied into new ones; `files` goes first, so that dropping the old `projects`
(which `files` references, ON DELETE CASCADE, with foreign keys on) deletes no file row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_index_names"
down_revision = "0007_pending_access"
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")
PROJECT_COLUMNS = ("id", "name", "display_name", "summary", "status", "status_reason", "settings", "created",
                   "last_update", "serial")  # fmt: skip
FILE_COLUMNS = ("id", "project_id", "filename", "name", "version", "packagetype", "python_version", "size", "sha256",
                "md5", "blake2b_256", "upload_time", "uploader", "requires_python", "summary",
                "core_metadata_sha256", "provenance_sha256", "yanked", "yanked_reason", "origin", "state",
                "metadata")  # fmt: skip
PROJECTS_SQL = """CREATE TABLE {table} (
    id INTEGER NOT NULL,
    {index}name VARCHAR(200) NOT NULL,
    display_name VARCHAR(200) NOT NULL,
    summary TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    status_reason TEXT NOT NULL,
    settings JSON NOT NULL,
    created DATETIME NOT NULL,
    last_update DATETIME NOT NULL,
    serial BIGINT NOT NULL,
    PRIMARY KEY (id),
    {unique}
)"""
FILES_SQL = """CREATE TABLE {table} (
    id INTEGER NOT NULL,
    project_id INTEGER NOT NULL,
    {index}filename VARCHAR(255) NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    packagetype VARCHAR(16) NOT NULL,
    python_version TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 VARCHAR(64) NOT NULL,
    md5 VARCHAR(32) NOT NULL,
    blake2b_256 VARCHAR(64) NOT NULL,
    upload_time DATETIME NOT NULL,
    uploader VARCHAR(200),
    requires_python TEXT NOT NULL,
    summary TEXT NOT NULL,
    core_metadata_sha256 VARCHAR(64),
    provenance_sha256 VARCHAR(64),
    yanked BOOLEAN NOT NULL,
    yanked_reason TEXT NOT NULL,
    origin VARCHAR(16) NOT NULL,
    state VARCHAR(16) NOT NULL,
    metadata JSON NOT NULL,
    PRIMARY KEY (id),
    {unique},
    FOREIGN KEY(project_id) REFERENCES {projects} (id) ON DELETE CASCADE
)"""
INDEX_COLUMN = "index_name VARCHAR(64) DEFAULT 'default' NOT NULL,\n    "


def _sqlite_copy(with_index: bool) -> None:
    """Copy projects and files into tables of the wanted shape (see the module's docstring for the order)."""
    project_columns = ", ".join(PROJECT_COLUMNS + (("index_name",) if with_index else ()))
    file_columns = ", ".join(FILE_COLUMNS + (("index_name",) if with_index else ()))
    old_project_columns = ", ".join(PROJECT_COLUMNS + (("'default'",) if with_index else ()))
    old_file_columns = ", ".join(FILE_COLUMNS + (("'default'",) if with_index else ()))
    op.execute(PROJECTS_SQL.format(
        table="projects_new",
        index=INDEX_COLUMN if with_index else "",
        unique="CONSTRAINT uq_projects_index_name UNIQUE (index_name, name)" if with_index else "UNIQUE (name)",
    ))  # fmt: skip
    op.execute(FILES_SQL.format(
        table="files_new",
        index=INDEX_COLUMN if with_index else "",
        unique="CONSTRAINT uq_files_index_filename UNIQUE (index_name, filename)" if with_index else "UNIQUE (filename)",
        projects="projects_new",
    ))  # fmt: skip
    op.execute(f"INSERT INTO projects_new ({project_columns}) SELECT {old_project_columns} FROM projects")  # noqa: S608
    op.execute(f"INSERT INTO files_new ({file_columns}) SELECT {old_file_columns} FROM files")  # noqa: S608
    op.execute("DROP TABLE files")  # no table references files: nothing cascades
    op.execute("DROP TABLE projects")  # nothing references it any more (files_new references projects_new)
    op.execute("ALTER TABLE projects_new RENAME TO projects")  # files_new's reference follows the rename
    op.execute("ALTER TABLE files_new RENAME TO files")
    op.create_index("ix_projects_last_update_id", "projects", ["last_update", "id"])
    op.create_index("ix_files_project_state", "files", ["project_id", "state"])
    op.create_index("ix_files_pending", "files", ["state"], sqlite_where=PENDING)


def _unique_on(table: str, columns: list[str]) -> str | None:
    """The name of the table's unique constraint on exactly these columns (PostgreSQL named it for us)."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if constraint["column_names"] == columns:
            return constraint["name"]
    return None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_copy(with_index=True)
        return
    for table, column, constraint in (("projects", "name", "uq_projects_index_name"),
                                      ("files", "filename", "uq_files_index_filename")):  # fmt: skip
        op.add_column(table, sa.Column("index_name", sa.String(64), nullable=False, server_default="default"))
        old = _unique_on(table, [column])
        if old is not None:
            op.drop_constraint(old, table, type_="unique")
        op.create_unique_constraint(constraint, table, ["index_name", column])


def downgrade() -> None:
    others = op.get_bind().execute(sa.text("SELECT count(*) FROM projects WHERE index_name <> 'default'")).scalar()
    if others:
        raise RuntimeError("Projects of hosted indexes other than 'default' exist; delete them before downgrading.")
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_copy(with_index=False)
        return
    for table, column, constraint in (("projects", "name", "uq_projects_index_name"),
                                      ("files", "filename", "uq_files_index_filename")):  # fmt: skip
        op.drop_constraint(constraint, table, type_="unique")
        op.create_unique_constraint(f"{table}_{column}_key", table, [column])
        op.drop_column(table, "index_name")

"""search: a full-text index of projects (SQLite FTS5 table, PostgreSQL tsvector with GIN), filled from the rows

Revision ID: 0006_project_search
Revises: 0005_sessions_login_attempts
Create Date: 2026-12-05 10:00:00

Self-contained: its own tables and one index of its own (name prefixes on PostgreSQL); `flaskpypi.index.search`
keeps the documents in step afterwards.
"""

from __future__ import annotations

from alembic import op

from flaskpypi.index.search import refresh_all

revision = "0006_project_search"
down_revision = "0005_sessions_login_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE project_search (project_id INTEGER PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE, "
            "document TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_project_search_document ON project_search USING GIN (document)")
        op.execute("CREATE INDEX ix_projects_name_pattern ON projects (name text_pattern_ops)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE project_fts USING fts5(name, summary, keywords, classifiers, "
            "tokenize = 'unicode61 remove_diacritics 2')"
        )
    refresh_all(conn)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_projects_name_pattern")
        op.execute("DROP TABLE project_search")
    else:
        op.execute("DROP TABLE project_fts")

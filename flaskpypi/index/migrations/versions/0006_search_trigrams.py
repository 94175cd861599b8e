"""index: trigram indexes for the UI search on PostgreSQL (ILIKE '%word%' reads only the matching rows)

Revision ID: 0006_search_trigrams
Revises: 0005_sessions_login_attempts
Create Date: 2026-12-01 01:40:00

pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it. Where it cannot be
created, the search still works, scanning the projects table; the start-up log says so once.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0006_search_trigrams"
down_revision = "0005_sessions_login_attempts"
branch_labels = None
depends_on = None
log = logging.getLogger("flaskpypi.index.migrate")
# pg_trgm 1.6 indexes answer equality too, and the planner may pick the name's for `name IN (...)` at a
# terrible cost (seconds for 500 names): the rebuild's batch lookups turn bitmap scans off (rebuild.py).
COLUMNS = ("name", "display_name", "summary")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("No pg_trgm extension (%s): the UI search scans the projects table", str(exc.orig).strip())
        return
    for column in COLUMNS:
        op.execute(
            f"CREATE INDEX IF NOT EXISTS ix_projects_{column}_trgm ON projects USING gin ({column} gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS ix_projects_{column}_trgm")

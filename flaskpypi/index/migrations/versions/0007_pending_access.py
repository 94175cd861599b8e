"""speed: a partial index of pending files (start-up finds dead claims without a scan), the access counter

Revision ID: 0007_pending_access
Revises: 0006_project_search
Create Date: 2026-12-01 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_pending_access"
down_revision = "0006_project_search"
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    op.create_index("ix_files_pending", "files", ["state"], sqlite_where=PENDING, postgresql_where=PENDING)
    counters = sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger))
    op.bulk_insert(counters, [{"name": "access", "value": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM counters WHERE name = 'access'")
    op.drop_index("ix_files_pending", table_name="files")

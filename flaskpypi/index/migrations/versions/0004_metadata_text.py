"""files: name, version, python_version and requires_python as text (a file's metadata sets their length)

Revision ID: 0004_metadata_text
Revises: 0003_project_activity
Create Date: 2026-12-01 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_metadata_text"
down_revision = "0003_project_activity"
branch_labels = None
depends_on = None

_COLUMNS = {"name": 200, "version": 128, "python_version": 64, "requires_python": 255}


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        for column, length in _COLUMNS.items():
            batch_op.alter_column(column, existing_type=sa.String(length=length), type_=sa.Text())


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        for column, length in _COLUMNS.items():
            batch_op.alter_column(column, existing_type=sa.Text(), type_=sa.String(length=length))

"""perms: grants on indexes (read, write, promote) for users and groups

Revision ID: 0009_index_grants
Revises: 0008_index_names
Create Date: 2026-12-01 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_index_grants"
down_revision = "0008_index_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "index_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("index_name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("permission", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("index_name", "kind", "subject", "permission", name="uq_index_grants_subject"),
    )


def downgrade() -> None:
    op.drop_table("index_grants")

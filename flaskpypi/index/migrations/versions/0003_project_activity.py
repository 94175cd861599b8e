"""projects: an index on (last_update, id) for the UI's newest-activity-first listing

Revision ID: 0003_project_activity
Revises: 0002_auth
Create Date: 2026-11-25 16:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0003_project_activity"
down_revision = "0002_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index("ix_projects_last_update_id", ["last_update", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index("ix_projects_last_update_id")

"""Alembic environment: runs on the connection flaskpypi hands it (see flaskpypi.index.migrate)."""

from __future__ import annotations

from alembic import context

from flaskpypi.index.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)  # fmt: skip
with context.begin_transaction():
    context.run_migrations()

"""Alembic environment: runs on the connection flaskpypi hands it (see flaskpypi.index.migrate)."""

from __future__ import annotations

from alembic import context

import flaskpypi.auth.models  # noqa: F401  (registers the access-control tables on Base)
from flaskpypi.index.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()

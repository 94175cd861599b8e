"""A throwaway PostgreSQL database: created on the test server, dropped (with its connections) afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def fresh_database(admin_url: str, prefix: str = "flaskpypi") -> Iterator[str]:
    """A new database beside admin_url's (SQLAlchemy URL in and out); psycopg's OperationalError when the server
    does not answer. Dropped WITH (FORCE), so a server still connected to it does not keep it alive."""
    import psycopg

    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

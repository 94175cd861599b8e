"""The counters every request reads first (sql.Counters): on an SQLite file, read again only when the file
changed (PRAGMA data_version), yet a commit by any connection or process is seen by the very next read."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from flaskpypi.sql import ACCESS, SERIAL, Counters, SqliteCounters, bump_counter, counters

SCHEMA = "CREATE TABLE counters (name VARCHAR PRIMARY KEY, value BIGINT NOT NULL)"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    made = create_engine(f"sqlite:///{tmp_path / 'index.sqlite'}")
    with made.begin() as conn:
        conn.exec_driver_sql(SCHEMA)
    yield made
    made.dispose()


def bump(engine: Engine, name: str = SERIAL) -> None:
    with engine.begin() as conn:
        bump_counter(conn, name)


def test_a_commit_of_another_connection_is_seen_by_the_next_read(engine: Engine, tmp_path: Path) -> None:
    reader = counters(engine)
    assert isinstance(reader, SqliteCounters)
    assert reader.read() == {SERIAL: 0, ACCESS: 0}
    bump(engine)
    assert reader.read() == {SERIAL: 1, ACCESS: 0}
    with sqlite3.connect(tmp_path / "index.sqlite") as other:  # not even through SQLAlchemy
        other.execute("UPDATE counters SET value = 7 WHERE name = 'serial'")
    assert reader.read() == {SERIAL: 7, ACCESS: 0}
    bump(engine, ACCESS)
    assert reader.read() == {SERIAL: 7, ACCESS: 1}


def test_an_unchanged_file_is_not_queried_again(engine: Engine) -> None:
    reader = counters(engine)
    bump(engine)
    assert reader.read()[SERIAL] == 1
    statements: list[str] = []
    reader._conn.set_trace_callback(statements.append)
    for _ in range(3):
        assert reader.read()[SERIAL] == 1
    assert statements == ["PRAGMA data_version"] * 3
    bump(engine)
    assert reader.read()[SERIAL] == 2
    assert len(statements) == 5 and "FROM counters" in statements[-1]


def test_a_commit_of_another_process_is_seen_and_a_forked_child_reads_on_its_own_connection(engine: Engine) -> None:
    reader = counters(engine)
    assert reader.read()[SERIAL] == 0
    inherited = reader._conn
    pid = os.fork()
    if pid == 0:  # the child: its first read must not use the parent's connection; then it writes
        code = 1
        try:
            first = reader.read()[SERIAL]
            fresh = reader._conn is not inherited
            bump(engine)
            code = 0 if first == 0 and fresh else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert reader._conn is inherited  # the child left the parent's connection open
    assert reader.read()[SERIAL] == 1


def test_a_disposed_engine_reopens_the_connection_and_sees_a_recreated_file(engine: Engine, tmp_path: Path) -> None:
    reader = counters(engine)
    bump(engine)
    bump(engine)
    assert reader.read()[SERIAL] == 2
    path = tmp_path / "index.sqlite"
    engine.dispose()
    path.unlink()  # the database re-created from scratch (what a repair does after dispose)
    with sqlite3.connect(path) as fresh:
        fresh.execute(SCHEMA)
        fresh.execute("INSERT INTO counters VALUES ('serial', 1)")
    assert reader.read() == {SERIAL: 1, ACCESS: 0}


def test_other_databases_read_the_counters_with_one_query_each_time(tmp_path: Path) -> None:
    memory = create_engine("sqlite://")  # a second connection would see another, empty database
    assert type(counters(memory)) is Counters
    with memory.begin() as conn:
        conn.exec_driver_sql(SCHEMA)
        bump_counter(conn, SERIAL)
    assert counters(memory, (SERIAL,)).read() == {SERIAL: 1}

"""Faults with real processes: kill -9 mid-upload and mid-reindex, uploads racing a live reindex, identical
concurrent uploads. The scenarios live in tests/support/faults.py (bench/hardening.py prints the same figures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults import (
    identical_concurrent_uploads,
    kill_during_reindex,
    kill_during_uploads,
    uploads_during_reindex,
)

pytestmark = pytest.mark.e2e


def test_kill_9_during_uploads_never_blocks_a_retry(tmp_path: Path) -> None:
    figures = kill_during_uploads(tmp_path, rounds=50, kill_share=0.4)  # bench/hardening.py kills in every round
    assert figures.kills >= 12, figures
    assert figures.retries_ok == figures.retries, figures
    assert figures.answers == {}, figures
    assert (figures.missing, figures.broken, figures.misfiled) == (0, 0, 0), figures
    assert figures.listed == 53, figures
    assert (figures.temp_left, figures.pending_left) == (0, 0), figures


@pytest.mark.postgres
def test_kill_9_during_uploads_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    figures = kill_during_uploads(tmp_path, rounds=20, kill_share=0.3, database_url=postgres_url)
    assert figures.kills >= 3 and figures.retries_ok == figures.retries, figures
    assert (figures.missing, figures.broken, figures.temp_left, figures.pending_left) == (0, 0, 0, 0), figures


def test_kill_9_during_reindex_then_restart_gives_a_full_index(tmp_path: Path) -> None:
    figures = kill_during_reindex(tmp_path, kills=3, projects=40)
    assert figures.kills >= 1, figures
    assert (figures.listed, figures.missing, figures.broken, figures.misfiled) == (40, 0, 0, 0), figures


def test_uploads_during_reindex_land_in_their_project(tmp_path: Path) -> None:
    figures = uploads_during_reindex(tmp_path, reindexes=3, projects=40)
    assert (figures.missing, figures.broken, figures.misfiled, figures.pending_left) == (0, 0, 0, 0), figures
    assert set(figures.answers) <= {a for a in figures.answers if a.endswith("rebuilds")}, figures


@pytest.mark.postgres
def test_uploads_during_reindex_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    figures = uploads_during_reindex(tmp_path, reindexes=3, projects=40, database_url=postgres_url)
    assert (figures.missing, figures.broken, figures.misfiled, figures.pending_left) == (0, 0, 0, 0), figures
    assert set(figures.answers) <= {a for a in figures.answers if a.endswith("rebuilds")}, figures


def test_identical_concurrent_uploads_all_get_200(tmp_path: Path) -> None:
    figures = identical_concurrent_uploads(tmp_path, clients=20)
    assert figures.concurrent_ok == figures.concurrent_total == 20, figures
    assert figures.records == 1 and figures.listed == 1 and figures.broken == 0, figures


@pytest.mark.postgres
def test_identical_concurrent_uploads_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    figures = identical_concurrent_uploads(tmp_path, clients=20, database_url=postgres_url)
    assert figures.concurrent_ok == figures.concurrent_total == 20, figures
    assert figures.records == 1 and figures.listed == 1 and figures.broken == 0, figures


def test_sweep_removes_what_dead_writers_left_and_spares_live_writers(tmp_path: Path) -> None:
    from flaskpypi.storage.base import held_tempfile
    from flaskpypi.storage.local import FileStorage

    storage = FileStorage((tmp_path / "packages").as_uri())
    folder = tmp_path / "packages" / "proj"
    folder.mkdir(parents=True)
    (folder / ".tmp-dead").write_bytes(b"partial")  # nobody holds its lock: its writer was killed
    with held_tempfile(str(folder), ".tmp-") as live:
        live.file.write(b"being written")
        assert storage.sweep_temporary() == 1
        assert Path(live.path).exists() and not (folder / ".tmp-dead").exists()
        assert [s.key for s in storage.iter_files()] == []
    assert not Path(live.path).exists()

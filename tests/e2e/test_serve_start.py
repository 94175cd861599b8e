"""What a start of `flaskpypi serve` costs: the app is built once, in the master, whatever the worker count; the
partial files of the file storage live in `<root>/.tmp`, so a start reads that folder, never the whole tree,
and a worker killed mid-write leaves nothing behind once the master has seen it die."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from flaskpypi.storage.base import held_tempfile
from flaskpypi.storage.local import FileStorage
from tests.support.serve import serving, workers_of

pytestmark = pytest.mark.e2e
FLASKPYPI = Path(sys.executable).parent / "flaskpypi"
STARTED = "[flaskpypi] Config: "  # logged once by every create_app()


def _until(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_app_is_built_once_in_the_master_for_every_worker(tmp_path: Path) -> None:
    """Three workers, one build (create_app logs its last line once); a worker that dies is replaced by a
    fork of the master's app, not by a new build. Each worker used to build its own."""
    with serving(tmp_path, workers=3, fallback="none") as (port, proc, log):
        _until(lambda: len(workers_of(proc.pid)) == 3)
        assert log.read_text().count(STARTED) == 1, log.read_text()
        victim = workers_of(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        _until(lambda: victim not in workers_of(proc.pid) and len(workers_of(proc.pid)) == 3)
        for _ in range(6):
            response = requests.get(f"http://127.0.0.1:{port}/simple/", headers={"Connection": "close"}, timeout=10)
            assert response.status_code == 200
        assert log.read_text().count(STARTED) == 1, log.read_text()


def test_the_master_sweeps_the_partial_files_of_a_worker_killed_mid_write(tmp_path: Path) -> None:
    """A partial file nobody holds (its writer was kill -9'd) is removed when the master sees a worker die,
    not at the next start; one a live writer holds is spared."""
    with serving(tmp_path, workers=2, fallback="none") as (_port, proc, _log):
        temp = tmp_path / "instance" / "packages" / ".tmp"
        assert temp.is_dir()  # the start-up sweep made it
        (temp / ".tmp-left-by-the-dead").write_bytes(b"half a wheel")
        with held_tempfile(str(temp), ".tmp-") as live:
            os.kill(workers_of(proc.pid)[0], signal.SIGKILL)
            _until(lambda: not (temp / ".tmp-left-by-the-dead").exists())
            assert Path(live.path).exists()


class _Trickle(io.RawIOBase):
    """A stream that gives its first bytes, then waits for `release` before the rest."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.chunks = [b"a" * 1024, b"b" * 1024]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.chunks:
            return 0
        if len(self.chunks) == 1:
            self.release.wait(10)
        chunk = self.chunks.pop(0)
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_a_partial_file_is_written_in_the_temp_folder_and_never_listed(tmp_path: Path) -> None:
    """While a put is under way its partial file sits in `<root>/.tmp`, not beside its target, and a listing
    (what rebuilds and reindex read) shows nothing; then the file is in place."""
    storage = FileStorage((tmp_path / "packages").as_uri())
    release = threading.Event()
    writer = threading.Thread(target=storage.put, args=("demo/demo-1.0.tar.gz", io.BufferedReader(_Trickle(release))))
    writer.start()
    try:
        _until(lambda: any((tmp_path / "packages" / ".tmp").glob(".tmp-*")), 10)
        assert [s.key for s in storage.iter_files()] == []
        assert not any((tmp_path / "packages" / "demo").glob("*"))
    finally:
        release.set()
        writer.join(10)
    assert [s.key for s in storage.iter_files()] == ["demo/demo-1.0.tar.gz"]
    assert list((tmp_path / "packages" / ".tmp").iterdir()) == []


def test_a_start_on_a_populated_storage_reads_only_the_temp_folder(tmp_path: Path, monkeypatch) -> None:
    """The start-up sweep walks the tree once (partial files of versions before `.tmp`), then lists only
    `.tmp`: its cost does not grow with the index. It used to walk every project folder at every start."""
    for n in range(50):  # a storage an older version wrote: no .tmp, a partial file beside its target
        (tmp_path / "packages" / f"proj-{n}").mkdir(parents=True)
        (tmp_path / "packages" / f"proj-{n}" / f"proj_{n}-1.0.tar.gz").write_bytes(b"x")
    legacy = tmp_path / "packages" / "proj-7" / ".tmp-from-an-older-version"
    legacy.write_bytes(b"partial")
    storage = FileStorage((tmp_path / "packages").as_uri())
    assert storage.sweep_temporary() == 1 and not legacy.exists()  # the one walk
    (tmp_path / "packages" / ".tmp" / ".tmp-dead").write_bytes(b"partial")
    read: list[str] = []
    real_listdir = os.listdir

    def listdir(path: str) -> list[str]:
        read.append(str(path))
        return real_listdir(path)

    def walk(*_args: object, **_kwargs: object) -> Iterator[object]:
        raise AssertionError("the sweep walked the storage tree")

    monkeypatch.setattr(os, "listdir", listdir)
    monkeypatch.setattr(os, "walk", walk)
    monkeypatch.setattr(os, "scandir", walk)
    assert FileStorage((tmp_path / "packages").as_uri()).sweep_temporary() == 1
    assert read == [str(tmp_path / "packages" / ".tmp")]


def test_only_storages_whose_clients_cross_a_fork_are_built_in_the_master(tmp_path: Path) -> None:
    """file:// and memory:// are shared by the forked workers; s3fs (fsspec's async filesystems) refuses to
    work in a forked child ("not fork-safe"), so with it each worker builds its own app (serving.post_fork)."""
    from flaskpypi.serving import fork_safe
    from flaskpypi.storage import load_storage

    assert fork_safe(load_storage((tmp_path / "packages").as_uri()))
    assert fork_safe(load_storage("memory://fork"))
    pytest.importorskip("flaskpypi_s3")
    s3 = load_storage("s3://bucket/packages", {"endpoint_url": "http://127.0.0.1:9", "key": "k", "secret": "s"})
    assert not fork_safe(s3)

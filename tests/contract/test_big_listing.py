"""A rebuild's listing of a 100,000-object bucket: paginated, and in bounded memory (S3 on moto in server mode)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import missing
from tests.support.emulators import S3_CREDENTIALS
from tests.support.server import free_port

pytestmark = pytest.mark.emulator
OBJECTS = 100_000
PER_PROJECT = 4
PEAK_LIMIT = 16 * 1024 * 1024  # one page of 1,000 keys costs ~1-2 MiB; the whole listing would be ~100 MiB
# The listing runs in a child process so that tracemalloc counts only the plugin's memory, not moto's.
LISTER = """
import json, sys, tracemalloc
from flaskpypi.index.rebuild import group_by_project
from flaskpypi.storage import load_storage

storage = load_storage(sys.argv[1], json.loads(sys.argv[2]))
next(storage.iter_files())  # imports, client and connection pool: not the listing's memory
tracemalloc.start()
count = 0
def counted(listing):
    global count
    for stored in listing:
        count += 1
        yield stored
projects = sum(1 for _ in group_by_project(counted(storage.iter_files())))
print(json.dumps({"objects": count, "projects": projects, "peak": tracemalloc.get_traced_memory()[1]}))
"""


@pytest.fixture
def big_bucket() -> Iterator[tuple[str, dict[str, Any], list[int]]]:
    """moto's threaded server in this process, its bucket seeded through moto's backend (100,000 objects over
    HTTP would take a quarter of an hour); yields (url, options, the MaxKeys of every listing request)."""
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import S3Backend, s3_backends
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        missing(f"moto[server] is not installed: {exc}")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket("big-listing", "us-east-1")
    for n in range(OBJECTS):
        project = f"proj{n // PER_PROJECT:05d}"
        backend.put_object("big-listing", f"index/{project}/{project}-{n}.0-py3-none-any.whl", b"w")
    backend.put_object("big-listing", "elsewhere/outside/outside-1.0.tar.gz", b"not under the prefix")
    pages: list[int] = []
    original = S3Backend.list_objects_v2

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        pages.append(kwargs.get("max_keys", args[-1] if args else 0))
        return original(self, *args, **kwargs)

    S3Backend.list_objects_v2 = counting  # type: ignore[method-assign]
    try:
        options = {
            "endpoint_url": f"http://127.0.0.1:{port}",
            "key": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "secret": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "client_kwargs": {"region_name": "us-east-1"},
        }
        yield "s3://big-listing/index", options, pages
    finally:
        S3Backend.list_objects_v2 = original  # type: ignore[method-assign]
        backend.reset()
        server.stop()


def test_listing_100k_objects_is_paginated_and_bounded(big_bucket: tuple[str, dict[str, Any], list[int]]) -> None:
    url, options, pages = big_bucket
    done = subprocess.run([sys.executable, "-c", LISTER, url, json.dumps(options)], capture_output=True, text=True,
                          timeout=1200)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["objects"] == OBJECTS
    assert result["projects"] == OBJECTS // PER_PROJECT  # each project's keys came together
    assert len(pages) >= OBJECTS // 1000 and max(pages) <= 1000, pages[:5]
    print(f"listed {result['objects']} objects in {len(pages)} pages, peak {result['peak'] / 2**20:.2f} MiB")
    assert result["peak"] < PEAK_LIMIT, f"listing peaked at {result['peak'] / 2**20:.1f} MiB"


FOLDERS = 20_000
FOLDER_PEAK_LIMIT = 8 * 1024 * 1024  # the folder names (~0.1 KB each); fsspec's walk held ~0.8 KB a folder


def test_file_listing_of_many_project_folders_is_bounded(tmp_path: Any) -> None:
    """file://: a root of 20,000 project folders is listed folder by folder, holding only their names."""
    root = tmp_path / "packages"
    for n in range(FOLDERS):
        folder = root / f"proj{n:05d}"
        folder.mkdir(parents=True)
        (folder / f"proj{n:05d}-1.0-py3-none-any.whl").write_bytes(b"w")
    (root / f"proj{FOLDERS - 1:05d}" / "nested").mkdir()
    (root / f"proj{FOLDERS - 1:05d}" / "nested" / "deeper.txt").write_bytes(b"d")
    done = subprocess.run([sys.executable, "-c", LISTER, root.as_uri(), "{}"], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["objects"] == FOLDERS + 1 and result["projects"] == FOLDERS
    print(f"listed {result['objects']} files in {FOLDERS} folders, peak {result['peak'] / 2**20:.2f} MiB")
    assert result["peak"] < FOLDER_PEAK_LIMIT, f"listing peaked at {result['peak'] / 2**20:.1f} MiB"

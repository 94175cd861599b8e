"""The storage contract suite: one set of tests every storage plugin must pass, ours and third parties'.

Subclass `StorageContract` in a test module and give it a `storage` fixture that returns an empty
storage of your plugin (a fresh prefix or bucket per test)::

    import uuid, pytest
    from flaskpypi.storage import load_storage
    from flaskpypi.testing.storage_contract import StorageContract

    class TestMyStorage(StorageContract):
        @pytest.fixture
        def storage(self):
            return load_storage(f"mystore://bucket/test-{uuid.uuid4().hex}", {"endpoint": "..."})

Override `twin` too if a second instance on the same location cannot be built as
`type(storage)(storage.url, **storage.options)`. Tests that need one tell which contract clause
they check in their name; the suite writes nothing outside the storage it is given.
"""

from __future__ import annotations

import hashlib
import io
import random
import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
import requests

from ..core.errors import InvalidName
from ..storage import CONTRACT_VERSION, FileMeta, IntegrityError, Storage, StoredFile

GATE_TIMEOUT = 60.0
LARGE = 12 * 1024 * 1024 + 123  # larger than a read block, an upload chunk and a spooled buffer
SECRET_OPTION_WORDS = ("secret", "password", "key", "token", "connection_string", "credential", "sas")
TRICKY_KEYS = [
    "demo/demo-1.0.tar.gz",
    "demo/demo-1.0.tar.gz.json",
    "demo/demo-1.0-py3-none-any.whl",
    "demo/demo-1.0-py3-none-any.whl.metadata",
    "demo/_project.json",
    "demo-x/demo_x-2.0+local.7-py3-none-any.whl",
    "demo.y/demo_y-0.1!1-py3-none-any.whl.provenance",
    "demo0/demo0-3.tar.gz",
    "demox/demox-1.zip",
]


def payload(size: int, seed: int = 0) -> bytes:
    """Reproducible pseudo-random bytes."""
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    """Hex sha256."""
    return hashlib.sha256(data).hexdigest()


class FailingStream(io.RawIOBase):
    """A stream that gives `good` bytes, then fails like a dropped upload connection."""

    def __init__(self, good: bytes) -> None:
        self.data = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self.data.readinto(buffer)
        if not n:
            raise ConnectionResetError("the client went away mid-upload")
        return n


class GatedStream(io.RawIOBase):
    """A stream that pauses after `gate` bytes until released, to look at storage mid-put."""

    def __init__(self, data: bytes, gate: int) -> None:
        self.data = io.BytesIO(data)
        self.gate = gate
        self.reached = threading.Event()
        self.release = threading.Event()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.data.tell() >= self.gate and not self.release.is_set():
            self.reached.set()
            self.release.wait(GATE_TIMEOUT)
        limit = len(buffer) if self.data.tell() >= self.gate else min(len(buffer), self.gate - self.data.tell())
        chunk = self.data.read(limit)
        buffer[: len(chunk)] = chunk
        return len(chunk)


def listed(storage: Storage, prefix: str = "") -> dict[str, StoredFile]:
    """The storage's listing as key -> StoredFile."""
    return {stored.key: stored for stored in storage.iter_files(prefix)}


class StorageContract:
    """Contract version 1 of `flaskpypi.storage.Storage`; subclass it and provide a `storage` fixture."""

    @pytest.fixture
    def twin(self, storage: Storage) -> Storage:
        """A second, independent instance on the same location (another worker process, in effect)."""
        from ..storage.base import FsspecStorage

        options = dict(storage.options)
        if isinstance(storage, FsspecStorage):
            options["skip_instance_cache"] = True  # a new fsspec filesystem, with its own caches
        return type(storage)(storage.url, **options)

    # Identity.

    def test_speaks_this_contract_version(self, storage: Storage) -> None:
        assert isinstance(storage, Storage)
        assert storage.contract_version == CONTRACT_VERSION

    def test_describe_names_the_location_without_secrets(self, storage: Storage) -> None:
        text = storage.describe()
        assert text and "://" in text
        for name, value in storage.options.items():
            if any(word in name.lower() for word in SECRET_OPTION_WORDS) and isinstance(value, str) and len(value) >= 8:
                assert value not in text, f"describe() shows option {name!r}"

    # Single objects.

    def test_put_then_read_back(self, storage: Storage) -> None:
        data = payload(70_000)
        storage.put("demo/demo-1.0.tar.gz", io.BytesIO(data), FileMeta("application/gzip", sha256(data)))
        assert storage.exists("demo/demo-1.0.tar.gz")
        assert storage.read("demo/demo-1.0.tar.gz") == data
        stat = storage.stat("demo/demo-1.0.tar.gz")
        assert stat is not None and stat.key == "demo/demo-1.0.tar.gz" and stat.size == len(data)
        assert stat.modified is None or _aware(stat.modified)

    def test_absent_key(self, storage: Storage) -> None:
        assert not storage.exists("demo/missing-1.0.tar.gz")
        assert storage.stat("demo/missing-1.0.tar.gz") is None
        with pytest.raises(FileNotFoundError):
            storage.open("demo/missing-1.0.tar.gz")
        storage.delete("demo/missing-1.0.tar.gz")  # not an error

    def test_put_replaces_the_whole_object(self, storage: Storage) -> None:
        storage.put_bytes("demo/_project.json", b'{"status": "active", "long": "' + b"x" * 5000 + b'"}')
        storage.put_bytes("demo/_project.json", b'{"status": "archived"}')
        assert storage.read("demo/_project.json") == b'{"status": "archived"}'

    def test_empty_and_binary_objects(self, storage: Storage) -> None:
        binary = bytes(range(256)) * 64
        storage.put_bytes("demo/empty.metadata", b"")
        storage.put_bytes("demo/demo-1.0-py3-none-any.whl", binary)
        assert storage.read("demo/empty.metadata") == b""
        assert storage.read("demo/demo-1.0-py3-none-any.whl") == binary
        assert listed(storage)["demo/empty.metadata"].size in (0, None)

    def test_delete_removes_the_object(self, storage: Storage) -> None:
        storage.put_bytes("demo/demo-1.0.tar.gz", b"data")
        storage.delete("demo/demo-1.0.tar.gz")
        assert not storage.exists("demo/demo-1.0.tar.gz")
        assert "demo/demo-1.0.tar.gz" not in listed(storage)
        with pytest.raises(FileNotFoundError):
            storage.read("demo/demo-1.0.tar.gz")

    def test_keys_with_every_allowed_character_round_trip(self, storage: Storage) -> None:
        for n, key in enumerate(TRICKY_KEYS):
            storage.put_bytes(key, key.encode() * (n + 1))
        for n, key in enumerate(TRICKY_KEYS):
            assert storage.read(key) == key.encode() * (n + 1)
        assert set(listed(storage)) == set(TRICKY_KEYS)

    @pytest.mark.parametrize("key", ["../etc/passwd", "demo/../x", "a/b/c", "", "/abs", ".hidden/x", "demo/.x",
                                     "demo/x\x00y", "demo\\x"])  # fmt: skip
    def test_invalid_keys_never_reach_the_backend(self, storage: Storage, key: str) -> None:
        with pytest.raises(InvalidName):
            storage.put_bytes(key, b"x")
        with pytest.raises(InvalidName):
            storage.exists(key)
        with pytest.raises(InvalidName):
            storage.open(key)
        with pytest.raises(InvalidName):
            storage.delete(key)

    # Copies (promotion between hosted indexes: `_indexes/<index>/<project>/<filename>` keys).

    def test_copy_makes_the_same_bytes_under_another_key(self, storage: Storage, twin: Storage) -> None:
        data = payload(LARGE, seed=5)
        source, target = "demo/demo-1.0-py3-none-any.whl", "_indexes/main/demo/demo-1.0-py3-none-any.whl"
        storage.put(source, io.BytesIO(data), FileMeta("application/zip", sha256(data)))
        storage.copy(source, target, FileMeta("application/zip", sha256(data)))
        assert storage.read(source) == data  # the source stays
        assert sha256(twin.read(target)) == sha256(data)
        stat = twin.stat(target)
        assert stat is not None and stat.size == len(data)
        assert set(listed(storage, "_indexes/main/")) == {target}
        assert set(listed(storage)) == {source, target}

    def test_copy_replaces_the_whole_target(self, storage: Storage) -> None:
        storage.put_bytes("demo/demo-1.0.tar.gz.json", b'{"yanked": false}')
        storage.put_bytes(
            "_indexes/main/demo/demo-1.0.tar.gz.json", b'{"yanked": true, "long": "' + b"x" * 5000 + b'"}'
        )
        storage.copy("demo/demo-1.0.tar.gz.json", "_indexes/main/demo/demo-1.0.tar.gz.json")
        assert storage.read("_indexes/main/demo/demo-1.0.tar.gz.json") == b'{"yanked": false}'

    def test_copy_of_a_missing_key_stores_nothing(self, storage: Storage) -> None:
        with pytest.raises(FileNotFoundError):
            storage.copy("demo/missing-1.0.tar.gz", "_indexes/main/demo/missing-1.0.tar.gz")
        assert not storage.exists("_indexes/main/demo/missing-1.0.tar.gz")
        assert list(storage.iter_files()) == []

    @pytest.mark.parametrize("key", ["_indexes/../demo/x.tar.gz", "_indexes/Main/demo/x.tar.gz", "_indexes/main/a/b/c",
                                     "_other/main/demo/x.tar.gz"])  # fmt: skip
    def test_invalid_copy_keys_never_reach_the_backend(self, storage: Storage, key: str) -> None:
        storage.put_bytes("demo/demo-1.0.tar.gz", b"x")
        with pytest.raises(InvalidName):
            storage.copy("demo/demo-1.0.tar.gz", key)
        with pytest.raises(InvalidName):
            storage.copy(key, "demo/demo-2.0.tar.gz")
        assert set(listed(storage)) == {"demo/demo-1.0.tar.gz"}

    # Streaming.

    def test_large_object_streams_and_seeks(self, storage: Storage) -> None:
        data = payload(LARGE, seed=1)
        storage.put("big/big-1.0-py3-none-any.whl", io.BytesIO(data), FileMeta("application/zip", sha256(data)))
        digest = hashlib.sha256()
        with storage.open("big/big-1.0-py3-none-any.whl") as stream:
            while chunk := stream.read(64 * 1024):
                digest.update(chunk)
            assert digest.hexdigest() == sha256(data)
            stream.seek(LARGE - 5000)  # what a range request does
            assert stream.read(1000) == data[LARGE - 5000 : LARGE - 4000]
            stream.seek(10)
            assert stream.read(10) == data[10:20]

    # Atomic put.

    def test_failed_put_stores_nothing(self, storage: Storage) -> None:
        with pytest.raises(OSError):
            storage.put("demo/demo-1.0.tar.gz", FailingStream(payload(300_000)))  # type: ignore[arg-type]
        assert not storage.exists("demo/demo-1.0.tar.gz")
        assert "demo/demo-1.0.tar.gz" not in listed(storage)

    def test_failed_put_keeps_the_old_object(self, storage: Storage) -> None:
        storage.put_bytes("demo/_project.json", b'{"status": "active"}')
        with pytest.raises(OSError):
            storage.put("demo/_project.json", FailingStream(payload(300_000)))  # type: ignore[arg-type]
        assert storage.read("demo/_project.json") == b'{"status": "active"}'

    def test_put_is_invisible_until_complete(self, storage: Storage, twin: Storage) -> None:
        data = payload(2 * 1024 * 1024, seed=2)
        storage.put_bytes("demo/demo-1.0.tar.gz", b"old bytes")
        stream = GatedStream(data, gate=len(data) // 2)
        errors: list[BaseException] = []

        def put() -> None:
            try:
                storage.put("demo/demo-1.0.tar.gz", stream)  # type: ignore[arg-type]
                storage.put("demo/demo-2.0.tar.gz", io.BytesIO(data))
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        writer = threading.Thread(target=put)
        writer.start()
        try:
            assert stream.reached.wait(GATE_TIMEOUT), "put() never read half of its stream"
            assert twin.read("demo/demo-1.0.tar.gz") == b"old bytes"
            assert storage.read("demo/demo-1.0.tar.gz") == b"old bytes"
            assert set(listed(twin)) == {"demo/demo-1.0.tar.gz"}
        finally:
            stream.release.set()
            writer.join(GATE_TIMEOUT)
        assert not errors, errors
        assert twin.read("demo/demo-1.0.tar.gz") == data

    def test_put_refuses_bytes_that_miss_their_sha256(self, storage: Storage) -> None:
        data = payload(50_000, seed=3)
        with pytest.raises(IntegrityError):
            storage.put("demo/demo-1.0.tar.gz", io.BytesIO(data), FileMeta(sha256=sha256(b"other")))
        assert not storage.exists("demo/demo-1.0.tar.gz")

    # Writes made durable together (put_unsynced, then sync).

    def test_put_unsynced_is_read_back_whole_and_listed(self, storage: Storage, twin: Storage) -> None:
        data = payload(40_000, seed=4)
        storage.put_unsynced("demo/demo-1.0-py3-none-any.whl.metadata", data)
        storage.put_unsynced("demo/demo-1.0-py3-none-any.whl.json", b"{}", FileMeta("application/json"))
        storage.sync()
        assert storage.read("demo/demo-1.0-py3-none-any.whl.metadata") == data
        assert twin.read("demo/demo-1.0-py3-none-any.whl.json") == b"{}"
        assert set(listed(twin)) == {"demo/demo-1.0-py3-none-any.whl.metadata", "demo/demo-1.0-py3-none-any.whl.json"}

    def test_put_unsynced_replaces_the_whole_object(self, storage: Storage) -> None:
        storage.put_unsynced("demo/_project.json", b'{"status": "active", "long": "' + b"x" * 5000 + b'"}')
        storage.put_unsynced("demo/_project.json", b'{"status": "archived"}')
        storage.sync()
        assert storage.read("demo/_project.json") == b'{"status": "archived"}'

    def test_put_unsynced_refuses_bytes_that_miss_their_sha256(self, storage: Storage) -> None:
        with pytest.raises(IntegrityError):
            storage.put_unsynced("demo/demo-1.0.tar.gz", b"data", FileMeta(sha256=sha256(b"other")))
        storage.sync()
        assert not storage.exists("demo/demo-1.0.tar.gz")

    def test_sync_with_nothing_written_and_twice(self, storage: Storage) -> None:
        storage.sync()
        storage.put_unsynced("demo/demo-1.0.tar.gz.json", b"{}")
        storage.sync()
        storage.sync()
        assert storage.read("demo/demo-1.0.tar.gz.json") == b"{}"

    def test_invalid_keys_never_reach_the_backend_unsynced(self, storage: Storage) -> None:
        with pytest.raises(InvalidName):
            storage.put_unsynced("../escape", b"x")
        storage.sync()

    # Listing (rebuilds and migrations only).

    def test_empty_storage_lists_nothing(self, storage: Storage) -> None:
        assert list(storage.iter_files()) == []

    def test_listing_has_every_key_with_its_size(self, storage: Storage) -> None:
        sizes = {key: 10 + n for n, key in enumerate(TRICKY_KEYS)}
        for key, size in sizes.items():
            storage.put_bytes(key, payload(size, seed=size))
        found = listed(storage)
        assert set(found) == set(sizes)
        for key, stored in found.items():
            assert stored.size in (sizes[key], None)
            assert stored.modified is None or _aware(stored.modified)

    def test_listing_keeps_each_project_together(self, storage: Storage) -> None:
        for key in TRICKY_KEYS:
            storage.put_bytes(key, b"x")
        projects = [stored.key.split("/")[0] for stored in storage.iter_files()]
        runs = [p for n, p in enumerate(projects) if n == 0 or projects[n - 1] != p]
        assert len(runs) == len(set(projects)), f"a project's keys are split apart: {projects}"

    def test_listing_by_prefix_takes_only_that_project(self, storage: Storage) -> None:
        for key in TRICKY_KEYS:
            storage.put_bytes(key, b"x")
        assert set(listed(storage, "demo")) == {k for k in TRICKY_KEYS if k.startswith("demo/")}

    def test_listing_is_lazy(self, storage: Storage) -> None:
        storage.put_bytes("demo/demo-1.0.tar.gz", b"x")
        listing = storage.iter_files()
        assert isinstance(listing, Iterator)
        assert next(listing).key == "demo/demo-1.0.tar.gz"

    # Several workers.

    def test_exists_sees_other_workers_writes_at_once(self, storage: Storage, twin: Storage) -> None:
        storage.put_bytes("demo/demo-0.9.tar.gz", b"x")
        list(storage.iter_files())
        assert not storage.exists("demo/demo-1.0.tar.gz")
        twin.put_bytes("demo/demo-1.0.tar.gz", b"new")
        assert storage.exists("demo/demo-1.0.tar.gz")
        assert storage.read("demo/demo-1.0.tar.gz") == b"new"
        twin.delete("demo/demo-1.0.tar.gz")
        assert not storage.exists("demo/demo-1.0.tar.gz")
        assert storage.stat("demo/demo-1.0.tar.gz") is None

    # Downloads.

    def test_download_url_serves_the_bytes(self, storage: Storage) -> None:
        key = "demo-x/demo_x-2.0+local.7-py3-none-any.whl"
        data = payload(30_000, seed=4)
        storage.put(key, io.BytesIO(data), FileMeta("application/zip", sha256(data)))
        url = storage.download_url(key, expires=60)
        if url is not None:
            response = requests.get(url, timeout=30)
            assert response.status_code == 200, response.text[:500]
            assert response.content == data
        path = storage.local_path(key)
        if path is not None:
            with open(path, "rb") as local:
                assert local.read() == data


def _aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None

"""The `storage` fixture of the contract suite: every storage plugin we ship, each test on a fresh location."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flaskpypi.storage import Storage, load_storage
from tests.support.emulators import EMULATOR_FIXTURES, azure_emulator, gcs_emulator, s3_emulator  # noqa: F401

LOCAL_BACKENDS = ["memory", "file"]
CLOUD_BACKENDS = ["s3", "gs", "az"]
BACKENDS = [*LOCAL_BACKENDS, *(pytest.param(b, marks=pytest.mark.emulator) for b in CLOUD_BACKENDS)]


def storage_location(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """(url, options) of an empty location on a backend; cloud ones on their emulator."""
    if backend == "memory":
        return f"memory://contract-{uuid.uuid4().hex[:12]}", {}
    if backend == "file":
        return (tmp_path / "packages").as_uri(), {}
    emulator = request.getfixturevalue(EMULATOR_FIXTURES[backend])
    return emulator.storage_url(), dict(emulator.options)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The storage plugin under test, by URL scheme."""
    return request.param


@pytest.fixture
def storage(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Storage]:
    """An empty storage of the backend."""
    url, options = storage_location(request, backend, tmp_path)
    store = load_storage(url, options)
    yield store
    if backend == "memory":
        for stored in list(store.iter_files()):
            store.delete(stored.key)

"""Archives are verified whole and read within limits: bombs, truncation and damage are a 400 that writes nothing."""

from __future__ import annotations

import io
import re
import tracemalloc
from pathlib import Path

import pytest

from flaskpypi import create_app
from flaskpypi.core.archives import ArchiveLimits
from flaskpypi.core.dists import parse_filename, read_core_metadata
from flaskpypi.core.errors import InvalidDistribution
from tests.helpers import upload
from tests.support import hostile
from tests.support.dists import make_sdist, make_wheel

from .test_upload_api import stored

MiB = 1024 * 1024


def _read(data: bytes, filename: str, limits: ArchiveLimits | None = None):
    return read_core_metadata(io.BytesIO(data), parse_filename(filename), limits)


def _refused_within(path: Path, data: bytes, words: str, limit_mib: int = 48) -> None:
    """Reading is refused with `words` in the message, and peak Python memory stays under limit_mib."""
    tracemalloc.start()
    try:
        with pytest.raises(InvalidDistribution, match=words):
            _read(data, path.name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit_mib * MiB, f"{peak / MiB:.1f} MiB"


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("bombs")
    return {
        "zip bomb wheel": hostile.zip_bomb_wheel(where / "w"),
        "gzip bomb sdist": hostile.gzip_bomb_sdist(where / "s"),
        "huge PKG-INFO zip sdist": hostile.zip_sdist_with_huge_pkg_info(where / "z"),
    }


@pytest.mark.parametrize(
    "case, words",
    [
        ("zip bomb wheel", "max_compression_ratio"),
        ("gzip bomb sdist", "max_compression_ratio"),
        ("huge PKG-INFO zip sdist", "max_metadata_size"),
    ],
)
def test_bombs_are_refused_in_bounded_memory(bombs: dict[str, Path], case: str, words: str) -> None:
    path = bombs[case]
    assert path.stat().st_size < 2 * MiB
    _refused_within(path, path.read_bytes(), words)


def test_limits_name_their_setting(tmp_path: Path) -> None:
    wheel = hostile.many_members_wheel(tmp_path, 30)
    with pytest.raises(InvalidDistribution, match="over the max_archive_members limit of 10 members"):
        _read(wheel.read_bytes(), wheel.name, ArchiveLimits(max_archive_members=10))
    sdist = make_sdist(tmp_path, "demo", "1.0", extra_files={f"demo/f{i}.py": b"" for i in range(30)})
    with pytest.raises(InvalidDistribution, match="max_archive_members"):
        _read(sdist.read_bytes(), sdist.name, ArchiveLimits(max_archive_members=10))
    with pytest.raises(InvalidDistribution, match="max_metadata_size limit of 100 bytes"):
        _read(wheel.read_bytes(), wheel.name, ArchiveLimits(max_metadata_size=100))
    with pytest.raises(InvalidDistribution, match="max_uncompressed_size"):
        _read(sdist.read_bytes(), sdist.name, ArchiveLimits(max_uncompressed_size=1000))
    assert _read(wheel.read_bytes(), wheel.name).name == "many"


def test_every_truncation_of_a_tar_gz_is_refused(tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path, "demo", "1.0", extra_files={"demo/data.txt": bytes(range(256)) * 64})
    data = sdist.read_bytes()
    assert _read(data, sdist.name).name == "demo"
    cuts = sorted({*range(1, 9), *range(9, len(data), max(1, len(data) // 150))})
    for drop in cuts:
        with pytest.raises(InvalidDistribution, match="damaged"):
            _read(data[: len(data) - drop], sdist.name)


def test_truncated_zip_and_damaged_deflate_are_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "demo", "1.0", description="text " * 2000)
    for drop in (1, 22, len(wheel.read_bytes()) // 2):
        with pytest.raises(InvalidDistribution, match="damaged"):
            _read(hostile.cut(wheel, drop), wheel.name)
    for seed in range(20):
        with pytest.raises(InvalidDistribution, match=r"damaged|CRC"):
            _read(hostile.damaged_deflate(wheel, seed=seed), wheel.name)


@pytest.fixture
def small_limits_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings):
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    return create_app({**settings, "max_archive_members": 20, "max_metadata_size": "64K"}).test_client()


def test_hostile_uploads_are_a_400_naming_the_cause_and_write_nothing(
    client, small_limits_client, bombs: dict[str, Path], tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path / "ok", "demo", "1.0", description="text " * 2000)
    sdist = make_sdist(tmp_path / "ok", "demo", "1.0")
    cases = [
        (client, bombs["zip bomb wheel"], None, "max_compression_ratio"),
        (client, bombs["gzip bomb sdist"], None, "max_compression_ratio"),
        (client, bombs["huge PKG-INFO zip sdist"], None, "max_metadata_size"),
        (client, sdist, hostile.cut(sdist, 4), "damaged"),
        (client, wheel, hostile.damaged_deflate(wheel), "damaged|CRC"),
        (small_limits_client, hostile.many_members_wheel(tmp_path / "m", 40), None, "max_archive_members"),
    ]
    for app_client, path, data, words in cases:
        if data is not None:
            path = tmp_path / "bad" / path.name
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
        response = upload(app_client, path)
        assert response.status_code == 400, (path.name, response.status)
        assert re.search(words, response.status), response.status
    assert stored(tmp_path) == []
    assert client.get("/simple/demo/").status_code == 404
    assert upload(small_limits_client, make_wheel(tmp_path / "fine", "demo", "1.0")).status_code == 200

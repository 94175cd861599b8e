"""`flaskpypi migrate` in-process: what it copies, skips and refuses, and how it reads --from and --to."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from flaskpypi.cli import cli
from flaskpypi.storage import FileMeta, Storage, load_storage
from flaskpypi.storage.migrate import Migration
from tests.helpers import upload
from tests.support.dists import make_sdist, make_wheel


@pytest.fixture
def source(client, tmp_path: Path) -> Storage:
    """The app's file storage after two uploads (files, sidecars, .metadata)."""
    for path in (make_wheel(tmp_path / "d", "demo", "1.0"), make_sdist(tmp_path / "d", "demo", "1.0")):
        assert upload(client, path).status_code == 200
    return load_storage((tmp_path / "packages").as_uri())


def keys(storage: Storage) -> dict[str, str]:
    """key -> sha256 of everything in a storage."""
    return {s.key: hashlib.sha256(storage.read(s.key)).hexdigest() for s in storage.iter_files()}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["migrate", *args])
    return result.exit_code, result.output


def test_copies_everything_then_nothing(source: Storage) -> None:
    target_url = f"memory://migrate-{uuid.uuid4().hex[:8]}"
    code, output = run("--from", source.url, "--to", target_url, "-v")
    assert code == 0, output
    expected = keys(source)
    assert len(expected) == 5  # wheel + sidecar + .metadata, sdist + sidecar
    assert keys(load_storage(target_url)) == expected
    assert "Copied 5 objects (0.0 MiB), skipped 0 already there, 0 failed." in output
    code, output = run("--from", source.url, "--to", target_url)
    assert code == 0 and "Copied 0 objects (0.0 MiB), skipped 5 already there, 0 failed." in output


def test_replaces_other_bytes_under_a_key(source: Storage) -> None:
    target = load_storage(f"memory://migrate-{uuid.uuid4().hex[:8]}")
    wheel = next(s for s in source.iter_files() if s.key.endswith(".whl"))
    target.put_bytes(wheel.key, b"a stale, different object")
    report = Migration(source, target)
    assert report.copy(wheel) == "copied"
    assert target.read(wheel.key) == source.read(wheel.key)
    assert report.copy(wheel) == "skipped"


def test_refuses_a_file_that_disagrees_with_its_sidecar(source: Storage, tmp_path: Path) -> None:
    wheel = next(s.key for s in source.iter_files() if s.key.endswith(".whl"))
    source.put_bytes(wheel, b"tampered bytes", FileMeta())
    target = tmp_path / "target"
    code, output = run("--from", source.url, "--to", str(target))
    assert code == 1 and f"failed {wheel}:" in output and "nothing stored" in output
    assert "1 failed" in output and "objects failed their hash check" in output
    copied = load_storage(target.as_uri())
    assert not copied.exists(wheel) and copied.exists(wheel + ".json")


def test_reads_config_files_urls_and_this_servers_config(
    source: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"migrate-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "to.toml"
    config.write_text(f'storage_url = "memory://{name}"\n[storage_options]\n')
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "other-instance"))
    monkeypatch.setenv("FLASKPYPI_STORAGE_URL", source.url)  # this server's storage: the default --from
    code, output = run("--to", str(config))
    assert code == 0 and "Copied 5 objects" in output, output
    assert keys(load_storage(f"memory://{name}")) == keys(source)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "/no/such/place", "--to", "memory://x"], "is not a storage URL"),
        (["--from", "memory://x", "--to", "memory://x"], "are the same storage"),
        (["--from", "nosuch://bucket", "--to", "memory://x"], "No plugin 'nosuch'"),
        (["--from", "memory://x", "--to", "memory://y", "--to-options", "[1]"], "expected a JSON object"),
    ],
)
def test_explains_what_it_cannot_use(args: list[str], message: str) -> None:
    code, output = run(*args)
    assert code != 0 and message in output, output

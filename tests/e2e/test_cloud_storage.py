"""The real server on cloud storage emulators (moto, gcp-storage-emulator, Azurite): twine uploads, pip installs
through signed-URL redirects or streamed downloads, start-up rebuilds from a bucket, and `flaskpypi migrate`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from flaskpypi.storage import Storage, load_storage
from flaskpypi.testing.storage_contract import payload
from tests.conftest import ADMIN, base_settings
from tests.support.clients import Venv, check, pip_install, twine_upload
from tests.support.dists import make_sdist, make_wheel
from tests.support.emulators import (  # noqa: F401  (session fixtures)
    EMULATOR_FIXTURES,
    Emulator,
    azure_emulator,
    gcs_emulator,
    s3_emulator,
)
from tests.support.server import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.emulator]
BIN = Path(sys.executable).parent
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
SIGNATURE = {"s3": "X-Amz-Signature=", "az": "sig="}  # how a signed GET shows in the emulator's log
SUMMARY = re.compile(r"Copied (\d+) objects .*, skipped (\d+) already there, (\d+) failed")
MIGRATE_TIMEOUT = 300


@pytest.fixture(params=["s3", "gs", "az"])
def cloud(request: pytest.FixtureRequest) -> Emulator:
    """Each cloud backend's emulator in turn."""
    return request.getfixturevalue(EMULATOR_FIXTURES[request.param])


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start real servers (gunicorn) with settings and extra environment; all stop after the test."""
    started: list[LiveServer] = []

    def start(name: str, extra_env: dict[str, str] | None = None, **settings: Any) -> LiveServer:
        root = tmp_path / name
        root.mkdir()
        server = LiveServer(root, {**base_settings(root), **settings}, extra_env=extra_env or {})
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def cloud_settings(emulator: Emulator, url: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(settings, environment) of a server on the emulator: S3 through the standard AWS variables, the others
    through storage_options (the two ways the README documents)."""
    if emulator.kind == "s3":
        return {"storage_url": url}, dict(emulator.env)
    return {"storage_url": url, "storage_options": emulator.options}, {}


def index_view(server: LiveServer, project: str) -> list[dict[str, Any]]:
    """What clients see of a project's files (PEP 691 JSON), minus the host-specific provenance URL."""
    response = requests.get(f"{server.index_url}{project}/", headers=JSON, timeout=30)
    assert response.status_code == 200, response.text
    return sorted(({k: v for k, v in f.items() if k != "provenance"} for f in response.json()["files"]),
                  key=lambda f: f["filename"])  # fmt: skip


def sha256_of(storage: Storage, key: str) -> str:
    """sha256 of a stored object."""
    return hashlib.sha256(storage.read(key)).hexdigest()


@pytest.mark.parametrize("mode", ["redirect", "stream"])
def test_upload_then_install(cloud: Emulator, mode: str, servers, tmp_path: Path) -> None:
    url = cloud.storage_url()
    settings, env = cloud_settings(cloud, url)
    server = servers("index", extra_env=env, stream_files=mode == "stream", **settings)
    since = len(cloud.requests())
    wheel = make_wheel(tmp_path / "dist", "cloudy", "1.0", requires_python=">=3.8")
    sdist = make_sdist(tmp_path / "dist", "cloudy", "1.0")
    check(twine_upload(server.index_url, [wheel, sdist], *ADMIN))

    storage = load_storage(url, cloud.options)
    assert storage.read(f"cloudy/{wheel.name}") == wheel.read_bytes()
    assert storage.exists(f"cloudy/{wheel.name}.json") and storage.exists(f"cloudy/{wheel.name}.metadata")
    link = f"{server.url}packages/cloudy/{wheel.name}"
    response = requests.get(link, allow_redirects=False, timeout=30)
    signs = mode == "redirect" and cloud.kind in SIGNATURE
    if signs:
        assert response.status_code == 302, response.text
        location = response.headers["Location"]
        assert location.startswith(cloud.endpoint) and SIGNATURE[cloud.kind] in location
        assert requests.get(location, timeout=30).content == wheel.read_bytes()
    else:
        assert response.status_code == 200 and response.content == wheel.read_bytes()
        part = requests.get(link, headers={"Range": "bytes=100-199"}, timeout=30)
        assert part.status_code == 206 and part.content == wheel.read_bytes()[100:200]
    if cloud.kind == "gs" and mode == "redirect":  # the emulator's anonymous credentials cannot sign
        assert "cannot sign URLs" in server.log() and "downloads stream through the app" in server.log()

    venv = Venv.create(tmp_path / "venv", pip=True)
    before_pip = len(cloud.requests())
    check(pip_install(venv, server.index_url, "cloudy", extra_args=["--only-binary", ":all:"]))
    assert venv.version_of("cloudy") == "1.0"
    fetched = [line for line in cloud.requests()[before_pip:] if line.startswith("GET") and wheel.name in line]
    assert fetched, "nothing read the wheel from the bucket"
    if signs:  # pip followed the redirect: the emulator served the wheel to a signed URL
        assert any(SIGNATURE[cloud.kind] in line for line in fetched), fetched
    else:
        assert not any(sig in line for line in fetched for sig in SIGNATURE.values()), fetched

    if mode == "stream":
        storage.delete(f"cloudy/{sdist.name}")  # storage lost a file the index still lists
        missing = requests.get(f"{server.url}packages/cloudy/{sdist.name}", timeout=30)
        assert missing.status_code == 404 and "missing from storage" in missing.text
    assert cloud.listings(since) == [], "a request path listed the bucket"


def test_start_rebuilds_the_index_from_a_bucket_that_holds_packages(cloud: Emulator, servers, tmp_path: Path) -> None:
    url = cloud.storage_url()
    settings, env = cloud_settings(cloud, url)
    first = servers("first", extra_env=env, **settings)
    alpha = make_wheel(tmp_path / "dist", "alpha", "1.0")
    check(twine_upload(first.index_url, [alpha, make_sdist(tmp_path / "dist", "alpha", "1.0")], *ADMIN))
    uploaded = index_view(first, "alpha")
    first.stop()
    beta = make_wheel(tmp_path / "dist", "beta", "2.0", requires_python=">=3.9")
    with beta.open("rb") as stream:  # copied into the bucket by hand: no sidecar, no .metadata
        load_storage(url, cloud.options).put(f"beta/{beta.name}", stream)

    second = servers("second", extra_env=env, **settings)  # a new, empty database on the same bucket
    assert "Rebuilding from storage" in second.log()
    projects = requests.get(second.index_url, headers=JSON, timeout=30).json()["projects"]
    assert sorted(p["name"] for p in projects) == ["alpha", "beta"]
    assert index_view(second, "alpha") == uploaded
    (beta_file,) = index_view(second, "beta")
    assert beta_file["hashes"]["sha256"] == hashlib.sha256(beta.read_bytes()).hexdigest()
    assert beta_file["requires-python"] == ">=3.9" and beta_file["core-metadata"]
    venv = Venv.create(tmp_path / "venv", pip=True)
    check(pip_install(venv, second.index_url, "alpha", "beta", extra_args=["--only-binary", ":all:"]))
    assert venv.version_of("beta") == "2.0" and venv.version_of("alpha") == "1.0"


def migrate_env(*extra: dict[str, str]) -> dict[str, str]:
    """The environment of a `flaskpypi` command: ours without FLASKPYPI_* settings, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASKPYPI_")}
    for more in extra:
        env.update(more)
    return env


def migrate(args: list[str], env: dict[str, str], stop_after: int | None = None) -> tuple[int, str]:
    """Run `flaskpypi migrate -v`; with stop_after, SIGKILL it once it has copied that many objects."""
    cmd = [str(BIN / "flaskpypi"), "migrate", "-v", *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    timer = threading.Timer(MIGRATE_TIMEOUT, os.killpg, (proc.pid, signal.SIGKILL))
    timer.start()
    lines, copied = [], 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            copied += line.startswith("copied ")
            if stop_after is not None and copied >= stop_after:
                os.killpg(proc.pid, signal.SIGKILL)  # interrupted, as by a crash or a lost connection
                break
        proc.wait(30)
    finally:
        timer.cancel()
    return proc.returncode, "".join(lines)


def summary(output: str) -> tuple[int, int, int]:
    """(copied, skipped, failed) from migrate's closing line."""
    match = SUMMARY.search(output)
    assert match, output
    copied, skipped, failed = map(int, match.groups())
    return copied, skipped, failed


def migrate_with_interruption(args: list[str], env: dict[str, str], source: Storage, target: Storage) -> None:
    """Interrupt a migration half-way, resume it, check every object byte for byte, and run it once more."""
    keys = [stored.key for stored in source.iter_files()]
    code, output = migrate(args, env, stop_after=len(keys) // 2)
    assert code == -signal.SIGKILL, output
    present = [stored.key for stored in target.iter_files()]
    assert len(keys) // 2 <= len(present) < len(keys)
    code, output = migrate(args, env)
    assert code == 0, output
    assert summary(output) == (len(keys) - len(present), len(present), 0)  # copies only the rest
    assert sorted(stored.key for stored in target.iter_files()) == sorted(keys)
    for key in keys:
        assert sha256_of(target, key) == sha256_of(source, key), key
    code, output = migrate(args, env)
    assert code == 0 and summary(output) == (0, len(keys), 0), output  # idempotent


def test_migrate_file_to_s3_to_azure_resumes_and_keeps_the_index(request, servers, tmp_path: Path) -> None:
    s3_emu: Emulator = request.getfixturevalue("s3_emulator")
    az_emu: Emulator = request.getfixturevalue("azure_emulator")
    origin = servers("origin")  # local files
    dist = tmp_path / "dist"
    files = [
        make_wheel(dist, "mig-a", "1.0"),
        make_sdist(dist, "mig-a", "1.0"),
        make_wheel(dist, "mig-a", "1.1", requires_python=">=3.8"),
        make_wheel(dist, "mig-b", "0.1", requires_dist=["mig-a>=1"]),
        make_sdist(dist, "mig-c", "3.0"),
        make_wheel(dist, "mig-c", "3.0", extra_files={"mig_c/blob.bin": payload(3 * 1024 * 1024)}),
    ]
    check(twine_upload(origin.index_url, files, *ADMIN))
    views = {p: index_view(origin, p) for p in ("mig-a", "mig-b", "mig-c")}
    config = tmp_path / "origin.toml"
    config.write_text(f'storage_url = "{origin.settings["storage_url"]}"\n')
    source = load_storage(origin.settings["storage_url"])

    s3_url = s3_emu.storage_url()
    s3 = load_storage(s3_url, s3_emu.options)
    env = migrate_env(s3_emu.env)
    migrate_with_interruption(["--from", str(config), "--to", s3_url], env, source, s3)

    az_url = az_emu.storage_url()
    azure = load_storage(az_url, az_emu.options)
    to_azure = ["--from", s3_url, "--to", az_url, "--to-options", json.dumps(az_emu.options)]
    migrate_with_interruption(to_azure, env, s3, azure)

    # `reindex` on the S3 copy, then a server on that database that does not rebuild by itself.
    instance = tmp_path / "s3-instance"
    database = f"sqlite:///{tmp_path / 's3-index.sqlite'}"
    settings = {"INSTANCE_PATH": str(instance), "STORAGE_URL": s3_url, "DATABASE_URL": database}
    settings["AUTO_REINDEX"] = "false"
    reindex_env = migrate_env(s3_emu.env, {f"FLASKPYPI_{name}": value for name, value in settings.items()})
    done = subprocess.run([str(BIN / "flaskpypi"), "reindex"], env=reindex_env, capture_output=True, text=True,
                          timeout=MIGRATE_TIMEOUT)  # fmt: skip
    assert done.returncode == 0 and "Indexed 3 projects, 6 files" in done.stdout, done.stdout + done.stderr
    on_s3 = servers("on-s3", extra_env=s3_emu.env, storage_url=s3_url, database_url=database, auto_reindex=False)
    on_azure = servers("on-azure", storage_url=az_url, storage_options=az_emu.options)
    for project, view in views.items():
        assert index_view(on_s3, project) == view
        assert index_view(on_azure, project) == view
    venv = Venv.create(tmp_path / "venv", pip=True)
    check(pip_install(venv, on_azure.index_url, "mig-b", extra_args=["--only-binary", ":all:"]))
    assert venv.version_of("mig-a") == "1.1"

"""Storage emulators on free loopback ports: moto_server (S3), gcp-storage-emulator (GCS), Azurite (Azure Blob).

Each emulator starts once per test process, on first use, polled until it answers, and stops when the
process exits. Tests take them through the session fixtures `s3_emulator`, `gcs_emulator` and
`azure_emulator` (import them into the test module or conftest), and get a storage of their own with
`emulator.storage_url()` (a fresh prefix in the shared bucket). A missing emulator skips on a laptop and
fails in CI (`tests.conftest.missing`). `make test-deps` installs Azurite into tests/emulators/.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import missing
from tests.support.server import free_port

START_TIMEOUT = 60.0
BUCKET = "flaskpypi-test"
REPO = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO / "tests" / "emulators" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's published development account (https://learn.microsoft.com/azure/storage/common/storage-use-azurite).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# How each emulator logs a request: werkzeug/http.server access lines, Azurite's --debug log.
_REQUEST_LINE = {
    "s3": re.compile(r'"(GET|PUT|POST|HEAD|DELETE|PATCH) (\S+) HTTP/1\.[01]"'),
    "gs": re.compile(r'"(GET|PUT|POST|HEAD|DELETE|PATCH) (\S+) HTTP/1\.[01]"'),
    "az": re.compile(r"RequestMethod=(\w+) RequestURL=(\S+)"),
}
# Which requests list a bucket: S3 ListObjects(V2), GCS objects.list, Azure List Blobs.
_LISTING = {
    "s3": re.compile(r"^GET /[^/?]+/?\?(?=.*(list-type=|prefix=|delimiter=))"),
    "gs": re.compile(r"^GET (/storage/v1)?/b/[^/]+/o(\?|$)"),
    "az": re.compile(r"^GET \S*[?&]comp=list"),
}


class EmulatorUnavailable(Exception):
    """The emulator's program is not installed here."""


@dataclass
class Emulator:
    """One running emulator and how clients reach it."""

    kind: str  # the storage URL scheme: s3, gs or az
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]  # environment variables that point s3fs/gcsfs/adlfs at it
    options: dict[str, Any]  # storage_options that do the same
    bucket: str = BUCKET
    buckets: set[str] = field(default_factory=set)

    @property
    def endpoint(self) -> str:
        """Base URL of the emulator's HTTP endpoint."""
        return f"http://127.0.0.1:{self.port}"

    def storage_url(self, prefix: str | None = None, bucket: str | None = None) -> str:
        """A storage URL under a fresh (or the given) prefix; the bucket exists."""
        bucket = bucket or self.bucket
        self.make_bucket(bucket)
        return f"{self.kind}://{bucket}/{prefix or 'test-' + uuid.uuid4().hex[:12]}"

    def make_bucket(self, name: str) -> None:
        """Create a bucket (a container on Azure) unless this process already did."""
        if name not in self.buckets:
            CREATE_BUCKET[self.kind](self, name)
            self.buckets.add(name)

    def log(self) -> str:
        """What the emulator printed so far, without terminal colours."""
        return _ANSI.sub("", self.log_path.read_text(errors="replace")) if self.log_path.exists() else ""

    @property
    def request_log_path(self) -> Path:
        """Where the emulator logs the requests it serves."""
        return self.log_path.with_name("requests.log") if self.kind == "az" else self.log_path

    def requests(self) -> list[str]:
        """Every request served so far, as "METHOD /path?query" (oldest first)."""
        path = self.request_log_path
        text = _ANSI.sub("", path.read_text(errors="replace")) if path.exists() else ""
        found = []
        for method, url in _REQUEST_LINE[self.kind].findall(text):
            parts = urlsplit(url)
            found.append(f"{method} {parts.path}" + (f"?{parts.query}" if parts.query else ""))
        return found

    def listings(self, since: int = 0) -> list[str]:
        """The listing requests among requests()[since:]."""
        return [line for line in self.requests()[since:] if _LISTING[self.kind].search(line)]

    def stop(self) -> None:
        """Stop the emulator's process group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def _bin(name: str) -> str:
    """An executable of this Python environment (or on PATH)."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise EmulatorUnavailable(f"{name} is not installed: pip install -e '.[test]'")
    return found


def _start_s3(port: int) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    cmd = [_bin("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ENDPOINT_URL": endpoint, **S3_CREDENTIALS}
    options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing",
               "client_kwargs": {"region_name": "us-east-1"}}  # fmt: skip
    return cmd, env, options


def _start_gs(port: int) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    cmd = [_bin("gcp-storage-emulator"), "start", "--host=127.0.0.1", f"--port={port}", "--in-memory",
           f"--default-bucket={BUCKET}"]  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    env = {"STORAGE_EMULATOR_HOST": endpoint, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
    options = {"endpoint_url": endpoint, "token": "anon", "project": "test"}
    return cmd, env, options


def azurite_connection_string(port: int) -> str:
    """The connection string of Azurite's development account on a port."""
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")  # fmt: skip


def _start_az(port: int) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    if not AZURITE_BIN.exists():
        raise EmulatorUnavailable(
            f"Azurite is not installed: run `make test-deps` (npm ci in {AZURITE_BIN.parents[2]})"
        )
    if not shutil.which("node"):
        raise EmulatorUnavailable("node is not installed (Azurite runs on Node.js)")
    cmd = [str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
           "--skipApiVersionCheck", "--loose", "--debug", "requests.log"]  # fmt: skip
    connection = azurite_connection_string(port)
    return cmd, {"AZURE_STORAGE_CONNECTION_STRING": connection}, {"connection_string": connection}


def _create_s3_bucket(emulator: Emulator, name: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=emulator.endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    try:
        client.create_bucket(Bucket=name)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass


def _create_gs_bucket(emulator: Emulator, name: str) -> None:
    if name == BUCKET:  # made by --default-bucket
        return
    response = requests.post(f"{emulator.endpoint}/storage/v1/b", params={"project": "test"},
                             json={"name": name}, timeout=10)  # fmt: skip
    if response.status_code not in (200, 409):
        raise RuntimeError(f"cannot create bucket {name}: {response.status_code} {response.text}")


def _create_az_container(emulator: Emulator, name: str) -> None:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(emulator.options["connection_string"])
    try:
        client.create_container(name)
    except ResourceExistsError:
        pass


STARTERS: dict[str, Callable[[int], tuple[list[str], dict[str, str], dict[str, Any]]]] = {
    "s3": _start_s3,
    "gs": _start_gs,
    "az": _start_az,
}
CREATE_BUCKET: dict[str, Callable[[Emulator, str], None]] = {
    "s3": _create_s3_bucket,
    "gs": _create_gs_bucket,
    "az": _create_az_container,
}
_running: dict[str, Emulator] = {}
_lock = threading.Lock()


def start(kind: str) -> Emulator:
    """The running emulator of a kind, started on first use (raises EmulatorUnavailable)."""
    with _lock:
        if kind in _running and _running[kind].process.poll() is None:
            return _running[kind]
        port = free_port()
        cmd, env, options = STARTERS[kind](port)
        workdir = Path(tempfile.mkdtemp(prefix=f"emulator-{kind}-"))
        log_path = workdir / "emulator.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=workdir, start_new_session=True, env={**os.environ, **env})  # fmt: skip
        emulator = Emulator(kind, port, process, log_path, env, options)
        _wait_ready(emulator)
        _running[kind] = emulator
        return emulator


def _wait_ready(emulator: Emulator) -> None:
    """Poll the endpoint until it answers HTTP at all; never a blind sleep."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            raise RuntimeError(f"{emulator.kind} emulator exited with {emulator.process.returncode}:\n{emulator.log()}")
        try:
            requests.get(emulator.endpoint + "/", timeout=2)
            return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or its first answer is slow
            time.sleep(0.1)
    emulator.stop()
    raise RuntimeError(f"{emulator.kind} emulator did not answer within {START_TIMEOUT}s:\n{emulator.log()}")


@atexit.register
def stop_all() -> None:
    """Stop every emulator this process started."""
    for emulator in list(_running.values()):
        emulator.stop()
    _running.clear()


def require(kind: str) -> Emulator:
    """The emulator, or skip (fail in CI) when it is not installed here."""
    try:
        return start(kind)
    except EmulatorUnavailable as exc:
        missing(str(exc))
        raise  # unreachable: missing() skips or fails


@pytest.fixture(scope="session")
def s3_emulator() -> Iterator[Emulator]:
    """moto in server mode."""
    yield require("s3")


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[Emulator]:
    """gcp-storage-emulator, in memory."""
    yield require("gs")


@pytest.fixture(scope="session")
def azure_emulator() -> Iterator[Emulator]:
    """Azurite's blob service, in memory."""
    yield require("az")


EMULATOR_FIXTURES = {"s3": "s3_emulator", "gs": "gcs_emulator", "az": "azure_emulator"}

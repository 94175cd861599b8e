"""Slow and malformed upload bodies against gunicorn run from the repo's gunicorn.conf.py (gthread workers).

Uploads that trickle at 1 byte/s without valid credentials are answered 401 from their headers, before their
body is read, and cannot starve the server: pip installs from it meanwhile. An authenticated upload that
trickles is cut by the body timeout (408). A chunked body with a bad chunk size is a 4xx, never a 500.
"""

from __future__ import annotations

import base64
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ADMIN, base_settings
from tests.support.clients import Venv, check, pip_install, twine_upload
from tests.support.dists import make_wheel
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e
CONF = Path(__file__).parents[2] / "gunicorn.conf.py"
LENGTH = 100_000  # bytes announced; at 1 byte/s the body would take more than a day
BODY_TIMEOUT = 4


def start(root: Path) -> LiveServer:
    """gunicorn with the repo's config (gthread: 2 workers x 4 threads), a short body timeout."""
    settings = {**base_settings(root), "body_timeout": BODY_TIMEOUT}
    settings.update(login_limit_user=10**6, login_limit_address=10**6, login_limit_user_total=10**6)
    return LiveServer(root, settings, extra_env={"GUNICORN_CMD_ARGS": f"--config {CONF}"}).start()


@pytest.fixture
def server(tmp_path: Path):
    live = start(tmp_path)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    live = start(tmp_path_factory.mktemp("chunked"))
    yield live
    live.stop()


def auth_header(user: str, password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() + "\r\n"


@dataclass
class SlowUploader:
    """Uploads at 1 byte/s, again and again until stopped; records (status, body bytes sent before it)."""

    port: int
    auth: str
    answers: list[tuple[int, int]] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.answers.append(self.one(stop))

    def one(self, stop: threading.Event) -> tuple[int, int]:
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as sock:
            sock.sendall(
                (
                    "POST /simple/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Type: multipart/form-data; boundary=xyz\r\n"
                    f"Content-Length: {LENGTH}\r\n{self.auth}\r\n"
                ).encode()
            )
            sent = 0
            while sent < LENGTH:
                readable, _, _ = select.select([sock], [], [], 1.0)  # one byte a second until an answer comes
                if readable:
                    head = sock.recv(4096)
                    return (int(head.split()[1]) if head.startswith(b"HTTP/") else -1), sent
                if stop.is_set():
                    return 0, sent
                try:
                    sock.send(b"-")
                except OSError:
                    return -2, sent
                sent += 1
        return -3, sent


def test_slow_uploads_get_401_at_once_and_pip_installs_meanwhile(server, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "dist", "busy-lib", "1.0")
    check(twine_upload(server.index_url, [wheel], *ADMIN))
    refused = [SlowUploader(server.port, "") for _ in range(4)]
    refused += [SlowUploader(server.port, auth_header("mallory", "wrong")) for _ in range(4)]
    trusted = SlowUploader(server.port, auth_header(*ADMIN))
    stop = threading.Event()
    threads = [threading.Thread(target=u.run, args=(stop,), daemon=True) for u in [*refused, trusted]]
    for thread in threads:
        thread.start()
    try:
        venv = Venv.create(tmp_path / "venv", pip=True)
        for _ in range(2):  # two full installs while eight slow uploads keep coming
            check(pip_install(venv, server.index_url, "busy-lib", extra_args=["--force-reinstall", "--no-cache-dir"]))
        assert venv.version_of("busy-lib") == "1.0"
        deadline = time.monotonic() + 60  # the trusted upload's 408 comes body_timeout after it began, pip or not
        while not any(status != 0 for status, _sent in trusted.answers) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    for uploader in refused:
        answered = [a for a in uploader.answers if a[0] != 0]
        assert answered, "a slow upload got no answer"
        assert all(status == 401 for status, _sent in answered), answered[:5]
        assert all(sent < LENGTH for _status, sent in answered)  # answered from the headers, body unread
    timed_out = [a for a in trusted.answers if a[0] != 0]
    assert timed_out and all(status == 408 for status, _sent in timed_out), trusted.answers[:5]
    assert all(sent < LENGTH for _status, sent in timed_out)


def raw(port: int, request: bytes) -> bytes:
    """Send bytes, read the whole answer (the server closes after a malformed body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


@pytest.mark.parametrize("auth", ["", "admin"])
@pytest.mark.parametrize(
    "body",
    [b"zz\r\nabc\r\n0\r\n\r\n", b"5\r\nab", b"-1\r\nx\r\n0\r\n\r\n", b"ffffffffffffffffffff\r\nx\r\n0\r\n\r\n"],
    ids=["zz", "truncated", "negative", "huge"],
)
def test_malformed_chunked_upload_is_a_4xx(shared_server, auth: str, body: bytes) -> None:
    server = shared_server
    header = auth_header(*ADMIN) if auth else ""
    request = (
        "POST /simple/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: multipart/form-data; boundary=xyz\r\n{header}Connection: close\r\n\r\n"
    ).encode() + body
    answer = raw(server.port, request)
    status = int(answer.split()[1])
    assert 400 <= status < 500, answer[:300]
    if not auth:
        assert status == 401
    assert "Internal Server Error" not in server.log()

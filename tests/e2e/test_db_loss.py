"""A lost PostgreSQL: refused, then silent (a proxy that accepts and never forwards), then back; and a re-created,
empty database. The live server answers 503 with Retry-After at once, tells liveness from readiness, and recovers
without a restart.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import ADMIN, PG_URL
from tests.support.clients import check, twine_upload
from tests.support.dists import make_wheel
from tests.support.server import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
BOUND = 5  # seconds: every answer while the database is lost must come within this (a requests timeout)
FAST_DB = {"database_connect_timeout": 2, "database_timeout": 2}


class Proxy:
    """A TCP proxy on loopback, in threads: forward, refuse (port closed) or black-hole (accept, never forward)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.mode = "forward"
        self.listener: socket.socket | None = None
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(client)
            if self.mode == "forward":
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                with self.lock:
                    self.conns.append(upstream)
                threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
                threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
            # black-hole: the connection stays open and nothing is ever read or answered

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.mode != "forward":  # a black hole swallows what is in flight, and answers nothing
                    continue
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _drop_all(self) -> None:
        with self.lock:
            conns, self.conns = self.conns, []
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def refuse(self) -> None:
        """Close the port: new connections are refused, open ones are cut."""
        self.mode = "refuse"
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        self._drop_all()

    def black_hole(self) -> None:
        """Accept connections and never answer; open connections go silent too."""
        self.mode = "blackhole"
        if self.listener is None:
            self._listen()

    def forward(self) -> None:
        """Back to normal; connections opened during the black hole are cut (they are desynchronised)."""
        self._drop_all()
        self.mode = "forward"
        if self.listener is None:
            self._listen()

    def close(self) -> None:
        self.mode = "refuse"
        if self.listener is not None:
            self.listener.close()
        self._drop_all()


def pg_target() -> tuple[str, int]:
    parts = urlsplit(PG_URL.replace("postgresql+psycopg://", "postgresql://"))
    return parts.hostname or "127.0.0.1", parts.port or 5432


def urls(server, wheel: Path) -> list[str]:
    base = server.url
    return [
        base + "simple/",
        base + "simple/lost-db/",
        base + "pypi/lost-db/json",
        base + f"packages/lost-db/{wheel.name}",
        base + "project/lost-db/",
        base + "?q=lost",
    ]


def assert_unavailable(server, wheel: Path, what: str) -> None:
    """Every request: 503 with Retry-After and a one-line reason, within BOUND; liveness 200, readiness 503."""
    for url in urls(server, wheel):
        response = requests.get(url, timeout=BOUND)
        assert response.status_code == 503, (what, url, response.status_code, response.text[:300])
        assert int(response.headers["Retry-After"]) > 0
        assert "database" in response.reason.lower(), response.reason
    upload = requests.post(
        server.index_url, auth=ADMIN, files={"content": (wheel.name, b"x")}, data={":action": "file_upload"},
        timeout=BOUND,
    )  # fmt: skip
    assert upload.status_code == 503, (what, upload.status_code, upload.text[:300])
    ready = requests.get(server.url + "readyz", timeout=BOUND)
    assert ready.status_code == 503 and "Retry-After" in ready.headers
    assert "database" in ready.json()["failed"], ready.json()
    assert requests.get(server.url + "health", timeout=BOUND).status_code == 200


def wait_until_served(server, wheel: Path, seconds: float = 60) -> None:
    """Poll (bounded) until the project page lists the wheel again; no 5xx but 503 on the way."""
    deadline = time.monotonic() + seconds
    seen: list[int] = []
    while time.monotonic() < deadline:
        try:
            response = requests.get(server.index_url + "lost-db/", timeout=BOUND)
        except requests.RequestException:
            seen.append(-1)
        else:
            seen.append(response.status_code)
            assert response.status_code in (200, 404, 503), (response.status_code, response.text[:300])
            if response.status_code == 200 and wheel.name in response.text:
                return
        time.sleep(0.2)
    raise AssertionError(f"not served again within {seconds}s; statuses seen: {sorted(set(seen))}")


def test_lost_database_answers_503_then_recovers_without_restart(live_server, postgres_url: str, tmp_path: Path):
    proxy = Proxy(pg_target())
    try:
        proxied = postgres_url.replace(f":{pg_target()[1]}/", f":{proxy.port}/")
        server = live_server(database_url=proxied, **FAST_DB)
        wheel = make_wheel(tmp_path / "dist", "lost-db", "1.0")
        check(twine_upload(server.index_url, [wheel], *ADMIN))
        for url in urls(server, wheel):
            assert requests.get(url, timeout=BOUND).status_code == 200, url

        proxy.refuse()
        assert_unavailable(server, wheel, "refused")
        proxy.forward()
        wait_until_served(server, wheel)
        for url in urls(server, wheel):  # every worker's pool holds a live connection again
            assert requests.get(url, timeout=BOUND).status_code == 200, url

        proxy.black_hole()  # the pooled connections go silent, and new ones are accepted and never answered
        assert_unavailable(server, wheel, "black hole")
        proxy.forward()
        wait_until_served(server, wheel)
        for url in urls(server, wheel):
            assert requests.get(url, timeout=BOUND).status_code == 200, url
        ready = requests.get(server.url + "readyz", timeout=BOUND)
        assert ready.status_code == 200 and ready.json()["failed"] == [], ready.text
        assert server.process.poll() is None
    finally:
        proxy.close()


def test_recreated_empty_database_gets_its_schema_and_index_back(live_server, postgres_url: str, tmp_path: Path):
    import psycopg

    server = live_server(database_url=postgres_url, **FAST_DB)
    wheel = make_wheel(tmp_path / "dist", "lost-db", "1.0")
    check(twine_upload(server.index_url, [wheel], *ADMIN))
    assert requests.get(server.url + "readyz", timeout=BOUND).json()["failed"] == []

    admin_url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')

    response = requests.get(server.index_url + "lost-db/", timeout=BOUND)
    assert response.status_code in (200, 503), (response.status_code, response.text[:300])
    if response.status_code == 503:
        assert "Retry-After" in response.headers
    wait_until_served(server, wheel)  # schema re-created, index rebuilt from storage, no restart
    ready = requests.get(server.url + "readyz", timeout=BOUND).json()
    assert ready["failed"] == [] and ready["checks"]["schema"]["revision"] == ready["checks"]["schema"]["expected"]
    assert "re-creating" in server.log() or "no flaskpypi schema" in server.log()

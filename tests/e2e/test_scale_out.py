"""Several hosts over one PostgreSQL database and one S3 bucket (moto): one rebuild at a start of all hosts at
once, every change seen at once on every host, concurrent writers that leave bucket and database equal, one
upstream fetch per file across hosts, and uploads that go on during a `reindex` (issue 13)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from flaskpypi.core.records import SIDECAR_SUFFIX
from flaskpypi.storage import load_storage
from tests.conftest import ADMIN, base_settings
from tests.support.dists import make_wheel
from tests.support.emulators import Emulator, s3_emulator  # noqa: F401  (session fixture)
from tests.support.faults import upload
from tests.support.server import LiveServer
from tests.support.upstream import LocalUpstream
from tests.unit.upstream_fixtures import fill_upstream

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.emulator]
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
HOSTS = 3
PROJECTS = 40
BIN = Path(sys.executable).parent


def view(host: LiveServer, project: str) -> dict[str, bool]:
    """filename -> yanked, as a client of this host sees the project (PEP 691)."""
    response = requests.get(f"{host.index_url}{project}/", headers=JSON, timeout=30)
    if response.status_code == 404:
        return {}
    assert response.status_code == 200, response.text
    return {f["filename"]: bool(f.get("yanked")) for f in response.json()["files"]}


def bucket_view(storage: Any, project: str) -> dict[str, bool]:
    """filename -> yanked, as the bucket's sidecars (the truth) say, live files only."""
    out = {}
    for stored in storage.iter_files(project + "/"):
        if stored.key.endswith(SIDECAR_SUFFIX):
            record = json.loads(storage.read(stored.key))
            if not record.get("deleted"):
                out[record["filename"]] = bool(record.get("yanked"))
    return out


def reindex(host: LiveServer) -> subprocess.Popen[str]:
    """`flaskpypi reindex` with the host's settings (started, not waited for)."""
    return subprocess.Popen([str(BIN / "flaskpypi"), "reindex"], env=host.env(), cwd=host.root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def rebuilding(postgres_url: str) -> bool:
    """Whether a rebuild is running now (its marker row is there)."""
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM counters WHERE name = 'rebuild-running'").fetchone() is not None


def test_three_hosts_over_one_database_and_one_bucket(s3_emulator: Emulator, postgres_url: str,  # noqa: F811
                                                      tmp_path: Path) -> None:  # fmt: skip
    url = s3_emulator.storage_url()
    storage = load_storage(url, s3_emulator.options)
    dists = tmp_path / "dists"
    for i in range(PROJECTS):  # dropped into the bucket by hand: the first start reads every file
        wheel = make_wheel(dists, f"proj{i:03d}", "1.0")
        with wheel.open("rb") as stream:
            storage.put(f"proj{i:03d}/{wheel.name}", stream)
    upstream = LocalUpstream(fill_upstream(tmp_path / "upstream")).start()
    upstream.trickle = 0.5  # downloads overlap
    settings = {"storage_url": url, "database_url": postgres_url, "fallback": "cache", "upstream_url": upstream.url,
                "cache_update": ["everyone"], "allow_delete": True}  # fmt: skip
    hosts = [LiveServer(tmp_path / f"host{i}", {**base_settings(tmp_path / f"host{i}"), **settings},
                        extra_env=dict(s3_emulator.env)) for i in range(HOSTS)]  # fmt: skip
    for host in hosts:
        host.root.mkdir()
    try:
        # All three start at once on an empty database: all come up, one rebuild.
        with ThreadPoolExecutor(HOSTS) as pool:
            list(pool.map(LiveServer.start, hosts))
        logs = "".join(h.log() for h in hosts)
        assert logs.count("Rebuilding from storage") == 1, logs
        assert "Traceback" not in logs and "Worker failed to boot" not in logs, logs
        deadline = time.monotonic() + 60
        while not all(len(requests.get(h.index_url, headers=JSON, timeout=30).json()["projects"]) == PROJECTS
                      for h in hosts):  # fmt: skip
            assert time.monotonic() < deadline, "the hosts never listed every project"
            time.sleep(0.2)

        # A change on one host is seen on the next request on every other.
        extra = make_wheel(dists, "proj000", "2.0")
        assert upload(hosts[0], extra).status_code == 200
        for host in hosts:
            assert extra.name in view(host, "proj000")
        assert requests.post(f"{hosts[1].url}api/projects/proj000/yank", json={"filename": extra.name},
                             auth=ADMIN, timeout=30).status_code == 200  # fmt: skip
        for host in hosts:
            assert view(host, "proj000")[extra.name] is True
        assert requests.delete(f"{hosts[2].url}api/projects/proj039", auth=ADMIN, timeout=30).status_code == 200
        for host in hosts:
            assert requests.get(f"{host.index_url}proj039/", timeout=30).status_code == 404
            assert "proj039" not in requests.get(host.index_url, timeout=30).text

        # Concurrent yank / un-yank and deletes from every host: bucket and database agree after each round.
        victims = [make_wheel(dists, "proj001", f"1.{n}") for n in range(1, 4)]
        for wheel in victims:
            assert upload(hosts[0], wheel).status_code == 200
        for round_ in range(6):

            def act(n: int, round_: int = round_) -> int:
                host, wheel = hosts[n % HOSTS], victims[n % len(victims)]
                verb = "yank" if (n + round_) % 2 else "unyank"
                return requests.post(f"{host.url}api/projects/proj001/{verb}", json={"filename": wheel.name},
                                     auth=ADMIN, timeout=30).status_code  # fmt: skip

            with ThreadPoolExecutor(12) as pool:
                assert set(pool.map(act, range(12))) <= {200}
            assert view(hosts[round_ % HOSTS], "proj001") == bucket_view(storage, "proj001"), round_
        with ThreadPoolExecutor(6) as pool:  # the same deletes from every host at once: one wins, none breaks
            codes = list(pool.map(lambda n: requests.delete(f"{hosts[n % HOSTS].url}api/projects/proj00{2 + n % 2}",
                                                            auth=ADMIN, timeout=30).status_code, range(6)))  # fmt: skip
        assert set(codes) <= {200, 404} and codes.count(200) == 2, codes
        before = {p: view(hosts[0], p) for p in ("proj000", "proj001", "proj002", "proj003", "proj004")}
        assert before == {p: bucket_view(storage, p) for p in before}
        done = reindex(hosts[1])
        output, _ = done.communicate(timeout=300)
        assert done.returncode == 0, output
        assert {p: view(hosts[2], p) for p in before} == before, "reindex changed what the writers left"

        # Ten simultaneous first downloads of one upstream file, spread over the hosts: one upstream fetch.
        assert view(hosts[0], "demo")  # the page, fetched once and kept in the bucket for every host
        wheel = "demo-1.0-py3-none-any.whl"
        with ThreadPoolExecutor(10) as pool:
            got = list(pool.map(lambda n: requests.get(f"{hosts[n % HOSTS].url}packages/demo/{wheel}",
                                                       timeout=120), range(10)))  # fmt: skip
        expected = (tmp_path / "upstream" / wheel).read_bytes()
        assert all(r.status_code == 200 and r.content == expected for r in got), [r.status_code for r in got]
        assert upstream.count("file") == 1, upstream.counts
        assert upstream.count("page") == 1, upstream.counts

        # Uploads during a reindex all succeed (the time each took is printed, not asserted).
        timings: list[float] = []
        overlapped = 0
        for attempt in range(3):
            proc = reindex(hosts[0])
            while proc.poll() is None and not rebuilding(postgres_url):
                time.sleep(0.01)
            n = 0
            while proc.poll() is None:
                wheel = make_wheel(dists, f"during{attempt}", f"1.{n}")
                started = time.monotonic()
                response = upload(hosts[n % HOSTS], wheel)
                timings.append(time.monotonic() - started)
                assert response.status_code == 200, response.text
                overlapped += rebuilding(postgres_url)
                n += 1
            output, _ = proc.communicate(timeout=300)
            assert proc.returncode == 0, output
            if overlapped:
                break
        slowest = max(timings, default=0.0)
        print(f"uploads during reindex: {len(timings)}, {overlapped} while it ran; slowest {slowest:.3f} s")
        assert overlapped, "no upload happened while a reindex ran"
    finally:
        for host in hosts:
            host.stop()
        upstream.stop()

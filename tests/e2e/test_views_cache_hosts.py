"""A named upstream index in cache mode on two hosts over one PostgreSQL database and one storage (issue 14):
ten simultaneous first downloads through a view, spread over both hosts, make one upstream fetch."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.server import LiveServer
from tests.support.upstream import LocalUpstream
from tests.unit.upstream_fixtures import fill_upstream

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
WHEEL = "demo-2.0-py3-none-any.whl"


@pytest.mark.parametrize("streamed", [False, True], ids=["verified-first", "streamed"])
def test_simultaneous_first_downloads_on_two_hosts_fetch_once(live_server, postgres_url: str, tmp_path: Path,
                                                              streamed: bool) -> None:  # fmt: skip
    upstream = LocalUpstream(fill_upstream(tmp_path / "upstream")).start()
    try:
        upstream.trickle = 0.5  # the first fetch takes a while, so the others arrive during it
        settings = {"storage_url": (tmp_path / "shared").as_uri(), "database_url": postgres_url,
                    "cache_update": ["everyone"], "upstream_retry": 0,
                    "upstream_stream_size": 0 if streamed else "100M",
                    "indexes": {"public": {"type": "upstream", "url": upstream.url, "mode": "cache"}},
                    "views": {"fresh": {"members": ["default", "public"]}}}  # fmt: skip
        hosts: list[LiveServer] = [live_server(tmp_path / f"host{i}", **settings) for i in range(2)]
        for host in hosts:  # each host keeps the upstream page under the index's state prefix
            assert requests.get(f"{host.url}fresh/simple/demo/", timeout=30).status_code == 200
        urls = [f"{hosts[i % 2].url}fresh/packages/demo/{WHEEL}" for i in range(10)]
        with ThreadPoolExecutor(10) as pool:
            bodies = list(pool.map(lambda url: requests.get(url, timeout=120), urls))
        expected = hashlib.sha256((upstream.folder / WHEEL).read_bytes()).hexdigest()
        assert [b.status_code for b in bodies] == [200] * 10
        assert {hashlib.sha256(b.content).hexdigest() for b in bodies} == {expected}
        assert upstream.count("file", WHEEL) == 1
        assert (tmp_path / "shared" / "_indexes" / "public" / "demo" / WHEEL).is_file()
        files = requests.get(f"{hosts[1].url}api/projects/demo/files", timeout=30)
        assert files.status_code == 404  # stored under the upstream index, never the built-in one
    finally:
        upstream.stop()

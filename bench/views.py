"""A view of three members against a single index: /simple/<project>/ timed in process (Flask test client).

    .venv/bin/python bench/views.py

Prints the mean time of one page for: the built-in index at /simple/, a view of default + two upstream
indexes when the project is held by default (the first member) and when it comes from the last member,
and the index at its own name. Issue 14 asks for a view within 1.5x of a single index. In process, so it
measures the app's own work (no HTTP, no gunicorn); bench/run.py measures servers over HTTP.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from flaskpypi import create_app
from tests.conftest import base_settings
from tests.helpers import basic, upload
from tests.support.dists import make_wheel
from tests.support.upstream import LocalUpstream

FILES = 100
REQUESTS = 300


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-views-"))
    (root / "u1").mkdir()
    (root / "u2").mkdir()
    make_wheel(root / "u1", "other", "1.0")
    for v in range(FILES):
        make_wheel(root / "u2", "remote", f"1.{v}")
    first, last = LocalUpstream(root / "u1").start(), LocalUpstream(root / "u2").start()
    try:
        os.environ["FLASKPYPI_INSTANCE_PATH"] = str(root / "instance")
        indexes = {"a": {"type": "upstream", "url": first.url, "mode": "redirect", "ttl": "1h"},
                   "b": {"type": "upstream", "url": last.url, "mode": "redirect", "ttl": "1h"}}  # fmt: skip
        app = create_app({**base_settings(root), "indexes": indexes, "log_level": "WARNING",
                          "views": {"three": {"members": ["default", "a", "b"]}}})  # fmt: skip
        client = app.test_client()
        for v in range(FILES):
            assert upload(client, make_wheel(root / "d", "local", f"1.{v}"), auth=basic()).status_code == 200
        print(f"| page ({FILES} files) | ms per request |\n|---|---|")
        for path in ("/simple/local/", "/three/simple/local/", "/three/simple/remote/", "/default/simple/local/"):
            assert client.get(path).status_code == 200, path
            started = time.perf_counter()
            for _ in range(REQUESTS):
                client.get(path)
            print(f"| `{path}` | {(time.perf_counter() - started) / REQUESTS * 1000:.2f} |")
    finally:
        first.stop()
        last.stop()


if __name__ == "__main__":
    main()

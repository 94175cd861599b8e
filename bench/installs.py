"""Timed installs of the 30-package set with pip and uv from one server, as a user runs them: no cache, a fresh
target folder each time, every package pinned (the set bench/cached_install.py downloads once)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from procs import BenchError

TIMEOUT = 300  # seconds: far above any healthy install; a stall shows as its time, a hang as a failure


@dataclass
class Installs:
    """The seconds of each run of one client against one server, and the failures."""

    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def last(self) -> str:
        """The latest run, for progress lines."""
        return f"{self.seconds[-1]:.2f} s" if self.seconds else "-"


def install(client: str, repo: Path, index_url: str, pins: list[str], env: dict[str, str]) -> float:
    """Seconds `client` (pip or uv) takes to install `pins` from `index_url` into a fresh folder."""
    python, uv = repo / ".venv" / "bin" / "python", repo / ".venv" / "bin" / "uv"
    with tempfile.TemporaryDirectory(prefix=f"bench-{client}-") as target:
        if client == "pip":
            command = [str(python), "-m", "pip", "install", "-q", "--no-cache-dir", "--no-compile",
                       "--target", target, "--index-url", index_url, *pins]  # fmt: skip
        else:
            command = [str(uv), "pip", "install", "-q", "--no-cache", "--python", str(python),
                       "--target", target, "--index-url", index_url, *pins]  # fmt: skip
        started = time.perf_counter()
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{client} install from {index_url} did not finish in {TIMEOUT} s")
        took = time.perf_counter() - started
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
        raise BenchError(f"{client} install from {index_url} failed: " + " / ".join(tail))
    return took


def client_env(scratch: Path) -> dict[str, str]:
    """The environment of the installs: no client configuration, caches or extra indexes of this machine."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support.clients import clean_env

    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    return clean_env(scratch)

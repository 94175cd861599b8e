"""A real flaskpypi server in a subprocess (gunicorn, 2 workers) on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_env(settings: dict[str, Any]) -> dict[str, str]:
    """FLASKPYPI_* variables for a settings dict (lists comma-joined, dicts as JSON)."""
    import json

    env = {}
    for name, value in settings.items():
        if isinstance(value, list | tuple):
            value = ",".join(value)
        elif isinstance(value, dict):
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"FLASKPYPI_{name.upper()}"] = str(value)
    return env


class LiveServer:
    """Start, stop and restart `gunicorn flaskpypi:create_app()` with the given settings."""

    def __init__(self, root: Path, settings: dict[str, Any], workers: int = 2, extra_env: dict[str, str] | None = None):
        self.root = root
        self.instance = root / "instance"
        self.settings = dict(settings)
        self.workers = workers
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = root / "server.log"

    @property
    def url(self) -> str:
        """Base URL, with a trailing slash."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def index_url(self) -> str:
        """The simple index URL pip and uv take."""
        return self.url + "simple/"

    def env(self) -> dict[str, str]:
        """The server's environment: ours, minus any FLASKPYPI_* of the caller."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLASKPYPI_")}
        env.update(settings_env(self.settings))
        env["FLASKPYPI_INSTANCE_PATH"] = str(self.instance)
        env.update(self.extra_env)
        return env

    def start(self) -> LiveServer:
        """Start and wait until /health answers (polling, never a blind sleep)."""
        self.instance.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(self.workers),
            "-b",
            f"127.0.0.1:{self.port}",
            "--timeout",
            "120",
            "--graceful-timeout",
            "5",
            "flaskpypi:create_app()",
        ]
        self.process = subprocess.Popen(
            cmd, cwd=self.root, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "health", timeout=10).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer /health within {STARTUP_TIMEOUT}s:\n{self.log()}")

    def stop(self) -> None:
        """Stop the server and its workers."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def restart(self, **changes: Any) -> LiveServer:
        """Stop, change settings, start again on the same port."""
        self.stop()
        self.settings.update(changes)
        return self.start()

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

"""Process helpers: free ports, servers in their own process group, readiness, virtualenvs."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(cmd: list[str], *, env: Mapping[str, str] | None = None, log: Path | None = None) -> None:
    """Run a command to completion; on failure raise with the tail of its output."""
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if log is not None:
        with log.open("a") as out:
            out.write(f"$ {' '.join(cmd)}\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise BenchError(f"{' '.join(cmd[:3])} ... exited {result.returncode}:\n" + "\n".join(tail))


def output(cmd: list[str]) -> str:
    """Return a command's stripped standard output, or '' if it fails."""
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


@contextmanager
def process_group(
    cmd: list[str], *, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a command in a new process group and stop the whole group on exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        yield proc
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after `timeout`."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Poll `url` until it answers 200; fail early if the server process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server exited with {proc.returncode}; see {log}:\n{log_tail(log)}")
        if answers_ok(url):
            return
        time.sleep(0.2)
    raise BenchError(f"{url} not ready after {timeout:.0f}s; see {log}:\n{log_tail(log)}")


def answers_ok(url: str, timeout: float = 5) -> bool:
    """Whether a GET of `url` answers 200 within `timeout` seconds."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def log_tail(log: Path, lines: int = 15) -> str:
    """Return the last lines of a log file, for error messages."""
    if not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def ensure_venv(path: Path, requirements: list[str], log: Path, python: str | None = None) -> None:
    """Create a virtualenv (of `python`, else this interpreter) with `requirements` unless one with exactly
    those exists."""
    marker = path / "bench-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if marker.exists() and marker.read_text() == wanted:
        return
    print(f"  creating {path} with {' '.join(requirements)} ...", flush=True)
    run([python or sys.executable, "-m", "venv", "--clear", str(path)], log=log)
    run([str(path / "bin" / "python"), "-m", "pip", "install", "-q", *requirements], log=log)
    marker.write_text(wanted)


def dist_version(python: Path, distribution: str) -> str:
    """Return the installed version of `distribution` in the environment of `python`."""
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    return output([str(python), "-c", code]) or "unknown"

"""Process helpers: free ports, servers in their own process group, readiness, virtualenvs."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Timed:
    """A command run to completion in a fresh process: wall seconds, CPU seconds (user + system, its
    children included) and peak resident MiB, from wait4; its output."""

    seconds: float
    cpu: float
    peak_mib: float
    output: str


def timed(cmd: list[str], *, env: Mapping[str, str] | None = None, log: Path | None = None, cwd: Path | None = None,
          while_running: Callable[[subprocess.Popen[bytes]], None] | None = None) -> Timed:  # fmt: skip
    """Run a command to completion and time it (wall clock from the start to its exit, CPU from the kernel);
    `while_running(proc)` runs in a thread meanwhile. BenchError with the tail of its output if it fails."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        helper = threading.Thread(target=while_running, args=(proc,), daemon=True) if while_running else None
        if helper:
            helper.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if helper:
            helper.join()
        out.seek(0)
        text = out.read().decode(errors="replace")
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as file:
            file.write(f"$ {' '.join(cmd)}\n{text}")
    if proc.returncode != 0:
        tail = "\n".join(text.strip().splitlines()[-15:])
        raise BenchError(f"{' '.join(cmd[:3])} ... exited {proc.returncode}:\n{tail}")
    return Timed(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text)


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


def publish(lines: list[str], output: Path) -> int:
    """Print a report's Markdown lines and write them to `output` (rewritten whole); 0, the exit status."""
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    output.write_text(text)
    return 0

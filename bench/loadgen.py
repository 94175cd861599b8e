"""Load generators: wrk when installed (low overhead), else a keep-alive Python client."""

from __future__ import annotations

import http.client
import json
import math
import os
import resource
import shutil
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from procs import BenchError
from targets import Target

WRK_SCRIPT = Path(__file__).with_name("wrk_report.lua")


@dataclass(frozen=True)
class Measurement:
    """The figures of one bounded run against one URL."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    loadgen_cpu: float  # CPU seconds the load generator used per second of run (1.0 = one core)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class LoadGenerator(ABC):
    """Sends GET requests to one URL over `concurrency` connections for a number of seconds."""

    @abstractmethod
    def describe(self, concurrency: int) -> str:
        """Name, version and shape of the load, for the report."""

    @abstractmethod
    def measure(self, target: Target, seconds: int, concurrency: int) -> Measurement:
        """Run for `seconds` and return the figures."""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Wrk(LoadGenerator):
    """wrk with one thread (C code, epoll): the least CPU taken from the server on 2 cores."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def describe(self, concurrency: int) -> str:
        return f"{_wrk_version(self.executable)}, 1 thread, {concurrency} connections"

    def measure(self, target: Target, seconds: int, concurrency: int) -> Measurement:
        command = [
            self.executable,
            *("-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "60s"),
            *("-s", str(WRK_SCRIPT), target.url),
        ]
        env = {**os.environ, "BENCH_ACCEPT": target.headers.get("Accept", ""),
               "BENCH_ACCEPT_ENCODING": target.headers.get("Accept-Encoding", "gzip, deflate")}  # fmt: skip
        cpu_before = _children_cpu()
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 120)
        cpu = _children_cpu() - cpu_before
        report = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode != 0 or not report:
            raise BenchError(f"wrk failed on {target.url}: {result.stderr.strip() or result.stdout.strip()}")
        figures = json.loads(report[-1])
        duration = figures["duration_us"] / 1e6
        return Measurement(
            requests=figures["requests"],
            seconds=duration,
            p50_ms=figures["p50_us"] / 1000,
            p99_ms=figures["p99_us"] / 1000,
            errors=figures["status_errors"] + figures["socket_errors"],
            loadgen_cpu=cpu / duration if duration else 0.0,
        )


def _wrk_version(executable: str) -> str:
    # `wrk --version` prints its banner then the usage text, and exits 1.
    result = subprocess.run([executable, "--version"], capture_output=True, text=True)
    banner = (result.stdout + result.stderr).splitlines() or ["wrk"]
    return banner[0].split(" Copyright")[0]


class PythonClient(LoadGenerator):
    """Threads with persistent http.client connections; heavier than wrk (GIL, Python parsing)."""

    def describe(self, concurrency: int) -> str:
        return f"Python http.client, {concurrency} threads with keep-alive connections"

    def measure(self, target: Target, seconds: int, concurrency: int) -> Measurement:
        deadline = time.perf_counter() + seconds
        runs = [_ClientRun(target, deadline) for _ in range(concurrency)]
        threads = [threading.Thread(target=run.loop) for run in runs]
        cpu_before, started = time.process_time(), time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        latencies = sorted(latency for run in runs for latency in run.latencies)
        return Measurement(
            requests=len(latencies),
            seconds=elapsed,
            p50_ms=percentile(latencies, 50) * 1000,
            p99_ms=percentile(latencies, 99) * 1000,
            errors=sum(run.errors for run in runs),
            loadgen_cpu=(time.process_time() - cpu_before) / elapsed,
        )


class _ClientRun:
    """One connection's request loop, recording each latency."""

    def __init__(self, target: Target, deadline: float) -> None:
        parts = urlsplit(target.url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.headers = {"Accept-Encoding": "gzip, deflate", **target.headers}  # as pip and uv send
        self.deadline = deadline
        self.latencies: list[float] = []
        self.errors = 0

    def loop(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            while (started := time.perf_counter()) < self.deadline:
                if not self._request(conn):
                    self.errors += 1
                self.latencies.append(time.perf_counter() - started)
        finally:
            conn.close()

    def _request(self, conn: http.client.HTTPConnection) -> bool:
        try:
            conn.request("GET", self.path, headers=self.headers)
            response = conn.getresponse()
            return response.status == 200 and bool(response.read())
        except (OSError, http.client.HTTPException):
            conn.close()  # reconnects on the next request
            return False


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def pick(choice: str) -> LoadGenerator:
    """Return the load generator asked for: 'wrk', 'python', or 'auto' (wrk if installed)."""
    executable = shutil.which("wrk")
    if choice == "wrk" and not executable:
        raise BenchError("wrk is not installed (Debian: apt-get install -y wrk)")
    if choice in ("wrk", "auto") and executable:
        return Wrk(executable)
    return PythonClient()

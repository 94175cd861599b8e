"""`flaskpypi serve`: gunicorn with the production defaults, bind and workers from the settings or WEB_CONCURRENCY."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

from tests.support.clients import check, run
from tests.support.server import free_port

pytestmark = pytest.mark.e2e
FLASKPYPI = Path(sys.executable).parent / "flaskpypi"
ROOT = Path(__file__).parents[2]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASKPYPI_", "FLASK_", "GUNICORN_"))}
    env.pop("WEB_CONCURRENCY", None)
    env["FLASKPYPI_INSTANCE_PATH"] = str(tmp_path / "instance")
    env.update(extra)
    return env


def _serve_until_healthy(env: dict[str, str], port: int, cwd: Path, *args: str) -> str:
    """Start `flaskpypi serve`, poll /health until it answers, GET it once more, stop; what it printed."""
    proc = subprocess.Popen(
        [str(FLASKPYPI), "serve", *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[0].decode()
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).ok:
                    break
            except requests.RequestException:
                assert time.monotonic() < deadline, "flaskpypi serve did not answer /health"
                time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=40)[0].decode(errors="replace")
    return out


def test_serve_runs_gthread_workers_from_web_concurrency_with_gunicorn_cmd_args(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, FLASKPYPI_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="3",
               GUNICORN_CMD_ARGS="--access-logfile -")  # fmt: skip
    log = _serve_until_healthy(env, port, tmp_path)
    assert "Using worker: flaskpypi.worker.Worker" in log, log
    assert f"Listening at: http://127.0.0.1:{port}" in log
    assert len(re.findall(r"Booting worker with pid", log)) == 3, log
    assert re.search(r'"GET /health HTTP/1\.1" 200', log), log  # GUNICORN_CMD_ARGS is honoured


def test_the_workers_setting_and_flags_win_over_web_concurrency(tmp_path: Path) -> None:
    port, other = free_port(), free_port()
    env = _env(tmp_path, FLASKPYPI_BIND=f"127.0.0.1:{other}", FLASKPYPI_WORKERS="1", WEB_CONCURRENCY="3")
    log = _serve_until_healthy(env, port, tmp_path, "--bind", f"127.0.0.1:{port}", "--threads", "2")
    assert len(re.findall(r"Booting worker with pid", log)) == 1, log
    assert f"Listening at: http://127.0.0.1:{port}" in log and str(other) not in log


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FLASKPYPI_WORKERS", "-1", "Malformed setting 'workers'"),
        ("FLASKPYPI_THREADS", "many", "Malformed setting 'threads'"),
        ("WEB_CONCURRENCY", "lots", "Malformed environment variable WEB_CONCURRENCY"),
    ],
)
def test_serve_refuses_bad_settings_in_one_line(tmp_path: Path, variable: str, value: str, message: str) -> None:
    done = run([FLASKPYPI, "serve"], env=_env(tmp_path, **{variable: value}), cwd=tmp_path, timeout=60)
    assert done.returncode == 1, done
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_wheel_carries_the_wsgi_module_and_gunicorn_defaults(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASKPYPI_")}  # pip's own config: the registry
    check(run([sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path, ROOT], env=env, timeout=300))
    (wheel,) = tmp_path.glob("flaskpypi-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "flaskpypi/wsgi.py",
        "flaskpypi/gunicorn_conf.py",
        "flaskpypi/serving.py",
        "flaskpypi/cli/serve.py",
    } <= names


def test_metrics_sum_every_worker_under_serve(tmp_path: Path) -> None:
    """prometheus-client's multiprocess mode: any worker's /metrics counts the requests all workers served."""
    from prometheus_client.parser import text_string_to_metric_families

    port = free_port()
    env = _env(tmp_path, FLASKPYPI_BIND=f"127.0.0.1:{port}", FLASKPYPI_WORKERS="2", FLASKPYPI_METRICS="open")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen([str(FLASKPYPI), "serve"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).ok:
                    break
            except requests.RequestException:
                assert proc.poll() is None and time.monotonic() < deadline, "flaskpypi serve did not start"
                time.sleep(0.2)
        for _ in range(40):  # a new connection each time: both workers take some
            response = requests.get(f"http://127.0.0.1:{port}/simple/", headers={"Connection": "close"}, timeout=10)
            assert response.ok
        for _ in range(10):
            text = requests.get(f"http://127.0.0.1:{port}/metrics", headers={"Connection": "close"}, timeout=10).text
            counted = sum(
                s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
                if s.name == "flaskpypi_http_requests_total" and s.labels.get("endpoint") == "simple.root"
            )
            assert counted == 40, text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        log = proc.communicate(timeout=40)[0].decode(errors="replace")
    assert len(re.findall(r"Booting worker with pid", log)) == 2, log

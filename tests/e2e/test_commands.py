"""The commands a user types: make-config (asked or from flags), and the three ways to start the same app."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from flaskpypi.cli import cli
from tests.support.clients import check, twine_upload
from tests.support.dists import make_wheel
from tests.support.server import free_port

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
ROOT = Path(__file__).parents[2]


def test_make_config_asks_like_pypicloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    # a password under 8 characters is refused and asked again, as `user add` and the web forms refuse it
    answers = "prod\nfile\n{}\n\nboss\nshort\nshort\nhunter22\nhunter22\ncache\n".format(tmp_path / "pkgs")
    result = CliRunner().invoke(cli, ["make-config"], input=answers)
    assert result.exit_code == 0, result.output
    path = tmp_path / "instance" / "flaskpypi.toml"
    assert f"Wrote {path}" in result.output and "restart it" in result.output
    assert "Passwords need at least 8 characters" in result.output
    assert "hunter22" not in result.output
    text = path.read_text()
    config = tomllib.loads(text)
    assert "hunter22" not in text and config["admin_password_hash"].startswith(("scrypt:", "pbkdf2:"))
    assert config["admin_user"] == "boss" and config["fallback"] == "cache"
    assert config["storage_url"] == (tmp_path / "pkgs").as_uri()
    assert config["default_read"] == ["authenticated"] and len(config["secret_key"]) >= 40
    assert path.stat().st_mode & 0o077 == 0
    again = CliRunner().invoke(cli, ["make-config"], input=answers)
    assert again.exit_code != 0 and "exists" in again.output


def test_make_config_from_flags_for_scripts(tmp_path: Path) -> None:
    out = tmp_path / "conf" / "index.toml"
    args = [
        "make-config",
        "--no-input",
        "--env",
        "prod",
        "--storage",
        "s3",
        "--bucket",
        "packages",
        "--prefix",
        "team/",
        "--region",
        "eu-west-1",
        "--admin-user",
        "ops",
        "--admin-password",
        "ops-password",
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = tomllib.loads(out.read_text())
    assert config["storage_url"] == "s3://packages/team"
    assert config["storage_options"]["client_kwargs"] == {"region_name": "eu-west-1"}
    first_key = config["secret_key"]
    short = CliRunner().invoke(cli, [a if a != "ops-password" else "pw" for a in args] + ["--force"])
    assert short.exit_code == 2 and "Passwords need at least 8 characters" in short.output
    CliRunner().invoke(cli, [*args, "--force"])
    assert tomllib.loads(out.read_text())["secret_key"] != first_key
    missing = CliRunner().invoke(cli, ["make-config", "--no-input", "-o", str(tmp_path / "x.toml")])
    assert missing.exit_code != 0 and "Admin password" in missing.output


def _serve(cmd: list[str], port: int, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"{cmd} did not start")


def _stop(proc: subprocess.Popen[bytes]) -> str:
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    return out.decode(errors="replace")


@pytest.mark.parametrize("how", ["flaskpypi run", "flask --app flaskpypi run", "gunicorn wsgi:app"])
def test_three_ways_to_start_the_same_app(tmp_path: Path, how: str) -> None:
    instance = tmp_path / "instance"
    packages = tmp_path / "pkgs"
    instance.mkdir()
    (instance / "flaskpypi.toml").write_text(
        f'storage_url = "{packages.as_uri()}"\nadmin_user = "admin"\nadmin_password = "pw"\n'
    )
    wheel = make_wheel(packages / "preloaded", "preloaded", "1.0")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASKPYPI_", "FLASK_"))}
    env["FLASKPYPI_INSTANCE_PATH"] = str(instance)
    cmd = {
        "flaskpypi run": [str(BIN / "flaskpypi"), "run", "--port", str(port)],
        "flask --app flaskpypi run": [str(BIN / "flask"), "--app", "flaskpypi", "run", "--port", str(port)],
        "gunicorn wsgi:app": [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
    }[how]
    proc = _serve(cmd, port, env, ROOT)
    try:
        listing = requests.get(f"http://127.0.0.1:{port}/simple/", timeout=10).text
        assert ">preloaded</a>" in listing
        check(
            twine_upload(
                f"http://127.0.0.1:{port}/simple/", [make_wheel(tmp_path / "d", "fresh", "1.0")], "admin", "pw"
            )
        )
        assert (packages / "fresh" / "fresh-1.0-py3-none-any.whl").exists()
    finally:
        log = _stop(proc)
    assert "Rebuilding from storage" in log and "Serving 1 projects, 1 files from file://" in log
    assert wheel.exists()


def test_flaskpypi_run_listens_on_6543_by_default(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 6543)) == 0:
            pytest.skip("port 6543 is in use on this machine")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASKPYPI_", "FLASK_"))}
    env["FLASKPYPI_INSTANCE_PATH"] = str(tmp_path / "instance")
    proc = _serve([str(BIN / "flaskpypi"), "run"], 6543, env, tmp_path)
    log = _stop(proc)
    assert "http://127.0.0.1:6543" in log


def _flaskpypi(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLASKPYPI_")}
    environ.update(FLASKPYPI_INSTANCE_PATH=str(tmp_path / "instance"), **env)
    exe = Path(sys.executable).with_name("flaskpypi")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=120)


def test_help_and_version_touch_nothing(tmp_path: Path) -> None:
    for args in (["--help"], ["--version"], ["user", "--help"], ["reindex", "--help"]):
        done = _flaskpypi(tmp_path, *args)
        assert done.returncode == 0, done.stderr
        assert done.stderr == "", done.stderr  # no logs
    assert "reindex" in _flaskpypi(tmp_path, "--help").stdout
    assert _flaskpypi(tmp_path, "--version").stdout.strip() == f"flaskpypi {importlib.metadata.version('flaskpypi')}"
    assert not (tmp_path / "instance").exists()


def test_infrastructure_errors_are_one_line(tmp_path: Path) -> None:
    bad = {"FLASKPYPI_DATABASE_URL": "sqlite:////nonexistent/folder/x.db"}
    done = _flaskpypi(tmp_path, "user", "list", **bad)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: The database failed: unable to open database file. Check database_url")
    assert "Traceback" not in done.stderr
    debug = _flaskpypi(tmp_path, "--debug", "user", "list", **bad)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    unknown = _flaskpypi(tmp_path, "user", "list", FLASKPYPI_NO_SUCH_SETTING="1")
    assert unknown.returncode == 1 and "Unknown setting 'no_such_setting'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1

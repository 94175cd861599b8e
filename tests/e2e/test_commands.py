"""The commands a user types: make-config (asked or from flags), and the three ways to start the same app."""

from __future__ import annotations

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
    answers = "prod\nfile\n{}\n\nboss\nhunter22\nhunter22\ncache\n".format(tmp_path / "pkgs")
    result = CliRunner().invoke(cli, ["make-config"], input=answers)
    assert result.exit_code == 0, result.output
    path = tmp_path / "instance" / "flaskpypi.toml"
    assert f"Wrote {path}" in result.output
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
        "pw",
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = tomllib.loads(out.read_text())
    assert config["storage_url"] == "s3://packages/team"
    assert config["storage_options"]["client_kwargs"] == {"region_name": "eu-west-1"}
    first_key = config["secret_key"]
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


@pytest.mark.parametrize(
    "how",
    [
        "flaskpypi run",
        "flask --app flaskpypi run",
        "gunicorn wsgi:app",
        "flaskpypi serve",
        "gunicorn flaskpypi.wsgi:app",
    ],
)
def test_every_way_to_start_the_same_app(tmp_path: Path, how: str) -> None:
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
        "flaskpypi serve": [str(BIN / "flaskpypi"), "serve"],
        "gunicorn flaskpypi.wsgi:app": [
            str(BIN / "gunicorn"),
            "-c",
            "python:flaskpypi.gunicorn_conf",
            "flaskpypi.wsgi:app",
        ],
    }[how]
    installed = how in ("flaskpypi serve", "gunicorn flaskpypi.wsgi:app")  # no checkout files: the package alone
    if installed:
        env["FLASKPYPI_BIND"] = f"127.0.0.1:{port}"
    proc = _serve(cmd, port, env, tmp_path if installed else ROOT)
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

"""The container image (Dockerfile, scripts/build-image.sh) built and run with podman: twine and pip through it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import missing
from tests.support.clients import Venv, check, pip_install, run, twine_upload
from tests.support.dists import make_wheel
from tests.support.server import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]
IMAGE = "localhost/flaskpypi:test"
# No registry is reachable here: the base is made from Debian's packages (debootstrap) once, then kept.
BASE = os.environ.get("FLASKPYPI_TEST_IMAGE_BASE", "localhost/debian-bookworm")
RUNC = "/usr/sbin/runc"
BUILD_TIMEOUT = 900.0


def podman() -> list[str]:
    """podman as these machines need it: runc (crun fails on cgroups and rlimits here)."""
    return ["podman", "--runtime", RUNC] if os.path.exists(RUNC) else ["podman"]


def podman_env() -> dict[str, str]:
    """The environment with this machine's containers.conf (cgroupfs, no default rlimits) unless one is set."""
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(ROOT / "tests" / "support" / "containers.conf"))
    return env


def _pip_cert() -> str | None:
    """The CA bundle the host's pip trusts for the registry (a proxy's CA on these machines), if any."""
    if os.environ.get("PIP_CERT"):
        return os.environ["PIP_CERT"]
    got = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.cert"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    return got.stdout.strip() or None if got.returncode == 0 else None


@pytest.fixture(scope="module")
def image() -> str:
    """Build the image with scripts/build-image.sh (layers and the base image are cached between runs)."""
    if shutil.which("podman") is None:
        missing("podman is not installed (scripts/test-deps.sh installs podman, runc and debootstrap)")
    if BASE == "localhost/debian-bookworm" and shutil.which("debootstrap") is None:
        if subprocess.run([*podman(), "image", "exists", BASE], env=podman_env(), timeout=60).returncode != 0:
            missing("debootstrap is not installed, and the base image is not there yet")
    env = {**podman_env(), "BASE": BASE, "PODMAN": " ".join(podman())}
    cert = _pip_cert()
    if cert:
        env["PIP_CERT_FILE"] = cert
    started = time.monotonic()
    built = run(["bash", ROOT / "scripts" / "build-image.sh", IMAGE], env=env, cwd=ROOT, timeout=BUILD_TIMEOUT)
    check(built)
    print(f"image built in {time.monotonic() - started:.0f} s")  # shown with -s; the report quotes it
    return IMAGE


@pytest.fixture
def container(image: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The image run with a mounted config file and FLASKPYPI_* variables; (name, base URL)."""
    port = free_port()
    config = tmp_path / "flaskpypi.toml"
    config.write_text('admin_user = "ops"\nadmin_password = "container-secret"\n')
    config.chmod(0o644)  # the image's user (uid 10001) reads it
    name = f"flaskpypi-test-{uuid.uuid4().hex[:8]}"
    cmd = [*podman(), "run", "-d", "--name", name, "--network", "host",
           "-e", f"FLASKPYPI_BIND=127.0.0.1:{port}", "-e", "FLASKPYPI_CONFIG=/etc/flaskpypi/flaskpypi.toml",
           "-e", "FLASKPYPI_SECRET_KEY=one-key-for-every-replica", "-e", "WEB_CONCURRENCY=2",
           "-v", f"{config}:/etc/flaskpypi/flaskpypi.toml:ro", image]  # fmt: skip
    check(run(cmd, env=podman_env(), timeout=120))
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(url + "health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            state = run([*podman(), "inspect", "-f", "{{.State.Running}}", name], env=podman_env(), timeout=60)
            logs = run([*podman(), "logs", name], env=podman_env(), timeout=60)
            assert state.stdout.strip() == "true", f"the container stopped:\n{logs.stdout}{logs.stderr}"
            assert time.monotonic() < deadline, f"no /health answer:\n{logs.stdout}{logs.stderr}"
            time.sleep(0.5)
        yield name, url
    finally:
        run([*podman(), "rm", "-f", "-v", name], env=podman_env(), timeout=120)


def test_the_image_serves_twine_uploads_and_pip_installs(container, tmp_path: Path) -> None:
    name, url = container
    wheel = make_wheel(tmp_path / "dist", "from-the-image", "1.0")
    check(twine_upload(url + "legacy/", [wheel], "ops", "container-secret"))
    venv = Venv.create(tmp_path / "venv", pip=True)
    check(pip_install(venv, url + "simple/", "from-the-image"))
    assert venv.version_of("from-the-image") == "1.0"

    def inside(*args: str) -> subprocess.CompletedProcess[str]:
        return run([*podman(), *args], env=podman_env(), timeout=120)

    assert check(inside("exec", name, "id", "-u")).stdout.strip() == "10001"  # not root
    stored = check(inside("exec", name, "ls", "/var/lib/flaskpypi/packages/from-the-image")).stdout
    assert wheel.name in stored
    check(inside("healthcheck", "run", name))  # the image's HEALTHCHECK passes
    logs = inside("logs", name)
    assert "Using worker: flaskpypi.worker.Worker" in logs.stdout + logs.stderr
    assert (logs.stdout + logs.stderr).count("Booting worker with pid") == 2  # WEB_CONCURRENCY
    entry = check(inside("image", "inspect", "-f", "{{.Config.Entrypoint}} {{.Config.User}}", IMAGE)).stdout
    assert "flaskpypi serve" in entry and "flaskpypi" in entry.split("]")[-1]

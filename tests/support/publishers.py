"""Publish with the real pdm, hatch and flit clients, each from a project of its own build backend, offline."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from subprocess import CompletedProcess

from .clients import DEFAULT_TIMEOUT, _toml_str, check, clean_env, run, write_pep621_project
from .dists import DEFAULT_SUMMARY, SDIST_MTIME

# The build backend each client's projects use: (requirement, build-backend object).
BACKENDS = {
    "pdm": ("pdm-backend", "pdm.backend"),
    "hatch": ("hatchling", "hatchling.build"),
    "flit": ("flit_core>=3.4", "flit_core.buildapi"),
}
# Client settings a developer's shell may hold; clean_env strips PIP_, UV_, POETRY_, TWINE_ and PDM_.
STRIPPED_PREFIXES = ("HATCH_", "FLIT_")


def publisher_env(**extra: str) -> dict[str, str]:
    """clean_env (a fresh HOME) without hatch/flit settings, reproducible builds and no pdm update check."""
    env = {key: value for key, value in clean_env().items() if not key.startswith(STRIPPED_PREFIXES)}
    # PDM_PYTHON: pdm would otherwise make a project venv, which publishing does not need.
    env.update(SOURCE_DATE_EPOCH=str(SDIST_MTIME), PDM_CHECK_UPDATE="false", PDM_PYTHON=sys.executable)
    env.update(extra)
    return env


def make_backend_project(
    project_dir: Path | str, backend: str, name: str, version: str, *, summary: str = DEFAULT_SUMMARY
) -> Path:
    """Write a minimal PEP 621 project with one module, built by the backend of client `backend`."""
    requirement, build_backend = BACKENDS[backend]
    tail = f"[build-system]\nrequires = [{_toml_str(requirement)}]\nbuild-backend = {_toml_str(build_backend)}\n"
    return write_pep621_project(project_dir, name, version, tail, summary=summary)


def build_offline(project_dir: Path | str, *, timeout: float = DEFAULT_TIMEOUT) -> list[Path]:
    """`python -m build --no-isolation` with the backend of the test venv; returns dist/'s files, sorted."""
    root = Path(project_dir)
    cmd = [sys.executable, "-m", "build", "--no-isolation", "--outdir", root / "dist", root]
    check(run(cmd, env=publisher_env(), cwd=root, timeout=timeout))
    return sorted((root / "dist").iterdir())


def _client(name: str) -> list[str]:
    """How to run a client installed in the test venv."""
    return [sys.executable, "-m", name]


def pdm_publish(
    project_dir: Path | str,
    repo_url: str,
    username: str,
    password: str,
    extra_args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> CompletedProcess[str]:
    """`pdm publish --no-build -r URL -u USER -P PASSWORD` the project's dist/ files."""
    auth = ["-r", repo_url, "-u", username, "-P", password]
    cmd = [*_client("pdm"), "publish", "--no-build", *auth, *extra_args]
    return run(cmd, env=env or publisher_env(), cwd=project_dir, timeout=timeout)


def hatch_publish(
    project_dir: Path | str,
    repo_url: str,
    username: str,
    password: str,
    extra_args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> CompletedProcess[str]:
    """`hatch publish -n -r URL -u USER -a PASSWORD` the project's dist/ files (hatch's default)."""
    cmd = [*_client("hatch"), "publish", "-n", "-r", repo_url, "-u", username, "-a", password, *extra_args]
    return run(cmd, env=env or publisher_env(), cwd=project_dir, timeout=timeout)


def flit_publish(
    project_dir: Path | str,
    repo_url: str,
    username: str,
    password: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> CompletedProcess[str]:
    """`flit publish` to FLIT_INDEX_URL: flit builds with its own flit_core in-process, then uploads.

    The builds are reproducible (SOURCE_DATE_EPOCH), so a second call uploads the same bytes.
    """
    env = publisher_env(FLIT_INDEX_URL=repo_url, FLIT_USERNAME=username, FLIT_PASSWORD=password)
    return run([*_client("flit"), "publish"], env=env, cwd=project_dir, timeout=timeout)

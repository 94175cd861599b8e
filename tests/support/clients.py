"""Run the real clients (pip, uv, twine, poetry) against an index URL, isolated from this machine's config."""

from __future__ import annotations

import atexit
import ensurepip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from packaging.utils import parse_wheel_filename

from .dists import DEFAULT_SUMMARY, import_name

DEFAULT_TIMEOUT = 180.0
STRIPPED_PREFIXES = ("PIP_", "UV_", "POETRY_", "TWINE_", "PDM_")
# Variables that would point a client at another environment, user site or credential store.
STRIPPED_NAMES = frozenset(
    {"VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "NETRC"}
    | {"XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"}
)
LOOPBACK = "127.0.0.1,localhost,::1"
POETRY_SOURCE = "flaskpypi"
POETRY_REPOSITORY = "local"

Cmd = Sequence[str | os.PathLike[str]]
_scratch_root: Path | None = None


def scratch_dir(prefix: str = "client-") -> Path:
    """A fresh temporary directory, removed when the test process exits."""
    global _scratch_root
    if _scratch_root is None:
        _scratch_root = Path(tempfile.mkdtemp(prefix="flaskpypi-clients-"))
        atexit.register(shutil.rmtree, _scratch_root, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=_scratch_root))


def clean_env(home: Path | str | None = None, **extra: str) -> dict[str, str]:
    """os.environ without any client configuration, with HOME, caches and config dirs in a private place.

    home=None makes a fresh HOME; pass one to keep client state (poetry config) across calls.
    """
    home = Path(home) if home is not None else scratch_dir("home-")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(STRIPPED_PREFIXES) and key not in STRIPPED_NAMES
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        PIP_CONFIG_FILE=os.devnull,  # pip then reads no config file at all: global, site or user
        PIP_NO_CACHE_DIR="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(home / ".cache" / "uv"),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        POETRY_CONFIG_DIR=str(home / ".config" / "pypoetry"),
        POETRY_CACHE_DIR=str(home / ".cache" / "pypoetry"),
        POETRY_DATA_DIR=str(home / ".local" / "share" / "pypoetry"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        PYTHONNOUSERSITE="1",
        NO_COLOR="1",  # plain text to assert on: twine and poetry colour their output otherwise
        COLUMNS="250",  # twine (rich) wraps at 80 columns, splitting the messages tests look for
        NO_PROXY=LOOPBACK,
        no_proxy=LOOPBACK,
    )
    env.update(extra)
    return env


def run(
    cmd: Cmd,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    input: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a command in clean_env() (unless env is given), capturing text output.

    stdin is empty unless input is given. On timeout the whole process group is killed and an
    AssertionError shows what the command had printed.
    """
    args = [os.fspath(part) for part in cmd]
    env = dict(env) if env is not None else clean_env()
    stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    with subprocess.Popen(
        args, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            cp = subprocess.CompletedProcess(args, -signal.SIGKILL, stdout, stderr)
            raise AssertionError(f"timed out after {timeout}s\n{describe(cp)}") from None
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def describe(cp: subprocess.CompletedProcess[str]) -> str:
    """The command, exit code, stdout and stderr of a finished process, for assertion messages."""
    cmd = " ".join(map(str, cp.args)) if isinstance(cp.args, list) else str(cp.args)
    return f"$ {cmd}\nexit code {cp.returncode}\n--- stdout ---\n{cp.stdout}\n--- stderr ---\n{cp.stderr}"


def check(cp: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """Return cp if it succeeded; otherwise raise AssertionError showing its output."""
    if cp.returncode != 0:
        raise AssertionError(describe(cp))
    return cp


def with_credentials(url: str, username: str, password: str) -> str:
    """url with `user:password@` in it (percent-encoded), as pip and uv take credentials."""
    parts = urlsplit(url)
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def uv_bin() -> str:
    """The uv executable of the test environment (the `uv` package's binary), else the one on PATH."""
    try:
        from uv import find_uv_bin
    except ImportError:
        found = shutil.which("uv")
    else:
        found = find_uv_bin()
    if not found:
        raise RuntimeError("uv is not installed in the test environment: pip install uv")
    return found


@dataclass(frozen=True)
class Venv:
    """A virtual environment the tests install into and run code in."""

    path: Path

    @classmethod
    def create(cls, path: Path | str, *, pip: bool | Path = False, timeout: float = DEFAULT_TIMEOUT) -> Venv:
        """A fresh venv without pip (fast); pip=True adds the newest of pip_wheels(), a Path that wheel."""
        check(run([sys.executable, "-m", "venv", "--without-pip", path], timeout=timeout))
        venv = cls(Path(path))
        if pip:
            wheels = pip_wheels()
            if pip is True and not wheels:
                raise RuntimeError("no pip wheel on this machine (ensurepip's or virtualenv's)")
            venv._seed_pip(wheels[-1] if pip is True else Path(pip), timeout)
        return venv

    @property
    def python(self) -> Path:
        """The venv's interpreter."""
        return self.path / "bin" / "python"

    def bin(self, name: str) -> Path:
        """An executable in the venv's bin directory."""
        return self.path / "bin" / name

    def run(
        self, code: str, *, env: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run Python code in the venv, e.g. `import demo; print(demo.__version__)`.

        Isolated mode (-I) in the venv's directory: nothing from the caller's working directory
        (such as this repo's own packages) is importable, only what was installed.
        """
        return run([self.python, "-I", "-c", code], env=env, cwd=self.path, timeout=timeout)

    def version_of(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The __version__ of the installed test distribution `name` (fails if it does not import)."""
        code = f"import {import_name(name)} as m; print(m.__version__)"
        return check(self.run(code, timeout=timeout)).stdout.strip()

    def installed(self, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, str]:
        """The distributions installed in the venv, name -> version (read with importlib.metadata)."""
        code = "import importlib.metadata as m, json;print(json.dumps({d.name: d.version for d in m.distributions()}))"
        return json.loads(check(self.run(code, timeout=timeout)).stdout)

    def _seed_pip(self, wheel: Path, timeout: float) -> None:
        """Install a pip wheel offline with uv (ensurepip takes ten times longer)."""
        args = ["pip", "install", "--python", self.python, "--no-index", "--no-deps", wheel]
        check(run([uv_bin(), *args], timeout=timeout))


def pip_wheels() -> list[Path]:
    """The pip wheels on this machine, oldest first: ensurepip's and virtualenv's embedded (a current pip)."""
    found = list((Path(ensurepip.__file__).parent / "_bundled").glob("pip-*.whl"))
    try:
        import virtualenv.seed.wheels.embed as embed
    except ImportError:
        pass
    else:
        found += Path(embed.__file__).parent.glob("pip-*.whl")
    return sorted(found, key=lambda path: parse_wheel_filename(path.name)[1])


def pip_install(
    venv: Venv,
    index_url: str,
    *reqs: str,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """`pip install --index-url URL` with the venv's own pip (a Venv created with pip=True).

    With input, pip may prompt for credentials (PIP_NO_INPUT is dropped): "user\npassword\n" answers a
    401; getpass reads the password from stdin too, as the child has no controlling terminal.
    """
    env = dict(env) if env is not None else clean_env()
    if input is not None:
        env.pop("PIP_NO_INPUT", None)
    pip = [venv.python, "-m", "pip", "install", "--index-url", index_url, "--no-cache-dir"]
    return run([*pip, *extra_args, *reqs], env=env, input=input, timeout=timeout)


def uv_pip_install(
    venv: Venv,
    index_url: str,
    *reqs: str,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """`uv pip install --index-url URL` into the venv (which needs no pip)."""
    cmd = [uv_bin(), "pip", "install", "--python", venv.python, "--index-url", index_url, *extra_args, *reqs]
    return run(cmd, env=env, timeout=timeout)


def twine_upload(
    repo_url: str,
    files: Iterable[Path | str],
    username: str,
    password: str,
    extra_args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """`twine upload --repository-url URL` non-interactively, without a .pypirc or keyring."""
    auth = ["-u", username, "-p", password, "--non-interactive", "--disable-progress-bar"]
    cmd = [sys.executable, "-m", "twine", "upload", "--repository-url", repo_url, *auth, *extra_args, *files]
    return run(cmd, env=env, timeout=timeout)


def uv_publish(
    url: str,
    files: Iterable[Path | str],
    username: str,
    password: str,
    check_url: str | None = None,
    extra_args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """`uv publish --publish-url URL`; check_url (a simple index URL) makes it skip files already there."""
    cmd = [uv_bin(), "publish", "--publish-url", url, "--username", username, "--password", password]
    cmd += ["--trusted-publishing", "never", *(["--check-url", check_url] if check_url else [])]
    return run([*cmd, *extra_args, *files], env=env, timeout=timeout)


def poetry_env(project_dir: Path | str, **extra: str) -> dict[str, str]:
    """clean_env with a HOME kept inside the project, so poetry config persists between calls.

    The venv settings come as variables: one poetry call costs seconds, `poetry config` stays for what a
    user types (repositories, http-basic). The venv is project_dir/.venv, made from this Python.
    """
    home = Path(project_dir) / ".poetry-home"
    home.mkdir(parents=True, exist_ok=True)
    venv_settings = {"POETRY_VIRTUALENVS_IN_PROJECT": "true", "POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "true"}
    return clean_env(home, **{**venv_settings, **extra})


def poetry(project_dir: Path | str, *args: str, timeout: float = DEFAULT_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run `poetry ARGS` non-interactively in project_dir with its isolated config and caches."""
    cmd = [sys.executable, "-m", "poetry", "--no-interaction", "--no-ansi", *args]
    return run(cmd, env=poetry_env(project_dir), cwd=project_dir, timeout=timeout)


def poetry_config(project_dir: Path | str, *settings: tuple[str, ...], timeout: float = DEFAULT_TIMEOUT) -> None:
    """Apply `poetry config KEY VALUE...` settings in the project's isolated config dir."""
    for setting in settings:
        check(poetry(project_dir, "config", *setting, timeout=timeout))


def _toml_str(value: str) -> str:
    """A TOML basic string (JSON's escaping is a subset of TOML's)."""
    return json.dumps(value)


def write_pep621_project(
    project_dir: Path | str, name: str, version: str, tail: str, *, summary: str, requires_python: str = ">=3.8"
) -> Path:
    """A PEP 621 project with one module (`__version__`), a README, and `tail` (tool and build tables)."""
    root = Path(project_dir)
    module = import_name(name)
    (root / module).mkdir(parents=True, exist_ok=True)
    (root / module / "__init__.py").write_text(f'"""{summary}"""\n\n__version__ = "{version}"\n')
    (root / "README.md").write_text(f"# {name}\n\n{summary}\n")
    (root / "pyproject.toml").write_text(
        "[project]\n"
        f"name = {_toml_str(name)}\nversion = {_toml_str(version)}\ndescription = {_toml_str(summary)}\n"
        f'requires-python = {_toml_str(requires_python)}\ndependencies = []\nreadme = "README.md"\n\n{tail}'
    )
    return root


def make_poetry_project(
    project_dir: Path | str,
    name: str,
    version: str,
    *,
    summary: str = DEFAULT_SUMMARY,
    requires_python: str = ">=3.8",
    build: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Write a minimal poetry-core project with one package and (by default) `poetry build` it offline.

    The wheel and sdist land in project_dir/dist; poetry builds with its own poetry-core in-process.
    """
    tail = (
        f"[tool.poetry]\npackages = [{{ include = {_toml_str(import_name(name))} }}]\n\n"
        '[build-system]\nrequires = ["poetry-core>=2.0"]\nbuild-backend = "poetry.core.masonry.api"\n'
    )
    root = write_pep621_project(project_dir, name, version, tail, summary=summary, requires_python=requires_python)
    if build:
        check(poetry(root, "build", timeout=timeout))
    return root


def poetry_publish(
    project_dir: Path | str,
    repo_url: str,
    username: str,
    password: str,
    extra_args: Sequence[str] = (),
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Point `repositories.local` at repo_url and `poetry publish -r local` the project's dist/ files."""
    poetry_config(project_dir, (f"repositories.{POETRY_REPOSITORY}", repo_url), timeout=timeout)
    auth = ["-u", username, "-p", password]
    return poetry(project_dir, "publish", "-r", POETRY_REPOSITORY, *auth, *extra_args, timeout=timeout)


def _write_consumer_project(root: Path) -> None:
    """A package-mode=false pyproject for the running Python, unless one is there already."""
    if (root / "pyproject.toml").exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    python = f">={sys.version_info.major}.{sys.version_info.minor}"
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "consumer"\nversion = "0"\nrequires-python = "{python}"\ndependencies = []\n\n'
        "[tool.poetry]\npackage-mode = false\n"
    )


def poetry_install_from_source(
    project_dir: Path | str,
    index_url: str,
    name: str,
    username: str | None = None,
    password: str | None = None,
    *,
    constraint: str = "",
    priority: str = "primary",
    timeout: float = DEFAULT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """`poetry add NAME` from index_url as the only source, into project_dir/.venv; returns the add.

    Writes a consumer project unless project_dir has a pyproject.toml; a primary (or explicit) source
    turns PyPI off, so nothing can come from elsewhere. constraint is a PEP 508 specifier like "==1.0".
    """
    root = Path(project_dir)
    _write_consumer_project(root)
    if username is not None:
        poetry_config(root, (f"http-basic.{POETRY_SOURCE}", username, password or ""), timeout=timeout)
    check(poetry(root, "source", "add", f"--priority={priority}", POETRY_SOURCE, index_url, timeout=timeout))
    return poetry(root, "add", "--source", POETRY_SOURCE, f"{name}{constraint}", timeout=timeout)


def poetry_venv(project_dir: Path | str) -> Venv:
    """The in-project venv poetry_install_from_source installs into."""
    return Venv(Path(project_dir) / ".venv")

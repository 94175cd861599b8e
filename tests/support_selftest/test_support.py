"""The test support builds real, installable artefacts and drives real clients in isolation."""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.metadata import Metadata
from packaging.tags import Tag
from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from tests.support import clients, dists
from tests.support._backend import record_hash
from tests.support.clients import Venv, check, clean_env, run

if TYPE_CHECKING:
    from tests.support_selftest.conftest import UploadRecorder

# Any network access other than loopback goes to a dead proxy, so "offline" is proven, not assumed.
DEAD_PROXY = "http://127.0.0.1:9"
CREDENTIALS = ("alice", "s3cret!")
Builder = Callable[..., Path]
Serve = Callable[..., str]
BUILDERS = [pytest.param(dists.make_wheel, id="wheel"), pytest.param(dists.make_sdist, id="sdist")]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route every non-loopback request the clients make to a dead proxy."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(var, DEAD_PROXY)


@pytest.fixture
def leaky_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Client settings in the environment that point at a package the index lacks; returns its name."""
    links = tmp_path / "leaky-links"
    dists.make_wheel(links, "leaky", "1.0")
    for var in ("PIP_FIND_LINKS", "UV_FIND_LINKS"):
        monkeypatch.setenv(var, str(links))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", links.as_uri())
    monkeypatch.setenv("UV_EXTRA_INDEX_URL", links.as_uri())
    return "leaky"


def zip_members(path: Path) -> dict[str, bytes]:
    """Every member of a zip, by name."""
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def tar_members(path: Path) -> list[tarfile.TarInfo]:
    """Every entry of a tar.gz."""
    with tarfile.open(path) as tar:
        return tar.getmembers()


def twine_check(*files: Path) -> None:
    """`twine check --strict` passes on files."""
    check(run([sys.executable, "-m", "twine", "check", "--strict", *files]))


# --- dists: names, contents, determinism ---------------------------------------------------------------


@pytest.mark.parametrize(("build", "expected_build"), [(None, ()), ("1", (1, ""))])
def test_wheel_filename_parses(tmp_path: Path, build: str | None, expected_build: tuple) -> None:
    wheel = dists.make_wheel(tmp_path, "Demo.Pkg_x", "1.0.post1", build=build)
    name, version, build_tag, tags = parse_wheel_filename(wheel.name)
    assert (name, version, build_tag) == ("demo-pkg-x", Version("1.0.post1"), expected_build)
    assert tags == frozenset({Tag("py3", "none", "any")})
    assert wheel.name.startswith("demo_pkg_x-1.0.post1-")


def test_sdist_filename_parses(tmp_path: Path) -> None:
    sdist = dists.make_sdist(tmp_path, "Demo.Pkg_x", "2.0rc1")
    assert sdist.name == "demo_pkg_x-2.0rc1.tar.gz"
    assert parse_sdist_filename(sdist.name) == ("demo-pkg-x", Version("2.0rc1"))


def test_wheel_record_lists_every_file_with_its_hash_and_size(tmp_path: Path) -> None:
    members = zip_members(dists.make_wheel(tmp_path, "demo", "1.0", salt="x", module_code="X = 1"))
    record = members.pop("demo-1.0.dist-info/RECORD").decode().splitlines()
    assert record[-1] == "demo-1.0.dist-info/RECORD,,"
    expected = {f"{name},{record_hash(data)},{len(data)}" for name, data in members.items()}
    assert set(record[:-1]) == expected
    assert b"Root-Is-Purelib: true" in members["demo-1.0.dist-info/WHEEL"]
    assert b'__version__ = "1.0"\n\nX = 1\n' in members["demo/__init__.py"]


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("metadata_version", ["2.1", "2.4"])
def test_metadata_is_valid_core_metadata(tmp_path: Path, builder: Builder, metadata_version: str) -> None:
    path = builder(
        tmp_path, "Demo-Pkg", "1.0", requires_dist=["attrs>=20", 'idna; python_version >= "3"'],
        requires_python=">=3.8,<4", summary="Short.", description="Long *text*.\n",
        metadata_version=metadata_version, extra_metadata={"Classifier": ["A :: B", "C :: D"]},
    )  # fmt: skip
    meta = Metadata.from_email(dists.read_metadata(path), validate=True)
    assert (meta.name, str(meta.version), meta.summary) == ("Demo-Pkg", "1.0", "Short.")
    assert [str(r) for r in meta.requires_dist or []] == ["attrs>=20", 'idna; python_version >= "3"']
    assert str(meta.requires_python) == "<4,>=3.8"
    assert (meta.description, meta.description_content_type) == ("Long *text*.\n", "text/markdown")
    assert meta.classifiers == ["A :: B", "C :: D"]


def test_empty_content_type_leaves_the_field_out(tmp_path: Path) -> None:
    wheel = dists.make_wheel(tmp_path, "demo", "1.0", description_content_type="")
    assert b"Description-Content-Type" not in dists.read_metadata(wheel)


def test_sdist_layout_and_fixed_times(tmp_path: Path) -> None:
    sdist = dists.make_sdist(tmp_path, "Demo.Pkg", "1.0")
    names = [m.name for m in tar_members(sdist)]
    assert names == sorted(names)
    assert {
        "demo_pkg-1.0/PKG-INFO",
        "demo_pkg-1.0/pyproject.toml",
        "demo_pkg-1.0/Demo_Pkg/__init__.py",
    } <= set(names)
    assert all(n == "demo_pkg-1.0" or n.startswith("demo_pkg-1.0/") for n in names)
    assert {m.mtime for m in tar_members(sdist)} == {dists.SDIST_MTIME}
    assert sdist.read_bytes()[4:8] == b"\0\0\0\0"  # gzip header mtime
    assert dists.read_metadata(sdist).startswith(b"Metadata-Version: 2.1\nName: Demo.Pkg\nVersion: 1.0\n")


@pytest.mark.parametrize("builder", BUILDERS)
def test_builds_are_byte_identical_and_salt_changes_bytes(tmp_path: Path, builder: Builder) -> None:
    first, second = builder(tmp_path / "a", "demo", "1.0"), builder(tmp_path / "b", "demo", "1.0")
    salted = builder(tmp_path / "c", "demo", "1.0", salt="x")
    assert first.name == second.name == salted.name
    assert first.read_bytes() == second.read_bytes()
    assert salted.read_bytes() != first.read_bytes()


def test_twine_check_passes(tmp_path: Path) -> None:
    twine_check(dists.make_wheel(tmp_path, "demo", "1.0"), dists.make_sdist(tmp_path, "demo", "1.0"))


def test_sha256_hex(tmp_path: Path) -> None:
    wheel = dists.make_wheel(tmp_path, "demo", "1.0")
    assert dists.sha256_hex(wheel) == hashlib.sha256(wheel.read_bytes()).hexdigest()


# --- dists: broken inputs ---------------------------------------------------------------------------------


def test_truncated_wheel_is_not_a_zip(tmp_path: Path) -> None:
    broken = tmp_path / "broken.whl"
    broken.write_bytes(dists.truncated(dists.make_wheel(tmp_path, "demo", "1.0")))
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(broken)


def test_truncated_sdist_does_not_read(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(dists.truncated(dists.make_sdist(tmp_path, "demo", "1.0", salt="x" * 5000)))
    with pytest.raises((tarfile.TarError, EOFError, gzip.BadGzipFile, OSError)):
        tar_members(broken)


def test_wheel_without_metadata(tmp_path: Path) -> None:
    wheel = dists.wheel_without_metadata(tmp_path, "demo", "1.0")
    parse_wheel_filename(wheel.name)
    assert "demo-1.0.dist-info/WHEEL" in zip_members(wheel)
    with pytest.raises(KeyError):
        dists.read_metadata(wheel)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [({}, ("demo-other", "1.0.post99")), ({"metadata_version": "2.0"}, ("demo-other", "2.0"))],
)
def test_wheel_with_wrong_metadata(tmp_path: Path, kwargs: dict, expected: tuple[str, str]) -> None:
    wheel = dists.wheel_with_wrong_metadata(tmp_path, "demo", "1.0", **kwargs)
    assert wheel.name == "demo-1.0-py3-none-any.whl"
    meta = Metadata.from_email(dists.read_metadata(wheel))
    assert (meta.name, str(meta.version)) == expected


# --- clients: isolation -----------------------------------------------------------------------------------


def test_clean_env_strips_client_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PIP_FIND_LINKS", "UV_INDEX_URL", "POETRY_HOME", "TWINE_PASSWORD", "PDM_HOME", "VIRTUAL_ENV"):
        monkeypatch.setenv(var, "leak")
    env = clean_env(EXTRA="1")
    assert "leak" not in env.values()
    assert env["PIP_CONFIG_FILE"] == os.devnull and env["UV_NO_CONFIG"] == "1" and env["EXTRA"] == "1"
    assert Path(env["HOME"]).is_dir() and env["HOME"] != os.environ.get("HOME")
    assert env["UV_CACHE_DIR"].startswith(env["HOME"])
    assert env["PYTHON_KEYRING_BACKEND"] == "keyring.backends.null.Keyring"


def test_pip_reads_no_machine_config(tmp_path: Path) -> None:
    venv = Venv.create(tmp_path / "venv", pip=True)
    listed = check(run([venv.python, "-m", "pip", "config", "list"])).stdout
    assert "index-url" not in listed and "find-links" not in listed, listed


def test_check_shows_the_output() -> None:
    with pytest.raises(AssertionError, match=r"(?s)exit code 3.*out.*err"):
        check(run([sys.executable, "-c", "import sys; print('out'); sys.exit('err' and 3)"]))


def test_run_kills_on_timeout() -> None:
    with pytest.raises(AssertionError, match="timed out"):
        run([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"], timeout=1)


def test_with_credentials() -> None:
    url = clients.with_credentials("http://old@127.0.0.1:8/simple/", "a@b", "p:w/")
    assert url == "http://a%40b:p%3Aw%2F@127.0.0.1:8/simple/"


# --- clients: installing ----------------------------------------------------------------------------------


def find_links_args(directory: Path) -> list[str]:
    """Arguments that install from a directory of files and nothing else."""
    return ["--no-index", "--find-links", str(directory)]


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("builder", BUILDERS)
def test_pip_installs_offline_from_find_links(tmp_path: Path, builder: Builder) -> None:
    builder(tmp_path / "dists", "Demo-Pkg", "1.2", module_code="def hello() -> str:\n    return 'hi'")
    venv = Venv.create(tmp_path / "venv", pip=True)
    check(run([venv.python, "-m", "pip", "install", *find_links_args(tmp_path / "dists"), "demo-pkg"]))
    assert venv.version_of("Demo-Pkg") == "1.2"
    assert check(venv.run("import Demo_Pkg; print(Demo_Pkg.hello())")).stdout.strip() == "hi"


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("builder", BUILDERS)
def test_uv_installs_offline_from_find_links(tmp_path: Path, builder: Builder) -> None:
    builder(tmp_path / "dists", "demo", "3.0", requires_dist=["dep>=1"])
    dists.make_wheel(tmp_path / "dists", "dep", "1.1")
    venv = Venv.create(tmp_path / "venv")
    args = ["pip", "install", "--python", venv.python, *find_links_args(tmp_path / "dists"), "demo"]
    check(run([clients.uv_bin(), *args]))
    assert venv.installed() == {"demo": "3.0", "dep": "1.1"}


def serve_demo(tmp_path: Path, static_index: Serve) -> str:
    """Serve a wheel of demo 1.0 and an sdist of demo 2.0 as a simple index; return its URL."""
    wheel = dists.make_wheel(tmp_path / "dists", "demo", "1.0")
    return static_index([wheel, dists.make_sdist(tmp_path / "dists", "demo", "2.0")])


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_pip_install_from_index_url_only(tmp_path: Path, static_index: Serve, leaky_config: str, version: str) -> None:
    url = serve_demo(tmp_path, static_index)
    venv = Venv.create(tmp_path / "venv", pip=True)
    check(clients.pip_install(venv, url, f"demo=={version}"))
    assert venv.version_of("demo") == version
    cp = clients.pip_install(venv, url, leaky_config)
    assert cp.returncode != 0 and "No matching distribution" in cp.stderr, clients.describe(cp)


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_uv_pip_install_from_index_url_only(
    tmp_path: Path, static_index: Serve, leaky_config: str, version: str
) -> None:
    url = serve_demo(tmp_path, static_index)
    venv = Venv.create(tmp_path / "venv")
    check(clients.uv_pip_install(venv, url, f"demo=={version}"))
    assert venv.version_of("demo") == version
    cp = clients.uv_pip_install(venv, url, leaky_config)
    assert cp.returncode != 0 and "not found in the package registry" in cp.stderr, clients.describe(cp)


@pytest.mark.usefixtures("offline")
def test_pip_credentials_in_url_or_typed(tmp_path: Path, static_index: Serve) -> None:
    url = static_index([dists.make_wheel(tmp_path, "demo", "1.0")], auth=CREDENTIALS)
    venv = Venv.create(tmp_path / "venv", pip=True)
    refused = clients.pip_install(venv, url, "demo")
    assert refused.returncode != 0, clients.describe(refused)
    check(clients.pip_install(venv, url, "demo", input="\n".join(CREDENTIALS) + "\n"))
    check(clients.pip_install(venv, clients.with_credentials(url, *CREDENTIALS), "--force-reinstall", "demo"))
    assert venv.version_of("demo") == "1.0"


@pytest.mark.usefixtures("offline")
def test_uv_credentials_in_url(tmp_path: Path, static_index: Serve) -> None:
    url = static_index([dists.make_wheel(tmp_path, "demo", "1.0")], auth=CREDENTIALS)
    venv = Venv.create(tmp_path / "venv")
    refused = clients.uv_pip_install(venv, url, "demo")
    assert refused.returncode != 0 and "401" in refused.stderr, clients.describe(refused)
    check(clients.uv_pip_install(venv, clients.with_credentials(url, *CREDENTIALS), "demo"))
    assert venv.version_of("demo") == "1.0"


# --- clients: poetry --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("offline")
def test_poetry_project_builds_offline(tmp_path: Path) -> None:
    project = clients.make_poetry_project(tmp_path / "proj", "Poet.Demo", "0.3.0")
    built = sorted(p.name for p in (project / "dist").iterdir())
    assert built == ["poet_demo-0.3.0-py3-none-any.whl", "poet_demo-0.3.0.tar.gz"]
    twine_check(*(project / "dist").iterdir())
    sdist_names = [m.name for m in tar_members(project / "dist" / "poet_demo-0.3.0.tar.gz")]
    assert not [n for n in sdist_names if ".poetry-home" in n]


@pytest.mark.usefixtures("offline")
def test_poetry_installs_from_the_source_only(tmp_path: Path, static_index: Serve, leaky_config: str) -> None:
    wheel = dists.make_wheel(tmp_path / "dists", "demo", "1.0")
    url = static_index([wheel, dists.make_sdist(tmp_path / "dists", "demo", "2.0")], auth=CREDENTIALS)
    consumer = tmp_path / "consumer"
    check(clients.poetry_install_from_source(consumer, url, "demo", *CREDENTIALS, constraint="==1.0"))
    assert clients.poetry_venv(consumer).version_of("demo") == "1.0"
    cp = clients.poetry_install_from_source(consumer, url, leaky_config, *CREDENTIALS)
    assert cp.returncode != 0, clients.describe(cp)


# --- clients: publishing ----------------------------------------------------------------------------------


def assert_uploaded(server: UploadRecorder, files: Iterable[Path]) -> None:
    """The server received exactly these files, byte for byte, with name and version fields."""
    got = {u.filename: u.sha256 for u in server.uploads}
    assert got == {f.name: dists.sha256_hex(f) for f in files}
    for upload in server.uploads:
        assert upload.form[":action"] == ["file_upload"] and upload.form["name"][0].startswith("demo")


def demo_files(tmp_path: Path) -> list[Path]:
    """A wheel and an sdist of demo 1.0."""
    return [dists.make_wheel(tmp_path, "demo", "1.0"), dists.make_sdist(tmp_path, "demo", "1.0")]


@pytest.mark.usefixtures("offline")
def test_twine_upload(tmp_path: Path, upload_server: UploadRecorder) -> None:
    files = demo_files(tmp_path)
    check(clients.twine_upload(upload_server.url, files, upload_server.username, upload_server.password))
    assert_uploaded(upload_server, files)
    cp = clients.twine_upload(upload_server.url, files, upload_server.username, "wrong")
    assert cp.returncode != 0 and "401" in cp.stdout + cp.stderr, clients.describe(cp)


@pytest.mark.usefixtures("offline")
def test_uv_publish(tmp_path: Path, upload_server: UploadRecorder) -> None:
    files = demo_files(tmp_path)
    check(clients.uv_publish(upload_server.url, files, upload_server.username, upload_server.password))
    assert_uploaded(upload_server, files)
    cp = clients.uv_publish(upload_server.url, files, upload_server.username, "wrong")
    assert cp.returncode != 0 and "401" in cp.stderr, clients.describe(cp)


@pytest.mark.usefixtures("offline")
def test_uv_publish_check_url_skips_files_in_the_index(
    tmp_path: Path, upload_server: UploadRecorder, static_index: Serve
) -> None:
    files = demo_files(tmp_path)
    url = static_index(files[:1])
    check(clients.uv_publish(upload_server.url, files, upload_server.username, upload_server.password, check_url=url))
    assert_uploaded(upload_server, files[1:])


@pytest.mark.usefixtures("offline")
def test_poetry_publish(tmp_path: Path, upload_server: UploadRecorder) -> None:
    project = clients.make_poetry_project(tmp_path / "proj", "demo-poetry", "0.1.0")
    check(clients.poetry_publish(project, upload_server.url, upload_server.username, upload_server.password))
    assert_uploaded(upload_server, (project / "dist").iterdir())

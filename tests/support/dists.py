"""Build small, real, installable wheels and sdists (and broken ones) with no network and no build backend."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from packaging.utils import canonicalize_name

from . import _backend

if TYPE_CHECKING:
    from typing_extensions import Unpack

SDIST_MTIME = 315532800  # 1980-01-01, the zip epoch, so wheels and sdists share one fixed date
DEFAULT_SUMMARY = "A test distribution for flaskpypi."
MetadataValue = str | Sequence[str]


class DistOptions(TypedDict, total=False):
    """What make_wheel and make_sdist accept besides name and version (defaults: see Project)."""

    summary: str
    requires_dist: Sequence[str]
    requires_python: str | None
    description: str | None
    description_content_type: str | None
    metadata_version: str
    module_code: str | None
    extra_metadata: Mapping[str, MetadataValue] | None
    extra_files: Mapping[str, bytes] | None
    salt: str | None


def dist_name(name: str) -> str:
    """The filename form of a project name: PEP 503 normalised with underscores (`Foo.Bar` -> `foo_bar`)."""
    return canonicalize_name(name).replace("-", "_")


def import_name(name: str) -> str:
    """The top-level module the test distributions contain: `-` and `.` become `_`."""
    return name.replace("-", "_").replace(".", "_")


@dataclass(frozen=True)
class Project:
    """What one test distribution holds; the builders turn it into a wheel or an sdist.

    description=None writes a short Markdown body; description_content_type=None means text/markdown and
    "" leaves the field out; extra_metadata adds header fields (a sequence repeats one); extra_files adds
    files by path; salt adds a file, so the same filename gets other bytes.
    """

    name: str
    version: str
    summary: str = DEFAULT_SUMMARY
    requires_dist: Sequence[str] = ()
    requires_python: str | None = None
    description: str | None = None
    description_content_type: str | None = None
    metadata_version: str = "2.1"
    module_code: str | None = None
    extra_metadata: Mapping[str, MetadataValue] | None = None
    extra_files: Mapping[str, bytes] | None = None
    salt: str | None = None

    @property
    def dist(self) -> str:
        """The name as filenames and `.dist-info` spell it."""
        return dist_name(self.name)

    @property
    def module(self) -> str:
        """The importable top-level package name."""
        return import_name(self.name)

    def metadata(self) -> bytes:
        """Core metadata (METADATA / PKG-INFO) in email header form with the description as body."""
        headers = self._headers()
        lines = [f"{key}: {value}" for key, values in headers for value in values]
        body = self.description if self.description is not None else f"# {self.name}\n\n{self.summary}\n"
        return ("\n".join(lines) + "\n\n" + body).encode()

    def _headers(self) -> list[tuple[str, Sequence[str]]]:
        """The header fields in the order tools write them; absent ones are left out."""
        content_type = self.description_content_type
        headers: list[tuple[str, Sequence[str]]] = [
            ("Metadata-Version", [self.metadata_version]),
            ("Name", [self.name]),
            ("Version", [self.version]),
            ("Summary", [self.summary]),
            ("Requires-Python", [self.requires_python] if self.requires_python else []),
            ("Requires-Dist", list(self.requires_dist)),
            ("Description-Content-Type", ["text/markdown" if content_type is None else content_type]),
        ]
        for key, value in (self.extra_metadata or {}).items():
            headers.append((key, [value] if isinstance(value, str) else list(value)))
        return [(key, [v for v in values if v]) for key, values in headers]

    def source_files(self) -> dict[str, bytes]:
        """The package files, keyed by their path relative to the wheel root or the sdist's top dir."""
        code = f'"""The {self.name} test distribution."""\n\n__version__ = "{self.version}"\n'
        if self.module_code:
            code += "\n" + self.module_code.rstrip("\n") + "\n"
        files = {f"{self.module}/__init__.py": code.encode()}
        if self.salt is not None:
            files[f"{self.module}/_salt.txt"] = self.salt.encode()
        return {**files, **(self.extra_files or {})}

    def pyproject(self) -> bytes:
        """A pyproject.toml that builds this sdist with the bundled stdlib-only backend."""
        project = {"name": self.name, "version": self.version, "description": self.summary}
        lines = [
            "[build-system]",
            "requires = []",
            'build-backend = "flaskpypi_test_backend"',
            f'backend-path = ["{_backend.BACKEND_DIR}"]',
            "",
            "[project]",
            *(f"{key} = {json.dumps(value)}" for key, value in project.items()),
            f"dependencies = {json.dumps(list(self.requires_dist))}",
        ]
        if self.requires_python:
            lines.append(f"requires-python = {json.dumps(self.requires_python)}")
        return ("\n".join(lines) + "\n").encode()


def wheel_filename(name: str, version: str, *, python_tag: str = "py3", build: str | None = None) -> str:
    """The filename make_wheel writes for these arguments."""
    parts = [dist_name(name), version, *([build] if build else []), python_tag, "none", "any"]
    return "-".join(parts) + ".whl"


def sdist_filename(name: str, version: str) -> str:
    """The PEP 625 filename make_sdist writes."""
    return f"{dist_name(name)}-{version}.tar.gz"


def make_wheel(
    dest_dir: Path | str,
    name: str,
    version: str,
    *,
    python_tag: str = "py3",
    build: str | None = None,
    **options: Unpack[DistOptions],
) -> Path:
    """Write a reproducible, installable pure-Python wheel into dest_dir and return its path."""
    project = Project(name, version, **options)
    return _write_project_wheel(Path(dest_dir), project, python_tag=python_tag, build=build)


def _write_project_wheel(
    dest_dir: Path,
    project: Project,
    *,
    python_tag: str = "py3",
    build: str | None = None,
    metadata: bytes | None = None,
) -> Path:
    """Write project as a wheel; metadata overrides METADATA, and b"" leaves it out."""
    dist_info = f"{project.dist}-{project.version}.dist-info"
    files = project.source_files()
    metadata = project.metadata() if metadata is None else metadata
    if metadata:
        files[f"{dist_info}/METADATA"] = metadata
    files[f"{dist_info}/WHEEL"] = _backend.wheel_file(f"{python_tag}-none-any", build)
    path = dest_dir / wheel_filename(project.name, project.version, python_tag=python_tag, build=build)
    dest_dir.mkdir(parents=True, exist_ok=True)
    return _backend.write_wheel(path, files, dist_info)


def make_sdist(dest_dir: Path | str, name: str, version: str, **options: Unpack[DistOptions]) -> Path:
    """Write a reproducible PEP 625 sdist that pip and uv can build offline (it bundles its own backend)."""
    project = Project(name, version, **options)
    top = f"{project.dist}-{version}"
    files = {
        "PKG-INFO": project.metadata(),
        "pyproject.toml": project.pyproject(),
        f"{_backend.BACKEND_DIR}/flaskpypi_test_backend.py": Path(_backend.__file__).read_bytes(),
        **project.source_files(),
    }
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / sdist_filename(name, version)
    path.write_bytes(_targz({f"{top}/{arc}": data for arc, data in files.items()}))
    return path


def _tar_info(arcname: str, size: int | None) -> tarfile.TarInfo:
    """A TarInfo with fixed owner, mode and mtime; size None makes a directory entry."""
    info = tarfile.TarInfo(arcname)
    info.mtime = SDIST_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if size is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        info.size, info.mode = size, 0o644
    return info


def _parent_dirs(paths: Iterable[str]) -> set[str]:
    """Every directory that contains one of the paths."""
    return {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}


def _targz(files: Mapping[str, bytes]) -> bytes:
    """A reproducible .tar.gz: sorted entries, directory entries, fixed mtimes, gzip mtime 0."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for arcname in sorted(_parent_dirs(files) | set(files)):
                data = files.get(arcname)
                info = _tar_info(arcname, None if data is None else len(data))
                tar.addfile(info, None if data is None else io.BytesIO(data))
    return buf.getvalue()


def truncated(path: Path | str) -> bytes:
    """The first half of a file's bytes: a broken archive for negative upload tests."""
    data = Path(path).read_bytes()
    return data[: len(data) // 2]


def wheel_without_metadata(dest_dir: Path | str, name: str, version: str) -> Path:
    """A well-formed wheel (valid RECORD) whose .dist-info has no METADATA file."""
    return _write_project_wheel(Path(dest_dir), Project(name, version), metadata=b"")


def wheel_with_wrong_metadata(
    dest_dir: Path | str,
    name: str,
    version: str,
    *,
    metadata_name: str | None = None,
    metadata_version: str | None = None,
) -> Path:
    """A wheel named for name/version whose METADATA says another name and/or version.

    By default both disagree: the name becomes `{name}-other` and the version `{version}.post99`.
    """
    other = Project(metadata_name or f"{name}-other", metadata_version or f"{version}.post99")
    return _write_project_wheel(Path(dest_dir), Project(name, version), metadata=other.metadata())


def read_metadata(path: Path | str) -> bytes:
    """The core metadata bytes: a wheel's `*.dist-info/METADATA`, or an sdist's top-level PKG-INFO."""
    path = Path(path)
    if path.name.endswith(".tar.gz"):
        with tarfile.open(path) as tar:
            return _only_member(path, tar.getnames(), "/PKG-INFO", tar.extractfile)
    with zipfile.ZipFile(path) as zf:
        return _only_member(path, zf.namelist(), ".dist-info/METADATA", zf.read)


def _only_member(path: Path, names: list[str], suffix: str, read: Callable[[str], Any]) -> bytes:
    """Read the one archive member one directory deep whose name ends with suffix."""
    found = [n for n in names if n.count("/") == 1 and n.endswith(suffix)]
    if len(found) != 1:
        raise KeyError(f"{path.name}: expected one */{suffix.lstrip('/')}, found {found}")
    data = read(found[0])
    return data if isinstance(data, bytes) else data.read()


def sha256_hex(path: Path | str) -> str:
    """The hex sha256 of a file, as the simple index shows it after `#sha256=`."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()

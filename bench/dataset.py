"""Generate the benchmark data set: tiny but valid wheels, written once and reused."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BIG_PROJECT = "bigproject"
BIG_FILE_PROJECT = "bigfile"  # one wheel of BIG_FILE_BYTES, for the throughput row
BIG_FILE_BYTES = 20 * 1024 * 1024
SMALL_PREFIX = "bench-pkg"
ZIP_DATE = (2024, 1, 1, 0, 0, 0)
BIG_TAGS = ("py3-none-any", "cp311-cp311-manylinux_2_17_x86_64")
REQUIRES_PYTHON = ">=3.8"
FORMAT = 2  # bump when the generated files change, so that cached data sets are made again


@dataclass(frozen=True)
class DataSet:
    """The shape of a generated data set and where its files live."""

    projects: int
    big_files: int
    root: Path
    extras: tuple[Path, ...] = ()  # real wheels (the install set), served beside the generated ones

    @property
    def packages(self) -> Path:
        """The folder laid out as `<canonical-name>/<filename>`."""
        return self.root / "packages"

    def files(self) -> Iterator[tuple[str, str, Path]]:
        """Yield (canonical name, version, path) for every file of the data set."""
        for name, version, tag in all_files(self.projects, self.big_files):
            yield name, version, self.packages / name / wheel_filename(name, version, tag)
        yield (
            BIG_FILE_PROJECT,
            "1.0.0",
            self.packages / BIG_FILE_PROJECT / wheel_filename(BIG_FILE_PROJECT, "1.0.0", BIG_TAGS[0]),
        )
        for wheel in self.extras:
            name, version = extra_name_version(wheel)
            yield name, version, self.packages / name / wheel.name

    @property
    def file_count(self) -> int:
        return self.projects + self.big_files + 1 + len(self.extras)

    @property
    def project_count(self) -> int:
        """Projects in the index root: the small ones, the big one, the big file's and the real wheels'."""
        return self.projects + 2 + len({extra_name_version(w)[0] for w in self.extras})


def extra_name_version(wheel: Path) -> tuple[str, str]:
    """(canonical name, version) of a real wheel."""
    from packaging.utils import canonicalize_name, parse_wheel_filename

    name, version, _, _ = parse_wheel_filename(wheel.name)
    return canonicalize_name(name), str(version)


def small_projects(count: int) -> Iterator[tuple[str, str, str]]:
    """Yield (canonical name, version, tag) for the one-file projects."""
    width = max(4, len(str(count)))
    for i in range(count):
        yield f"{SMALL_PREFIX}-{i:0{width}d}", "1.0.0", BIG_TAGS[0]


def big_project(files: int) -> Iterator[tuple[str, str, str]]:
    """Yield (canonical name, version, tag) for the many files of the big project."""
    for i in range(files):
        version_index, tag = divmod(i, len(BIG_TAGS))
        major, minor = divmod(version_index, 100)
        yield BIG_PROJECT, f"{major}.{minor}.0", BIG_TAGS[tag]


def all_files(projects: int, big_files: int) -> Iterator[tuple[str, str, str]]:
    """Yield (canonical name, version, tag) for every file, the small projects first."""
    yield from small_projects(projects)
    yield from big_project(big_files)


def summary(name: str) -> str:
    return f"Benchmark package {name}"


def wheel_filename(name: str, version: str, tag: str) -> str:
    return f"{name.replace('-', '_')}-{version}-{tag}.whl"


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"{path},sha256={digest.decode()},{len(data)}"


def build_wheel(name: str, version: str, tag: str, payload: int = 0) -> tuple[str, bytes]:
    """Return the filename and bytes of a minimal valid wheel (with `payload` bytes of incompressible data)."""
    dist = name.replace("-", "_")
    dist_info = f"{dist}-{version}.dist-info"
    abi = tag.split("-")[1]
    members = {
        f"{dist}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        **({f"{dist}/payload.bin": _noise(payload)} if payload else {}),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            f"Summary: {summary(name)}\nRequires-Python: {REQUIRES_PYTHON}\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: flaskpypi-bench\n"
            f"Root-Is-Purelib: {'true' if abi == 'none' else 'false'}\nTag: {tag}\n"
        ).encode(),
    }
    record_path = f"{dist_info}/RECORD"
    record = [_record_line(path, data) for path, data in members.items()]
    members[record_path] = ("\n".join([*record, f"{record_path},,"]) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED if payload else zipfile.ZIP_DEFLATED) as archive:
        for path, data in members.items():
            archive.writestr(zipfile.ZipInfo(path, ZIP_DATE), data)
    return wheel_filename(name, version, tag), buffer.getvalue()


def _noise(size: int) -> bytes:
    """Deterministic incompressible bytes (SHA-256 in counter mode)."""
    return b"".join(hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(size // 32 + 1))[:size]


def _write_files(packages: Path, projects: int, big_files: int, extras: tuple[Path, ...]) -> None:
    made = ((*build_wheel(n, v, t), n) for n, v, t in all_files(projects, big_files))
    big = (*build_wheel(BIG_FILE_PROJECT, "1.0.0", BIG_TAGS[0], BIG_FILE_BYTES), BIG_FILE_PROJECT)
    for filename, data, name in (*made, big):
        folder = packages / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / filename).write_bytes(data)
    for wheel in extras:
        folder = packages / extra_name_version(wheel)[0]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wheel, folder / wheel.name)


def ensure_dataset(cache: Path, projects: int, big_files: int, extras: tuple[Path, ...] = ()) -> DataSet:
    """Return the data set for these sizes, generating it unless a complete one is cached."""
    dataset = DataSet(projects, big_files, cache / f"p{projects}-b{big_files}-x{len(extras)}", extras)
    marker = dataset.root / "complete.json"
    description = {"format": FORMAT, "projects": projects, "big_files": big_files,
                   "extras": sorted(w.name for w in extras)}  # fmt: skip
    if marker.exists() and json.loads(marker.read_text()) == description:
        return dataset
    staging = dataset.root.with_name(dataset.root.name + ".tmp")
    if staging.exists():
        shutil.rmtree(staging)
    _write_files(staging / "packages", projects, big_files, extras)
    (staging / marker.name).write_text(json.dumps(description))
    if dataset.root.exists():
        shutil.rmtree(dataset.root)
    staging.rename(dataset.root)
    return dataset

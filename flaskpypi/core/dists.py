"""Distribution files: parse their names (wheel, PEP 625 sdist), verify their archives and read their core metadata."""

from __future__ import annotations

import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .archives import ArchiveLimits, read_targz_member, read_zip_member
from .errors import InvalidDistribution
from .metadata import CoreMetadata, parse_metadata
from .names import validate_filename

__all__ = ["ArchiveLimits", "CoreMetadata", "DistName", "parse_filename", "read_core_metadata"]
WHEEL, SDIST = "bdist_wheel", "sdist"


@dataclass(frozen=True)
class DistName:
    """What a distribution's filename says: project, version, kind and Python tag."""

    filename: str
    project: str
    version: Version
    packagetype: str
    python_version: str


def parse_filename(filename: str) -> DistName:
    """Parse a wheel or sdist filename, refusing anything else with the reason."""
    validate_filename(filename)
    try:
        if filename.endswith(".whl"):
            name, version, _build, tags = parse_wheel_filename(filename)
            pythons = sorted({t.interpreter for t in tags})
            return DistName(filename, name, version, WHEEL, ".".join(pythons))
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return DistName(filename, name, version, SDIST, "source")
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise InvalidDistribution(f"Invalid distribution filename {filename!r}: {exc}")
    raise InvalidDistribution(
        f"Invalid distribution file {filename!r}: only wheels (.whl) and sdists (.tar.gz, .zip) are accepted."
    )


def content_type(filename: str) -> str:
    """The media type a distribution file is stored and served with."""
    return "application/zip" if filename.endswith((".whl", ".zip")) else "application/gzip"


def _top_level(names: list[str], suffix: str) -> list[str]:
    return [n for n in names if n.count("/") == 1 and n.endswith(suffix)]


def _dist_info_project(member: str) -> str:
    return canonicalize_name(member.split("/", 1)[0].removesuffix(".dist-info").rsplit("-", 1)[0])


def _wheel_metadata(stream: BinaryIO, dist: DistName, limits: ArchiveLimits) -> bytes:
    def choose(names: list[str]) -> str | None:
        matching = [n for n in _top_level(names, ".dist-info/METADATA") if _dist_info_project(n) == dist.project]
        if len(matching) != 1:
            raise InvalidDistribution(f"no single {dist.project}-*.dist-info/METADATA in it.")
        return matching[0]

    return read_zip_member(stream, choose, limits) or b""


def _sdist_metadata(stream: BinaryIO, dist: DistName, limits: ArchiveLimits) -> bytes:
    def choose(names: list[str]) -> str | None:
        found = _top_level(names, "/PKG-INFO")
        return found[0] if found else None

    reader = read_zip_member if dist.filename.endswith(".zip") else read_targz_member
    raw = reader(stream, choose, limits)
    if raw is None:
        raise InvalidDistribution("no top-level PKG-INFO.")
    return raw


def read_core_metadata(stream: BinaryIO, dist: DistName, limits: ArchiveLimits | None = None) -> CoreMetadata:
    """Verify a distribution's archive and read its core metadata, which must name the file's project and version.

    Raises InvalidDistribution (a 400) naming the file and what is wrong: damaged (CRC, truncated, bad
    deflate), over a limit of `limits` (named by its setting), no metadata, or metadata of another project.
    """
    kind = "wheel" if dist.packagetype == WHEEL else "sdist"
    limits = limits or ArchiveLimits()
    try:
        stream.seek(0)
        raw = (
            _wheel_metadata(stream, dist, limits)
            if dist.packagetype == WHEEL
            else _sdist_metadata(stream, dist, limits)
        )
    except InvalidDistribution as exc:
        raise InvalidDistribution(f"Invalid {kind} {dist.filename!r}: {exc.message}")
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError, ValueError) as exc:
        raise InvalidDistribution(
            f"Invalid {kind} {dist.filename!r}: the archive is damaged ({exc or type(exc).__name__})."
        )
    meta = parse_metadata(raw)
    check_same_project("metadata", meta.name, meta.version, dist)
    return meta


def check_same_project(source: str, name: str | None, version: str | None, dist: DistName) -> None:
    """Refuse a name or version (from the metadata or the form) that disagrees with the filename."""
    if name and canonicalize_name(name) != dist.project:
        raise InvalidDistribution(f"The {source} name {name!r} does not match the filename {dist.filename!r}.")
    if not version:
        return
    try:
        same = Version(version) == dist.version
    except InvalidVersion:
        raise InvalidDistribution(f"Invalid version {version!r} in the {source} (PEP 440).")
    if not same:
        raise InvalidDistribution(f"The {source} version {version!r} does not match the filename {dist.filename!r}.")

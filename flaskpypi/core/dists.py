"""Distribution files: parse their names (wheel, PEP 625 sdist) and read the core metadata inside them."""

from __future__ import annotations

import tarfile
import zipfile
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import compat32
from typing import BinaryIO

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .errors import InvalidDistribution
from .names import validate_filename

MAX_METADATA = 4 * 1024 * 1024
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


@dataclass
class CoreMetadata:
    """A distribution's core metadata: the raw bytes (served as the PEP 658 file) and the fields we index."""

    raw: bytes
    name: str
    version: str
    summary: str = ""
    requires_python: str = ""
    description: str = ""
    fields: dict[str, object] = field(default_factory=dict)


_MULTI = ("Classifier", "Requires-Dist", "Project-URL", "Provides-Extra", "Platform", "Dynamic")
_SINGLE = (
    "Metadata-Version",
    "Author",
    "Author-email",
    "Maintainer",
    "Maintainer-email",
    "License",
    "License-Expression",
    "Home-page",
    "Keywords",
    "Description-Content-Type",
    "Download-URL",
)


def parse_metadata(raw: bytes) -> CoreMetadata:
    """Parse RFC 822 core metadata leniently, as installers do; name and version are required."""
    msg = BytesParser(policy=compat32).parsebytes(raw)
    name, version = (msg.get("Name") or "").strip(), (msg.get("Version") or "").strip()
    if not name or not version:
        raise InvalidDistribution("The distribution's metadata has no Name or Version.")
    description = msg.get("Description") or ""
    payload = msg.get_payload()
    if isinstance(payload, str) and payload.strip():
        description = payload
    fields: dict[str, object] = {}
    for key in _SINGLE:
        if msg.get(key):
            fields[key.lower().replace("-", "_")] = str(msg.get(key)).strip()
    for key in _MULTI:
        values = [str(v).strip() for v in msg.get_all(key) or []]
        if values:
            fields[key.lower().replace("-", "_")] = values
    return CoreMetadata(
        raw=raw,
        name=name,
        version=version,
        summary=(msg.get("Summary") or "").strip(),
        requires_python=(msg.get("Requires-Python") or "").strip(),
        description=description,
        fields=fields,
    )


def _wheel_metadata(stream: BinaryIO, dist: DistName) -> bytes:
    with zipfile.ZipFile(stream) as zf:
        candidates = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        matching = [n for n in candidates if _dist_info_project(n) == dist.project]
        if len(matching) != 1:
            raise InvalidDistribution(
                f"Invalid wheel {dist.filename!r}: no single {dist.project}-*.dist-info/METADATA in it."
            )
        info = zf.getinfo(matching[0])
        if info.file_size > MAX_METADATA:
            raise InvalidDistribution(f"Invalid wheel {dist.filename!r}: METADATA is too large.")
        if zf.testzip() is not None:
            raise InvalidDistribution(f"Invalid wheel {dist.filename!r}: a member fails its CRC check.")
        return zf.read(info)


def _dist_info_project(member: str) -> str:
    return canonicalize_name(member.split("/", 1)[0].removesuffix(".dist-info").rsplit("-", 1)[0])


def _sdist_metadata(stream: BinaryIO, dist: DistName) -> bytes:
    if dist.filename.endswith(".zip"):
        with zipfile.ZipFile(stream) as zf:
            names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/PKG-INFO")]
            if not names:
                raise InvalidDistribution(f"Invalid sdist {dist.filename!r}: no top-level PKG-INFO.")
            return zf.read(names[0])
    with tarfile.open(fileobj=stream, mode="r:gz") as tf:
        for member in tf:
            if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO") and member.isfile():
                if member.size > MAX_METADATA:
                    raise InvalidDistribution(f"Invalid sdist {dist.filename!r}: PKG-INFO is too large.")
                extracted = tf.extractfile(member)
                assert extracted is not None
                data = extracted.read()
                for _ in tf:  # read to the end so a truncated archive is caught here
                    pass
                return data
    raise InvalidDistribution(f"Invalid sdist {dist.filename!r}: no top-level PKG-INFO.")


def read_core_metadata(stream: BinaryIO, dist: DistName) -> CoreMetadata:
    """Read and check the metadata inside a distribution: it must name the file's project and version."""
    try:
        raw = _wheel_metadata(stream, dist) if dist.packagetype == WHEEL else _sdist_metadata(stream, dist)
    except InvalidDistribution:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        kind = "wheel" if dist.packagetype == WHEEL else "sdist"
        raise InvalidDistribution(f"Invalid {kind} {dist.filename!r}: the archive is damaged ({exc}).")
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

"""A stdlib-only PEP 517 backend and wheel writer: test sdists ship it so they build with no network."""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from collections.abc import Mapping
from email.parser import BytesParser
from pathlib import Path

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
GENERATOR = "flaskpypi-tests (1.0)"
BACKEND_DIR = "_backend"


def dist_name(name: str) -> str:
    """The wheel/sdist filename form of a project name (PEP 503 normalised, underscores)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def record_hash(data: bytes) -> str:
    """The RECORD hash field: sha256, urlsafe base64 without padding."""
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def wheel_file(tag: str, build: str | None = None) -> bytes:
    """The dist-info WHEEL file for a pure-Python wheel."""
    lines = ["Wheel-Version: 1.0", f"Generator: {GENERATOR}", "Root-Is-Purelib: true", f"Tag: {tag}"]
    if build:
        lines.append(f"Build: {build}")
    return ("\n".join(lines) + "\n").encode()


def record_file(files: Mapping[str, bytes], record_name: str) -> bytes:
    """RECORD content listing every file with its hash and size, and RECORD itself without."""
    lines = [f"{arc},{record_hash(data)},{len(data)}" for arc, data in files.items()]
    lines.append(f"{record_name},,")
    return ("\n".join(lines) + "\n").encode()


def _zip_info(arcname: str) -> zipfile.ZipInfo:
    """A ZipInfo with a fixed date and mode, so archives are byte-for-byte reproducible."""
    info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_wheel(path: Path, files: Mapping[str, bytes], dist_info: str) -> Path:
    """Write files (in order) plus a correct `{dist_info}/RECORD` as a reproducible zip."""
    record_name = f"{dist_info}/RECORD"
    entries = {**files, record_name: record_file(files, record_name)}
    with zipfile.ZipFile(path, "w") as zf:
        for arcname, data in entries.items():
            zf.writestr(_zip_info(arcname), data)
    return path


def _source_files(root: Path) -> dict[str, bytes]:
    """Every file of the top-level packages in a source tree, in sorted order."""
    files: dict[str, bytes] = {}
    for pkg in sorted(p for p in root.iterdir() if (p / "__init__.py").is_file() and p.name != BACKEND_DIR):
        for file in sorted(pkg.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                files[file.relative_to(root).as_posix()] = file.read_bytes()
    return files


def _dist_info(pkg_info: bytes) -> str:
    """The `.dist-info` directory name for the project described by PKG-INFO."""
    msg = BytesParser().parsebytes(pkg_info, headersonly=True)
    return f"{dist_name(msg['Name'])}-{msg['Version']}.dist-info"


def get_requires_for_build_wheel(config_settings: object = None) -> list[str]:
    """PEP 517 hook: nothing to install, which is the point."""
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: object = None) -> str:
    """PEP 517 hook: METADATA is PKG-INFO as it is."""
    pkg_info = Path("PKG-INFO").read_bytes()
    dist_info = Path(metadata_directory) / _dist_info(pkg_info)
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_bytes(pkg_info)
    (dist_info / "WHEEL").write_bytes(wheel_file("py3-none-any"))
    return dist_info.name


def build_wheel(wheel_directory: str, config_settings: object = None, metadata_directory: object = None) -> str:
    """PEP 517 hook: a py3-none-any wheel of the packages in the current directory."""
    pkg_info = Path("PKG-INFO").read_bytes()
    dist_info = _dist_info(pkg_info)
    files = _source_files(Path.cwd())
    files[f"{dist_info}/METADATA"] = pkg_info
    files[f"{dist_info}/WHEEL"] = wheel_file("py3-none-any")
    filename = f"{dist_info.removesuffix('.dist-info')}-py3-none-any.whl"
    write_wheel(Path(wheel_directory) / filename, files, dist_info)
    return filename

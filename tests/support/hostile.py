"""Hostile and damaged archives: zip and gzip bombs, truncated gzip, damaged deflate, too many members.

Built in a streaming way (the bombs never exist inflated in memory), for the tests and bench/hardening.py.
"""

from __future__ import annotations

import gzip
import io
import random
import struct
import tarfile
import zipfile
from pathlib import Path

from .dists import Project, make_wheel

ZERO_CHUNK = b"\0" * (1024 * 1024)


class _Zeros(io.RawIOBase):
    """A readable stream of n zero bytes."""

    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.left, len(ZERO_CHUNK))
        buffer[:n] = ZERO_CHUNK[:n]
        self.left -= n
        return n


def _metadata(name: str, version: str) -> bytes:
    return Project(name, version).metadata()


def zip_bomb_wheel(dest: Path, name: str = "bomb", version: str = "1.0", inflated: int = 300 * 1024**2) -> Path:
    """A valid wheel with one more member of `inflated` zero bytes (about 1,000 times its compressed size)."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(f"{info}/METADATA", _metadata(name, version))
        zf.writestr(f"{info}/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        with zf.open(f"{name}/zeros.bin", "w", force_zip64=True) as member:
            left = inflated
            while left:
                member.write(ZERO_CHUNK[: min(left, len(ZERO_CHUNK))])
                left -= min(left, len(ZERO_CHUNK))
        zf.writestr(f"{info}/RECORD", b"")
    return path


def zip_sdist_with_huge_pkg_info(dest: Path, name: str = "bomb", version: str = "1.0",
                                 inflated: int = 8 * 1024**2) -> Path:  # fmt: skip
    """A `.zip` sdist whose PKG-INFO is valid metadata padded to `inflated` bytes (the body)."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{name}-{version}.zip"
    head = _metadata(name, version) + b"\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open(f"{name}-{version}/PKG-INFO", "w", force_zip64=True) as member:
            member.write(head)
            left = inflated - len(head)
            while left > 0:
                member.write(b" " * min(left, len(ZERO_CHUNK)))
                left -= len(ZERO_CHUNK)
    return path


def gzip_bomb_sdist(dest: Path, name: str = "bomb", version: str = "1.0", inflated: int = 300 * 1024**2) -> Path:
    """A `.tar.gz` sdist with a valid PKG-INFO and a member of `inflated` zero bytes."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{name}-{version}.tar.gz"
    top = f"{name}-{version}"
    with gzip.open(path, "wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        meta = _metadata(name, version)
        info = tarfile.TarInfo(f"{top}/PKG-INFO")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
        zeros = tarfile.TarInfo(f"{top}/zeros.bin")
        zeros.size = inflated
        tar.addfile(zeros, io.BufferedReader(_Zeros(inflated)))
    return path


def many_members_wheel(dest: Path, members: int, name: str = "many", version: str = "1.0") -> Path:
    """A valid wheel with `members` extra tiny files."""
    files = {f"{name}/f{i}.txt": b"x" for i in range(members)}
    return make_wheel(dest, name, version, extra_files=files)


def cut(path: Path, drop: int) -> bytes:
    """The file's bytes less its last `drop` bytes (drop=4 removes a gzip trailer's length field)."""
    data = path.read_bytes()
    return data[: len(data) - drop]


def damaged_deflate(path: Path, member_suffix: str = ".dist-info/METADATA", seed: int = 0) -> bytes:
    """The zip's bytes with a few bytes of one member's deflate stream overwritten (CRC and sizes unchanged)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(member_suffix))
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    rng = random.Random(seed)
    for _ in range(4):
        pos = start + rng.randrange(max(info.compress_size, 1))
        data[pos] ^= 0xFF
    return bytes(data)

"""Reading one member out of a wheel or sdist archive, within limits, after verifying the whole archive.

Every archive is read to its end before a file is accepted: each zip member's CRC-32, and for `.tar.gz`
the gzip trailer (CRC-32 and length), so a truncated or damaged file is refused instead of served. Limits
bound the work an archive can cause (zip and gzip bombs): the member count, the bytes it inflates to (at
most `max_uncompressed_size`, and at most `max_compression_ratio` times the archive's size once past
RATIO_FLOOR bytes) and the size of the member read into memory (`max_metadata_size`).
"""

from __future__ import annotations

import gzip
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, BinaryIO

from .errors import InvalidDistribution

RATIO_FLOOR = 16 * 1024 * 1024  # below this many inflated bytes the ratio is not checked
CHUNK = 1024 * 1024

# Picks the member to read from an archive's member names (None: the archive has none).
MemberChooser = Callable[[list[str]], str | None]


@dataclass(frozen=True)
class ArchiveLimits:
    """What an archive may cost to read; each is a setting of the same name (bytes, count, ratio)."""

    max_metadata_size: int = 4 * 1024 * 1024
    max_uncompressed_size: int = 4 * 1024**3
    max_compression_ratio: int = 200
    max_archive_members: int = 100_000

    @classmethod
    def from_settings(cls, settings: Any) -> ArchiveLimits:
        """The limits from an object with attributes of the same names (flaskpypi's Settings)."""
        return cls(**{f.name: int(getattr(settings, f.name)) for f in fields(cls)})

    def inflated_cap(self, archive_size: int) -> int:
        """The most bytes an archive of archive_size bytes may inflate to."""
        by_ratio = max(RATIO_FLOOR, self.max_compression_ratio * archive_size)
        return min(self.max_uncompressed_size, by_ratio)


class ArchiveRefused(InvalidDistribution):
    """The archive is damaged, or over a limit; the message says which (and names the setting)."""


def _size(stream: BinaryIO) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def _over(what: str, amount: int, setting: str, limit: int, unit: str = "bytes") -> ArchiveRefused:
    return ArchiveRefused(f"{what} {amount} {unit}, over the {setting} limit of {limit} {unit}.")


def read_zip_member(stream: BinaryIO, choose: MemberChooser, limits: ArchiveLimits) -> bytes | None:
    """Verify a zip archive (wheel, `.zip` sdist) within limits, then return the chosen member's bytes.

    Sizes come from the central directory, and zipfile never inflates a member past its declared size,
    so checking them first bounds the time the CRC pass takes. Raises ArchiveRefused, or zipfile's and
    zlib's errors for a damaged archive (the caller maps them to one message).
    """
    archive_size = _size(stream)
    with zipfile.ZipFile(stream) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_archive_members:
            raise _over("It has", len(infos), "max_archive_members", limits.max_archive_members, "members")
        inflated = sum(i.file_size for i in infos)
        cap = limits.inflated_cap(archive_size)
        if inflated > cap:
            raise _inflated_error(inflated, archive_size, limits)
        name = choose([i.filename for i in infos])
        if name is None:
            return None
        info = zf.getinfo(name)
        if info.file_size > limits.max_metadata_size:
            raise _over(f"Its {name} is", info.file_size, "max_metadata_size", limits.max_metadata_size)
        bad = zf.testzip()
        if bad is not None:
            raise ArchiveRefused(f"Member {bad!r} fails its CRC check.")
        return zf.read(info)


def _inflated_error(inflated: int, archive_size: int, limits: ArchiveLimits) -> ArchiveRefused:
    if inflated > limits.max_uncompressed_size:
        return _over("It inflates to", inflated, "max_uncompressed_size", limits.max_uncompressed_size)
    ratio = inflated // max(archive_size, 1)
    return ArchiveRefused(
        f"It inflates to {inflated} bytes, {ratio} times its size, over the max_compression_ratio limit of "
        f"{limits.max_compression_ratio}."
    )


class _Counted:
    """A read-only stream that refuses to yield more than `cap` bytes (the gzip bomb guard)."""

    def __init__(self, raw: BinaryIO, cap: int, archive_size: int, limits: ArchiveLimits) -> None:
        self.raw, self.cap, self.archive_size, self.limits, self.count = raw, cap, archive_size, limits, 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(CHUNK if n is None or n < 0 else n)
        self.count += len(data)
        if self.count > self.cap:
            raise _inflated_error(self.count, self.archive_size, self.limits)
        return data

    def drain(self) -> None:
        """Read to the end, so gzip checks its trailer (CRC-32 and length)."""
        while self.read(CHUNK):
            pass


def read_targz_member(stream: BinaryIO, choose: MemberChooser, limits: ArchiveLimits) -> bytes | None:
    """Verify a `.tar.gz` archive in one streamed pass within limits; return the chosen member's bytes.

    The member is chosen from the names seen so far, the first time `choose` returns one. Raises
    ArchiveRefused, or tarfile's, gzip's and zlib's errors for a damaged archive.
    """
    archive_size = _size(stream)
    with gzip.GzipFile(fileobj=stream, mode="rb") as gz:
        counted = _Counted(gz, limits.inflated_cap(archive_size), archive_size, limits)  # type: ignore[arg-type]
        found: bytes | None = None
        with tarfile.open(fileobj=counted, mode="r|") as tf:  # type: ignore[call-overload]
            for members, member in enumerate(tf, start=1):
                if members > limits.max_archive_members:
                    raise _over("It has more than", members - 1, "max_archive_members",
                                limits.max_archive_members, "members")  # fmt: skip
                if found is None and member.isfile() and choose([member.name]) == member.name:
                    if member.size > limits.max_metadata_size:
                        raise _over(f"Its {member.name} is", member.size, "max_metadata_size",
                                    limits.max_metadata_size)  # fmt: skip
                    extracted = tf.extractfile(member)
                    assert extracted is not None
                    found = extracted.read()
        counted.drain()
    return found

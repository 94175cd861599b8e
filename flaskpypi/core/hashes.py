"""Digests of distribution files: sha256 always, md5 and blake2b-256 as PyPI reports and twine sends."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import BinaryIO

from .errors import DigestMismatch

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Digests:
    """The three digests the upload API and the JSON API speak of."""

    sha256: str
    md5: str
    blake2b_256: str
    size: int


def digest_stream(stream: BinaryIO) -> Digests:
    """Hash a stream in one pass, without holding it in memory."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    blake = hashlib.blake2b(digest_size=32)
    size = 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        sha256.update(chunk)
        md5.update(chunk)
        blake.update(chunk)
    return Digests(sha256.hexdigest(), md5.hexdigest(), blake.hexdigest(), size)


def sha256_bytes(data: bytes) -> str:
    """sha256 hex of a small byte string (core metadata files)."""
    return hashlib.sha256(data).hexdigest()


def check_claimed(digests: Digests, claimed: dict[str, str | None]) -> None:
    """Refuse the upload when any digest the client sent differs from the bytes received."""
    actual = {
        "sha256_digest": digests.sha256,
        "md5_digest": digests.md5,
        "blake2_256_digest": digests.blake2b_256,
    }
    for field, value in claimed.items():
        if value and not hmac.compare_digest(value.strip().lower().encode(), actual[field].encode()):
            kind = field.removesuffix("_digest")
            raise DigestMismatch(f"The {kind} digest supplied does not match the file's ({actual[field]}).")

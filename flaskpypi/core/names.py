"""Project names, filenames and storage keys: what the index accepts, normalised once (PEP 503, PEP 508)."""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name

from .errors import InvalidName

_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]*$")
_MAX_FILENAME = 255


def canonical(name: str) -> str:
    """The PEP 503 normalised form used in URLs, keys and comparisons."""
    return canonicalize_name(name)


def validate_project_name(name: str) -> str:
    """Return the name if PEP 508 allows it, else refuse it."""
    if not name or len(name) > 200 or not _PROJECT_NAME.match(name):
        raise InvalidName(f"Invalid project name {name!r}: use letters, digits, '.', '_' and '-' (PEP 508).")
    return name


def validate_filename(filename: str) -> str:
    """Return the filename if it is a plain, safe basename (no path, no NUL, no leading dot)."""
    if (
        not filename
        or len(filename) > _MAX_FILENAME
        or "/" in filename
        or "\\" in filename
        or "\x00" in filename
        or ".." in filename
        or not _FILENAME.match(filename)
    ):
        raise InvalidName(f"Invalid filename {filename!r}: a distribution filename has no path, '..' or NUL.")
    return filename


def storage_key(project: str, filename: str) -> str:
    """The one place a request's names become a storage key: both parts validated."""
    project = canonical(validate_project_name(project))
    return f"{project}/{validate_filename(filename)}"


_KEY_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+!-]*$")


def validate_key(key: str) -> str:
    """A storage key is one or two safe segments; anything else never reaches a storage backend."""
    parts = key.split("/")
    if not 1 <= len(parts) <= 2 or any(
        not p or len(p) > _MAX_FILENAME or ".." in p or not _KEY_SEGMENT.match(p) for p in parts
    ):
        raise InvalidName(f"Invalid storage key {key!r}.")
    return key

"""Project names, filenames and storage keys: what the index accepts, normalised once (PEP 503, PEP 508)."""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name

from .errors import InvalidName

_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]*$")
_MAX_FILENAME = 255
DEFAULT_INDEX = "default"  # the built-in hosted index: its keys are today's `<project>/<filename>`
INDEXES_FOLDER = "_indexes"  # other hosted indexes: `_indexes/<index>/<project>/<filename>` (no project starts with _)
INDEX_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")


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


def validate_index_name(index: str) -> str:
    """Return the name of an index if it is one (lower-case letters, digits, '.', '_', '-'; 64 at most)."""
    if not isinstance(index, str) or ".." in index or not INDEX_NAME.match(index):
        raise InvalidName(f"Invalid index name {index!r}.")
    return index


def index_prefix(index: str = DEFAULT_INDEX) -> str:
    """Where a hosted index's keys live: '' for the built-in `default` (today's layout, read without a
    migration), `_indexes/<index>/` for any other."""
    if validate_index_name(index) == DEFAULT_INDEX:
        return ""
    return f"{INDEXES_FOLDER}/{index}/"


def storage_key(project: str, filename: str, index: str = DEFAULT_INDEX) -> str:
    """The one place a request's names become a storage key: every part validated; the key of a hosted
    index other than `default` is `_indexes/<index>/<project>/<filename>`."""
    project = canonical(validate_project_name(project))
    return f"{index_prefix(index)}{project}/{validate_filename(filename)}"


_KEY_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+!-]*$")


def validate_key(key: str) -> str:
    """A storage key is one or two safe segments, optionally under `_indexes/<index>/`; anything else never
    reaches a storage backend."""
    parts = key.split("/")
    if len(parts) > 2 and parts[0] == INDEXES_FOLDER:
        try:
            validate_index_name(parts[1])
        except InvalidName:
            raise InvalidName(f"Invalid storage key {key!r}.") from None
        parts = parts[2:]
    if not 1 <= len(parts) <= 2 or any(
        not p or len(p) > _MAX_FILENAME or ".." in p or not _KEY_SEGMENT.match(p) for p in parts
    ):
        raise InvalidName(f"Invalid storage key {key!r}.")
    return key

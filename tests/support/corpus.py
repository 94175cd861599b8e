"""The real-world corpus: real distribution files of popular projects, pinned by sha256 in
tests/corpus/corpus.txt, downloaded once from the package registry into a cache outside git, and what
their core metadata says, read with `packaging.metadata` and put in the shapes of PyPI's JSON API.

The cache is `$FLASKPYPI_TEST_CORPUS_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/flaskpypi/corpus`. Tests only read
it; `ensure_corpus` fills what is missing (once), from the URLs `pypi_simple` finds on the registry.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from packaging.metadata import parse_email
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

CORPUS_LIST = Path(__file__).resolve().parents[1] / "corpus" / "corpus.txt"
_XDG_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
CACHE_DIR = Path(os.environ.get("FLASKPYPI_TEST_CORPUS_DIR") or _XDG_CACHE / "flaskpypi" / "corpus")
DOWNLOAD_WORKERS = 8
CHUNK = 1 << 16

# The text fields of PyPI's JSON API `info` that come from core metadata, by their shape there.
STRING_FIELDS = (
    "summary", "author", "author_email", "maintainer", "maintainer_email", "license", "license_expression",
    "requires_python", "description_content_type", "home_page", "download_url",
)  # fmt: skip
LIST_FIELDS = ("requires_dist", "provides_extra", "license_files", "dynamic")  # a list, or null when absent
JSON_FIELDS = (*STRING_FIELDS, *LIST_FIELDS, "classifiers", "keywords", "project_urls", "description")
# Raw (packaging) field name -> email header name, for values packaging leaves in `unparsed`.
_HEADER = {
    "summary": "summary", "author": "author", "author_email": "author-email", "maintainer": "maintainer",
    "maintainer_email": "maintainer-email", "license": "license", "license_expression": "license-expression",
    "requires_python": "requires-python", "description_content_type": "description-content-type",
    "home_page": "home-page", "download_url": "download-url", "requires_dist": "requires-dist",
    "provides_extra": "provides-extra", "license_files": "license-file", "dynamic": "dynamic",
    "classifiers": "classifier", "keywords": "keywords", "project_urls": "project-url",
    "description": "description",
}  # fmt: skip


class OneOf(tuple):
    """The values a single-valued field has when the file gives it more than once (packaging leaves it unparsed,
    e.g. a Description header and a body): no one value is right, the index may show any one of them."""


def matches(expected: Any, got: Any) -> bool:
    """Whether a value the index shows is what the file says."""
    return got in expected if isinstance(expected, OneOf) else got == expected


@dataclass(frozen=True)
class Entry:
    """One pinned file: its project (as the registry names it), filename, sha256 and size in bytes."""

    project: str
    filename: str
    sha256: str
    size: int
    note: str = ""


def load_entries(path: Path = CORPUS_LIST) -> list[Entry]:
    """The pinned list: one `project filename sha256 size [# note]` per line; `#` starts a comment."""
    entries = []
    for line in path.read_text().splitlines():
        text, _, note = line.partition("#")
        if not text.strip():
            continue
        project, filename, sha256, size = text.split()
        entries.append(Entry(project, filename, sha256, int(size), note.strip()))
    return entries


def write_entries(entries: Iterable[Entry], path: Path = CORPUS_LIST, header: str = "") -> None:
    """Write the pinned list (sorted by project, then filename), with a comment header."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for e in sorted(entries, key=lambda e: (canonicalize_name(e.project), e.filename)):
        lines.append(f"{e.project} {e.filename} {e.sha256} {e.size}" + (f"  # {e.note}" if e.note else ""))
    path.write_text("\n".join(lines) + "\n")


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        while chunk := fp.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- download --------------------------------------------------------------------------------------


class CorpusDownloadError(RuntimeError):
    """Some pinned files could not be downloaded or did not match their sha256."""


def _is_good(path: Path, entry: Entry) -> bool:
    return path.is_file() and path.stat().st_size == entry.size and sha256_of(path) == entry.sha256


def ensure_corpus(entries: Sequence[Entry], dest: Path = CACHE_DIR, workers: int = DOWNLOAD_WORKERS) -> Path:
    """Download the pinned files missing from dest (in parallel, `workers` at a time), verify each sha256.

    Finds each file's URL with `pypi_simple` on `PYPI_SIMPLE_ENDPOINT`; writes to a temporary name and renames
    once verified, so the cache never holds a partial file. Raises CorpusDownloadError naming every failure.
    """
    from filelock import FileLock

    dest.mkdir(parents=True, exist_ok=True)
    with FileLock(dest / ".lock"):
        missing = [e for e in entries if not _is_good(dest / e.filename, e)]
        if not missing:
            return dest
        by_project: dict[str, list[Entry]] = {}
        for e in missing:
            by_project.setdefault(e.project, []).append(e)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda item: _download_project(*item, dest), by_project.items()))
        failures = [f for errors in results for f in errors]
    if failures:
        raise CorpusDownloadError(
            f"{len(failures)} of {len(entries)} corpus files could not be fetched into {dest}:\n" + "\n".join(failures)
        )
    return dest


def _download_project(project: str, entries: list[Entry], dest: Path) -> list[str]:
    """Download one project's missing files; returns one line per failure."""
    from pypi_simple import PYPI_SIMPLE_ENDPOINT, PyPISimple

    failures = []
    try:
        with PyPISimple(endpoint=PYPI_SIMPLE_ENDPOINT) as client:
            page = client.get_project_page(project, timeout=60)
            packages = {p.filename: p for p in page.packages}
            for e in entries:
                package = packages.get(e.filename)
                if package is None:
                    failures.append(f"{e.filename}: not listed on the registry's page of {project!r}")
                    continue
                part = dest / f".{e.filename}.part"
                try:
                    client.download_package(package, part, verify=True, timeout=120)
                    if sha256_of(part) != e.sha256:
                        failures.append(f"{e.filename}: sha256 differs from the pinned {e.sha256}")
                        continue
                    part.replace(dest / e.filename)
                except Exception as exc:  # the reason goes into the error naming this file
                    failures.append(f"{e.filename}: {type(exc).__name__}: {exc}")
                finally:
                    part.unlink(missing_ok=True)
    except Exception as exc:
        failures += [f"{e.filename}: {type(exc).__name__}: {exc}" for e in entries if not (dest / e.filename).exists()]
    return failures


# -- what a file says ------------------------------------------------------------------------------


def core_metadata_bytes(path: Path) -> bytes:
    """The raw core metadata of a distribution: a wheel's .dist-info/METADATA, an sdist's top PKG-INFO."""
    name = path.name
    if name.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            candidates = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            return zf.read(_best(candidates, name))
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            candidates = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/PKG-INFO")]
            return zf.read(_best(candidates, name))
    with tarfile.open(path) as tf:
        members = {m.name.removeprefix("./"): m for m in tf.getmembers() if m.isfile()}
        candidates = [n for n in members if n.count("/") == 1 and n.endswith("/PKG-INFO")]
        fp = tf.extractfile(members[_best(candidates, name)])
        assert fp is not None
        return fp.read()


def _best(candidates: list[str], filename: str) -> str:
    """The metadata member whose directory matches the filename's stem best (the shortest on a tie)."""
    if not candidates:
        raise ValueError(f"{filename}: no core metadata file in the archive")
    stem = filename.lower().replace("-", "_")
    return min(candidates, key=lambda n: (not stem.startswith(n.split("/")[0].lower().replace("-", "_")[:8]), len(n)))


def filename_name_version(filename: str) -> tuple[str, str]:
    """(normalised project, version text) that a distribution filename carries."""
    if filename.endswith(".whl"):
        name, version, _, _ = parse_wheel_filename(filename)
    elif filename.endswith(".zip"):
        name, version = parse_sdist_filename(filename[: -len(".zip")] + ".tar.gz")
    else:
        name, version = parse_sdist_filename(filename)
    return canonicalize_name(name), str(version)


@dataclass
class CorpusFile:
    """A pinned file in the cache and its core metadata as `packaging.metadata.parse_email` reads it."""

    entry: Entry
    path: Path
    raw: dict[str, Any] = field(init=False)
    unparsed: dict[str, list[str]] = field(init=False)

    def __post_init__(self) -> None:
        self.raw, self.unparsed = parse_email(self.metadata)  # type: ignore[assignment]

    @cached_property
    def metadata(self) -> bytes:
        """The file's METADATA / PKG-INFO, bytes as stored."""
        return core_metadata_bytes(self.path)

    @property
    def filename(self) -> str:
        return self.entry.filename

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def name(self) -> str:
        """The normalised project name."""
        return filename_name_version(self.filename)[0]

    @property
    def version(self) -> str:
        """The version as the metadata gives it (what the index keeps)."""
        return str(self.raw.get("version") or filename_name_version(self.filename)[1])

    @property
    def metadata_version(self) -> str:
        return str(self.raw.get("metadata_version") or self.unparsed.get("metadata-version", ["?"])[0])

    @property
    def utf8(self) -> bool:
        """Whether the metadata bytes are valid UTF-8 (legacy files may be latin-1)."""
        try:
            self.metadata.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    @property
    def non_ascii(self) -> bool:
        return not self.metadata.isascii()

    def value(self, raw_name: str) -> Any:
        """A field as packaging parsed it; a value packaging left unparsed (e.g. latin-1 decoded, the way it
        decodes non-UTF-8 bytes) as its text; None when absent."""
        if raw_name in self.raw:
            return self.raw[raw_name]
        found = self.unparsed.get(_HEADER.get(raw_name, raw_name))
        if found is None:
            return None
        if raw_name in LIST_FIELDS or raw_name in ("classifiers", "project_urls"):
            return found
        return found[0] if len(found) == 1 else OneOf(found)

    def expected_info(self) -> dict[str, Any]:
        """What `/pypi/<name>/<version>/json` must say in `info` for these fields, in PyPI's JSON API shapes.

        Strings as the file has them (null when absent); `classifiers` a list ([] when absent); requires_dist,
        provides_extra, license_files and dynamic a list or null; `keywords` packaging's list joined with ", "
        as PyPI stores it (null when absent or empty); `project_urls` a dict label -> URL with Home-page as
        "Homepage" and Download-URL as "Download" first, as PyPI's `Release.urls` builds it, or null when
        empty; `description` the text, "" when absent (PyPI stores an empty description). A single-valued
        field the file gives more than once is a OneOf its values (compare with `matches`).
        """
        info: dict[str, Any] = {name: self.value(name) for name in STRING_FIELDS}
        for name in LIST_FIELDS:
            value = self.value(name)
            info[name] = list(value) if value else None
        info["classifiers"] = list(self.value("classifiers") or [])
        keywords = self.value("keywords")
        info["keywords"] = ", ".join(keywords) if keywords and any(keywords) else None
        info["description"] = self.value("description") or ""
        info["project_urls"] = self.project_urls()
        return info

    def project_urls(self) -> dict[str, str] | None:
        """Warehouse's `Release.urls`: Homepage, Download, then each Project-URL (skipping repeats of those)."""
        urls: dict[str, str] = {}
        if home := self.value("home_page"):
            urls["Homepage"] = home
        if download := self.value("download_url"):
            urls["Download"] = download
        listed = self.value("project_urls") or {}
        if isinstance(listed, list):  # unparsed "Label, URL" lines
            listed = {label.strip(): url.strip() for label, _, url in (s.partition(",") for s in listed)}
        for label, url in listed.items():
            folded = label.casefold().replace("-", "").replace("_", "")
            if folded == "homepage" and url == urls.get("Homepage"):
                continue
            if folded == "downloadurl" and url == urls.get("Download"):
                continue
            urls[label] = url
        return urls or None


def corpus_files(entries: Sequence[Entry] | None = None, dest: Path = CACHE_DIR) -> list[CorpusFile]:
    """The pinned files, downloaded if missing, with their metadata read."""
    entries = list(entries) if entries is not None else load_entries()
    ensure_corpus(entries, dest)
    return [CorpusFile(e, dest / e.filename) for e in entries]


# -- uploading and installing ----------------------------------------------------------------------

# packaging's raw names -> the legacy upload form's names, where they differ (as twine sends them).
_FORM_NAME = {"platforms": "platform", "supported_platforms": "supported_platform", "license_files": "license_file"}


def twine_refusal(path: Path) -> str | None:
    """Why twine refuses to upload this file on the client side (its own metadata checks), None if it uploads."""
    from twine.exceptions import InvalidDistribution
    from twine.package import PackageFile

    try:
        PackageFile.from_filename(str(path), None)
    except InvalidDistribution as exc:
        return str(exc)
    return None


def legacy_upload_form(f: CorpusFile) -> list[tuple[str, str]]:
    """The legacy upload form twine would send for this file, built from what packaging parses (values
    packaging leaves unparsed, such as latin-1 text, sent as decoded text): for the files twine refuses."""
    import re

    fields = {**{name: f.value(name) for name in _HEADER}, **f.raw}
    fields.pop("name", None)
    form = [(":action", "file_upload"), ("protocol_version", "1")]
    form.append(("name", re.sub("[^A-Za-z0-9.]+", "-", str(f.raw.get("name") or f.name))))
    form.append(("filetype", "bdist_wheel" if f.is_wheel else "sdist"))
    form.append(("pyversion", f.filename[: -len(".whl")].split("-")[-3] if f.is_wheel else "source"))
    form.append(("metadata_version", f.metadata_version))
    form.append(("sha256_digest", f.entry.sha256))
    form.append(("blake2_256_digest", hashlib.blake2b(f.path.read_bytes(), digest_size=32).hexdigest()))
    for name, value in fields.items():
        if value is None or name == "metadata_version":
            continue
        key = _FORM_NAME.get(name, name)
        if name == "keywords" and isinstance(value, list):
            form.append((key, ", ".join(value)))
        elif isinstance(value, dict):
            form += [(key, f"{label}, {url}") for label, url in value.items()]
        elif isinstance(value, list):
            form += [(key, str(item)) for item in value]
        else:
            form.append((key, str(value)))
    return form


def installable_here(filename: str) -> bool:
    """A wheel this interpreter and platform can install (pip and uv pick it over nothing else)."""
    from packaging.tags import sys_tags

    if not filename.endswith(".whl"):
        return False
    return bool(set(parse_wheel_filename(filename)[3]) & set(sys_tags()))


def install_sample(files: Sequence[CorpusFile], count: int, offset: int = 0) -> list[CorpusFile]:
    """`count` files installable here, one per project, spread over the corpus (offset picks another spread)."""
    import platform

    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    here = platform.python_version()
    candidates: dict[str, CorpusFile] = {}
    for f in files:
        try:
            fits = SpecifierSet(str(f.value("requires_python") or "")).contains(here)
        except InvalidSpecifier:
            fits = False
        if installable_here(f.filename) and fits and f.name not in candidates:
            candidates[f.name] = f
    ordered = [candidates[name] for name in sorted(candidates)]
    if len(ordered) < count:
        raise ValueError(f"only {len(ordered)} installable projects in the corpus, {count} asked for")
    step = len(ordered) / count
    return [ordered[(int(i * step) + offset) % len(ordered)] for i in range(count)]

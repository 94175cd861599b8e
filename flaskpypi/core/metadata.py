"""Core metadata (the METADATA / PKG-INFO file): read with `packaging.metadata`, kept as the file's text.

The fields are the ones of the core metadata specification (Metadata-Version 1.0 to 2.4), keyed by
`packaging.metadata.RawMetadata`'s names (`author_email`, `classifiers`, `project_urls`...). Text is never
stripped or re-encoded: headers are UTF-8, or latin-1 where a legacy file is not valid UTF-8, as `packaging`
decodes them (and pip and PyPI with it); the body is the description, decoded the same way.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.metadata import parse_email

from .errors import InvalidDistribution
from .names import validate_project_name

# Multiple-use fields whose RawMetadata name is not the header's name lower-cased with "_".
_PLURALS = {
    "classifier": "classifiers",
    "platform": "platforms",
    "supported-platform": "supported_platforms",
    "project-url": "project_urls",
    "license-file": "license_files",
    "import-name": "import_names",
    "import-namespace": "import_namespaces",
}
_LISTS = {
    "classifiers",
    "platforms",
    "supported_platforms",
    "license_files",
    "dynamic",
    "provides_extra",
    "requires_dist",
    "requires_external",
    "provides_dist",
    "obsoletes_dist",
    "requires",
    "provides",
    "obsoletes",
    "import_names",
    "import_namespaces",
}
# Single-use fields whose text PyPI's JSON API shows as it is (null when absent).
_STRING_INFO = (
    "summary",
    "description",
    "description_content_type",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "license_expression",
    "home_page",
    "download_url",
    "requires_python",
)
_KNOWN_SINGLE = {"metadata_version", "name", "version", "keywords", *_STRING_INFO}


@dataclass
class CoreMetadata:
    """A distribution's core metadata: the raw bytes (served as the PEP 658 file) and its fields.

    `fields` maps RawMetadata names to the file's text: str for single fields, list[str] for multiple-use
    ones and `keywords`, dict[str, str] for `project_urls`; `description` is the body (or the header).
    """

    raw: bytes
    name: str
    version: str
    summary: str = ""
    requires_python: str = ""
    description: str = ""
    fields: dict[str, object] = field(default_factory=dict)


def _raw_name(header: str) -> str:
    return _PLURALS.get(header, header.replace("-", "_"))


def _keywords(text: str) -> list[str]:
    return [k.strip() for k in text.split(",")]


def _project_urls(entries: list[str]) -> dict[str, str]:
    urls: dict[str, str] = {}
    for entry in entries:
        label, _, url = entry.partition(",")
        urls.setdefault(label.strip(), url.strip())
    return urls


def _text(value: object) -> str:
    """A body that packaging could not decode as UTF-8 arrives as bytes: latin-1 never fails."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")
    return str(value)


def _recover(fields: dict[str, object], unparsed: Mapping[str, list[Any]]) -> None:
    """Keep what `packaging` set aside: latin-1 text of legacy files, repeated single fields, odd URLs.

    A known field that is repeated keeps its first value (the description its last: the body); an
    unknown header is not an index field and is left out.
    """
    for header, values in unparsed.items():
        name = _raw_name(header)
        texts = [_text(v) for v in values]
        if not texts or (name in fields and name != "description"):
            continue
        if name == "description":
            fields[name] = texts[-1]
        elif name == "project_urls":
            fields[name] = _project_urls(texts)
        elif name == "keywords":
            fields[name] = _keywords(texts[0])
        elif name in _LISTS:
            fields[name] = texts
        elif name in _KNOWN_SINGLE:
            fields[name] = texts[0]


def parse_metadata(raw: bytes) -> CoreMetadata:
    """Parse core metadata bytes (RFC 822 headers and a body) as `packaging.metadata.parse_email` does.

    Raises InvalidDistribution when there is no Name or Version or a field holds a NUL character, and
    InvalidName when the Name is not a PEP 508 name. Nothing else is validated: the index keeps what the
    file says, as installers read it.
    """
    parsed, unparsed = parse_email(raw)
    fields: dict[str, object] = dict(parsed)  # type: ignore[arg-type]
    _recover(fields, unparsed)
    name, version = str(fields.pop("name", "")), str(fields.pop("version", ""))
    if not name.strip() or not version.strip():
        raise InvalidDistribution("The distribution's metadata has no Name or Version.")
    validate_project_name(name.strip())
    _refuse_nul(fields)
    return CoreMetadata(
        raw=raw,
        name=name.strip(),
        version=version.strip(),
        summary=str(fields.get("summary", "")),
        requires_python=str(fields.get("requires_python", "")),
        description=str(fields.get("description", "")),
        fields=fields,
    )


def _refuse_nul(fields: Mapping[str, object]) -> None:
    """No real metadata holds a NUL character, and databases refuse it in text: say so instead of failing."""
    for key, value in fields.items():
        values = (
            [*value, *value.values()] if isinstance(value, Mapping) else value if isinstance(value, list) else [value]
        )
        if any("\x00" in str(v) for v in values):
            raise InvalidDistribution(f"The distribution's metadata field {key!r} contains a NUL character.")


# -- PyPI's JSON API ---------------------------------------------------------------------------------

_LIST_INFO = ("license_files", "requires_dist", "provides_extra", "dynamic")
_LABEL_PUNCTUATION = str.maketrans("", "", string.punctuation + string.whitespace)


def url_label_key(label: str) -> str:
    """A project URL label normalised as PEP 753 says (`Home-page`, `homepage` -> `homepage`)."""
    return label.translate(_LABEL_PUNCTUATION).lower()


def project_urls(fields: Mapping[str, object]) -> dict[str, str]:
    """Home-page, Download-URL and Project-URL entries as PyPI lists them (`Homepage`, `Download` first).

    A Project-URL that repeats Home-page or Download-URL under the PEP 753 label is not listed twice.
    """
    urls: dict[str, str] = {}
    home, download = fields.get("home_page"), fields.get("download_url")
    if home:
        urls["Homepage"] = str(home)
    if download:
        urls["Download"] = str(download)
    entries = fields.get("project_urls") or {}
    for label, url in entries.items() if isinstance(entries, Mapping) else ():
        key = url_label_key(str(label))
        if (key == "homepage" and url == urls.get("Homepage")) or (
            key == "downloadurl" and url == urls.get("Download")
        ):
            continue
        urls[str(label)] = str(url)
    return urls


def pypi_info(fields: Mapping[str, object]) -> dict[str, object]:
    """The metadata part of `info` in PyPI's JSON API (`/pypi/<project>/json`), from a file's fields.

    Strings are the file's text or null (`description` ""); `classifiers` a list (empty when none); other
    multiple-use fields a list or null; `keywords` the keywords joined with ", " (as PyPI stores them) or null;
    `project_urls` a dict with Homepage and Download first, or null; `platform` the first Platform or null.
    """
    info: dict[str, object] = {key: _str_or_none(fields.get(key)) for key in _STRING_INFO}
    info["description"] = info["description"] or ""  # PyPI stores an absent description as ""
    keywords = fields.get("keywords")
    if isinstance(keywords, str):  # sidecars written before packaging parsed keywords
        keywords = _keywords(keywords)
    info["keywords"] = ", ".join(keywords) if isinstance(keywords, list) and any(keywords) else None
    info["classifiers"] = list(_as_list(fields.get("classifiers")))
    for key in _LIST_INFO:
        info[key] = list(_as_list(fields.get(key))) or None
    info["project_urls"] = project_urls(fields) or None
    platforms = _as_list(fields.get("platforms"))
    info["platform"] = platforms[0] if platforms else None
    return info


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _as_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


# Keys of sidecars written before fields followed RawMetadata (SIDECAR_VERSION 1).
_LEGACY_KEYS = {"classifier": "classifiers", "platform": "platforms", "project_url": "project_urls"}


def upgrade_fields(fields: Mapping[str, object]) -> dict[str, object]:
    """Fields stored by an older flaskpypi, under today's names and shapes (idempotent)."""
    upgraded = dict(fields)
    for old, new in _LEGACY_KEYS.items():
        if old in upgraded and new not in upgraded:
            upgraded[new] = upgraded.pop(old)
    if isinstance(upgraded.get("project_urls"), list):
        upgraded["project_urls"] = _project_urls([str(e) for e in upgraded["project_urls"]])  # type: ignore[union-attr]
    if isinstance(upgraded.get("keywords"), str):
        upgraded["keywords"] = _keywords(str(upgraded["keywords"]))
    return upgraded

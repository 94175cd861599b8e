"""The simple repository API pages (PEP 503, 629, 592, 658/714, 691, 700, 740, 792), without a web framework."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from html import escape

from .records import iso

API_VERSION = "1.4"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
ALIASES = {
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
}
OFFERS = (TEXT_HTML, HTML_V1, JSON_V1)


@dataclass(frozen=True)
class SimpleFile:
    """One file as the simple API shows it; URLs are ready to print."""

    filename: str
    url: str
    sha256: str
    size: int | None  # None: not known (an upstream file listed by an HTML-only index)
    upload_time: datetime | None
    requires_python: str = ""
    yanked: bool = False
    yanked_reason: str = ""
    core_metadata_sha256: str | None = None
    provenance_url: str | None = None


@dataclass(frozen=True)
class SimpleProject:
    """A project page's content."""

    name: str
    files: list[SimpleFile]
    versions: list[str]
    status: str = "active"
    status_reason: str = ""
    display_name: str = ""


def _accept_entries(header: str) -> list[tuple[str, float]]:
    entries = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        q = 1.0
        for param in pieces[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        entries.append((ALIASES.get(media, media), q))
    return entries


def negotiate(accept: str | None, format_param: str | None = None) -> str:
    """Pick the content type to answer with: ?format= first, then Accept q-values; HTML when in doubt."""
    if format_param:
        raw = format_param.strip().lower().replace(" ", "+")  # an unescaped "+" arrives as a space
        wanted = ALIASES.get(raw, raw)
        if wanted in OFFERS:
            return wanted
    if not accept:
        return TEXT_HTML
    best, best_rank = TEXT_HTML, (0.0, -1, 0)
    entries = _accept_entries(accept)
    for preference, offer in enumerate(reversed(OFFERS)):
        kind = offer.split("/")[0]
        for media, q in entries:
            specificity = 2 if media == offer else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
            if specificity < 0 or q <= 0:
                continue
            rank = (q, specificity, preference)
            if rank > best_rank:
                best, best_rank = offer, rank
    return best


def _head(title: str, extra: str = "") -> str:
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{API_VERSION}">\n{extra}'
        f"<title>{escape(title)}</title>\n</head>\n<body>\n"
    )


def root_html(projects: list[tuple[str, str]], href: str) -> str:
    """The /simple/ page: one anchor per line per project (canonical, display); href has a {name} slot."""
    links = "".join(f'<a href="{escape(href.format(name=n))}">{escape(d)}</a>\n' for n, d in projects)
    return _head("Simple index") + links + "</body>\n</html>\n"


def root_json(projects: list[tuple[str, str]]) -> str:
    """The /simple/ page in PEP 691 JSON."""
    return json.dumps(
        {"meta": {"api-version": API_VERSION}, "projects": [{"name": d} for _n, d in projects]},
        separators=(",", ":"),
    )


def _anchor(f: SimpleFile) -> str:
    attrs = [f'href="{escape(f.url)}#sha256={f.sha256}"']
    if f.requires_python:
        attrs.append(f'data-requires-python="{escape(f.requires_python)}"')
    if f.yanked:
        attrs.append(f'data-yanked="{escape(f.yanked_reason)}"')
    if f.core_metadata_sha256:
        value = f"sha256={f.core_metadata_sha256}"
        attrs.append(f'data-core-metadata="{value}" data-dist-info-metadata="{value}"')
    if f.provenance_url:
        attrs.append(f'data-provenance="{escape(f.provenance_url)}"')
    return f"<a {' '.join(attrs)}>{escape(f.filename)}</a><br>\n"


def project_html(page: SimpleProject) -> str:
    """A project page in PEP 503 HTML with the PEP 592/629/658/714/740/792 additions."""
    extra = ""
    if page.status != "active":
        extra = f'<meta name="pypi:project-status" content="{escape(page.status)}">\n'
        if page.status_reason:
            extra += f'<meta name="pypi:project-status-reason" content="{escape(page.status_reason)}">\n'
    title = f"Links for {page.display_name or page.name}"
    body = "".join(_anchor(f) for f in page.files)
    return _head(title, extra) + f"<h1>{escape(title)}</h1>\n" + body + "</body>\n</html>\n"


def _file_json(f: SimpleFile) -> dict[str, object]:
    data: dict[str, object] = {
        "filename": f.filename,
        "url": f.url,
        "hashes": {"sha256": f.sha256},
        "core-metadata": {"sha256": f.core_metadata_sha256} if f.core_metadata_sha256 else False,
        "yanked": (f.yanked_reason or True) if f.yanked else False,
        "provenance": f.provenance_url,
    }
    if f.size is not None:
        data["size"] = f.size
    if f.requires_python:
        data["requires-python"] = f.requires_python
    if f.upload_time is not None:
        data["upload-time"] = iso(f.upload_time)
    return data


def project_json(page: SimpleProject) -> str:
    """A project page in PEP 691 JSON with PEP 700, 740 and 792 keys (never the legacy dist-info-metadata)."""
    data: dict[str, object] = {
        "meta": {"api-version": API_VERSION},
        "name": page.name,
        "versions": page.versions,
        "files": [_file_json(f) for f in page.files],
        "project-status": {
            "status": page.status,
            **({"reason": page.status_reason} if page.status_reason else {}),
        },
    }
    return json.dumps(data, separators=(",", ":"))

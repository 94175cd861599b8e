"""What a project page says about a release, from its core metadata, in the shapes PyPI's project page uses.

The fields are `packaging.metadata.RawMetadata`'s (flaskpypi.core.metadata); this module only arranges them:
classifiers grouped by their first part, project URLs with the icon of a well-known label (PEP 753), people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any

from ...core.metadata import project_urls, url_label_key

# PEP 753's well-known labels (normalised) and the icon each gets; other labels get the generic link icon.
ICONS = {
    "homepage": "home",
    "source": "source", "repository": "source", "sourcecode": "source", "github": "source", "gitlab": "source",
    "documentation": "docs", "docs": "docs",
    "issues": "issues", "bugs": "issues", "issue": "issues", "tracker": "issues", "issuetracker": "issues",
    "bugtracker": "issues",
    "changelog": "changelog", "changes": "changelog", "whatsnew": "changelog", "history": "changelog",
    "releasenotes": "changelog",
    "funding": "funding", "sponsor": "funding", "donate": "funding", "donation": "funding",
    "download": "download", "downloadurl": "download",
}  # fmt: skip


@dataclass(frozen=True)
class Link:
    """A project URL: its label as the file gives it, the URL and the icon name (`link` for others)."""

    label: str
    url: str
    icon: str


@dataclass(frozen=True)
class Person:
    """An author or maintainer: a name, an e-mail address, or both."""

    name: str
    email: str


@dataclass
class About:
    """A release's metadata for the page; empty fields are empty."""

    links: list[Link] = field(default_factory=list)
    authors: list[Person] = field(default_factory=list)
    maintainers: list[Person] = field(default_factory=list)
    license_expression: str = ""
    license: str = ""
    license_files: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)
    requires_dist: list[str] = field(default_factory=list)
    classifiers: dict[str, list[str]] = field(default_factory=dict)
    platforms: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(vars(self).values())


def people(names: object, emails: object) -> list[Person]:
    """Author/Author-email (or Maintainer) as people. The name field is shown as the file has it (linked to the
    first address); without one, each address's display name (or the address itself) is shown."""
    found = [Person(n.strip(), e.strip()) for n, e in getaddresses([str(emails)]) if e.strip()] if emails else []
    if names and str(names).strip():
        return [Person(str(names), found[0].email if found else ""), *found[1:]]
    return found


def group_classifiers(classifiers: list[str]) -> dict[str, list[str]]:
    """`Programming Language :: Python :: 3` under `Programming Language` as `Python :: 3`, in file order."""
    groups: dict[str, list[str]] = {}
    for classifier in classifiers:
        head, _, rest = classifier.partition("::")
        groups.setdefault(head.strip(), []).append(rest.strip() or head.strip())
    return groups


def links(meta: dict[str, Any]) -> list[Link]:
    """The project's http(s) links as PyPI lists them (Homepage and Download first)."""
    return [Link(label or url, url, ICONS.get(url_label_key(label), "link"))
            for label, url in project_urls(meta).items() if url.startswith(("https://", "http://"))]  # fmt: skip


def _list(value: object) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value if str(v).strip()] if isinstance(value, list | tuple) else []


def about(meta: dict[str, Any]) -> About:
    """The page's view of one file's fields (already through `upgrade_fields`)."""
    license_text = str(meta.get("license") or "").strip()
    return About(
        links=links(meta),
        authors=people(meta.get("author"), meta.get("author_email")),
        maintainers=people(meta.get("maintainer"), meta.get("maintainer_email")),
        license_expression=str(meta.get("license_expression") or "").strip(),
        license=license_text,
        license_files=_list(meta.get("license_files")),
        keywords=_list(meta.get("keywords")),
        extras=_list(meta.get("provides_extra")),
        requires_dist=_list(meta.get("requires_dist")),
        classifiers=group_classifiers(_list(meta.get("classifiers"))),
        platforms=[p for p in _list(meta.get("platforms")) if p.upper() != "UNKNOWN"],
    )

"""PyPI's JSON API (`/pypi/<project>/json`, `/pypi/<project>/<version>/json`) built from a list of files: the
hosted index's rows, or the files a view offers (hosted rows and upstream PEP 691 entries). No Flask: the
host passes the URLs.

An upstream file carries only what its simple page says (PEP 691/700): `sha256` (other digests null), size,
upload time, requires-python, yank. When the release that `info` describes has no hosted file, `info` has
every PyPI key with empty values (null, "" or []) but `name`, `version`, `requires_python`, the yank and the
status: a page cannot tell more, and nothing is made up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.dists import parse_filename
from ..core.errors import InvalidDistribution, NotFound
from ..core.metadata import pypi_info, upgrade_fields
from ..core.records import iso
from ..index.browse import latest_version
from ..index.models import File
from ..index.service import sort_key
from ..upstream.pages import UpstreamFile

Item = File | UpstreamFile


@dataclass(frozen=True)
class Links:
    """The URLs a JSON API answer shows: a hosted file's download URL (absolute), the project's simple
    page and a release's JSON URL."""

    file: Callable[[str, str], str]  # (project, filename) -> URL
    project: str
    release: Callable[[str], str]  # version -> URL


@dataclass(frozen=True)
class Releases:
    """A project's files by version, as one index or view offers them, and what its `info` shows."""

    display_name: str
    status: str
    reason: str
    serial: int
    versions: dict[str, list[Item]]

    @classmethod
    def of(cls, display_name: str, status: str, reason: str, serial: int, files: Sequence[Item]) -> Releases:
        """Group files by version; NotFound when there is none (a project without files is not listed)."""
        grouped: dict[str, list[Item]] = {}
        for f in files:
            grouped.setdefault(f.version, []).append(f)
        if not grouped:
            raise NotFound(f"No files in project {display_name!r}.")
        return cls(display_name, status, reason, serial, grouped)

    def match(self, version: str) -> str:
        """The version as the files spell it (PEP 440 equal), or NotFound."""
        found = next((v for v in self.versions if sort_key(v) == sort_key(version)), None)
        if found is None:
            raise NotFound(f"No version {version!r} of project {self.display_name!r}.")
        return found

    def project_json(self, links: Links) -> dict[str, Any]:
        """`/pypi/<project>/json`: info of the latest release (see index.browse.latest_version), every release,
        the latest's files as `urls`, `last_serial`."""
        latest = latest_version({v: [f.yanked for f in fs] for v, fs in self.versions.items()})
        ordered = sorted(self.versions, key=sort_key)
        return {
            "info": self.info(latest, links),
            "last_serial": self.serial,
            "releases": {v: [file_json(f, links) for f in self.versions[v]] for v in ordered},
            "urls": [file_json(f, links) for f in self.versions[latest]],
            "vulnerabilities": [],
        }

    def version_json(self, version: str, links: Links) -> dict[str, Any]:
        """`/pypi/<project>/<version>/json`: info and files of one release. NotFound for an unknown version."""
        match = self.match(version)
        return {
            "info": self.info(match, links),
            "last_serial": self.serial,
            "urls": [file_json(f, links) for f in self.versions[match]],
            "vulnerabilities": [],
        }

    def info(self, version: str, links: Links) -> dict[str, Any]:
        """PyPI's `info` for one release: its metadata from a hosted file (a wheel first), else empty."""
        files = self.versions[version]
        hosted = [f for f in files if isinstance(f, File)]
        if hosted:
            source = min(hosted, key=lambda f: (f.packagetype != "bdist_wheel", f.upload_time))
            fields, requires = pypi_info(upgrade_fields(source.meta or {})), source.requires_python
        else:
            fields, requires = pypi_info({}), next((f.requires_python for f in files if f.requires_python), "")
        return {
            "name": self.display_name,
            "version": version,
            **fields,
            "requires_python": requires or None,
            "package_url": links.project,
            "project_url": links.project,
            "release_url": links.release(version),
            "docs_url": None,
            "bugtrack_url": None,
            "downloads": {"last_day": -1, "last_week": -1, "last_month": -1},
            "yanked": all(f.yanked for f in files),
            "yanked_reason": next((f.yanked_reason for f in files if f.yanked_reason), None),
            "project_status": {"status": self.status, "reason": self.reason or None},
        }


def file_json(f: Item, links: Links) -> dict[str, Any]:
    """One file as PyPI's JSON API shows it (an upstream file: what its simple page says, else null)."""
    if isinstance(f, File):
        digests = {"md5": f.md5, "sha256": f.sha256, "blake2b_256": f.blake2b_256}
        url, size, when, packagetype, python = (links.file(f.project.name, f.filename), f.size, f.upload_time,
                                                f.packagetype, f.python_version)  # fmt: skip
        extra = {"uploader": f.uploader, "origin": f.origin}
    else:
        digests = {"md5": None, "sha256": f.sha256, "blake2b_256": None}
        url, size, when, extra = f.url, f.size, f.upload_time, {"uploader": None, "origin": "upstream"}
        packagetype, python = _kind(f.filename)
    return {
        "filename": f.filename,
        "url": url,
        "digests": digests,
        "md5_digest": digests["md5"],
        "size": size,
        "packagetype": packagetype,
        "python_version": python,
        "requires_python": f.requires_python or None,
        "upload_time": when.strftime("%Y-%m-%dT%H:%M:%S") if when else None,
        "upload_time_iso_8601": iso(when) if when else None,
        "yanked": f.yanked,
        "yanked_reason": f.yanked_reason or None,
        "has_sig": False,
        "comment_text": "",
        **extra,
    }


def _kind(filename: str) -> tuple[str | None, str | None]:
    """(packagetype, python_version) from a filename, as an upload's form would give them."""
    try:
        dist = parse_filename(filename)
    except InvalidDistribution:
        return None, None
    return dist.packagetype, dist.python_version

"""Merge a project's local files with the files its upstream page offers into one simple-API page."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from typing import Any

from ..core.dists import parse_filename
from ..core.simple import SimpleFile, SimpleProject
from .pages import UpstreamFile, UpstreamPage


def merge(local: SimpleProject, page: UpstreamPage | None, offered: Iterable[UpstreamFile], *,
          link: Callable[[UpstreamFile], str] | None, cached: Collection[str], hidden: Collection[str],
          order: Callable[[str], Any]) -> SimpleProject:  # fmt: skip
    """Local files win over upstream ones of the same name (cached ones take the upstream's current yank
    state); upstream files link to this index (`link`, cache links) or, with link=None, to the upstream
    itself (redirect links). `hidden` names files an admin deleted here; `order` sorts versions."""
    upstream = {f.filename: f for f in offered if f.filename not in hidden}
    files: list[SimpleFile] = []
    for f in local.files:
        theirs = upstream.pop(f.filename, None)
        if theirs is not None and f.filename in cached:
            f = replace(f, yanked=theirs.yanked, yanked_reason=theirs.yanked_reason)
        files.append(f)
    files.extend(_simple_file(f, link) for f in upstream.values())
    status, reason = local.status, local.status_reason
    if status == "active" and page is not None:
        status, reason = page.status, page.status_reason
    if status == "quarantined":
        files = []
    keyed = [(str(parse_filename(f.filename).version), f) for f in files]
    keyed.sort(key=lambda pair: (order(pair[0]), pair[1].filename))
    versions = sorted({v for v, _f in keyed} | set(local.versions if files else ()), key=order)
    return SimpleProject(local.name, [f for _v, f in keyed], _unique(versions, order), status, reason,
                         local.display_name)  # fmt: skip


def _unique(versions: list[str], order: Callable[[str], Any]) -> list[str]:
    """One entry per version (1.0 and 1.0.0 are one), keeping the first spelling."""
    seen, result = set(), []
    for v in versions:
        if order(v) not in seen:
            seen.add(order(v))
            result.append(v)
    return result


def _simple_file(f: UpstreamFile, link: Callable[[UpstreamFile], str] | None) -> SimpleFile:
    return SimpleFile(
        filename=f.filename,
        url=link(f) if link is not None else f.url,
        sha256=f.sha256,
        size=f.size,
        upload_time=f.upload_time,
        requires_python=f.requires_python,
        yanked=f.yanked,
        yanked_reason=f.yanked_reason,
        core_metadata_sha256=f.metadata_sha256,
        provenance_url=f.provenance_url,
    )

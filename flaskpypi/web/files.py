"""Blueprint `files`: distribution downloads and their .metadata and .provenance files."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from flask import Blueprint, Response, redirect, request, send_file, url_for
from werkzeug.http import http_date, quote_etag
from werkzeug.utils import get_content_type
from werkzeug.wsgi import wrap_file

from ..auth import READ
from ..core.dists import content_type
from ..core.errors import NotFound
from ..core.names import DEFAULT_INDEX, canonical, storage_key
from ..core.records import METADATA_SUFFIX, PROVENANCE_SUFFIX
from ..index.service import FileFacts
from ..sql import ACCESS, SERIAL
from . import fallback
from .context import generations, index, names_nobody, require, runtime
from .pages import serial_cache
from .security import HARDENING

bp = Blueprint("files", __name__)
IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE_IMMUTABLE = "private, max-age=31536000, immutable"


def file_url(project: str, filename: str, index: str = DEFAULT_INDEX, *, external: bool = False) -> str:
    """The download URL of a file of a hosted index (an absolute path, so pages stay host-independent, unless
    `external`)."""
    if index != DEFAULT_INDEX:  # served through the index as a view of itself
        return url_for("indexes.download", name=index, project=project, filename=filename, _external=external)
    return url_for("files.download", project=project, filename=filename, _external=external)


def provenance_url(project: str, filename: str, index: str = DEFAULT_INDEX) -> str:
    """The PEP 740 provenance URL of a file (absolute, as the spec requires)."""
    return file_url(project, filename + PROVENANCE_SUFFIX, index, external=True)


def split_suffix(filename: str) -> tuple[str, str]:
    """(distribution filename, suffix): the suffix is "", METADATA_SUFFIX (PEP 658) or PROVENANCE_SUFFIX."""
    suffix = next((s for s in (METADATA_SUFFIX, PROVENANCE_SUFFIX) if filename.endswith(s)), "")
    return (filename[: -len(suffix)] if suffix else filename), suffix


@dataclass(frozen=True)
class Delivery:
    """How a hosted file (or its .metadata / .provenance) is sent: where it is and the headers it gets."""

    row: FileFacts
    suffix: str
    key: str  # the storage key
    local: str | None  # a path on this host, for sendfile
    mimetype: str
    etag: str | None
    cache_control: str


@bp.route("/packages/<project>/<filename>", methods=["GET", "HEAD"])
def download(project: str, filename: str) -> Response:
    """A file, its core metadata (PEP 658) or its provenance (PEP 740); ranges and validators work."""
    name = canonical(project)
    dist_name, suffix = split_suffix(filename)
    if names_nobody():  # the usual download: pip and uv send no credentials to a public index
        counters = generations()
        ready = serial_cache("downloads").get(
            (counters[SERIAL], counters[ACCESS]), (name, filename), lambda: _public(name, dist_name, suffix)
        )
        if ready is not None:
            return _deliver(ready)
    require(READ, name, hide=True, missing=f"No file {dist_name!r} in project {name!r}.")
    row = _facts(name, dist_name)
    if row is None:
        fetched = fallback.fetch(name, dist_name, suffix)
        if isinstance(fetched, Response):
            if fetched.status_code == 200:
                fetched.headers["Cache-Control"] = _cache_control(name)
            return fetched
        row = FileFacts.of(fetched)
    return serve(row, suffix)


def _facts(name: str, dist_name: str) -> FileFacts | None:
    """The facts of a hosted file of the built-in index (None: not held), kept per serial."""
    serial = generations()[SERIAL]
    return serial_cache("files").get(serial, (name, dist_name), lambda: index().file_facts(name, dist_name))


def _public(name: str, dist_name: str, suffix: str) -> Delivery | None:
    """The delivery of a hosted file anyone may read, kept per (serial, access): an anonymous download of it
    then runs no SQL while nothing changes. None where the full path must decide (refusals, missing files,
    the upstream fallback, quarantine), which it does on every request."""
    if not _anyone_reads(name):
        return None
    row = _facts(name, dist_name)
    if row is None or _unservable(row, suffix):
        return None
    return _delivery(row, suffix, DEFAULT_INDEX, IMMUTABLE)


def serve(row: FileFacts, suffix: str, index: str = DEFAULT_INDEX) -> Response:
    """A hosted file of `index` (or its .metadata / .provenance) whose reading the caller has allowed: 404
    while its project is quarantined or when the asked sidecar does not exist."""
    refusal = _unservable(row, suffix)
    if refusal:
        raise NotFound(refusal)
    return _deliver(_delivery(row, suffix, index, _cache_control(row.project)))


def _unservable(row: FileFacts, suffix: str) -> str | None:
    """Why a hosted file is not served (the 404's message), or None."""
    if row.status == "quarantined":
        return f"Project {row.display_name!r} is quarantined (PEP 792)."
    if suffix == METADATA_SUFFIX and not row.core_metadata_sha256:
        return f"No core metadata file for {row.filename!r}."
    if suffix == PROVENANCE_SUFFIX and not row.provenance_sha256:
        return f"No provenance for {row.filename!r}."
    return None


def _delivery(row: FileFacts, suffix: str, index: str, cache_control: str) -> Delivery:
    key = storage_key(row.project, row.filename + suffix, index)
    etag = {
        "": row.sha256,
        METADATA_SUFFIX: row.core_metadata_sha256,
        PROVENANCE_SUFFIX: row.provenance_sha256,
    }[suffix]
    mimetype = {
        "": content_type(row.filename),
        METADATA_SUFFIX: "text/plain",
        PROVENANCE_SUFFIX: "application/json",
    }[suffix]
    return Delivery(row, suffix, key, runtime().storage.local_path(key), mimetype, etag, cache_control)


def _deliver(d: Delivery) -> Response:
    rt = runtime()
    settings, storage = rt.settings, rt.storage
    row, suffix, local = d.row, d.suffix, d.local
    if local and settings.x_sendfile == "nginx":
        response = Response(mimetype=d.mimetype)
        response.headers["X-Accel-Redirect"] = settings.x_accel_prefix.rstrip("/") + "/" + d.key
    elif local and settings.x_sendfile == "apache":
        if not os.path.isfile(local):
            raise NotFound(f"File {row.filename + suffix!r} is missing from storage; ask an admin to reindex.")
        response = send_file(local, mimetype=d.mimetype, etag=d.etag, conditional=True, max_age=None,
                             download_name=row.filename + suffix)  # fmt: skip
    elif local:
        return _local(d)
    else:
        url = None if settings.stream_files or request.method == "HEAD" else storage.download_url(d.key)
        if url:  # a HEAD is answered here: a URL signed for GET refuses HEAD on S3
            return redirect(url, 302)
        response = _stream(d.key, row, suffix, d.mimetype, d.etag)
    response.headers["Cache-Control"] = d.cache_control
    return response


def _cache_control(project: str) -> str:
    """Files never change: cacheable for a year, by shared caches only when anyone may read them."""
    return IMMUTABLE if _anyone_reads(project) else PRIVATE_IMMUTABLE


def _anyone_reads(project: str) -> bool:
    """Whether an anonymous asker may read the project's files in the built-in index (what require(READ)
    lets through for nobody)."""
    access = runtime().access
    return access.can_index(None, READ, DEFAULT_INDEX) and access.can(None, READ, project)


def _local(d: Delivery) -> Response:
    """A file of local storage: sent by the server's sendfile(), with ranges, validators and 304s; the
    headers of a plain GET in one list (the browser hardening ones included, see security.py)."""
    environ = request.environ
    try:
        stream = open(d.local, "rb")  # type: ignore[arg-type]
        stat = os.fstat(stream.fileno())
    except (FileNotFoundError, IsADirectoryError):
        raise NotFound(f"File {d.row.filename + d.suffix!r} is missing from storage; ask an admin to reindex.")
    body = wrap_file(environ, stream)
    if _conditional(environ):
        response = Response(body, mimetype=d.mimetype, direct_passthrough=True)
        response.content_length = stat.st_size
        response.last_modified = stat.st_mtime
        if d.etag:
            response.set_etag(d.etag)
        response.headers["Cache-Control"] = d.cache_control
        return response.make_conditional(request, accept_ranges=True, complete_length=stat.st_size)
    headers = [("Content-Type", _content_type(d.mimetype)), ("Content-Length", str(stat.st_size)),
               ("Last-Modified", _http_date(stat.st_mtime)), ("Accept-Ranges", "bytes"),
               ("Cache-Control", d.cache_control), *HARDENING]  # fmt: skip
    if d.etag:
        headers.append(("ETag", quote_etag(d.etag)))
    return Response(body, headers=headers, direct_passthrough=True)


_content_type = functools.lru_cache(maxsize=16)(functools.partial(get_content_type, charset="utf-8"))
_http_date = functools.lru_cache(maxsize=4096)(http_date)  # by modification time: files seldom change


CONDITIONAL = ("HTTP_RANGE", "HTTP_IF_RANGE", "HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE",
               "HTTP_IF_UNMODIFIED_SINCE")  # fmt: skip


def _conditional(environ: dict) -> bool:
    """Whether the request carries a range or a validator (most downloads carry neither)."""
    return any(name in environ for name in CONDITIONAL)


def _stream(key: str, row: FileFacts, suffix: str, mimetype: str, etag: str | None) -> Response:
    try:
        stream = runtime().storage.open(key)
    except FileNotFoundError:
        raise NotFound(f"File {row.filename + suffix!r} is missing from storage; ask an admin to reindex.")
    size = row.size if not suffix else getattr(stream, "size", None)
    response = Response(wrap_file(request.environ, stream), mimetype=mimetype, direct_passthrough=True)
    if size is not None:
        response.content_length = size
    if etag:
        response.set_etag(etag)
    response.make_conditional(request, accept_ranges=True, complete_length=size)
    return response

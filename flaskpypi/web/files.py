"""Blueprint `files`: distribution downloads and their .metadata and .provenance files."""

from __future__ import annotations

import os

from flask import Blueprint, Response, redirect, request, send_file, url_for
from werkzeug.wsgi import wrap_file

from ..auth import READ
from ..core.dists import content_type
from ..core.errors import NotFound
from ..core.names import DEFAULT_INDEX, canonical, storage_key
from ..core.records import METADATA_SUFFIX, PROVENANCE_SUFFIX
from ..index.service import FileFacts
from ..sql import SERIAL
from . import fallback
from .context import generations, index, require, runtime
from .pages import serial_cache

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


@bp.route("/packages/<project>/<filename>", methods=["GET", "HEAD"])
def download(project: str, filename: str) -> Response:
    """A file, its core metadata (PEP 658) or its provenance (PEP 740); ranges and validators work."""
    name = canonical(project)
    dist_name, suffix = split_suffix(filename)
    require(READ, name, hide=True, missing=f"No file {dist_name!r} in project {name!r}.")
    row = serial_cache("files").get(
        generations()[SERIAL], (name, dist_name), lambda: index().file_facts(name, dist_name)
    )
    if row is None:
        fetched = fallback.fetch(name, dist_name, suffix)
        if isinstance(fetched, Response):
            if fetched.status_code == 200:
                fetched.headers["Cache-Control"] = _cache_control(name)
            return fetched
        row = FileFacts.of(fetched)
    return serve(row, suffix)


def serve(row: FileFacts, suffix: str, index: str = DEFAULT_INDEX) -> Response:
    """A hosted file of `index` (or its .metadata / .provenance) whose reading the caller has allowed: 404
    while its project is quarantined or when the asked sidecar does not exist."""
    if row.status == "quarantined":
        raise NotFound(f"Project {row.display_name!r} is quarantined (PEP 792).")
    if suffix == METADATA_SUFFIX and not row.core_metadata_sha256:
        raise NotFound(f"No core metadata file for {row.filename!r}.")
    if suffix == PROVENANCE_SUFFIX and not row.provenance_sha256:
        raise NotFound(f"No provenance for {row.filename!r}.")
    return _send(storage_key(row.project, row.filename + suffix, index), row, suffix)


def _send(key: str, row: FileFacts, suffix: str) -> Response:
    rt = runtime()
    settings, storage = rt.settings, rt.storage
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
    cache = _cache_control(row.project)
    local = storage.local_path(key)
    if local and settings.x_sendfile == "nginx":
        response = Response(mimetype=mimetype)
        response.headers["X-Accel-Redirect"] = settings.x_accel_prefix.rstrip("/") + "/" + key
    elif local and settings.x_sendfile == "apache":
        if not os.path.isfile(local):
            raise NotFound(f"File {row.filename + suffix!r} is missing from storage; ask an admin to reindex.")
        response = send_file(local, mimetype=mimetype, etag=etag, conditional=True, max_age=None,
                             download_name=row.filename + suffix)  # fmt: skip
    elif local:
        response = _local(local, row, suffix, mimetype, etag)
    else:
        url = None if settings.stream_files or request.method == "HEAD" else storage.download_url(key)
        if url:  # a HEAD is answered here: a URL signed for GET refuses HEAD on S3
            return redirect(url, 302)
        response = _stream(key, row, suffix, mimetype, etag)
    response.headers["Cache-Control"] = cache
    return response


def _cache_control(project: str) -> str:
    """Files never change: cacheable for a year, by shared caches only when anyone may read them."""
    access = runtime().access
    public = access.can(None, READ, project) and access.can_index(None, READ, DEFAULT_INDEX)
    return IMMUTABLE if public else PRIVATE_IMMUTABLE


def _local(path: str, row: FileFacts, suffix: str, mimetype: str, etag: str | None) -> Response:
    """A file of local storage: sent by the server's sendfile(), with ranges, validators and 304s."""
    try:
        stream = open(path, "rb")
        stat = os.fstat(stream.fileno())
    except (FileNotFoundError, IsADirectoryError):
        raise NotFound(f"File {row.filename + suffix!r} is missing from storage; ask an admin to reindex.")
    response = Response(wrap_file(request.environ, stream), mimetype=mimetype, direct_passthrough=True)
    response.content_length = stat.st_size
    response.last_modified = stat.st_mtime
    if etag:
        response.set_etag(etag)
    if not _conditional(request.environ):  # what make_conditional would do, without parsing absent headers
        response.headers["Accept-Ranges"] = "bytes"
        return response
    return response.make_conditional(request, accept_ranges=True, complete_length=stat.st_size)


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

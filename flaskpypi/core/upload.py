"""Upload rules of the legacy API, as twine, poetry, uv, pdm, hatch and flit speak it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .dists import SDIST, WHEEL, DistName, check_same_project
from .errors import BadRequest, InvalidDistribution
from .hashes import Digests, sha256_bytes
from .metadata import CoreMetadata
from .records import FileRecord, utcnow

DIGEST_FIELDS = ("sha256_digest", "md5_digest", "blake2_256_digest")
_FILETYPES = {WHEEL: WHEEL, SDIST: SDIST}


@dataclass
class UploadForm:
    """The form fields that matter, with empty strings read as absent (pdm, uv)."""

    action: str
    name: str | None
    version: str | None
    filetype: str | None
    pyversion: str
    digests: dict[str, str | None] = field(default_factory=dict)
    attestations: str | None = None
    gpg_signature: bool = False


def _first(fields: Mapping[str, Sequence[str]], key: str) -> str | None:
    values = [v for v in fields.get(key, ()) if v is not None and v.strip() != ""]
    return values[0].strip() if values else None


def normalise_form(fields: Mapping[str, Sequence[str]]) -> UploadForm:
    """Read a multipart form as each client sends it; unknown fields are ignored."""
    action = _first(fields, ":action") or "file_upload"
    if action != "file_upload":
        raise BadRequest(f"Unsupported action {action!r}: only file_upload is accepted.")
    protocol = _first(fields, "protocol_version") or "1"
    if protocol != "1":
        raise BadRequest(f"Unsupported protocol_version {protocol!r}.")
    return UploadForm(
        action=action,
        name=_first(fields, "name"),
        version=_first(fields, "version"),
        filetype=_first(fields, "filetype"),
        pyversion=_first(fields, "pyversion") or "source",
        digests={f: _first(fields, f) for f in DIGEST_FIELDS},
        attestations=_first(fields, "attestations"),
        gpg_signature=bool(_first(fields, "gpg_signature")),
    )


def check_agreement(form: UploadForm, dist: DistName) -> None:
    """The form's name, version and filetype must agree with the filename."""
    check_same_project("form's", form.name, form.version, dist)
    if form.filetype and _FILETYPES.get(form.filetype, form.filetype) != dist.packagetype:
        raise InvalidDistribution(f"The form's filetype {form.filetype!r} does not match the file {dist.filename!r}.")


def build_record(
    dist: DistName, meta: CoreMetadata, digests: Digests, uploader: str | None, origin: str = "upload"
) -> FileRecord:
    """The record of a new file, taken from the file itself."""
    return FileRecord(
        filename=dist.filename,
        project=dist.project,
        name=meta.name,
        version=meta.version,
        packagetype=dist.packagetype,
        python_version=dist.python_version,
        size=digests.size,
        sha256=digests.sha256,
        md5=digests.md5,
        blake2b_256=digests.blake2b_256,
        upload_time=utcnow(),
        uploader=uploader,
        requires_python=meta.requires_python,
        summary=meta.summary,
        core_metadata_sha256=sha256_bytes(meta.raw) if dist.packagetype == WHEEL else None,
        origin=origin,
        metadata=dict(meta.fields),
    )

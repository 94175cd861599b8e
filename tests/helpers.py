"""Small helpers the API tests share: basic auth headers and multipart uploads through the test client."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from tests.conftest import ADMIN


def basic(user: str = ADMIN[0], password: str = ADMIN[1]) -> dict[str, str]:
    """An Authorization header."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def twine_fields(filename: str, body: bytes) -> dict[str, str]:
    """The text fields twine sends with a file (the legacy upload API)."""
    wheel = filename.endswith(".whl")
    return {
        ":action": "file_upload",
        "protocol_version": "1",
        "filetype": "bdist_wheel" if wheel else "sdist",
        "pyversion": "py3" if wheel else "source",
        "metadata_version": "2.1",
        "sha256_digest": hashlib.sha256(body).hexdigest(),
    }


def upload_form(path: Path, data: bytes | None = None, **fields: Any) -> dict[str, Any]:
    """The multipart form twine sends for a file, for Flask's test client (fields override or add; None removes)."""
    import io

    body = path.read_bytes() if data is None else data
    form: dict[str, Any] = {**twine_fields(path.name, body), "content": (io.BytesIO(body), path.name)}
    for key, value in fields.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    return form


def upload(client: Any, path: Path, url: str = "/simple/", auth: dict[str, str] | None = None, **fields: Any) -> Any:
    """POST a file like twine does."""
    headers = basic() if auth is None else auth
    return client.post(url, data=upload_form(path, **fields), headers=headers, content_type="multipart/form-data")

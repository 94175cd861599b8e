"""Fixtures for the support selftests: a recording upload endpoint and a static simple index."""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.support.static_index import serve_directory, write_simple_index

USERNAME = "alice"
PASSWORD = "s3cret!"


@dataclass
class Upload:
    """One file a client sent, with the form fields that came with it."""

    filename: str
    sha256: str
    form: dict[str, list[str]]


@dataclass
class UploadRecorder:
    """A legacy-upload endpoint that checks HTTP Basic credentials and records what arrives."""

    url: str = ""
    username: str = USERNAME
    password: str = PASSWORD
    uploads: list[Upload] = field(default_factory=list)

    def __call__(self, environ: dict, start_response):  # type: ignore[no-untyped-def]
        """Answer one WSGI request."""
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        """401 without the right credentials, else record the file and answer 200."""
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return Response("no", 401, {"WWW-Authenticate": 'Basic realm="test"'})
        content = request.files["content"]
        data = content.read()
        form = {key: request.form.getlist(key) for key in request.form}
        self.uploads.append(Upload(content.filename or "", hashlib.sha256(data).hexdigest(), form))
        return Response("OK", 200)


@pytest.fixture
def upload_server() -> Iterator[UploadRecorder]:
    """A recording upload endpoint on a free loopback port; its url ends with `/legacy/`."""
    recorder = UploadRecorder()
    server = make_server("127.0.0.1", 0, recorder, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_port}/legacy/"
    try:
        yield recorder
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def static_index(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """serve(files, auth=None): serve files as a PEP 503 index (behind Basic auth) and return its URL."""
    counter = itertools.count()
    with ExitStack() as stack:

        def serve(files: Iterable[Path], auth: tuple[str, str] | None = None) -> str:
            root = write_simple_index(tmp_path / f"index-{next(counter)}", files)
            return stack.enter_context(serve_directory(root, auth)) + "simple/"

        yield serve

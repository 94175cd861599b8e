"""A static PEP 503 index served from a directory: a stand-in upstream, and a server for selftests."""

from __future__ import annotations

import base64
import html
import shutil
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

from .dists import sha256_hex


def project_of(filename: str) -> str:
    """The normalised project name a wheel or sdist filename belongs to."""
    if filename.endswith(".whl"):
        return parse_wheel_filename(filename)[0]
    return parse_sdist_filename(filename)[0]


def _page(title: str, links: Iterable[tuple[str, str]]) -> str:
    """A minimal simple-API HTML page with one anchor per (href, text)."""
    anchors = "\n".join(f'<a href="{html.escape(href)}">{html.escape(text)}</a><br>' for href, text in links)
    head = f"<!DOCTYPE html>\n<html><head><title>{html.escape(title)}</title></head>"
    return f"{head}<body>\n{anchors}\n</body></html>\n"


def write_simple_index(root: Path | str, files: Iterable[Path | str]) -> Path:
    """Copy files under root/files/ and write root/simple/ pages (with #sha256 fragments); return root."""
    root = Path(root)
    by_project: dict[str, list[Path]] = {}
    for file in map(Path, files):
        target = root / "files" / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
        by_project.setdefault(canonicalize_name(project_of(file.name)), []).append(target)
    for project, targets in by_project.items():
        links = [(f"../../files/{t.name}#sha256={sha256_hex(t)}", t.name) for t in sorted(targets)]
        _write(root / "simple" / project / "index.html", _page(f"Links for {project}", links))
    _write(root / "simple" / "index.html", _page("Simple index", [(f"{p}/", p) for p in sorted(by_project)]))
    return root


def _write(path: Path, text: str) -> None:
    """Write text to path, making its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


class _Handler(SimpleHTTPRequestHandler):
    """Serves files quietly, behind HTTP Basic auth when the server has credentials."""

    def send_head(self):  # type: ignore[no-untyped-def]
        """Answer 401 unless the request carries the server's credentials (if it has any)."""
        expected = getattr(self.server, "authorization", None)
        if expected and self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="static index"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return super().send_head()

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet."""


@contextmanager
def serve_directory(root: Path | str, auth: tuple[str, str] | None = None) -> Iterator[str]:
    """Serve root over HTTP on a free loopback port, behind Basic auth if given; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    if auth:
        server.authorization = "Basic " + base64.b64encode(":".join(auth).encode()).decode()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

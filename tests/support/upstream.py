"""A local upstream index for the fallback tests: serves a folder of distributions as PEP 691 JSON + HTML
(or HTML only), counts every request, and injects faults (timeout, 500, truncated body, wrong bytes).

Also: `wheelhouse()`, real wheels downloaded once by pip from the registry into a git-ignored folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import socket
import subprocess
import sys
import threading
import zipfile
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
WHEELHOUSE = Path(__file__).resolve().parents[1] / ".wheelhouse"
# A small real dependency chain: requests -> certifi, charset-normalizer, idna, urllib3; python-dateutil -> six.
WHEELHOUSE_REQUIREMENTS = ("requests==2.32.3", "python-dateutil==2.9.0.post0")
FAULTS = ("timeout", "500", "truncate", "wrong-hash")


def wheelhouse(requirements: tuple[str, ...] = WHEELHOUSE_REQUIREMENTS, dest: Path = WHEELHOUSE) -> Path:
    """Real wheels of `requirements` and their dependencies, downloaded by pip once (then reused)."""
    marker = dest / "requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if marker.exists() and marker.read_text() == wanted:
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest", str(dest), *requirements]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pip download failed:\n{result.stdout}{result.stderr}")
    marker.write_text(wanted)
    return dest


def project_of(filename: str) -> str:
    """The normalised project a distribution filename belongs to."""
    if filename.endswith(".whl"):
        return canonicalize_name(parse_wheel_filename(filename)[0])
    return canonicalize_name(parse_sdist_filename(filename)[0])


def version_of(filename: str) -> str:
    """The version a distribution filename carries."""
    parse = parse_wheel_filename if filename.endswith(".whl") else parse_sdist_filename
    return str(parse(filename)[1])


def wheel_metadata(path: Path) -> bytes | None:
    """A wheel's .dist-info/METADATA (what PEP 658 serves), None for sdists."""
    if not path.name.endswith(".whl"):
        return None
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        return zf.read(name)


def _requires_python(metadata: bytes | None) -> str:
    for line in (metadata or b"").decode("utf-8", "replace").splitlines():
        if not line.strip():
            break
        if line.lower().startswith("requires-python:"):
            return line.split(":", 1)[1].strip()
    return ""


class LocalUpstream:
    """The upstream server; `flavour` is "json" (PEP 691 and HTML, negotiated) or "html" (HTML only)."""

    def __init__(self, folder: Path, flavour: str = "json", auth: tuple[str, str] | None = None) -> None:
        self.folder = Path(folder)
        self.flavour = flavour
        self.auth = auth
        self.counts: Counter[str] = Counter()
        self.faults: dict[str, str] = {}
        self.upload_times: dict[str, datetime] = {}
        self.yanked: dict[str, str] = {}
        self.status: dict[str, tuple[str, str]] = {}
        self.provenance: dict[str, bytes] = {}
        self.trickle = 0.0  # seconds over which each file is sent, to make downloads overlap
        self.release = threading.Event()  # ends the responses held by a "timeout" fault
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    # -- control ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The simple index URL (what upstream_url is set to)."""
        return f"http://127.0.0.1:{self.port}/simple/"

    def start(self) -> LocalUpstream:
        """Listen (again, on the same port after a stop)."""
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        server.daemon_threads = True
        server.upstream = self  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        self.release.clear()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until start()."""
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            with self._lock:  # kept-alive connections too: a stopped upstream answers nothing
                for conn in self._connections:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
                self._connections.clear()
            assert self._thread is not None
            self._thread.join()
            self._server = None

    def count(self, kind: str = "", name: str | None = None) -> int:
        """Requests seen of a kind (page, file, metadata, provenance; "" for all), optionally for one name."""
        with self._lock:
            return sum(n for key, n in self.counts.items() if key.startswith(kind) and
                       (name is None or key.split(":", 1)[1] == name))  # fmt: skip

    def reset(self) -> None:
        """Forget the counts."""
        with self._lock:
            self.counts.clear()

    def _seen(self, kind: str, name: str) -> None:
        with self._lock:
            self.counts[f"{kind}:{name}"] += 1

    # -- content ---------------------------------------------------------------------------------

    def dists(self, project: str | None = None) -> list[Path]:
        """The distributions served (of one project)."""
        found = sorted(p for p in self.folder.iterdir() if p.name.endswith((".whl", ".tar.gz", ".zip")))
        return [p for p in found if project is None or project_of(p.name) == project]

    def file_entry(self, path: Path) -> dict[str, Any]:
        """One file as the PEP 691 page lists it."""
        data = path.read_bytes()
        metadata = wheel_metadata(path)
        entry: dict[str, Any] = {
            "filename": path.name,
            "url": f"/files/{path.name}",
            "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
            "requires-python": _requires_python(metadata) or None,
            "core-metadata": {"sha256": hashlib.sha256(metadata).hexdigest()} if metadata else False,
            "yanked": (self.yanked[path.name] or True) if path.name in self.yanked else False,
            "size": len(data),
            "upload-time": self.upload_time(path).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "provenance": self.provenance_url(path.name) if path.name in self.provenance else None,
        }
        return entry

    def provenance_url(self, filename: str) -> str:
        """Where the PEP 740 provenance of a file is served (absolute, as the PEP asks)."""
        return f"http://127.0.0.1:{self.port}/provenance/{filename}"

    def upload_time(self, path: Path) -> datetime:
        """A file's upload-time: set by the test, else its mtime."""
        return self.upload_times.get(path.name) or datetime.fromtimestamp(path.stat().st_mtime, UTC)

    def project_json(self, project: str) -> bytes:
        files = [self.file_entry(p) for p in self.dists(project)]
        status, reason = self.status.get(project, ("active", ""))
        body = {"meta": {"api-version": "1.4"}, "name": project,
                "versions": sorted({version_of(f["filename"]) for f in files}), "files": files,
                "project-status": {"status": status, **({"reason": reason} if reason else {})}}  # fmt: skip
        return json.dumps(body).encode()

    def project_html(self, project: str) -> bytes:
        anchors = []
        for path in self.dists(project):
            entry = self.file_entry(path)
            attrs = [f'href="{entry["url"]}#sha256={entry["hashes"]["sha256"]}"']
            if entry["requires-python"]:
                attrs.append(f'data-requires-python="{html.escape(entry["requires-python"])}"')
            if entry["core-metadata"]:
                attrs.append(f'data-core-metadata="sha256={entry["core-metadata"]["sha256"]}"')
            if path.name in self.yanked:
                attrs.append(f'data-yanked="{html.escape(self.yanked[path.name])}"')
            if entry["provenance"]:
                attrs.append(f'data-provenance="{entry["provenance"]}"')
            anchors.append(f"<a {' '.join(attrs)}>{html.escape(path.name)}</a><br>")
        status, reason = self.status.get(project, ("active", ""))
        meta = '<meta name="pypi:repository-version" content="1.4">'
        if status != "active":
            meta += f'<meta name="pypi:project-status" content="{status}">'
            if reason:
                meta += f'<meta name="pypi:project-status-reason" content="{html.escape(reason)}">'
        page = f"<!DOCTYPE html><html><head>{meta}<title>Links for {project}</title></head><body>"
        return (page + "\n".join(anchors) + "</body></html>\n").encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def up(self) -> LocalUpstream:
        return self.server.upstream  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet."""

    def setup(self) -> None:
        super().setup()
        with self.up._lock:
            self.up._connections.add(self.connection)

    def finish(self) -> None:
        with self.up._lock:
            self.up._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        if self.up.auth and not self._authorized():
            return self._send(401, b"", headers={"WWW-Authenticate": 'Basic realm="upstream"'})
        parts = [p for p in self.path.split("?", 1)[0].split("/") if p]
        if parts[:1] == ["simple"] and len(parts) == 2:
            return self._page(parts[1])
        if parts[:1] == ["simple"] and len(parts) == 1:
            names = sorted({project_of(p.name) for p in self.up.dists()})
            body = "".join(f'<a href="/simple/{n}/">{n}</a><br>' for n in names).encode()
            return self._send(200, body, "text/html")
        if parts[:1] == ["files"] and len(parts) == 2:
            return self._file(parts[1])
        if parts[:1] == ["provenance"] and len(parts) == 2 and parts[1] in self.up.provenance:
            self.up._seen("provenance", parts[1])
            return self._send(200, self.up.provenance[parts[1]], "application/json")
        return self._send(404, b"not found\n")

    def _authorized(self) -> bool:
        import base64

        expected = "Basic " + base64.b64encode(":".join(self.up.auth or ()).encode()).decode()
        return self.headers.get("Authorization") == expected

    def _page(self, name: str) -> None:
        project = canonicalize_name(name)
        self.up._seen("page", project)
        if self._fault(project):
            return
        if not self.up.dists(project):
            return self._send(404, b"no such project\n")
        wants_json = self.up.flavour == "json" and JSON_TYPE in (self.headers.get("Accept") or "")
        body = self.up.project_json(project) if wants_json else self.up.project_html(project)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.up._seen("revalidated", project)
            return self._send(304, b"", headers={"ETag": etag})
        mimetype = JSON_TYPE if wants_json else "text/html; charset=utf-8"
        self._send(200, body, mimetype, {"ETag": etag, "Vary": "Accept"})

    def _file(self, filename: str) -> None:
        suffix = ".metadata" if filename.endswith(".metadata") else ""
        dist = filename.removesuffix(suffix)
        path = self.up.folder / dist
        self.up._seen("metadata" if suffix else "file", dist)
        if self._fault(filename, path):
            return
        if not path.is_file():
            return self._send(404, b"no such file\n")
        if suffix:
            metadata = wheel_metadata(path)
            return self._send(200, metadata, "text/plain") if metadata else self._send(404, b"")
        self._send(200, path.read_bytes(), "application/octet-stream", trickle=self.up.trickle)

    def _fault(self, key: str, path: Path | None = None) -> bool:
        """Play the fault set for this page or file; True when the response is done."""
        fault = self.up.faults.get(key)
        if fault == "500":
            self._send(500, b"upstream error\n")
        elif fault == "timeout":
            self.up.release.wait(60)
            self.close_connection = True
        elif fault == "truncate" and path is not None:
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        elif fault == "wrong-hash" and path is not None:
            data = bytearray(path.read_bytes())
            data[-1] ^= 0xFF
            self._send(200, bytes(data), "application/octet-stream")
        else:
            return False
        return True

    def _send(self, status: int, body: bytes, mimetype: str = "text/plain",
              headers: dict[str, str] | None = None, trickle: float = 0.0) -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", mimetype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not trickle:
            self.wfile.write(body)
            return
        pieces = 20
        step = max(1, len(body) // pieces)
        for start in range(0, len(body), step):
            self.wfile.write(body[start : start + step])
            self.wfile.flush()
            self.up.release.wait(trickle / pieces)


def touch(path: Path, when: datetime) -> None:
    """Set a file's mtime (the upstream's default upload-time)."""
    os.utime(path, (when.timestamp(), when.timestamp()))

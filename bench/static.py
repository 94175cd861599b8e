"""nginx serving a folder of files as they are: the floor (for times) and ceiling (for rates) that a Python
server is measured against on the same machine. Debian's nginx-light, unprivileged, from a temp folder, as the
tests run it (tests/support/nginx.py); `apt-get install -y nginx-light`."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from procs import BenchError, free_port, process_group, wait_ready

WORKERS = 2  # as many as flaskpypi's gunicorn workers
CONF = """{user}worker_processes {workers};
daemon off;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    types {{ }}
    default_type application/octet-stream;
    map $http_accept_encoding $gz {{ ~*gzip .gz; default ""; }}
    map $http_accept_encoding $encoding {{ ~*gzip gzip; default ""; }}
    server {{
        listen 127.0.0.1:{port};
        root {docs};
        location ~ /$ {{
            default_type text/html;
            add_header Content-Encoding $encoding;
            add_header Vary Accept-Encoding;
            try_files ${{uri}}index.html$gz =404;
        }}
    }}
}}
"""


def nginx() -> str:
    """The nginx binary; BenchError names the package when there is none."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if found is None:
        raise BenchError("nginx is not installed (apt-get install -y nginx-light)")
    return found


def write_page(docs: Path, url_path: str, body: bytes) -> None:
    """Put `body` where the server answers `url_path` (a path ending in /), plain and gzip-compressed (level 6,
    as flaskpypi compresses its pages), so a client that takes gzip gets the compressed copy."""
    folder = docs / url_path.strip("/")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_bytes(body)
    (folder / "index.html.gz").write_bytes(gzip.compress(body, 6))


class StaticServer:
    """nginx serving the folder `docs` (pages written by write_page, other files as they are) on a free port of
    127.0.0.1; `pgid` is its process group while it runs (for group_cpu)."""

    def __init__(self, docs: Path, log: Path) -> None:
        self.docs = docs
        self.log = log
        self.pgid = 0

    @contextmanager
    def running(self, probe: str) -> Iterator[str]:
        """Start nginx, wait until `probe` (a path of a file or page it serves) answers 200, yield the base URL
        (no trailing slash), stop nginx on exit."""
        with tempfile.TemporaryDirectory(prefix="bench-nginx-") as run:
            port = free_port()
            conf = Path(run) / "nginx.conf"
            user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read private temp folders
            conf.write_text(CONF.format(user=user, workers=WORKERS, run=run, port=port, docs=self.docs.resolve()))
            command = [nginx(), "-c", str(conf), "-e", str(Path(run) / "error.log")]
            with process_group(command, log=self.log) as proc:
                base = f"http://127.0.0.1:{port}"
                wait_ready(base + probe, proc, self.log, 30)
                self.pgid = proc.pid
                yield base

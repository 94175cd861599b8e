"""Real nginx (Debian's nginx-light) in front of a live server, with deploy/nginx/flaskpypi.conf.template filled in."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import string
import subprocess
import time
from pathlib import Path

import requests

from .server import free_port

TEMPLATE = Path(__file__).parents[2] / "deploy" / "nginx" / "flaskpypi.conf.template"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
MIME_TYPES = "/etc/nginx/mime.types"
STARTUP_TIMEOUT = 30.0


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 (and its key), made with openssl for one test run."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def fill_template(values: dict[str, str]) -> str:
    """The shipped template with every ${NGINX_*} replaced (nginx's own $variables stay)."""
    text = string.Template(TEMPLATE.read_text()).safe_substitute(values)
    left = [line for line in text.splitlines() if "${NGINX_" in line and not line.lstrip().startswith("#")]
    assert not left, f"unfilled template variables: {left}"
    return text


class Nginx:
    """nginx run unprivileged-style from a temp folder: its own main config, pid, logs and temp paths."""

    def __init__(self, root: Path, upstream: str, packages_dir: Path, max_body: str, x_accel_prefix: str) -> None:
        self.root = root
        self.port = free_port()
        self.cert, self.key = self_signed_cert(root / "tls")
        self.values = {
            "NGINX_UPSTREAM": upstream,
            "NGINX_LISTEN": f"127.0.0.1:{self.port}",
            "NGINX_SERVER_NAME": "localhost",
            "NGINX_TLS_CERT": str(self.cert),
            "NGINX_TLS_KEY": str(self.key),
            "NGINX_MAX_BODY": max_body,
            "NGINX_PACKAGES_DIR": str(packages_dir).rstrip("/") + "/",
            "NGINX_X_ACCEL_PREFIX": x_accel_prefix,
        }
        self.pid_file = root / "nginx.pid"
        self.error_log = root / "error.log"
        self.access_log = root / "access.log"

    @property
    def url(self) -> str:
        """Base URL over HTTPS, with a trailing slash."""
        return f"https://localhost:{self.port}/"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the test certificate."""
        return ssl.create_default_context(cafile=str(self.cert))

    def main_config(self) -> str:
        """A main nginx.conf around the filled template, with every writable path under root."""
        site = self.root / "flaskpypi.conf"
        site.write_text(fill_template(self.values))
        temp = {name: self.root / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for folder in temp.values():
            folder.mkdir(exist_ok=True)
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the test's private temp folders
        return (
            f"{user}worker_processes 1;\npid {self.pid_file};\nerror_log {self.error_log} info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"  include {MIME_TYPES};\n  default_type application/octet-stream;\n  sendfile on;\n"
            f"  access_log {self.access_log};\n"
            f"  client_body_temp_path {temp['body']};\n  proxy_temp_path {temp['proxy']};\n"
            f"  fastcgi_temp_path {temp['fastcgi']};\n  uwsgi_temp_path {temp['uwsgi']};\n"
            f"  scgi_temp_path {temp['scgi']};\n"
            f"  include {site};\n"
            "}\n"
        )

    def start(self) -> Nginx:
        """Check the config, start nginx, and wait until it answers /health over TLS (polling)."""
        config = self.root / "nginx.conf"
        config.write_text(self.main_config())
        base = [NGINX or "nginx", "-p", str(self.root), "-c", str(config), "-e", str(self.error_log)]
        checked = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        subprocess.run(base, check=True, capture_output=True, timeout=30)  # daemonizes; the pid file names it
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                if requests.get(self.url + "health", verify=str(self.cert), timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not answer:\n{self.log()}")
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop nginx (its master, by the pid it wrote)."""
        if not self.pid_file.exists():
            return
        pid = int(self.pid_file.read_text().strip())
        try:
            os.kill(pid, signal.SIGQUIT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 15
        while self.pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.pid_file.exists():
            os.kill(pid, signal.SIGKILL)

    def log(self) -> str:
        """nginx's error log so far."""
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

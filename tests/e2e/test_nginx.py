"""nginx in front (deploy/nginx/flaskpypi.conf.template): TLS with ProxyFix, request buffering, X-Accel-Redirect."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from flaskpypi import FORM_OVERHEAD
from flaskpypi.settings import Settings
from tests.conftest import ADMIN, base_settings, missing
from tests.support.clients import Venv, check, clean_env, pip_install, twine_upload, uv_pip_install
from tests.support.dists import make_sdist, make_wheel
from tests.support.nginx import NGINX, Nginx
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e
X_ACCEL_PREFIX = Settings.x_accel_prefix
MAX_UPLOAD = 8 * 1024**2
THREADS = 2  # fewer gunicorn threads than slow clients: any slow upload that reached the app would hold one
SLOW_CLIENTS = 8
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
# This machine points every client at its own bundle; requests lets REQUESTS_CA_BUNDLE beat twine's --cert.
BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


def tls_env(**extra: str) -> dict[str, str]:
    """clean_env() without this machine's CA bundle variables: the clients trust what they are told to."""
    env = {k: v for k, v in clean_env().items() if k not in BUNDLE_VARIABLES}
    return {**env, **extra}


@pytest.fixture
def front(tmp_path: Path) -> Iterator[tuple[LiveServer, Nginx]]:
    """flaskpypi (gunicorn, 1 gthread worker of 2 threads, access log) behind nginx with TLS."""
    if NGINX is None:
        missing("nginx is not installed (apt-get install nginx-light; scripts/test-deps.sh does)")
    root = tmp_path / "app"
    packages = root / "packages"
    settings = {**base_settings(root), "storage_url": packages.as_uri(), "proxy_fix": 1, "x_sendfile": "nginx",
                "max_upload_size": MAX_UPLOAD}  # fmt: skip
    cmd_args = f"--worker-class gthread --threads {THREADS} --access-logfile -"
    server = LiveServer(root, settings, workers=1, extra_env={"GUNICORN_CMD_ARGS": cmd_args})
    proxy = Nginx(tmp_path / "nginx", f"127.0.0.1:{server.port}", packages,
                  max_body=f"{(MAX_UPLOAD + FORM_OVERHEAD) // 1024**2}m", x_accel_prefix=X_ACCEL_PREFIX)  # fmt: skip
    try:
        server.start()
        yield server, proxy.start()
    finally:
        proxy.stop()
        server.stop()


def test_twine_pip_and_uv_over_tls_with_downloads_sent_by_nginx(front, tmp_path: Path) -> None:
    server, proxy = front
    dist = tmp_path / "d"
    files = [make_wheel(dist, "behind-proxy", "1.0", requires_dist=["proxy-dep"]),
             make_wheel(dist, "proxy-dep", "2.0"), make_sdist(dist, "proxy-dep", "2.0")]  # fmt: skip
    cert = ["--cert", str(proxy.cert)]
    check(twine_upload(proxy.url + "legacy/", files, *ADMIN, extra_args=cert, env=tls_env()))
    pip_venv = Venv.create(tmp_path / "pip", pip=True)
    check(pip_install(pip_venv, proxy.url + "simple/", "behind-proxy", extra_args=cert, env=tls_env()))
    assert pip_venv.version_of("proxy-dep") == "2.0"
    uv_venv = Venv.create(tmp_path / "uv")
    uv_env = tls_env(SSL_CERT_FILE=str(proxy.cert))
    check(uv_pip_install(uv_venv, proxy.url + "simple/", "behind-proxy", env=uv_env))
    assert uv_venv.installed()["behind-proxy"] == "1.0"

    # ProxyFix: links the app makes absolute carry the client's scheme and host.
    page = requests.get(proxy.url + "simple/proxy-dep/", verify=str(proxy.cert), timeout=10,
                        headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()  # fmt: skip
    assert all(f["provenance"] is None or f["provenance"].startswith(proxy.url) for f in page["files"])

    # The app answers a download with X-Accel-Redirect and no body; nginx sends the bytes (and ranges).
    path = "packages/proxy-dep/" + files[1].name
    direct = requests.get(server.url + path, timeout=10)
    assert direct.status_code == 200 and direct.content == b""
    assert direct.headers["X-Accel-Redirect"] == f"{X_ACCEL_PREFIX.rstrip('/')}/proxy-dep/{files[1].name}"
    served = requests.get(proxy.url + path, verify=str(proxy.cert), timeout=10)
    assert served.status_code == 200 and "X-Accel-Redirect" not in served.headers
    assert hashlib.sha256(served.content).hexdigest() == hashlib.sha256(files[1].read_bytes()).hexdigest()
    ranged = requests.get(proxy.url + path, headers={"Range": "bytes=0-9"}, verify=str(proxy.cert), timeout=10)
    assert ranged.status_code == 206 and ranged.content == files[1].read_bytes()[:10]
    hidden = requests.get(proxy.url + X_ACCEL_PREFIX.lstrip("/") + "proxy-dep/" + files[1].name,
                          verify=str(proxy.cert), timeout=10)  # fmt: skip
    assert hidden.status_code == 404  # the internal location is not reachable from outside


def test_an_upload_over_the_limit_is_refused_by_nginx_with_413(front, tmp_path: Path) -> None:
    _, proxy = front
    big = requests.post(proxy.url + "legacy/", data=b"x" * (MAX_UPLOAD + FORM_OVERHEAD + 1024**2),
                        headers={"Content-Type": "multipart/form-data; boundary=b"},
                        verify=str(proxy.cert), timeout=60)  # fmt: skip
    assert big.status_code == 413


def test_the_session_cookie_is_secure_behind_the_tls_proxy(front) -> None:
    _, proxy = front
    browser = requests.Session()
    browser.verify = str(proxy.cert)
    browser.trust_env = False  # else REQUESTS_CA_BUNDLE would beat verify
    form = browser.get(proxy.url + "account/login", timeout=10)
    token = CSRF.search(form.text)
    assert token, form.text
    data = {"username": ADMIN[0], "password": ADMIN[1], "csrf_token": token.group(1)}
    response = browser.post(proxy.url + "account/login", data=data, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    cookies = [c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    assert all("; Secure" in c for c in cookies), cookies


class SlowUpload(threading.Thread):
    """A client that sends an upload's headers, then its body at 1 byte/s until told to stop."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext | None, path: str) -> None:
        super().__init__(daemon=True)
        self.address, self.context, self.path = (host, port), context, path
        self.sending = threading.Event()  # set once the headers and a first byte are out
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.sent = 0

    def run(self) -> None:
        auth = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
        head = (f"POST {self.path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {auth}\r\n"
                "Content-Type: multipart/form-data; boundary=slow\r\nContent-Length: 1000000\r\n\r\n")  # fmt: skip
        try:
            with socket.create_connection(self.address, timeout=30) as raw:
                sock = self.context.wrap_socket(raw, server_hostname="localhost") if self.context else raw
                sock.sendall(head.encode())
                while not self.stop.is_set():
                    sock.sendall(b"-")
                    self.sent += 1
                    self.sending.set()
                    self.stop.wait(1.0)  # the pace of the slow client, not a wait for something
        except OSError as exc:
            self.error = exc
            self.sending.set()


def _slow_clients(host: str, port: int, context: ssl.SSLContext | None, path: str) -> list[SlowUpload]:
    """SLOW_CLIENTS uploads to path (a query string tells them apart in the app's access log)."""
    clients = [SlowUpload(host, port, context, path) for _ in range(SLOW_CLIENTS)]
    for client in clients:
        client.start()
    for client in clients:
        assert client.sending.wait(30) and client.error is None, client.error
    return clients


def _stop(clients: list[SlowUpload]) -> None:
    for client in clients:
        client.stop.set()
    for client in clients:
        client.join(10)


def test_slow_uploads_wait_in_nginx_and_do_not_hold_the_workers(front, tmp_path: Path) -> None:
    server, proxy = front
    wheel = make_wheel(tmp_path / "d", "busy-day", "1.0")
    check(twine_upload(proxy.url + "legacy/", [wheel], *ADMIN, extra_args=["--cert", str(proxy.cert)], env=tls_env()))

    # Without nginx, the slow uploads take every thread and the server stops answering: the test can fail.
    direct = _slow_clients("127.0.0.1", server.port, None, "/legacy/?direct")
    try:
        stuck = False
        for _ in range(10):  # poll until the slow uploads hold the threads; each probe waits at most 3 s
            try:
                requests.get(server.url + "health", timeout=3)
            except requests.Timeout:
                stuck = True
                break
        assert stuck, "the slow uploads never held the server's threads: this test could not fail"
    finally:
        _stop(direct)
    requests.get(server.url + "health", timeout=30).raise_for_status()  # the threads are free again

    # Behind nginx, the same slow uploads wait in nginx: pip installs while they are still sending.
    slow = _slow_clients("127.0.0.1", proxy.port, proxy.ssl_context(), "/legacy/?proxied")
    try:
        venv = Venv.create(tmp_path / "venv", pip=True)
        cert = ["--cert", str(proxy.cert)]
        check(pip_install(venv, proxy.url + "simple/", "busy-day", extra_args=cert, env=tls_env(), timeout=120))
        assert venv.version_of("busy-day") == "1.0"
        assert all(c.is_alive() and c.error is None for c in slow), [c.error for c in slow]
        assert '"POST /legacy/?proxied' not in server.log()  # not one slow upload reached the app
    finally:
        _stop(slow)


def test_compose_fills_the_template_and_agrees_with_the_settings(tmp_path: Path) -> None:
    import yaml

    from flaskpypi.settings import load_settings
    from tests.support.nginx import TEMPLATE

    services = yaml.safe_load((TEMPLATE.parents[2] / "compose.yaml").read_text())["services"]
    nginx, app = services["nginx"]["environment"], services["flaskpypi"]["environment"]
    used = {m for line in TEMPLATE.read_text().splitlines() if not line.lstrip().startswith("#")
            for m in re.findall(r"\$\{(NGINX_\w+)\}", line)}  # fmt: skip
    assert used == set(nginx)
    given = {"${POSTGRES_PASSWORD}": "pw", "${FLASKPYPI_SECRET_KEY:?set FLASKPYPI_SECRET_KEY}": "a-shared-key"}
    known = {k: str(v) for k, v in app.items() if k.startswith("FLASKPYPI_")}
    for placeholder, value in given.items():  # what compose's operator exports (compose.yaml's comments)
        known = {k: v.replace(placeholder, value) for k, v in known.items()}
    settings, _ = load_settings(str(tmp_path), environ={k: v for k, v in known.items() if "${" not in v})
    assert settings.x_sendfile == "nginx" and settings.proxy_fix == 1
    assert nginx["NGINX_X_ACCEL_PREFIX"] == settings.x_accel_prefix
    assert nginx["NGINX_MAX_BODY"] == f"{(settings.max_upload_size + FORM_OVERHEAD) // 1024**2}m"
    # nginx reads the packages where flaskpypi writes them: the same volume, mounted elsewhere.
    app_mount = next(v for v in services["flaskpypi"]["volumes"] if v.startswith("data:")).split(":")[1]
    nginx_mount = next(v for v in services["nginx"]["volumes"] if v.startswith("data:")).split(":")[1]
    packages = settings.storage_url.removeprefix("file://")
    assert nginx["NGINX_PACKAGES_DIR"] == nginx_mount + packages.removeprefix(app_mount).rstrip("/") + "/"

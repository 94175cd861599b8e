"""The measured endpoints, and the checks that a server serves the whole data set on each."""

from __future__ import annotations

import http.client
import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

from dataset import BIG_FILE_BYTES, BIG_FILE_PROJECT, BIG_PROJECT, DataSet, big_project, build_wheel, small_projects
from procs import BenchError

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HREF = re.compile(r"""<a\s[^>]*href=["']([^"']+)["']""", re.IGNORECASE)
# The same file is downloaded from every server: the first one the data set generates.
DOWNLOAD_FILE, DOWNLOAD_BYTES = build_wheel(*next(big_project(1)))

SMALL_PROJECT = next(small_projects(1))[0]
ROOT_HTML = "/simple/ (HTML)"
ROOT_JSON = "/simple/ (JSON)"
SMALL_HTML = "small project page (HTML)"
PROJECT_HTML = f"/simple/{BIG_PROJECT}/ (HTML, 2,000 files)"
PROJECT_JSON = f"/simple/{BIG_PROJECT}/ (JSON, 2,000 files)"
DOWNLOAD = f"download of a {len(DOWNLOAD_BYTES) / 1024:.0f} KB wheel"
BIG_DOWNLOAD = f"download of a {BIG_FILE_BYTES // 2**20} MB wheel"
ENDPOINTS = (ROOT_HTML, ROOT_JSON, SMALL_HTML, PROJECT_HTML, PROJECT_JSON, DOWNLOAD, BIG_DOWNLOAD)


@dataclass(frozen=True)
class Target:
    """One URL to load, with the headers to send."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


class NotServed(Exception):
    """The server does not offer this endpoint (e.g. no PEP 691 JSON); not an error of the run."""


def fetch(target: Target) -> Response:
    """GET without following redirects: a redirect or an error page is not the page measured."""
    parts = urlsplit(target.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=target.headers)
        response = conn.getresponse()
        return Response(response.status, response.getheader("Content-Type", ""), response.read())
    finally:
        conn.close()


def _get_ok(target: Target, what: str) -> Response:
    response = fetch(target)
    if response.status != 200 or not response.body:
        raise BenchError(f"{what}: GET {target.url} gave {response.status}, {len(response.body)} bytes")
    return response


def _expect(what: str, expected: int, found: int) -> None:
    if found != expected:
        raise BenchError(f"{what}: expected {expected:,}, found {found:,}")


def check_root(simple_url: str, dataset: DataSet) -> Target:
    target = Target(simple_url)
    body = _get_ok(target, ROOT_HTML).body.decode()
    links = {urljoin(simple_url, href).rstrip("/") for href in HREF.findall(body)}
    projects = {link for link in links if link.startswith(simple_url.rstrip("/") + "/")}
    _expect(f"{ROOT_HTML} project links", dataset.project_count, len(projects))
    return target


def project_file_urls(simple_url: str, dataset: DataSet) -> tuple[Target, list[str]]:
    """Check the project page lists every file; return its target and the absolute file URLs."""
    target = Target(f"{simple_url}{BIG_PROJECT}/")
    body = _get_ok(target, PROJECT_HTML).body.decode()
    urls = [urljoin(target.url, href).split("#")[0] for href in HREF.findall(body)]
    files = [url for url in urls if url.endswith(".whl")]
    _expect(f"{PROJECT_HTML} file links", dataset.big_files, len({PurePosixPath(u).name for u in files}))
    return target, files


def check_root_json(simple_url: str, dataset: DataSet) -> Target:
    target = Target(simple_url, {"Accept": JSON_TYPE})
    response = _get_ok(target, ROOT_JSON)
    if not response.content_type.startswith(JSON_TYPE):
        raise NotServed(f"no PEP 691 JSON (answers {response.content_type.split(';')[0]})")
    _expect(f"{ROOT_JSON} projects", dataset.project_count, len(json.loads(response.body)["projects"]))
    return target


def check_small(simple_url: str) -> Target:
    target = Target(f"{simple_url}{SMALL_PROJECT}/")
    body = _get_ok(target, SMALL_HTML).body.decode()
    _expect(f"{SMALL_HTML} file links", 1, len([h for h in HREF.findall(body) if ".whl" in h]))
    return target


def check_big_download(simple_url: str, dataset: DataSet) -> Target:
    target = Target(f"{simple_url}{BIG_FILE_PROJECT}/")
    links = [urljoin(target.url, h).split("#")[0] for h in HREF.findall(_get_ok(target, BIG_DOWNLOAD).body.decode())]
    wheels = [url for url in links if url.endswith(".whl")]
    if len(wheels) != 1:
        raise BenchError(f"{BIG_DOWNLOAD}: {target.url} links {len(wheels)} wheels, expected 1")
    download = Target(wheels[0])
    stored = dataset.packages / BIG_FILE_PROJECT / PurePosixPath(urlsplit(download.url).path).name
    if _get_ok(download, BIG_DOWNLOAD).body != stored.read_bytes():
        raise BenchError(f"{BIG_DOWNLOAD}: {download.url} does not serve the bytes of {stored}")
    return download


def check_project_json(project_url: str, dataset: DataSet) -> Target:
    target = Target(project_url, {"Accept": JSON_TYPE})
    response = _get_ok(target, PROJECT_JSON)
    if not response.content_type.startswith(JSON_TYPE):
        raise NotServed(f"no PEP 691 JSON (answers {response.content_type.split(';')[0]})")
    _expect(f"{PROJECT_JSON} files", dataset.big_files, len(json.loads(response.body)["files"]))
    return target


def check_download(file_urls: list[str]) -> Target:
    matches = [url for url in file_urls if PurePosixPath(urlsplit(url).path).name == DOWNLOAD_FILE]
    if not matches:
        raise BenchError(f"{DOWNLOAD}: {DOWNLOAD_FILE} is not linked from the project page")
    target = Target(matches[0])
    if _get_ok(target, DOWNLOAD).body != DOWNLOAD_BYTES:
        raise BenchError(f"{DOWNLOAD}: {target.url} does not serve the bytes of {DOWNLOAD_FILE}")
    return target


def discover(simple_url: str, dataset: DataSet) -> dict[str, Target | str]:
    """Map each endpoint to a verified target, or to the reason it is not measured."""
    project, files = project_file_urls(simple_url, dataset)
    found: dict[str, Target | str] = {
        ROOT_HTML: check_root(simple_url, dataset),
        SMALL_HTML: check_small(simple_url),
        PROJECT_HTML: project,
        DOWNLOAD: check_download(files),
        BIG_DOWNLOAD: check_big_download(simple_url, dataset),
    }
    for endpoint, check in ((PROJECT_JSON, lambda: check_project_json(project.url, dataset)),
                            (ROOT_JSON, lambda: check_root_json(simple_url, dataset))):  # fmt: skip
        try:
            found[endpoint] = check()
        except NotServed as reason:
            found[endpoint] = str(reason)
    return {endpoint: found[endpoint] for endpoint in ENDPOINTS}

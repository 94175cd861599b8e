"""Real packages, real text: the pinned corpus (tests/corpus/corpus.txt, hundreds of real files of popular
projects) through a real server, once uploaded (twine; the legacy API directly for files twine refuses) and
once cached from a local upstream (fallback = "cache"), then read back through every API a client uses.

Which file a release's JSON `info` comes from: the corpus has one file per release (tests/corpus/pick.py),
so `/pypi/<name>/<version>/json` must give exactly what that file's core metadata says, whatever rule the
server uses to choose among a release's files.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ADMIN, base_settings
from tests.support.clients import Venv, check, clean_env, describe, pip_install, run, twine_upload, uv_bin
from tests.support.corpus import (
    JSON_FIELDS,
    CorpusDownloadError,
    CorpusFile,
    OneOf,
    corpus_files,
    install_sample,
    legacy_upload_form,
    matches,
    twine_refusal,
)
from tests.support.server import LiveServer
from tests.support.upstream import LocalUpstream

pytestmark = pytest.mark.e2e
JSON = "application/vnd.pypi.simple.v1+json"
PIP_SAMPLE = 32
UV_SAMPLE = 32
WORKERS = 4  # concurrent readers against the 2 gunicorn workers


@pytest.fixture(scope="module")
def corpus() -> list[CorpusFile]:
    """The pinned files, downloaded once into the corpus cache (a clear failure if that cannot be done)."""
    started = time.monotonic()
    try:
        files = corpus_files()
    except CorpusDownloadError as exc:
        pytest.fail(str(exc))
    size = sum(f.entry.size for f in files) / 1e6
    print(f"\ncorpus: {len(files)} files, {len({f.name for f in files})} projects, {size:.1f} MB, "
          f"ready in {time.monotonic() - started:.1f}s")  # fmt: skip
    return files


@dataclass
class Index:
    """A server holding the corpus, and what happened while the files arrived there."""

    mode: str
    server: LiveServer
    files: list[CorpusFile]
    problems: list[str] = field(default_factory=list)
    installed: list[CorpusFile] = field(default_factory=list)
    _info: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(urljoin(self.server.url, path), timeout=60, **kwargs)

    def info(self, f: CorpusFile) -> dict[str, Any] | str:
        """`info` of /pypi/<name>/<version>/json (fetched once), or the failure as text."""
        if f.filename not in self._info:
            response = self.get(f"pypi/{f.name}/{f.version}/json")
            ok = response.status_code == 200
            self._info[f.filename] = response.json()["info"] if ok else f"{response.status_code} {response.text[:200]}"
        return self._info[f.filename]


def each(files: list[CorpusFile], check_one: Callable[[CorpusFile], str | None]) -> list[str]:
    """check_one over the files, WORKERS at a time; the problems found, one line each."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return [p for p in pool.map(check_one, files) if p]


def report(problems: list[str], what: str, total: int) -> str:
    return f"{len(problems)} of {total} files: {what}\n" + "\n".join(problems)


# -- arrival: upload, or cache through the index -----------------------------------------------------


def upload_corpus(index: Index) -> None:
    """twine uploads every file it accepts, in one run unless one fails (twine stops there: the next run takes
    the files it did not try); files twine refuses on the client side go to the legacy API directly, as its form."""
    refused = {f.filename: twine_refusal(f.path) for f in index.files}
    pending = [f.path for f in index.files if refused[f.filename] is None]
    started, runs = time.monotonic(), 0
    while pending:
        runs += 1
        cp = twine_upload(index.server.url + "legacy/", pending, *ADMIN, timeout=900)
        if cp.returncode == 0:
            break
        tried = [line.split()[-1] for line in cp.stdout.splitlines() if line.startswith("Uploading ")]
        failed = next((p for p in pending if tried and p.name == tried[-1]), None)  # twine orders wheels first
        if failed is None:
            index.problems.append(f"twine upload failed:\n{describe(cp)[-4000:]}")
            break
        errors = [
            line.strip() for line in (cp.stdout + cp.stderr).splitlines() if "ERROR" in line or "HTTPError" in line
        ]
        index.problems.append(f"{failed.name} (twine): {' '.join(errors)[:300]}")
        pending = [p for p in pending if p.name not in tried]
    direct = [f for f in index.files if refused[f.filename] is not None]
    for f in direct:
        with f.path.open("rb") as fp:
            content = {"content": (f.filename, fp, "application/octet-stream")}
            url = index.server.url + "legacy/"
            response = requests.post(url, data=legacy_upload_form(f), files=content, auth=ADMIN, timeout=120)
        if response.status_code != 200:
            why = refused[f.filename]
            index.problems.append(f"{f.filename} (legacy API; twine: {why}): {response.status_code} {response.reason}")
    total = sum(f.entry.size for f in index.files) / 1e6
    print(f"\nupload: {len(index.files) - len(direct)} files by twine in {runs} runs, {len(direct)} through the "
          f"legacy API, {total:.1f} MB in {time.monotonic() - started:.1f}s")  # fmt: skip


def cache_corpus(index: Index, tmp: Path) -> None:
    """pip installs a sample through the caching index; every other file is fetched through its simple page."""
    started = time.monotonic()
    index.installed = install_sample(index.files, PIP_SAMPLE)
    target = tmp / "pip-target"
    index.problems += pip_install_sample(index.server, index.installed, target, tmp)
    fetched = each(index.files, lambda f: fetch_through_index(index, f))
    index.problems += fetched
    print(f"\ncache: pip installed {len(index.installed)}, then every file fetched, {time.monotonic() - started:.1f}s")


def fetch_through_index(index: Index, f: CorpusFile) -> str | None:
    """Download a file through the index's PEP 691 page, as an installer would, and check its bytes."""
    page = index.get(f"simple/{f.name}/", headers={"Accept": JSON})
    if page.status_code != 200:
        return f"{f.filename}: simple page {page.status_code}"
    entry = next((e for e in page.json()["files"] if e["filename"] == f.filename), None)
    if entry is None:
        return f"{f.filename}: not on the simple page"
    response = index.get(urljoin(page.url, entry["url"]))
    if response.status_code != 200 or hashlib.sha256(response.content).hexdigest() != f.entry.sha256:
        return f"{f.filename}: download {response.status_code}, {len(response.content)} bytes"
    return None


def pip_install_sample(server: LiveServer, sample: list[CorpusFile], target: Path, tmp: Path) -> list[str]:
    """pip install the sample (--no-deps, wheels) from the index into a target folder; problems found."""
    venv = Venv.create(tmp / "pip-venv", pip=True)
    reqs = [f"{f.name}=={f.version}" for f in sample]
    args = ["--no-deps", "--only-binary", ":all:", "--target", str(target)]
    cp = pip_install(venv, server.index_url, *reqs, extra_args=args, timeout=600)
    if cp.returncode != 0:
        return [f"pip install failed:\n{describe(cp)[-4000:]}"]
    found = {p.name.lower() for p in target.glob("*.dist-info")}
    return [f"{f.filename}: pip did not install it" for f in sample if not _has_dist_info(found, f)]


def _has_dist_info(found: set[str], f: CorpusFile) -> bool:
    stem = f.filename.split("-")[0].lower()
    return any(d.startswith(f"{stem}-") and d.endswith(".dist-info") for d in found)


@pytest.fixture(scope="module", params=["upload", "cache"])
def index(request: pytest.FixtureRequest, corpus: list[CorpusFile], tmp_path_factory) -> Iterator[Index]:
    """A server with the whole corpus: uploaded, or cached from the corpus served as a local upstream."""
    root = tmp_path_factory.mktemp(f"corpus-{request.param}")
    upstream = None
    settings = base_settings(root)
    if request.param == "cache":
        folder = root / "upstream"
        folder.mkdir()
        for f in corpus:
            (folder / f.filename).symlink_to(f.path)
        upstream = LocalUpstream(folder, flavour="json").start()
        settings.update(fallback="cache", cache_update="everyone", upstream_url=upstream.url, upstream_ttl="1h",
                        upstream_retry=0)  # fmt: skip
    server = LiveServer(root, settings).start()
    index = Index(request.param, server, corpus)
    try:
        if request.param == "upload":
            upload_corpus(index)
        else:
            cache_corpus(index, root)
        yield index
    finally:
        server.stop()
        if upstream is not None:
            upstream.stop()


# -- what every client reads back ------------------------------------------------------------------


def test_every_file_arrives_without_a_5xx(index: Index) -> None:
    """Every file uploads (or caches through pip and the simple API), and the server logs no traceback."""
    assert not index.problems, report(index.problems, f"did not arrive ({index.mode})", len(index.files))
    assert "Traceback" not in index.server.log(), index.server.log()[-6000:]


def test_simple_json_lists_every_file_with_its_sha256(index: Index) -> None:
    def check_one(f: CorpusFile) -> str | None:
        page = index.get(f"simple/{f.name}/", headers={"Accept": JSON})
        if page.status_code != 200:
            return f"{f.filename}: {page.status_code}"
        hashes = {e["filename"]: e["hashes"].get("sha256") for e in page.json()["files"]}
        if hashes.get(f.filename) != f.entry.sha256:
            return f"{f.filename}: listed with {hashes.get(f.filename)!r}"
        return None

    problems = each(index.files, check_one)
    assert not problems, report(problems, "not in the PEP 691 page with their sha256", len(index.files))


def test_core_metadata_is_the_wheels_metadata_byte_for_byte(index: Index) -> None:
    wheels = [f for f in index.files if f.is_wheel]

    def check_one(f: CorpusFile) -> str | None:
        page = index.get(f"simple/{f.name}/", headers={"Accept": JSON})
        entry = next((e for e in page.json()["files"] if e["filename"] == f.filename), None) if page.ok else None
        if entry is None:
            return f"{f.filename}: not listed ({page.status_code})"
        expected = hashlib.sha256(f.metadata).hexdigest()
        if entry.get("core-metadata") != {"sha256": expected}:
            return f"{f.filename}: core-metadata {entry.get('core-metadata')!r}, METADATA has sha256 {expected}"
        response = index.get(urljoin(page.url, entry["url"]) + ".metadata")
        if response.status_code != 200 or response.content != f.metadata:
            return f"{f.filename}: .metadata {response.status_code}, {len(response.content)} bytes"
        return None

    problems = each(wheels, check_one)
    assert not problems, report(problems, ".metadata is not the wheel's METADATA", len(wheels))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _differs(expected: Any, got: Any) -> str:
    """How two values differ, short: long strings from their first differing character."""
    if isinstance(expected, str) and isinstance(got, str) and max(len(expected), len(got)) > 160:
        at = next(
            (i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b), min(len(expected), len(got))
        )
        start = max(0, at - 40)
        return (f"differs at character {at} of {len(expected)} (got {len(got)}): expected "
                f"{_short(expected[start : at + 80])}, got {_short(got[start : at + 80])}")  # fmt: skip
    return f"expected {_short(expected)}, got {_short(got)}"


@pytest.mark.parametrize("name", JSON_FIELDS)
def test_json_api_field_is_what_the_file_says(index: Index, name: str) -> None:
    """`info.<name>` of /pypi/<project>/<version>/json equals the file's core metadata, in PyPI's shape."""

    def check_one(f: CorpusFile) -> str | None:
        info = index.info(f)
        if isinstance(info, str):
            return f"{f.filename}: {info}"
        if name not in info:
            return f"{f.filename}: no key {name!r}"
        expected = f.expected_info()[name]
        if not matches(expected, info[name]):
            tag = "" if f.utf8 else " [not UTF-8]"
            return f"{f.filename}{tag}: {_differs(expected, info[name])}"
        return None

    problems = each(index.files, check_one)
    assert not problems, report(problems, f"info.{name} differs from the file", len(index.files))


class _Page(HTMLParser):
    """The project page's summary (p.lead) and its facts (`<dt>` term: `<dd>` text, as "Author: ...")."""

    def __init__(self) -> None:
        super().__init__()
        self.lead: list[str] = []
        self.items: list[str] = []
        self._open: list[tuple[str, list[str]]] = []
        self._term = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if (tag == "p" and "lead" in classes) or tag in ("dt", "dd"):
            self._open.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            kind, parts = self._open.pop()
            text = "".join(parts)
            if kind == "dt":
                self._term = text
            elif kind == "dd":
                self.items.append(f"{self._term}: {text}")
            else:
                self.lead.append(text)

    def handle_data(self, data: str) -> None:
        for _, parts in self._open:
            parts.append(data)


def test_project_page_shows_author_and_summary_exactly(index: Index) -> None:
    """The UI page of each release shows the file's summary and author, escaped once (the text reads back)."""

    def check_one(f: CorpusFile) -> str | None:
        response = index.get(f"project/{f.name}/{f.version}/", allow_redirects=False)
        if response.status_code != 200:
            return f"{f.filename}: {response.status_code}"
        page = _Page()
        page.feed(response.text)
        expected = f.expected_info()
        problems = []
        if expected["summary"] and not (len(page.lead) == 1 and matches(expected["summary"], page.lead[0])):
            problems.append(f"summary {_short(expected['summary'])} shown as {_short(page.lead)}")
        authors = [i.split(": ", 1)[1] for i in page.items if i.startswith(("Author: ", "Authors: "))]
        wanted = expected["author"]
        choices = list(wanted) if isinstance(wanted, OneOf) else [wanted]
        if wanted and not any(str(c) in shown for c in choices for shown in authors):  # the text as the file has it
            problems.append(f"author {_short(expected['author'])} shown as {_short(authors)}")
        return f"{f.filename}: " + "; ".join(problems) if problems else None

    problems = each(index.files, check_one)
    assert not problems, report(problems, "project page differs from the file", len(index.files))


def test_pip_installs_a_sample(index: Index, tmp_path: Path) -> None:
    """pip installs (--no-deps) a sample of the corpus wheels from the index (in cache mode: more of them)."""
    sample = install_sample(index.files, PIP_SAMPLE, offset=1 if index.mode == "cache" else 0)
    problems = pip_install_sample(index.server, sample, tmp_path / "target", tmp_path)
    assert not problems, "\n".join(problems)
    if index.mode == "cache":
        assert index.installed, "the cache-mode set-up installed nothing"


def test_uv_resolves_a_sample(index: Index, tmp_path: Path) -> None:
    """uv resolves pinned releases of a sample (other projects than pip's) from the index, without deps."""
    sample = install_sample(index.files, UV_SAMPLE, offset=2)
    requirements = tmp_path / "requirements.in"
    requirements.write_text("".join(f"{f.name}=={f.version}\n" for f in sample))
    platform = ["--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28"]
    cmd = [uv_bin(), "pip", "compile", requirements, "--no-deps", "--index-url", index.server.index_url, *platform,
           "--no-header", "--no-annotate"]  # fmt: skip
    cp = check(run(cmd, env=clean_env(), timeout=600))
    resolved = {(canonicalize_name(n), Version(v)) for n, _, v in (line.strip().partition("==") for line in
                cp.stdout.splitlines() if "==" in line)}  # fmt: skip
    missing = [f.filename for f in sample if (f.name, Version(f.version)) not in resolved]
    assert not missing, f"uv did not resolve {missing}\n{describe(cp)}"

"""How tests/corpus/corpus.txt was made (run by hand, never by the tests):

    .venv/bin/python -m tests.corpus.pick            # query the registry, download, write corpus.txt

For each project of PROJECTS (popular ones; many with non-ASCII authors, summaries or READMEs), up to three
files, one per release (so each release's JSON API `info` comes from exactly that file):

- "latest": the newest final release (or the pinned one), its first file in this order that is at most
  MAX_SIZE: a pure-Python wheel, a cp311 manylinux x86_64 wheel, an abi3 manylinux x86_64 wheel, an sdist;
- "oldest": the oldest release with an sdist (.tar.gz or .zip) whose PKG-INFO names the same project and
  version as its filename: these carry Metadata-Version 1.0/1.1/1.2, `.zip` sdists and legacy encodings;
- "legacy": the LEGACY files, whose PKG-INFO is latin-1;
- "first-wheel": for WHEEL_ERA projects, the first release with a wheel (Metadata-Version 2.0 era).

Every file is downloaded into the corpus cache (tests/support/corpus.py), its core metadata read, and the
list is written with a note per file: Metadata-Version, non-ASCII, not-UTF-8, License-Expression, Dynamic.
The summary printed at the end shows what the corpus covers.
"""

from __future__ import annotations

import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pypi_simple import PYPI_SIMPLE_ENDPOINT, DistributionPackage, PyPISimple

from tests.support.corpus import CACHE_DIR, CorpusFile, Entry, filename_name_version, sha256_of, write_entries

MAX_SIZE = 3_500_000
# Pinned releases (the reports): the "latest" slot takes this version instead.
PINS = {
    "mergedeep": "1.3.4", "validators": "0.36", "jupyter-server": "2.21", "wadler-lindig": "0.1.8",
    "html5lib": "1.1", "text-unidecode": "1.3", "unidecode": "1.4.0", "polib": "1.2.0",
}  # fmt: skip
PROJECTS = """
tomlkit poetry-core cleo crashtest fastapi typer sqlmodel anyio typeguard APScheduler rich python-dateutil
mergedeep validators jupyter_server wadler_lindig html5lib text-unidecode Unidecode polib ftfy emoji tqdm
wcwidth tabulate prompt_toolkit pypinyin dateparser num2words transliterate python-slugify pymorphy2
Faker humanize arrow charset-normalizer chardet Pyphen langdetect jellyfish python-bidi arabic-reshaper
unicodedata2 regex docutils pyOpenSSL cssutils icalendar
packaging attrs urllib3 idna certifi pluggy pytest setuptools wheel hatchling trove-classifiers
jsonschema jsonschema-specifications referencing rpds-py typing_extensions markdown-it-py mdurl Pygments
sniffio h11 httpx httpcore starlette click Jinja2 MarkupSafe Flask Werkzeug itsdangerous blinker requests
six PyYAML toml tomli tomli_w filelock platformdirs distlib zipp importlib_metadata more-itertools
jaraco.functools jaraco.classes jaraco.context backports.tarfile backports.zoneinfo zope.interface
zope.event zope.deprecation ruamel.yaml googleapis-common-protos protobuf azure-core
sphinxcontrib-jsmath sphinxcontrib-serializinghtml pydantic annotated-types msgpack orjson ujson
simplejson psutil cffi pycparser wrapt frozenlist multidict yarl aiosignal propcache async-timeout
greenlet alembic Mako coverage pytest-cov iniconfig exceptiongroup colorama termcolor tzdata pytz
tzlocal python-dotenv decorator cachetools pyasn1 rsa oauthlib websocket-client websockets docopt mock
setuptools-scm pyparsing Markdown bleach webencodings tinycss2 soupsieve beautifulsoup4 pyflakes
pycodestyle mccabe isort mypy-extensions pathspec dill cloudpickle traitlets jupyter_core mpmath
argon2-cffi bcrypt PyJWT ll-xist ll-core
""".split()
# Legacy sdists whose PKG-INFO is latin-1, not UTF-8 (Walter D\xf6rwald's projects, written by Python 2's
# distutils): found by reading the oldest sdists of projects with European authors.
LEGACY = {
    "ll-xist": ("ll-xist-2.8.1.tar.gz", "ll-xist-2.11.zip", "ll-xist-2.13.tar.gz"),
    "ll-core": ("ll-core-0.2.1.tar.gz",),
}
# Projects whose first wheel (2013-2017: bdist_wheel wrote Metadata-Version 2.0) joins the corpus too.
WHEEL_ERA = """
six requests Jinja2 MarkupSafe Flask Werkzeug itsdangerous click certifi idna urllib3 pytz wheel
setuptools attrs pluggy py tabulate tqdm colorama termcolor docutils Pygments PyYAML decorator mock
simplejson coverage python-dateutil pyparsing packaging Markdown webencodings html5lib
""".split()


def usable(pkg: DistributionPackage, project: str) -> bool:
    """A wheel or sdist whose filename parses and names the project, not yanked."""
    if pkg.is_yanked or not pkg.filename.endswith((".whl", ".tar.gz", ".zip")):
        return False
    try:
        name, version = filename_name_version(pkg.filename)
        Version(version)
    except (ValueError, InvalidVersion):
        return False
    return name == canonicalize_name(project)


def rank_latest(filename: str) -> int | None:
    """Preference for the "latest" slot (lower first), None if not wanted."""
    if filename.endswith(("-py3-none-any.whl", "-py2.py3-none-any.whl")):
        return 0
    if "-cp311-cp311-manylinux" in filename and filename.endswith("x86_64.whl"):
        return 1
    if "-abi3-manylinux" in filename and filename.endswith("x86_64.whl"):
        return 2
    if filename.endswith(".tar.gz"):
        return 3
    return None


def by_version(packages: list[DistributionPackage]) -> dict[Version, list[DistributionPackage]]:
    grouped: dict[Version, list[DistributionPackage]] = {}
    for pkg in packages:
        grouped.setdefault(Version(filename_name_version(pkg.filename)[1]), []).append(pkg)
    return grouped


def small(pkg: DistributionPackage) -> bool:
    return pkg.size is not None and pkg.size <= MAX_SIZE


def pick_project(project: str, dest: Path) -> list[tuple[DistributionPackage, str]]:
    """(package, slot) chosen for a project, each downloaded into dest and checked."""
    with PyPISimple(endpoint=PYPI_SIMPLE_ENDPOINT) as client:
        page = client.get_project_page(project, timeout=60)
        releases = by_version([p for p in page.packages if usable(p, project)])
        chosen: list[tuple[DistributionPackage, str]] = []
        taken: set[Version] = set()

        def take(pkg: DistributionPackage, slot: str) -> bool:
            path = dest / pkg.filename
            if not path.exists():
                client.download_package(pkg, path, verify=True, timeout=120)
            try:
                meta = CorpusFile(Entry(project, pkg.filename, sha256_of(path), path.stat().st_size), path)
                name, version = filename_name_version(pkg.filename)
                if canonicalize_name(str(meta.raw.get("name") or "")) != name:
                    return False
                if Version(str(meta.raw.get("version"))) != Version(version):
                    return False
            except Exception as exc:  # unreadable archive or metadata: not a file for the corpus
                print(f"  skip {pkg.filename}: {exc}", file=sys.stderr)
                return False
            chosen.append((pkg, slot))
            taken.add(Version(version))
            return True

        for filename in LEGACY.get(project, ()):
            legacy = next(p for p in page.packages if p.filename == filename)
            take(legacy, "legacy")
        pin = PINS.get(canonicalize_name(project))
        for version in sorted(releases, reverse=True):
            if version in taken or (pin and not (str(version) == pin or str(version).startswith(pin + "."))):
                continue
            if not pin and version.is_prerelease:
                continue
            ranked = [p for p in releases[version] if small(p) and rank_latest(p.filename) is not None]
            ranked.sort(key=lambda p: (rank_latest(p.filename), p.filename))
            if ranked and take(ranked[0], "latest"):
                break
        tries = 0
        for version in sorted(releases):
            if version in taken or version.is_devrelease or tries >= 3:
                continue
            sdists = [p for p in releases[version] if small(p) and p.filename.endswith((".tar.gz", ".zip"))]
            if sdists:
                tries += 1
                if take(sorted(sdists, key=lambda p: p.filename.endswith(".tar.gz"))[0], "oldest"):
                    break
        if project in WHEEL_ERA:
            for version in sorted(releases):
                wheels = [p for p in releases[version] if small(p) and p.filename.endswith(".whl")]
                if version not in taken and wheels:
                    take(sorted(wheels, key=lambda p: rank_latest(p.filename) is None)[0], "first-wheel")
                    break
        return chosen


def note(meta: CorpusFile, slot: str) -> str:
    """What a file brings to the corpus, for the list and the coverage summary."""
    parts = [slot, f"mv={meta.metadata_version}"]
    parts += ["non-ascii"] if meta.non_ascii else []
    parts += ["not-utf8"] if not meta.utf8 else []
    parts += ["license-expression"] if meta.value("license_expression") else []
    parts += ["license-file"] if meta.value("license_files") else []
    parts += ["dynamic"] if meta.value("dynamic") else []
    parts += ["zip"] if meta.filename.endswith(".zip") else []
    parts += ["manylinux"] if "manylinux" in meta.filename else []
    return " ".join(parts)


def main() -> None:
    dest = CACHE_DIR
    dest.mkdir(parents=True, exist_ok=True)
    entries: list[Entry] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {project: pool.submit(pick_project, project, dest) for project in PROJECTS}
        for project, future in futures.items():
            try:
                picked = future.result()
            except Exception as exc:
                print(f"{project}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            for pkg, slot in picked:
                path = dest / pkg.filename
                entry = Entry(project, pkg.filename, sha256_of(path), path.stat().st_size)
                entries.append(Entry(**{**entry.__dict__, "note": note(CorpusFile(entry, path), slot)}))
    header = (
        "Real files of popular projects pinned by sha256; made by `python -m tests.corpus.pick` (see its docstring).\n"
        "project filename sha256 size  # slot and what the file carries"
    )
    write_entries(entries, header=header)
    words = Counter(w for e in entries for w in e.note.split())
    size = sum(e.size for e in entries)
    projects = len({canonicalize_name(e.project) for e in entries})
    print(f"{len(entries)} files, {projects} projects, {size / 1e6:.1f} MB")
    print(", ".join(f"{k}: {v}" for k, v in sorted(words.items())))


if __name__ == "__main__":
    main()

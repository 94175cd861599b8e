"""Core metadata as the file says it: packaging's parser, every Metadata-Version, non-ASCII and legacy text."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.metadata import parse_email

from flaskpypi.core.errors import InvalidDistribution, InvalidName
from flaskpypi.core.metadata import parse_metadata, pypi_info, upgrade_fields
from tests.helpers import upload
from tests.support.dists import make_sdist, make_wheel

UTF8 = """Metadata-Version: 2.4
Name: Demo.Pkg
Version: 1.0
Summary: Style-preserving TOML library \u2014 \u201cquoted\u201d
Author: S\u00e9bastien Eustace
Author-email: S\u00e9bastien Eustace <sebastien@eustace.io>
Maintainer-email: Alex Gr\u00f6nholm <alex@example.org>
License-Expression: MIT OR Apache-2.0
License-File: LICENSE
License-File: licenses/NOTICE.txt
Keywords: toml,  parser, \u00e9t\u00e9
Classifier: Programming Language :: Python :: 3
Classifier: License :: OSI Approved :: MIT License
Requires-Dist: rich>=13; extra == "cli"
Requires-Python: >=3.9
Project-URL: Homepage, https://example.org
Project-URL: Lengua espa\u00f1ola, https://example.org/es
Provides-Extra: cli
Dynamic: license-file
Description-Content-Type: text/markdown

# Fran\u00e7ais

Lengua espa\u00f1ola, \u65e5\u672c\u8a9e.
"""


def test_non_ascii_text_is_kept_exactly() -> None:
    meta = parse_metadata(UTF8.encode())
    fields = meta.fields
    assert (meta.name, meta.version) == ("Demo.Pkg", "1.0")
    assert meta.summary == "Style-preserving TOML library \u2014 \u201cquoted\u201d"
    assert fields["author"] == "S\u00e9bastien Eustace"
    assert fields["author_email"] == "S\u00e9bastien Eustace <sebastien@eustace.io>"
    assert fields["maintainer_email"] == "Alex Gr\u00f6nholm <alex@example.org>"
    assert fields["license_files"] == ["LICENSE", "licenses/NOTICE.txt"]
    assert fields["dynamic"] == ["license-file"]
    assert meta.description == "# Fran\u00e7ais\n\nLengua espa\u00f1ola, \u65e5\u672c\u8a9e.\n"
    raw, _ = parse_email(UTF8.encode())
    for key, value in raw.items():
        if key not in ("name", "version"):
            assert fields[key] == value, key


def test_pypi_json_shapes() -> None:
    info = pypi_info(parse_metadata(UTF8.encode()).fields)
    assert info["author"] == "S\u00e9bastien Eustace"
    assert info["author_email"] == "S\u00e9bastien Eustace <sebastien@eustace.io>"  # not split, as the file says
    assert info["maintainer"] is None and info["license"] is None
    assert info["license_expression"] == "MIT OR Apache-2.0"
    assert info["keywords"] == "toml, parser, \u00e9t\u00e9"
    assert info["classifiers"] == ["Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License"]
    assert info["project_urls"] == {"Homepage": "https://example.org", "Lengua espa\u00f1ola": "https://example.org/es"}
    assert info["provides_extra"] == ["cli"] and info["dynamic"] == ["license-file"]
    assert info["requires_dist"] == ['rich>=13; extra == "cli"']
    empty = pypi_info(parse_metadata(b"Metadata-Version: 1.0\nName: a\nVersion: 1\n").fields)
    assert empty["classifiers"] == [] and empty["requires_dist"] is None and empty["project_urls"] is None
    assert empty["keywords"] is None and empty["summary"] is None and empty["description"] == ""


def test_home_page_and_download_url_lead_project_urls_once() -> None:
    raw = (
        b"Metadata-Version: 1.2\nName: a\nVersion: 1\nHome-page: https://h.example\nDownload-URL: https://d.example\n"
        b"Project-URL: Home-page, https://h.example\nProject-URL: Docs, https://docs.example\n"
    )
    info = pypi_info(parse_metadata(raw).fields)
    assert info["project_urls"] == {
        "Homepage": "https://h.example",
        "Download": "https://d.example",
        "Docs": "https://docs.example",
    }
    assert info["home_page"] == "https://h.example"


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4"])
def test_every_metadata_version(version: str) -> None:
    raw = f"Metadata-Version: {version}\nName: demo\nVersion: 2.0\nSummary: s\u00fcmmary\nAuthor: \u00c5sa\n".encode()
    meta = parse_metadata(raw)
    assert meta.fields["metadata_version"] == version
    assert meta.summary == "s\u00fcmmary" and meta.fields["author"] == "\u00c5sa"


def test_description_in_the_header_metadata_1_x() -> None:
    raw = b"Metadata-Version: 1.1\nName: demo\nVersion: 1\nDescription: First line\n        |second line\n"
    meta = parse_metadata(raw)
    assert meta.description == parse_email(raw)[0]["description"]
    assert meta.description.startswith("First line")


def test_legacy_latin1_metadata_is_decoded_not_refused() -> None:
    raw = "Metadata-Version: 1.0\nName: demo\nVersion: 1.0\nAuthor: Fran\u00e7ois M\u00fcller\n\nCaf\u00e9 cr\u00e8me\n"
    meta = parse_metadata(raw.encode("latin-1"))
    assert meta.fields["author"] == "Fran\u00e7ois M\u00fcller"
    assert meta.description == "Caf\u00e9 cr\u00e8me\n"


def test_repeated_single_field_keeps_the_first() -> None:
    meta = parse_metadata(b"Metadata-Version: 2.1\nName: demo\nVersion: 1\nSummary: one\nSummary: two\n")
    assert meta.summary == "one"


@pytest.mark.parametrize(
    "raw, error",
    [
        (b"Metadata-Version: 2.1\nVersion: 1\n", InvalidDistribution),
        (b"Metadata-Version: 2.1\nName: demo\n", InvalidDistribution),
        (b"Metadata-Version: 2.1\nName: demo\nVersion: 1\nSummary: a\x00b\n", InvalidDistribution),
        (b"Metadata-Version: 2.1\nName: de mo\nVersion: 1\n", InvalidName),
        (b"Metadata-Version: 2.1\nName: " + b"a" * 201 + b"\nVersion: 1\n", InvalidName),
    ],
)
def test_metadata_refused(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_metadata(raw)


def test_sidecar_fields_of_the_first_build_are_read() -> None:
    old = {"classifier": ["A :: B"], "project_url": ["Docs, https://d.example"], "keywords": "a,b", "author": "x"}
    fields = upgrade_fields(old)
    assert fields == {"classifiers": ["A :: B"], "project_urls": {"Docs": "https://d.example"}, "keywords": ["a", "b"],
                      "author": "x"}  # fmt: skip
    assert upgrade_fields(fields) == fields


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_upload_keeps_non_ascii_metadata_in_every_view(client, tmp_path: Path, kind: str) -> None:
    extra = {"Author": "S\u00e9bastien Eustace", "Author-email": "S\u00e9bastien Eustace <s@e.io>"}
    build = make_wheel if kind == "wheel" else make_sdist
    path = build(tmp_path, "demo", "1.0", summary="Caf\u00e9 \u2014 \u201cd\u00e9mo\u201d", extra_metadata=extra,
                 description="Lengua espa\u00f1ola, Fran\u00e7ais")  # fmt: skip
    assert upload(client, path).status_code == 200
    info = client.get("/pypi/demo/1.0/json").get_json()["info"]
    assert info["summary"] == "Caf\u00e9 \u2014 \u201cd\u00e9mo\u201d"
    assert info["author"] == "S\u00e9bastien Eustace" and info["author_email"] == "S\u00e9bastien Eustace <s@e.io>"
    assert "Lengua espa\u00f1ola, Fran\u00e7ais" in info["description"]
    page = client.get("/project/demo/").get_data(as_text=True)
    assert "S\u00e9bastien Eustace" in page and "Caf\u00e9 \u2014 \u201cd\u00e9mo\u201d" in page
    assert "\ufffd" not in page

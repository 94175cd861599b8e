"""The domain rules: names, filenames, keys, metadata, digests, content negotiation and upload forms."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from flaskpypi.core import simple
from flaskpypi.core.dists import SDIST, WHEEL, parse_filename, read_core_metadata
from flaskpypi.core.errors import BadRequest, DigestMismatch, InvalidDistribution, InvalidName
from flaskpypi.core.hashes import check_claimed, digest_stream
from flaskpypi.core.names import canonical, storage_key, validate_key, validate_project_name
from flaskpypi.core.upload import check_agreement, normalise_form
from tests.support.dists import (
    make_sdist,
    make_wheel,
    truncated,
    wheel_with_wrong_metadata,
    wheel_without_metadata,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Foo.Bar", "foo-bar"), ("foo__bar", "foo-bar"), ("FOO-_.bar", "foo-bar"), ("a", "a")],
)
def test_canonical_names(name: str, expected: str) -> None:
    assert canonical(name) == expected


@pytest.mark.parametrize("bad", ["", "-foo", "foo-", "foo bar", "../x", "a/b", "x\x00", "é"])
def test_invalid_project_names(bad: str) -> None:
    with pytest.raises(InvalidName):
        validate_project_name(bad)


@pytest.mark.parametrize(
    "bad",
    [
        "../demo-1.0.tar.gz",
        "a/b.whl",
        "demo\x00-1.0.tar.gz",
        ".hidden.whl",
        "..",
        "demo-1.0..tar.gz",
        "x" * 300,
    ],
)
def test_unsafe_filenames_never_make_keys(bad: str) -> None:
    with pytest.raises(InvalidName):
        storage_key("demo", bad)


@pytest.mark.parametrize("bad", ["../x", "a/../b", "/abs", "a//b", "a/b/c", "a/.tmp", "", "a\\b"])
def test_invalid_storage_keys(bad: str) -> None:
    with pytest.raises(InvalidName):
        validate_key(bad)


def test_storage_key_normalises_the_project() -> None:
    assert storage_key("Demo.Pkg", "demo_pkg-1.0.tar.gz") == "demo-pkg/demo_pkg-1.0.tar.gz"


@pytest.mark.parametrize(
    ("filename", "project", "version", "kind", "python"),
    [
        ("demo_pkg-1.0-py3-none-any.whl", "demo-pkg", "1.0", WHEEL, "py3"),
        ("demo_pkg-1.0-1-cp311-cp311-manylinux_2_17_x86_64.whl", "demo-pkg", "1.0", WHEEL, "cp311"),
        ("demo_pkg-2.0rc1.tar.gz", "demo-pkg", "2.0rc1", SDIST, "source"),
        ("demo_pkg-1.0.zip", "demo-pkg", "1.0", SDIST, "source"),
    ],
)
def test_parse_filename(filename: str, project: str, version: str, kind: str, python: str) -> None:
    dist = parse_filename(filename)
    assert (dist.project, str(dist.version), dist.packagetype, dist.python_version) == (
        project,
        version,
        kind,
        python,
    )


@pytest.mark.parametrize("bad", ["demo-1.0.exe", "demo.tar.gz", "demo-1.0-py3.whl", "demo-notaversion.tar.gz", "x.egg"])
def test_parse_filename_refuses(bad: str) -> None:
    with pytest.raises(InvalidDistribution):
        parse_filename(bad)


def test_wheel_metadata_is_read_byte_for_byte(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, "demo-pkg", "1.0", requires_python=">=3.8", requires_dist=["other>=1"])
    meta = read_core_metadata(path.open("rb"), parse_filename(path.name))
    assert meta.name == "demo-pkg" and meta.version == "1.0" and meta.requires_python == ">=3.8"
    assert meta.fields["requires_dist"] == ["other>=1"]
    from tests.support.dists import read_metadata

    assert meta.raw == read_metadata(path)


def test_sdist_metadata(tmp_path: Path) -> None:
    path = make_sdist(tmp_path, "demo-pkg", "1.0", summary="Hello")
    meta = read_core_metadata(path.open("rb"), parse_filename(path.name))
    assert (meta.name, meta.version, meta.summary) == ("demo-pkg", "1.0", "Hello")


def test_broken_distributions_are_refused(tmp_path: Path) -> None:
    good = make_wheel(tmp_path, "demo-pkg", "1.0")
    sdist = make_sdist(tmp_path, "demo-pkg", "1.0")
    cases = [
        (io.BytesIO(truncated(good)), good.name, "damaged"),
        (io.BytesIO(truncated(sdist)), sdist.name, "damaged"),
        (wheel_without_metadata(tmp_path / "a", "demo-pkg", "1.0").open("rb"), good.name, "METADATA"),
        (io.BytesIO(b"not a zip"), good.name, "damaged"),
    ]
    for stream, name, reason in cases:
        with pytest.raises(InvalidDistribution, match=reason):
            read_core_metadata(stream, parse_filename(name))


def test_metadata_that_disagrees_with_the_filename(tmp_path: Path) -> None:
    path = wheel_with_wrong_metadata(tmp_path, "demo-pkg", "1.0", metadata_version="2.0")
    with pytest.raises(InvalidDistribution, match="does not match"):
        read_core_metadata(path.open("rb"), parse_filename(path.name))


def test_digests_and_claims() -> None:
    digests = digest_stream(io.BytesIO(b"abc"))
    assert digests.sha256.startswith("ba7816bf") and digests.size == 3
    check_claimed(digests, {"sha256_digest": digests.sha256.upper(), "md5_digest": "", "blake2_256_digest": None})
    with pytest.raises(DigestMismatch, match="sha256"):
        check_claimed(digests, {"sha256_digest": "0" * 64})
    with pytest.raises(DigestMismatch, match="md5"):
        check_claimed(digests, {"md5_digest": "0" * 32})


ACCEPT_CASES = [
    (None, None, simple.TEXT_HTML),
    ("*/*", None, simple.TEXT_HTML),
    ("text/html", None, simple.TEXT_HTML),
    ("application/vnd.pypi.simple.v1+json", None, simple.JSON_V1),
    ("application/vnd.pypi.simple.latest+json", None, simple.JSON_V1),
    ("application/vnd.pypi.simple.latest+html", None, simple.HTML_V1),
    (  # pip
        "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01",
        None,
        simple.JSON_V1,
    ),
    ("application/vnd.pypi.simple.v1+json;q=0.2, text/html", None, simple.TEXT_HTML),
    ("application/vnd.pypi.simple.v1+json;q=0, */*;q=0.1", None, simple.TEXT_HTML),
    ("application/xml", None, simple.TEXT_HTML),
    ("text/html", "application/vnd.pypi.simple.v1+json", simple.JSON_V1),
    (None, "application/vnd.pypi.simple.latest+html", simple.HTML_V1),
    (None, "bogus/type", simple.TEXT_HTML),
]


@pytest.mark.parametrize(("accept", "fmt", "expected"), ACCEPT_CASES)
def test_content_negotiation(accept: str | None, fmt: str | None, expected: str) -> None:
    assert simple.negotiate(accept, fmt) == expected


def test_upload_form_reads_every_clients_quirks() -> None:
    form = normalise_form(
        {
            ":action": ["file_upload"],
            "name": [""],
            "version": ["1.0"],
            "pyversion": [""],
            "sha256_digest": [""],
            "unknown_field": ["x"],
            "requires_python": [""],
        }
    )
    assert form.name is None and form.version == "1.0" and form.pyversion == "source"
    assert form.digests["sha256_digest"] is None
    with pytest.raises(BadRequest, match="doc_upload"):
        normalise_form({":action": ["doc_upload"]})


def test_form_must_agree_with_the_filename() -> None:
    dist = parse_filename("demo_pkg-1.0-py3-none-any.whl")
    check_agreement(normalise_form({"name": ["Demo.Pkg"], "version": ["1.0.0"], "filetype": ["bdist_wheel"]}), dist)
    for fields, reason in [
        ({"name": ["other"]}, "name"),
        ({"version": ["1.1"]}, "version"),
        ({"filetype": ["sdist"]}, "filetype"),
    ]:
        with pytest.raises(InvalidDistribution, match=reason):
            check_agreement(normalise_form(fields), dist)

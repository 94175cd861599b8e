"""The legacy upload API: what each client sends, what PyPI answers, and bad input that leaves nothing behind."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

from tests.helpers import basic, upload, upload_form
from tests.support.dists import (
    make_sdist,
    make_wheel,
    truncated,
    wheel_with_wrong_metadata,
    wheel_without_metadata,
)


def stored(tmp_path: Path) -> list[str]:
    """Every object in the test index's storage."""
    root = tmp_path / "packages"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("url", ["/", "/simple", "/simple/", "/legacy", "/legacy/"])
def test_upload_urls_take_the_post_directly(client, tmp_path: Path, url: str) -> None:
    wheel = make_wheel(tmp_path / "d", "demo", "1.0")
    response = upload(client, wheel, url=url)
    assert response.status_code == 200, response.status
    assert client.get(f"/packages/demo/{wheel.name}").data == wheel.read_bytes()


def test_reupload_same_bytes_is_a_noop_and_other_bytes_are_refused(client, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "a", "demo", "1.0")
    assert upload(client, wheel).status_code == 200
    before = stored(tmp_path)
    again = upload(client, wheel)
    assert again.status_code == 200 and "already exists" in again.text
    other = make_wheel(tmp_path / "b", "demo", "1.0", salt="other bytes")
    refused = upload(client, other)
    assert refused.status_code == 400
    assert refused.status.startswith("400 File already exists ('demo-1.0-py3-none-any.whl', with blake2_256 hash")
    assert refused.text.startswith("File already exists")
    assert stored(tmp_path) == before
    assert client.get(f"/packages/demo/{wheel.name}").data == wheel.read_bytes()


def test_overwrite_when_allowed(tmp_path: Path, monkeypatch, settings) -> None:
    from flaskpypi import create_app

    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    client = create_app({**settings, "allow_overwrite": True}).test_client()
    upload(client, make_wheel(tmp_path / "a", "demo", "1.0"))
    other = make_wheel(tmp_path / "b", "demo", "1.0", salt="x")
    assert upload(client, other).status_code == 200
    assert client.get(f"/packages/demo/{other.name}").data == other.read_bytes()


def test_deleted_filenames_are_not_reused(client, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "a", "demo", "1.0")
    upload(client, wheel)
    assert client.delete(f"/api/projects/demo/files/{wheel.name}", headers=basic()).status_code == 200
    assert client.get(f"/packages/demo/{wheel.name}").status_code == 404
    assert wheel.name not in client.get("/simple/demo/").text
    refused = upload(client, wheel)
    assert refused.status_code == 400 and "deleted file" in refused.text
    assert stored(tmp_path) == [f"demo/{wheel.name}.json"]  # the tombstone


def test_authentication(client, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "a", "demo", "1.0")
    for auth in ({}, basic("admin", "wrong"), basic("nobody", "x"), {"Authorization": "Basic !!!"}):
        response = upload(client, wheel, auth=auth)
        assert response.status_code == 401, auth
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert stored(tmp_path) == []


def test_twine_style_form_with_every_field(client, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "a", "demo", "1.0", summary="Hello")
    import hashlib

    extra = {
        "name": "Demo",
        "version": "1.0",
        "summary": "Hello",
        "md5_digest": hashlib.md5(wheel.read_bytes()).hexdigest(),
        "blake2_256_digest": hashlib.blake2b(wheel.read_bytes(), digest_size=32).hexdigest(),
        "classifiers": ["A :: B", "C :: D"],
        "requires_dist": ["x"],
        "comment": "",
        "unknown": "ignored",
        "requires_python": "",
        "description": "long " * 1000,
    }
    assert upload(client, wheel, **extra).status_code == 200


def test_pdm_and_flit_quirks(client, tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path / "a", "demo", "1.0")
    response = upload(client, sdist, pyversion=None, sha256_digest="", md5_digest="", name="", version="")
    assert response.status_code == 200


BAD_INPUTS = [
    (
        "truncated wheel",
        lambda d: (make_wheel(d, "demo", "1.0"), truncated(make_wheel(d, "demo", "1.0")), {}),
        400,
        "damaged",
    ),
    ("no METADATA", lambda d: (wheel_without_metadata(d, "demo", "1.0"), None, {}), 400, "METADATA"),
    (
        "metadata mismatch",
        lambda d: (wheel_with_wrong_metadata(d, "demo", "1.0", metadata_version="2.0"), None, {}),
        400,
        "does not match",
    ),
    ("form name mismatch", lambda d: (make_wheel(d, "demo", "1.0"), None, {"name": "other"}), 400, "name"),
    (
        "form version mismatch",
        lambda d: (make_wheel(d, "demo", "1.0"), None, {"version": "2.0"}),
        400,
        "version",
    ),
    (
        "wrong sha256",
        lambda d: (make_wheel(d, "demo", "1.0"), None, {"sha256_digest": "0" * 64}),
        400,
        "sha256",
    ),
    ("wrong md5", lambda d: (make_wheel(d, "demo", "1.0"), None, {"md5_digest": "0" * 32}), 400, "md5"),
    ("not a distribution", lambda d: (_named(d, "demo-1.0.exe"), b"MZ", {}), 400, "only wheels"),
    ("empty file", lambda d: (make_wheel(d, "demo", "1.0"), b"", {}), 400, "empty"),
    (
        "attestations",
        lambda d: (make_wheel(d, "demo", "1.0"), None, {"attestations": "[{}]"}),
        400,
        "Attestations",
    ),
    (
        "doc upload",
        lambda d: (make_wheel(d, "demo", "1.0"), None, {":action": "doc_upload"}),
        400,
        "doc_upload",
    ),
]


def _named(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(b"x")
    return path


@pytest.mark.parametrize(("case", "build", "status", "reason"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_refused_and_leaves_nothing(client, tmp_path: Path, case, build, status, reason) -> None:
    path, data, fields = build(tmp_path / "d")
    body = data if data is not None else path.read_bytes()
    form = upload_form(path, data=body, **fields)
    response = client.post("/simple/", data=form, headers=basic(), content_type="multipart/form-data")
    assert response.status_code == status, response.status
    assert reason in response.status and reason in response.text
    assert "\n" not in response.status
    assert stored(tmp_path) == []
    assert client.get("/simple/demo/").status_code == 404


@pytest.mark.parametrize(
    "filename", ["../demo-1.0.tar.gz", "a/demo-1.0.tar.gz", "demo\x00-1.0.tar.gz", "/etc/demo-1.0.tar.gz"]
)
def test_path_tricks_in_filenames(client, tmp_path: Path, filename: str) -> None:
    sdist = make_sdist(tmp_path / "d", "demo", "1.0")
    form = upload_form(sdist)
    form["content"] = (io.BytesIO(sdist.read_bytes()), filename)
    response = client.post("/simple/", data=form, headers=basic(), content_type="multipart/form-data")
    assert 400 <= response.status_code < 500, response.status
    if response.status_code == 200:  # werkzeug may reduce a path to its basename: then it is the plain file
        assert stored(tmp_path)[0].startswith("demo/demo-1.0.tar.gz")
    else:
        assert stored(tmp_path) == []
    assert not (tmp_path / "etc").exists() and not (tmp_path / "demo-1.0.tar.gz").exists()


def test_missing_content(client) -> None:
    response = client.post("/simple/", data={":action": "file_upload"}, headers=basic())
    assert response.status_code == 400 and "content" in response.text


def test_size_limit(tmp_path: Path, monkeypatch, settings) -> None:
    from flaskpypi import create_app

    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    client = create_app({**settings, "max_upload_size": "2K"}).test_client()
    big = make_wheel(tmp_path / "d", "demo", "1.0", extra_files={"demo/blob.bin": random.Random(1).randbytes(8192)})
    response = upload(client, big)
    assert response.status_code == 413 and "limit" in response.status
    assert stored(tmp_path) == []


def test_json_api(client, tmp_path: Path) -> None:
    for version in ("1.0", "1.1", "2.0b1"):
        upload(
            client,
            make_wheel(
                tmp_path / "d",
                "Demo",
                version,
                requires_python=">=3.8",
                summary=f"v{version}",
                requires_dist=["other>=1"],
            ),
        )
    upload(client, make_sdist(tmp_path / "d", "Demo", "1.1"))
    body = client.get("/pypi/demo/json").get_json()
    assert body["info"]["version"] == "1.1" and body["info"]["name"] == "Demo"
    assert body["info"]["requires_dist"] == ["other>=1"] and body["info"]["requires_python"] == ">=3.8"
    assert sorted(body["releases"]) == ["1.0", "1.1", "2.0b1"]
    assert {f["packagetype"] for f in body["urls"]} == {"bdist_wheel", "sdist"}
    first = body["urls"][0]
    assert set(first["digests"]) == {"md5", "sha256", "blake2b_256"}
    assert first["upload_time_iso_8601"].endswith("Z") and first["yanked"] is False
    assert body["last_serial"] >= 4
    one = client.get("/pypi/Demo/1.0/json").get_json()
    assert one["info"]["version"] == "1.0" and len(one["urls"]) == 1
    assert client.get("/pypi/demo/9.9/json").status_code == 404
    client.post("/api/projects/demo/yank", json={"version": "1.1"}, headers=basic())
    assert client.get("/pypi/demo/json").get_json()["info"]["version"] == "1.0"
    assert json.loads(client.get("/pypi/demo/1.1/json").data)["info"]["yanked"] is True


def test_delete_version_and_project(client, tmp_path: Path) -> None:
    for version in ("1.0", "2.0"):
        upload(client, make_wheel(tmp_path / "d", "demo", version))
    assert client.delete("/api/projects/demo/versions/1.0", headers=basic()).get_json()["deleted"] == [
        "demo-1.0-py3-none-any.whl"
    ]
    assert client.delete("/api/projects/demo/versions/1.0", headers=basic()).status_code == 404
    assert client.delete("/api/projects/demo", headers=basic()).status_code == 200
    assert client.get("/simple/demo/").text.count("<a ") == 0
    assert client.delete("/api/projects/demo", headers={}).status_code == 401

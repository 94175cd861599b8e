"""Hosted indexes and promotion end to end (issue 14): gunicorn, CI-style uploads to `staging` with twine, uv
and poetry, promotion by `flaskpypi promote` and by the API, then pip and uv installing from `main` (and from
a view over main and staging) the very bytes that were uploaded; on PostgreSQL and S3 (moto): promotions racing
each other, a conflict, and the database dropped and rebuilt from the bucket with `flaskpypi reindex`."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.conftest import ADMIN, base_settings
from tests.support.clients import (
    Venv,
    check,
    make_poetry_project,
    pip_install,
    poetry_publish,
    twine_upload,
    uv_pip_install,
    uv_publish,
)
from tests.support.dists import make_sdist, make_wheel
from tests.support.emulators import Emulator, s3_emulator  # noqa: F401  (session fixture)
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
BIN = Path(sys.executable).parent
INDEXES = {"main": {"type": "hosted"}, "staging": {"type": "hosted"}}
VIEWS = {"release": {"members": ["main", "staging"]}}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files(server: LiveServer, index: str, project: str) -> dict[str, dict[str, Any]]:
    """filename -> file, as a PEP 691 client of /<index>/simple/<project>/ sees it ({} when missing)."""
    response = requests.get(f"{server.url}{index}/simple/{project}/", headers=JSON, timeout=30)
    if response.status_code == 404:
        return {}
    assert response.status_code == 200, response.text
    return {f["filename"]: f for f in response.json()["files"]}


def flaskpypi(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    """The `flaskpypi` command with the server's settings."""
    return subprocess.run([str(BIN / "flaskpypi"), *args], env=server.env(), cwd=server.root, text=True,
                          capture_output=True, timeout=300)  # fmt: skip


def promote(server: LiveServer, project: str, source: str, target: str, version: str | None = None) -> Any:
    body = {"project": project, "from": source, "to": target, **({"version": version} if version else {})}
    return requests.post(server.url + "api/promote", json=body, auth=ADMIN, timeout=60)


def test_ci_uploads_to_staging_then_promotion_to_main(live_server, tmp_path: Path) -> None:
    server = live_server(indexes=INDEXES, views=VIEWS)
    dists = tmp_path / "dists"
    rc_wheel, rc_sdist = make_wheel(dists, "acme-lib", "2.1.0"), make_sdist(dists, "acme-lib", "2.1.0")
    tool = make_wheel(dists, "acme-tool", "0.3")
    check(twine_upload(server.url + "staging/legacy/", [rc_wheel, rc_sdist], *ADMIN))
    check(uv_publish(server.url + "staging/simple/", [tool], *ADMIN,
                     check_url=server.url + "staging/simple/"))  # fmt: skip
    check(uv_publish(server.url + "staging/simple/", [tool], *ADMIN, check_url=server.url + "staging/simple/"))
    poetry_project = make_poetry_project(tmp_path / "poetry", "acme-poetry", "0.1")
    check(poetry_publish(poetry_project, server.url + "staging/simple/", *ADMIN))
    assert len(files(server, "staging", "acme-poetry")) == 2  # its wheel and sdist
    assert set(files(server, "staging", "acme-lib")) == {rc_wheel.name, rc_sdist.name}
    assert files(server, "main", "acme-lib") == {} and files(server, "default", "acme-lib") == {}

    # the release is not installable from main until it is promoted
    venv = Venv.create(tmp_path / "before", pip=True)
    assert pip_install(venv, server.url + "main/simple/", "acme-lib").returncode != 0

    promoted = flaskpypi(server, "promote", "acme-lib==2.1.0", "--from", "staging", "--to", "main")
    assert promoted.returncode == 0 and "Promoted 2 of 2 files" in promoted.stdout, promoted.stdout + promoted.stderr
    answer = promote(server, "acme-tool", "staging", "main")
    assert answer.status_code == 200 and answer.json()["promoted"] == [tool.name], answer.text
    again = promote(server, "acme-lib", "staging", "main", "2.1.0")
    assert again.status_code == 200 and again.json()["promoted"] == [], again.text  # idempotent

    main = files(server, "main", "acme-lib")
    for path in (rc_wheel, rc_sdist):
        assert main[path.name]["hashes"]["sha256"] == sha256(path)
        assert main[path.name]["url"].startswith("/main/packages/acme-lib/")
    # pip checks the hashes of what it downloads from main against the uploaded files'
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"acme-lib==2.1.0 --hash=sha256:{sha256(rc_wheel)}\n"
                            f"acme-tool==0.3 --hash=sha256:{sha256(tool)}\n")  # fmt: skip
    venv = Venv.create(tmp_path / "pip", pip=True)
    check(pip_install(venv, server.url + "main/simple/", "--require-hashes", "-r", str(requirements)))
    assert {k.lower().replace("_", "-"): v for k, v in venv.installed().items()}["acme-lib"] == "2.1.0"
    uv_venv = Venv.create(tmp_path / "uv")
    check(uv_pip_install(uv_venv, server.url + "release/simple/", "--require-hashes", "-r", str(requirements)))
    assert {k.lower().replace("_", "-"): v for k, v in uv_venv.installed().items()}["acme-tool"] == "0.3"

    # another file under a promoted name is refused, in the target and by promotion
    other = make_wheel(tmp_path / "other", "acme-lib", "2.1.0", summary="other bytes")
    refused = twine_upload(server.url + "main/legacy/", [other], *ADMIN)
    assert refused.returncode != 0 and "File already exists" in refused.stdout + refused.stderr
    check(twine_upload(server.url + "legacy/", [other], *ADMIN))  # the default index is another index
    conflict = promote(server, "acme-lib", "default", "main", "2.1.0")
    assert conflict.status_code == 409, conflict.text
    assert files(server, "main", "acme-lib")[other.name]["hashes"]["sha256"] == sha256(rc_wheel)
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.postgres
@pytest.mark.emulator
def test_promotions_race_and_the_bucket_rebuilds_every_index(s3_emulator: Emulator, postgres_url: str,  # noqa: F811
                                                            tmp_path: Path) -> None:  # fmt: skip
    settings = {**base_settings(tmp_path), "storage_url": s3_emulator.storage_url(), "database_url": postgres_url,
                "indexes": INDEXES, "views": VIEWS}  # fmt: skip
    server = LiveServer(tmp_path, settings, workers=3, extra_env=dict(s3_emulator.env)).start()
    try:
        dists = tmp_path / "dists"
        wheels = [make_wheel(dists, "acme-lib", f"2.{i}.0") for i in range(4)]
        check(twine_upload(server.url + "staging/legacy/", wheels, *ADMIN))
        check(twine_upload(server.url + "legacy/", [make_wheel(dists, "acme-lib", "1.0")], *ADMIN))

        # six promotions of the same release at once: each file is copied once, every answer is a 200
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: promote(server, "acme-lib", "staging", "main"), range(6)))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        copied = sorted(f for a in answers for f in a.json()["promoted"])
        assert copied == sorted(w.name for w in wheels), copied
        main = files(server, "main", "acme-lib")
        assert {name: f["hashes"]["sha256"] for name, f in main.items()} == {w.name: sha256(w) for w in wheels}

        # the database goes; the bucket (the truth) gives every hosted index back
        before = {index: files(server, index, "acme-lib") for index in ("default", "main", "staging")}
        server.stop()
        base, _, name = postgres_url.rpartition("/")
        with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://") + "/postgres",
                             autocommit=True) as conn:  # fmt: skip
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        server.settings["auto_reindex"] = False  # the database comes back empty: `reindex` fills it
        server.start()
        assert files(server, "main", "acme-lib") == {}
        result = flaskpypi(server, "reindex")
        assert result.returncode == 0 and "Indexed 3 projects, 9 files" in result.stdout, result.stdout + result.stderr
        after = {index: files(server, index, "acme-lib") for index in ("default", "main", "staging")}
        assert after == before
        listing = flaskpypi(server, "index", "list", "--json")
        assert listing.returncode == 0, listing.stderr
        counts = {row["name"]: (row["projects"], row["files"]) for row in json.loads(listing.stdout)}
        assert counts == {"default": (1, 1), "main": (1, 4), "staging": (1, 4)}, listing.stdout
        assert "Traceback" not in server.log(), server.log()
    finally:
        server.stop()

"""A password with non-ASCII letters works from every client: requests-based ones (pip, twine, poetry) send
HTTP Basic credentials in latin-1, uv sends UTF-8 (issue 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.support.clients import (
    Venv,
    check,
    make_poetry_project,
    pip_install,
    poetry_install_from_source,
    poetry_publish,
    poetry_venv,
    twine_upload,
    uv_pip_install,
    uv_publish,
    with_credentials,
)
from tests.support.dists import make_sdist, make_wheel

pytestmark = pytest.mark.e2e
PASSWORD = "pässwörd"


def test_upload_and_install_with_a_non_ascii_password(live_server, tmp_path: Path) -> None:
    server = live_server(admin_password=PASSWORD, default_read=["authenticated"])
    assert requests.get(server.index_url, timeout=10).status_code == 401
    assert requests.get(server.index_url, auth=("admin", "passwörd"), timeout=10).status_code == 401

    dist = tmp_path / "dist"
    twined = [make_wheel(dist, "umlaut-twine", "1.0"), make_sdist(dist, "umlaut-twine", "1.0")]
    check(twine_upload(server.index_url, twined, "admin", PASSWORD))
    lib = make_poetry_project(tmp_path / "lib", "umlaut-poetry", "0.3.0")
    check(poetry_publish(lib, server.index_url, "admin", PASSWORD))
    check(uv_publish(server.url + "legacy/", [make_wheel(tmp_path / "uvdist", "umlaut-uv", "2.0")], "admin", PASSWORD))
    wrong = twine_upload(server.index_url, [make_wheel(tmp_path / "w", "umlaut-wrong", "1.0")], "admin", "passwörd")
    assert wrong.returncode != 0 and "401" in wrong.stdout + wrong.stderr

    private = with_credentials(server.index_url, "admin", PASSWORD)
    venv = Venv.create(tmp_path / "pip", pip=True)
    check(pip_install(venv, private, "umlaut-twine", "umlaut-uv"))
    assert venv.version_of("umlaut-twine") == "1.0" and venv.version_of("umlaut-uv") == "2.0"
    uv_venv = Venv.create(tmp_path / "uv")
    check(uv_pip_install(uv_venv, private, "umlaut-twine", "umlaut-poetry"))
    assert uv_venv.installed()["umlaut-poetry"] == "0.3.0"
    consumer = tmp_path / "consumer"
    check(poetry_install_from_source(consumer, server.index_url, "umlaut-twine", "admin", PASSWORD))
    assert poetry_venv(consumer).version_of("umlaut-twine") == "1.0"

"""HTTP Basic credentials in UTF-8 (uv, curl) or latin-1 (requests: pip, twine, poetry) both authenticate."""

from __future__ import annotations

import base64
from typing import Any

import pytest

PASSWORD = "pässwörd"


@pytest.fixture
def settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "auth_backend": "sql", "admin_password": PASSWORD, "default_read": "authenticated",
            "login_limit_user": 50, "login_limit_address": 50}  # fmt: skip


def encoded(user: str, password: str, charset: str) -> dict[str, str]:
    """An Authorization header whose user:password bytes are in `charset`."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode(charset)).decode()}


@pytest.mark.parametrize("charset", ["utf-8", "latin-1"])
def test_both_encodings_of_a_non_ascii_password_authenticate(client, charset: str) -> None:
    me = client.get("/api/me", headers=encoded("admin", PASSWORD, charset))
    assert me.status_code == 200 and me.get_json()["name"] == "admin"
    assert client.get("/simple/", headers=encoded("admin", PASSWORD, charset)).status_code == 200


@pytest.mark.parametrize("charset", ["utf-8", "latin-1"])
def test_a_wrong_password_fails_in_either_encoding(client, charset: str) -> None:
    for wrong in ("passwörd", "pässwörd!", "p?ssw?rd", "PÄSSWÖRD"):
        assert client.get("/api/me", headers=encoded("admin", wrong, charset)).status_code == 401, wrong
    assert client.get("/simple/", headers=encoded("admin", "passwörd", charset)).status_code == 401
    # what the old decoding made of latin-1 bytes (replacement characters) is no password either
    replaced = PASSWORD.encode("latin-1").decode("utf-8", "replace")
    assert client.get("/api/me", headers=encoded("admin", replaced, "utf-8")).status_code == 401


def test_a_sql_users_non_ascii_password_and_tokens_in_either_encoding(client) -> None:
    admin = encoded("admin", PASSWORD, "latin-1")
    made = client.post("/api/admin/users", json={"name": "user", "password": "grüße-123"}, headers=admin)
    assert made.status_code == 201, made.get_data(as_text=True)
    for charset in ("utf-8", "latin-1"):
        assert client.get("/api/me", headers=encoded("user", "grüße-123", charset)).get_json()["name"] == "user"
    token = client.post("/api/tokens", json={}, headers=encoded("user", "grüße-123", "latin-1")).get_json()["token"]
    for charset in ("utf-8", "latin-1"):
        assert client.get("/api/me", headers=encoded("__token__", token, charset)).get_json()["via_token"] is True

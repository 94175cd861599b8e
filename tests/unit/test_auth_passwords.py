"""Password hashes and API tokens: salted, compatible with werkzeug's format, never stored in clear."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from flaskpypi.auth import READ, WRITE
from flaskpypi.auth.models import ApiToken
from flaskpypi.auth.passwords import VerifiedCache, check_strength, hash_password, verify_password
from flaskpypi.auth.tokens import TokenStore
from flaskpypi.core.errors import BadRequest, NotFound
from flaskpypi.core.records import utcnow
from flaskpypi.extensions import db


def test_hashes_are_salted_scrypt_and_werkzeug_compatible() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt:") and first != second and "correct horse" not in first
    assert verify_password(first, "correct horse") and not verify_password(first, "correct horsE")
    assert check_password_hash(first, "correct horse")  # werkzeug reads ours
    for method in ("scrypt", "pbkdf2:sha256:1000"):  # we read werkzeug's (make-config writes them)
        assert verify_password(generate_password_hash("pw", method=method), "pw")


@pytest.mark.parametrize("stored", [None, "", "garbage", "md5$x$y", "scrypt:1:1:1$salt"])
def test_unusable_hashes_never_verify(stored) -> None:
    assert not verify_password(stored, "anything")


def test_the_verified_cache_misses_when_the_hash_or_password_changes() -> None:
    cache, stored = VerifiedCache(), hash_password("first-password")
    assert cache.verify(stored, "first-password") and cache.verify(stored, "first-password")
    assert not cache.verify(stored, "other-password")
    assert not cache.verify(hash_password("new-password"), "first-password")


def test_strength_rules() -> None:
    assert check_strength("short") and check_strength("x" * 2000) and check_strength("long enough") is None


def test_tokens_are_shown_once_and_stored_as_salted_digests(app) -> None:
    with app.app_context():
        store = TokenStore(db.session)
        info, text = store.create("admin", permission=READ, projects=["Demo_Lib"], description="ci")
        assert text.startswith("pypi-") and info.projects == ("demo-lib",)
        row = db.session.scalar(select(ApiToken))
        secret = text.split("_", 1)[1]
        assert secret not in (row.digest, row.salt, row.lookup) and text not in str(vars(row))
        found = store.verify(text)
        assert found is not None and found.name == "admin" and found.via_token
        assert found.token_projects == frozenset({"demo-lib"}) and found.token_permission == READ
        assert store.verify(text[:-1] + ("A" if text[-1] != "A" else "B")) is None  # one character off
        assert store.verify("pypi-0000000000000000_" + secret) is None and store.verify("not-a-token") is None
        assert db.session.scalar(select(ApiToken.last_used)) is not None


def test_expired_and_revoked_tokens_are_refused(app) -> None:
    with app.app_context():
        store = TokenStore(db.session)
        info, text = store.create("admin", permission=WRITE, expires=utcnow() + timedelta(days=1))
        assert store.verify(text) is not None
        row = db.session.get(ApiToken, info.id)
        row.expires = utcnow() - timedelta(seconds=1)
        db.session.commit()
        assert store.verify(text) is None
        other, text2 = store.create("admin")
        store.revoke(other.id)
        assert store.verify(text2) is None and not store.list()[0].active
        with pytest.raises(NotFound):
            store.revoke(other.id, owner="somebody-else")
        with pytest.raises(BadRequest):
            store.create("admin", expires=utcnow() - timedelta(days=1))
        with pytest.raises(BadRequest):
            store.create("admin", permission="admin")

"""Password hashes: werkzeug.security's salted scrypt (memory-hard), so make-config's hashes verify too."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict

from werkzeug.security import check_password_hash, generate_password_hash

SCRYPT = "scrypt:32768:8:1"  # werkzeug's default scrypt parameters, written out so hashes stay comparable
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def hash_password(password: str) -> str:
    """A new salted scrypt hash in werkzeug's format: `scrypt:n:r:p$salt$hex`."""
    return generate_password_hash(password, method=SCRYPT)


@functools.cache
def _dummy() -> str:
    """A real hash, verified against when the user does not exist: a miss costs what a wrong password does."""
    return hash_password(secrets.token_urlsafe(16))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (scrypt or pbkdf2, werkzeug's format), in constant time
    (werkzeug.security.check_password_hash compares with hmac.compare_digest)."""
    known = (stored or "").count("$") == 2
    try:
        matches = check_password_hash(stored if known else _dummy(), password[:MAX_PASSWORD])
    except (ValueError, TypeError, OverflowError):  # an unknown method or malformed parameters
        matches = False
    return matches and known


class VerifiedCache:
    """Remembers successful checks (keyed digests of stored hash + password) so clients that send basic
    auth on every request do not pay for scrypt each time; a changed hash or password misses."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._key = secrets.token_bytes(32)
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, stored: str | None, password: str) -> bool:
        """verify_password, answered from memory when this exact pair was verified before."""
        if not stored:
            return verify_password(stored, password)
        digest = hmac.new(self._key, f"{stored}\0{password}".encode(), hashlib.sha256).digest()
        with self._lock:
            if digest in self._seen:
                self._seen.move_to_end(digest)
                return True
        if not verify_password(stored, password):
            return False
        with self._lock:
            self._seen[digest] = None
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
        return True


def fingerprint(stored: str) -> str:
    """A short, one-way stamp of a stored password (hash) that changes when the password does."""
    return hashlib.sha256(("flaskpypi-session:" + stored).encode()).hexdigest()[:16] if stored else ""


def burn_time(password: str) -> None:
    """Spend the time of one verification (for unknown users: no timing tells who exists)."""
    verify_password(None, password)


def check_strength(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD:
        return f"Passwords need at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"Passwords have at most {MAX_PASSWORD} characters."
    return None

"""Password hashes: salted scrypt (memory-hard) in werkzeug's format, so make-config's hashes verify too."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict

SCRYPT = (2**15, 8, 1)
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
# Verified against when the user does not exist, so a miss costs as much time as a wrong password.
_DUMMY = "scrypt:32768:8:1$flaskpypidummy00$" + "0" * 128


def hash_password(password: str) -> str:
    """A new salted scrypt hash: `scrypt:n:r:p$salt$hex`."""
    n, r, p = SCRYPT
    salt = secrets.token_urlsafe(12)
    return f"scrypt:{n}:{r}:{p}${salt}${_derive(f'scrypt:{n}:{r}:{p}', salt, password)}"


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (scrypt or pbkdf2, werkzeug's format), in constant time."""
    parts = (stored or "").split("$", 2)
    known = len(parts) == 3
    method, salt, expected = parts if known else _DUMMY.split("$", 2)
    try:
        actual = _derive(method, salt, password[:MAX_PASSWORD])
    except (ValueError, TypeError, OverflowError):
        actual = ""
    return hmac.compare_digest(actual, expected) and known


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


def _derive(method: str, salt: str, password: str) -> str:
    name, *args = method.split(":")
    if name == "scrypt":
        n, r, p = map(int, args) if args else SCRYPT
        maxmem = 132 * n * r * p
        return hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=maxmem).hex()
    if name == "pbkdf2":
        algo = args[0] if args else "sha256"
        rounds = int(args[1]) if len(args) > 1 else 1_000_000
        return hashlib.pbkdf2_hmac(algo, password.encode(), salt.encode(), rounds).hex()
    raise ValueError(f"unknown password hash method {name!r}")

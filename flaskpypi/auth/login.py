"""Turn credentials into a principal: tokens or passwords, behind the failed-login throttle."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.orm import Session

from . import TOKEN_USER, AuthBackend, Principal
from .ratelimit import RateLimiter
from .tokens import TokenStore


class KnownCredentials:
    """Credentials this process saw succeed, under the user's credential stamp (so a changed password or a
    removed user misses): clients that send HTTP basic auth on every request then cost no counting writes."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._key = secrets.token_bytes(32)
        self._seen: OrderedDict[bytes, Principal] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, username: str, stamp: str, secret: str) -> bytes:
        return hmac.new(self._key, f"{username}\0{stamp}\0{secret}".encode(), hashlib.sha256).digest()

    def get(self, username: str, stamp: str, secret: str) -> Principal | None:
        """The principal these credentials proved before, if the stamp is unchanged."""
        if not stamp:  # a backend without stamps (LDAP): every check is a real one
            return None
        digest = self._digest(username, stamp, secret)
        with self._lock:
            found = self._seen.get(digest)
            if found is not None:
                self._seen.move_to_end(digest)
            return found

    def add(self, username: str, stamp: str, secret: str, principal: Principal) -> None:
        """Remember a success."""
        if not stamp:
            return
        with self._lock:
            self._seen[self._digest(username, stamp, secret)] = principal
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)


class Authenticator:
    """The one way in for HTTP basic auth (pip, twine, uv, poetry) and the login form."""

    def __init__(self, backend: AuthBackend, session: Callable[[], Session], limiter: RateLimiter) -> None:
        self.backend = backend
        self.session = session
        self.limiter = limiter
        self.known = KnownCredentials()

    def authenticate(self, username: str, secret: str, address: str) -> Principal | None:
        """The principal, None for wrong credentials (counted), or TooManyRequests when throttled.

        Order: refuse when at the limit (a read); answer credentials that succeeded before from memory;
        else count the check first (atomically, so concurrent guesses cannot pass the limit), then verify.
        """
        # Tokens are neither throttled nor counted: 256 random bits cannot be guessed, and counting a
        # revoked token's retries would lock out the other tokens used from the same CI runner.
        if username == TOKEN_USER:
            found = TokenStore(self.session()).verify(secret)
            return found if found is not None and self.backend.user_exists(found.name) else None
        self.limiter.check(username, address)
        stamp = self.backend.credential_stamp(username)
        found = self.known.get(username, stamp, secret)
        if found is not None:
            return found
        self.limiter.reserve(username, address)
        found = self.backend.authenticate(username, secret)
        if found is None:
            self.limiter.prune()
        else:
            self.limiter.succeeded(username, address)
            self.known.add(username, stamp, secret, found)
        return found

"""Turn credentials into a principal: tokens or passwords, behind the failed-login throttle."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from . import TOKEN_USER, AuthBackend, Principal
from .ratelimit import RateLimiter
from .tokens import TokenStore


class Authenticator:
    """The one way in for HTTP basic auth (pip, twine, uv, poetry) and the login form."""

    def __init__(self, backend: AuthBackend, session: Callable[[], Session], limiter: RateLimiter) -> None:
        self.backend = backend
        self.session = session
        self.limiter = limiter

    def authenticate(self, username: str, secret: str, address: str) -> Principal | None:
        """The principal, None for wrong credentials (counted), or TooManyRequests when throttled."""
        # Tokens are neither throttled nor counted: 256 random bits cannot be guessed, and counting a
        # revoked token's retries would lock out the other tokens used from the same CI runner.
        if username == TOKEN_USER:
            found = TokenStore(self.session()).verify(secret)
            return found if found is not None and self.backend.user_exists(found.name) else None
        had_failures = self.limiter.check(username, address)
        found = self.backend.authenticate(username, secret)
        if found is None:
            self.limiter.failed(username, address)
        elif had_failures:
            self.limiter.succeeded(username, address)
        return found

"""HTTP to the upstream: project pages (PEP 691 JSON preferred, HTML understood) with ETag revalidation,
and file downloads; credentials go only to the upstream's own host."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..core.names import canonical
from .config import UpstreamConfig
from .pages import UpstreamPage, from_pypi_simple, missing_page

if TYPE_CHECKING:
    import requests

USER_AGENT = "flaskpypi (upstream fallback)"
MAX_SMALL_FILE = 8 * 1024 * 1024  # .metadata and provenance files


class UpstreamFailure(Exception):
    """The upstream did not answer usefully: connection refused, timeout, an error status, a broken body."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def outage(self) -> bool:
        """A failure of the upstream as a whole (no answer, 5xx), not of one file (404)."""
        return self.status is None or self.status >= 500


@dataclass(frozen=True)
class NotModified:
    """The upstream answered 304: the page kept is current."""


class UpstreamClient:
    """One requests session to the upstream index."""

    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        self._session: requests.Session | None = None
        self._made = threading.Lock()

    @property
    def session(self) -> requests.Session:
        """The requests session, made on first use: requests is imported then, so a server that never asks
        its upstream never loads it (its start and memory)."""
        if self._session is None:
            with self._made:
                if self._session is None:
                    import requests

                    session = requests.Session()
                    session.headers["User-Agent"] = USER_AGENT
                    session.trust_env = True
                    self._session = session
        return self._session

    @cached_property
    def _host(self) -> str:
        return urlsplit(self.config.url).netloc.rpartition("@")[2]

    def project_url(self, name: str) -> str:
        """The upstream's page for a project (redirect mode sends clients here)."""
        return self.config.url + canonical(name) + "/"

    def _auth(self, url: str) -> tuple[str, str] | None:
        """Credentials for the upstream's host only: a file host elsewhere never sees them."""
        if self.config.username and urlsplit(url).netloc.rpartition("@")[2] == self._host:
            return (self.config.username, self.config.password)
        return None

    def _timeout(self) -> tuple[float, float]:
        return (self.config.timeout, self.config.timeout)

    def page(self, name: str, etag: str | None) -> UpstreamPage | NotModified:
        """Fetch a project page; 404 gives a `missing` page, 304 NotModified, other errors UpstreamFailure."""
        # pypi-simple is imported on the first upstream page only: it costs a start-up most indexes never use
        import requests
        from pypi_simple import ACCEPT_JSON_PREFERRED, ProjectPage
        from pypi_simple.errors import UnsupportedContentTypeError, UnsupportedRepoVersionError

        url = self.project_url(name)
        headers = {"Accept": ACCEPT_JSON_PREFERRED}
        if etag:
            headers["If-None-Match"] = etag
        try:
            response = self.session.get(url, headers=headers, timeout=self._timeout(), auth=self._auth(url))
        except requests.RequestException as exc:
            raise UpstreamFailure(_reason(exc))
        now = time.time()
        if response.status_code == 304 and etag:
            return NotModified()
        if response.status_code == 404:
            return missing_page(name, now)
        if response.status_code != 200:
            raise UpstreamFailure(f"HTTP {response.status_code} for {canonical(name)}/", response.status_code)
        try:
            parsed = ProjectPage.from_response(response, name)
        except (UnsupportedContentTypeError, UnsupportedRepoVersionError, ValueError) as exc:
            raise UpstreamFailure(f"unreadable page for {canonical(name)}/: {exc}")
        return from_pypi_simple(name, parsed, response.headers.get("ETag"), now)

    def open(self, url: str) -> requests.Response:
        """A streaming GET of a file; the caller closes it."""
        import requests

        try:
            response = self.session.get(url, stream=True, timeout=self._timeout(), auth=self._auth(url))
        except requests.RequestException as exc:
            raise UpstreamFailure(_reason(exc))
        if response.status_code != 200:
            response.close()
            raise UpstreamFailure(f"HTTP {response.status_code} for {url.rsplit('/', 1)[-1]}", response.status_code)
        return response

    def small(self, url: str) -> bytes:
        """A small file (.metadata, provenance) in full."""
        import requests

        with self.open(url) as response:
            data = bytearray()
            try:
                for chunk in response.iter_content(64 * 1024):
                    data += chunk
                    if len(data) > MAX_SMALL_FILE:
                        raise UpstreamFailure(f"{url.rsplit('/', 1)[-1]} is larger than {MAX_SMALL_FILE} bytes")
            except requests.RequestException as exc:
                raise UpstreamFailure(_reason(exc))
        return bytes(data)


def _reason(exc: Exception) -> str:
    """A one-line reason without URLs' credentials: the kind of failure."""
    import requests

    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return f"transfer broken ({exc.__class__.__name__})"

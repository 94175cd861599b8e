"""The upstream settings, gathered once from the Settings model."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..core.archives import ArchiveLimits
from .policy import NamePolicy
from .state import STATE_PREFIX

STATE_FOLDER = "upstream"


def default_url() -> str:
    """pypi-simple's endpoint, the public index (imported when an upstream is first configured: pypi-simple
    takes a while to import, and most starts never need it)."""
    from pypi_simple import PYPI_SIMPLE_ENDPOINT

    return PYPI_SIMPLE_ENDPOINT


@dataclass(frozen=True)
class UpstreamConfig:
    """Where the upstream is, how to reach it, what may come from it, and where its state is kept."""

    mode: str
    given_url: str  # as configured; "" for pypi-simple's endpoint, the public index
    state_dir: Path
    username: str = ""
    password: str = ""
    timeout: float = 10.0
    ttl: int = 600
    retry: int = 30
    min_age: int = 0
    stream_size: int = 1024 * 1024
    names: NamePolicy = field(default_factory=NamePolicy)
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    state_prefix: str = STATE_PREFIX  # storage keys of its pages and health (named upstream indexes: their own)

    @classmethod
    def from_settings(cls, settings: Any, instance_path: str | Path) -> UpstreamConfig:
        """The upstream part of the settings; state lives in <instance>/upstream (shared by the workers)."""
        return cls(
            mode=settings.fallback,
            given_url=settings.upstream_url,
            state_dir=Path(instance_path) / STATE_FOLDER,
            username=settings.upstream_username,
            password=settings.upstream_password,
            timeout=float(settings.upstream_timeout),
            ttl=int(settings.upstream_ttl),
            retry=int(settings.upstream_retry),
            min_age=int(settings.upstream_min_age),
            stream_size=int(settings.upstream_stream_size),
            names=NamePolicy.build(settings.upstream_allow, settings.upstream_deny, settings.private_prefixes),
            limits=ArchiveLimits.from_settings(settings),
        )

    @cached_property
    def url(self) -> str:
        """The index's simple URL with its trailing slash (the public index's is looked up on first use)."""
        return (self.given_url or default_url()).rstrip("/") + "/"

    def describe(self) -> str:
        """The upstream's URL for logs and pages: never its credentials."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))

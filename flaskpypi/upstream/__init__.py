"""The upstream index: fallback modes, the client, the page cache and the file cache (no Flask, no index models)."""

from __future__ import annotations

from .config import UpstreamConfig
from .modes import CACHE, FALLBACKS, MIRROR, NONE, REDIRECT, Listing, decide, listing_for
from .pages import UpstreamFile, UpstreamPage
from .policy import Overrides, effective_mode
from .service import Upstream

__all__ = [
    "CACHE", "FALLBACKS", "MIRROR", "NONE", "REDIRECT", "Listing", "Overrides", "Upstream", "UpstreamConfig",
    "UpstreamFile", "UpstreamPage", "decide", "effective_mode", "listing_for",
]  # fmt: skip

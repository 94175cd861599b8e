"""HTTP caching for generated pages: ETags from serials, 304s, and a small per-process page cache."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any, TypeVar

from cachetools import LRUCache
from flask import Response, current_app, request

from ..sql import GenerationCache

SIMPLE_CACHE_CONTROL = "max-age=0, must-revalidate"
T = TypeVar("T")


class PageCache:
    """An LRU of rendered pages keyed by what they depend on (serial, format, URL root)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._pages: LRUCache[Hashable, Any] = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def get(self, key: tuple, render: Callable[[], str]) -> bytes:
        """The cached page, rendering it on a miss."""
        return self.remember(key, lambda: render().encode())

    def remember(self, key: tuple, compute: Callable[[], T]) -> T:
        """The cached value for key (a page, or what pages are made from), computing it on a miss."""
        with self._lock:
            try:
                return self._pages[key]
            except KeyError:
                pass
        value = compute()
        with self._lock:
            self._pages[key] = value
        return value

    def __len__(self) -> int:
        return len(self._pages)


def page_cache() -> PageCache:
    """This app's page cache (one per app, so test apps never share pages)."""
    return current_app.extensions.setdefault("flaskpypi.pages", PageCache())


def serial_cache(name: str, size: int = 4096) -> GenerationCache:
    """This app's cache `name` of facts kept until the index's serial (or the key it is given) moves."""
    return current_app.extensions.setdefault(f"flaskpypi.{name}", GenerationCache(size))


def not_modified(etag: str, last_modified: datetime | None) -> bool:
    """Whether the client's copy is current (If-None-Match wins over If-Modified-Since)."""
    if request.if_none_match:
        return request.if_none_match.contains(etag)
    if last_modified is not None and request.if_modified_since is not None:
        return last_modified.replace(microsecond=0) <= request.if_modified_since
    return False


def accepts_gzip() -> bool:
    """Whether the client takes gzip (pip, uv and browsers say so in Accept-Encoding)."""
    return request.accept_encodings["gzip"] > 0


def cached_page(
    etag: str,
    last_modified: datetime | None,
    mimetype: str,
    key: tuple,
    render: Callable[[], str],
    cache_control: str = SIMPLE_CACHE_CONTROL,
) -> Response:
    """A 200 with validators, or a 304 without building the body. The page is rendered once into the page
    cache under `key`; clients that take gzip get it compressed once too (a 5 MB root of 50,000 projects is
    a tenth of that), under its own ETag, as a different representation must have (RFC 9110 8.8.3)."""
    gzipped = accepts_gzip()
    tag = f"{etag}-gz" if gzipped else etag
    if not_modified(tag, last_modified):
        response = Response(status=304)
    elif gzipped:
        body = page_cache().remember((*key, "gzip"), lambda: gzip.compress(page_cache().get(key, render), 6))
        response = Response(body, mimetype=mimetype)
        response.content_encoding = "gzip"
    else:
        response = Response(page_cache().get(key, render), mimetype=mimetype)
    response.set_etag(tag)
    if last_modified is not None:
        response.last_modified = last_modified
    response.headers["Cache-Control"] = cache_control
    response.vary.update(("Accept", "Accept-Encoding"))
    return response

"""flaskpypi-gcs: package storage in Google Cloud Storage, on gcsfs."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import fsspec

from flaskpypi.storage import FileMeta
from flaskpypi.storage.base import FsspecStorage, iter_async

__all__ = ["GCSStorage"]
log = logging.getLogger("flaskpypi.storage.gcs")
READ_BLOCK = 4 * 1024 * 1024
PAGE_SIZE = 1000
GOOGLE_HOSTS = ("googleapis.com",)


class GCSStorage(FsspecStorage):
    """`gs://bucket/prefix`: objects in GCS; downloads redirect to signed URLs when the credentials can sign.

    Options are gcsfs's (`project`, `token`, `endpoint_url`...). Without a token gcsfs uses the
    application default credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server).
    Only credentials holding a private key (a service-account key file) sign URLs locally; with any
    other credentials downloads stream through the app, and the server says so once at start.
    """

    read_block_size = READ_BLOCK

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.can_sign = _can_sign(self.fs)
        if not self.can_sign:
            log.info("%s: these credentials cannot sign URLs (no private key); downloads stream through "
                     "the app. Give a service-account key as `token` to redirect to signed URLs.",
                     self.describe())  # fmt: skip

    def make_filesystem(self, url: str, options: dict[str, Any]) -> tuple[fsspec.AbstractFileSystem, str]:
        import gcsfs
        import gcsfs.core

        options = {"use_listings_cache": False, **options}
        cls = gcsfs.GCSFileSystem
        if _emulated(options):
            # An emulator speaks the JSON API only: skip gcsfs's gRPC bucket-type probe (a minute's stall)
            # and Google's credential discovery (which would call the cloud metadata server).
            cls = gcsfs.core.GCSFileSystem
            options.setdefault("token", "anon")
        cls = _object_info_class(cls)
        fs = cls(**{**cls._get_kwargs_from_urls(url), **options})
        return fs, cls._strip_protocol(url)

    def list_infos(self, base: str) -> Iterator[dict[str, Any]]:
        """objects.list page by page, in name order, so projects come out grouped."""
        bucket, _, key = base.partition("/")
        return iter_async(self.fs, self._pages(bucket, f"{key}/" if key else ""))

    async def _pages(self, bucket: str, prefix: str) -> AsyncIterator[dict[str, Any]]:
        token = None
        while True:
            page = await self.fs._call("GET", "b/{}/o", bucket, json_out=True, prefix=prefix or None,
                                       maxResults=PAGE_SIZE, pageToken=token)  # fmt: skip
            for item in page.get("items", []):
                yield self.fs._process_object(bucket, item)
            token = page.get("nextPageToken")
            if not token:
                return

    def head(self, path: str) -> dict[str, Any] | None:
        """objects.get alone: gcsfs's info() lists the prefix beside it."""
        bucket, key, _ = self.fs.split_path(path)
        try:
            item = self.fs.call("GET", "b/{}/o/{}", bucket, key, json_out=True)
        except FileNotFoundError:
            return None
        return self.fs._process_object(bucket, item)

    def put_options(self, meta: FileMeta) -> dict[str, Any]:
        return {"content_type": meta.content_type}

    def sign(self, path: str, expires: int) -> str | None:
        if not self.can_sign:
            return None
        return self.fs.sign(path, expiration=expires, version="v4")


_CLASSES: dict[type, type] = {}


def _object_info_class(base: type) -> type:
    """gcsfs's filesystem whose info() on an object is one objects.get.

    gcsfs asks for the object and lists its prefix at the same time (to spot "directories"), and
    opening a file calls info(); a package index only ever opens objects, and never lists per request.
    """
    if base not in _CLASSES:

        class ObjectInfo(base):  # type: ignore[misc,valid-type]
            async def _info(self, path: str, generation: Any = None, **kwargs: Any) -> dict[str, Any]:
                if "/" not in self._strip_protocol(path).rstrip("/") or generation is not None:
                    return await super()._info(path, generation=generation, **kwargs)
                return await self._get_object(path)

        ObjectInfo.__name__ = ObjectInfo.__qualname__ = f"ObjectInfo{base.__name__}"
        _CLASSES[base] = ObjectInfo
    return _CLASSES[base]


def _emulated(options: dict[str, Any]) -> bool:
    """Whether the endpoint is not Google's own (an emulator or a test double)."""
    endpoint = options.get("endpoint_url") or os.environ.get("STORAGE_EMULATOR_HOST") or ""
    if endpoint in ("", "default"):
        return False
    host = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}").hostname or ""
    return not host.endswith(GOOGLE_HOSTS)


def _can_sign(fs: Any) -> bool:
    """Whether the filesystem's credentials hold a signer (a service-account key)."""
    from google.auth.credentials import Signing

    return isinstance(getattr(fs.credentials, "credentials", None), Signing)

"""flaskpypi-azure: package storage in Azure Blob Storage, on adlfs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import fsspec
from fsspec.asyn import sync

from flaskpypi.storage import FileMeta
from flaskpypi.storage.base import FsspecStorage, iter_async

__all__ = ["AzureBlobStorage"]
log = logging.getLogger("flaskpypi.storage.azure")
READ_BLOCK = 4 * 1024 * 1024
PAGE_SIZE = 1000


class AzureBlobStorage(FsspecStorage):
    """`az://container/prefix`: blobs in Azure; downloads redirect to SAS URLs when an account key is known.

    Options are adlfs's (`account_name`, `account_key`, `connection_string`, `sas_token`, `credential`,
    `anon`...), also read from AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT_NAME,
    AZURE_STORAGE_ACCOUNT_KEY...; with an account name and nothing else, DefaultAzureCredential
    (managed identity, workload identity, az login). A SAS URL is signed with the account key; with
    Entra ID credentials only, downloads stream through the app, and the server says so once at start.
    """

    read_block_size = READ_BLOCK

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        if not self.can_sign:
            log.info("%s: no account key to sign SAS URLs with; downloads stream through the app.",
                     self.describe())  # fmt: skip

    @property
    def can_sign(self) -> bool:
        """Whether an account key (given, or in the connection string) can sign SAS URLs."""
        if self.fs.account_key:
            return True
        return "accountkey=" in (self.fs.connection_string or "").lower()

    def make_filesystem(self, url: str, options: dict[str, Any]) -> tuple[fsspec.AbstractFileSystem, str]:
        return fsspec.core.url_to_fs(url, **{"use_listings_cache": False, **options})

    def list_infos(self, base: str) -> Iterator[dict[str, Any]]:
        """List Blobs page by page, in name order, so projects come out grouped."""
        container, _, key = base.partition("/")
        return iter_async(self.fs, self._pages(container, f"{key}/" if key else None))

    async def _pages(self, container: str, prefix: str | None) -> AsyncIterator[dict[str, Any]]:
        async with self.fs.service_client.get_container_client(container) as client:
            async for blob in client.list_blobs(name_starts_with=prefix, results_per_page=PAGE_SIZE):
                yield {"name": f"{container}/{blob.name}", "size": blob.size,
                       "last_modified": blob.last_modified, "type": "file"}  # fmt: skip

    def head(self, path: str) -> dict[str, Any] | None:
        """Get Blob Properties alone: adlfs's exists() lists the prefix after a miss."""
        container, blob, _ = self.fs.split_path(path)
        props = sync(self.fs.loop, self._properties, container, blob)
        if props is None:
            return None
        return {"name": path, "size": props.size, "last_modified": props.last_modified, "type": "file"}

    async def _properties(self, container: str, blob: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        async with self.fs.service_client.get_blob_client(container, blob) as client:
            try:
                return await client.get_blob_properties()
            except ResourceNotFoundError:
                return None

    def put_options(self, meta: FileMeta) -> dict[str, Any]:
        return {"content_settings": {"content_type": meta.content_type}}

    def sign(self, path: str, expires: int) -> str | None:
        return self.fs.sign(path, expiration=expires) if self.can_sign else None

"""flaskpypi-s3: package storage in Amazon S3 or an S3-compatible store (MinIO, Ceph, R2), on s3fs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fsspec

from flaskpypi.storage import FileMeta
from flaskpypi.storage.base import FsspecStorage, iter_async

__all__ = ["S3Storage"]
READ_BLOCK = 4 * 1024 * 1024


class S3Storage(FsspecStorage):
    """`s3://bucket/prefix`: objects in S3; downloads redirect to presigned URLs (SigV4).

    Options are s3fs's (`endpoint_url`, `key`, `secret`, `client_kwargs={"region_name": ...}`, `anon`...);
    without credentials botocore's standard chain applies (AWS_* variables, ~/.aws, instance or task role),
    and AWS_ENDPOINT_URL points it at another S3-compatible endpoint.
    """

    read_block_size = READ_BLOCK

    def make_filesystem(self, url: str, options: dict[str, Any]) -> tuple[fsspec.AbstractFileSystem, str]:
        config = {"signature_version": "s3v4", **options.get("config_kwargs", {})}
        # No listing cache: `exists` must see what other workers wrote a moment ago.
        options = {"use_listings_cache": False, **options, "config_kwargs": config}
        return fsspec.core.url_to_fs(url, **options)

    def list_infos(self, base: str) -> Iterator[dict[str, Any]]:
        """ListObjectsV2 page by page (1,000 keys each), in key order, so projects come out grouped."""
        bucket, _, key = base.partition("/")
        prefix = f"{key}/" if key else ""
        for item in iter_async(self.fs, self.fs._iterdir(bucket, delimiter="", prefix=prefix)):
            yield {"name": item["Key"], "size": item["Size"], "LastModified": item.get("LastModified"),
                   "type": "file"}  # fmt: skip

    def read(self, key: str) -> bytes:
        """One GetObject (s3fs's cat_file would send a HeadObject first to split large objects)."""
        return self.fs.cat_file(self.path(key), max_concurrency=1)

    def head(self, path: str) -> dict[str, Any] | None:
        """HeadObject alone: s3fs's info() would list the prefix after a miss."""
        bucket, key, _ = self.fs.split_path(path)
        try:
            out = self.fs.call_s3("head_object", self.fs.req_kw, Bucket=bucket, Key=key)
        except FileNotFoundError:
            return None
        return {"name": path, "size": out["ContentLength"], "LastModified": out.get("LastModified"),
                "ETag": out.get("ETag"), "type": "file"}  # fmt: skip

    def put_options(self, meta: FileMeta) -> dict[str, Any]:
        return {"ContentType": meta.content_type}

    def sign(self, path: str, expires: int) -> str | None:
        return self.fs.sign(path, expiration=expires)

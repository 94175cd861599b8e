"""moto's S3 server, with a folder tree already in a bucket: filled in-process through moto's own backend
(about 100x faster than PUTs over HTTP, which moto serves at ~150 a second here), then served as `moto_server`
serves (werkzeug, threaded, every request logged on stderr).

One change to moto: ListObjectsV2 without a delimiter answers from a sorted list of the bucket's key names
(bisect to the page's start), as S3 does, instead of moto's scan and sort of the whole bucket for every page
of 1,000 keys (O(n) a page: at 300,000 objects each page took seconds, and the listing, not the rebuild,
set the pace). The answers are the same: keys in order, MaxKeys a page, moto's own continuation tokens.

    python bench/moto_filled.py PORT TREE BUCKET PREFIX
"""

from __future__ import annotations

import bisect
import sys
import time
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"  # moto's default account


def sorted_listing() -> None:
    """Patch moto's S3Backend: a sorted name list per bucket, made again after any put or delete."""
    from moto.s3.models import FakeDeleteMarker, S3Backend

    names: dict[str, tuple[int, list[str]]] = {}
    versions: dict[str, int] = {}
    original = S3Backend.list_objects_v2

    def bump(method: Any) -> Any:
        def wrapped(self: Any, bucket_name: str, *args: Any, **kwargs: Any) -> Any:
            versions[bucket_name] = versions.get(bucket_name, 0) + 1
            return method(self, bucket_name, *args, **kwargs)

        return wrapped

    def list_objects_v2(self: Any, bucket: Any, prefix: str | None, delimiter: str | None,
                        continuation_token: str | None, start_after: str | None, max_keys: int) -> Any:  # fmt: skip
        if delimiter:
            return original(self, bucket, prefix, delimiter, continuation_token, start_after, max_keys)
        version = versions.get(bucket.name, 0)
        if names.get(bucket.name, (None,))[0] != version:
            names[bucket.name] = (version, sorted(bucket.keys.keys()))
        keys = names[bucket.name][1]
        prefix = prefix or ""
        after = self._pagination_tokens.get(continuation_token) if continuation_token else start_after
        i = bisect.bisect_right(keys, after) if after else bisect.bisect_left(keys, prefix)
        page = []
        while i < len(keys) and keys[i].startswith(prefix) and len(page) <= max_keys:
            key = bucket.keys.get(keys[i])
            if key is not None and not isinstance(key, FakeDeleteMarker):
                page.append(key)
            i += 1
        return self._truncate_result(page, max_keys)

    S3Backend.put_object = bump(S3Backend.put_object)  # type: ignore[method-assign]
    S3Backend.delete_object = bump(S3Backend.delete_object)  # type: ignore[method-assign]
    S3Backend.list_objects_v2 = list_objects_v2  # type: ignore[method-assign]


def main() -> None:
    port, tree, bucket, prefix = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    from moto.s3.models import s3_backends
    from moto.server import main as serve

    sorted_listing()
    backend = s3_backends[ACCOUNT]["aws"]
    backend.create_bucket(bucket, "us-east-1")
    started = time.perf_counter()
    count = 0
    for path in sorted(tree.rglob("*")):
        if path.is_file():
            backend.put_object(bucket, f"{prefix}/{path.relative_to(tree).as_posix()}", path.read_bytes(),
                               disable_notification=True)  # fmt: skip
            count += 1
    print(f"filled {count} objects in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    serve(["-H", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main()

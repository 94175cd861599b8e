"""Where a file came from: uploaded here, or cached from the upstream index (FileRecord.origin)."""

from __future__ import annotations

UPLOAD, CACHE = "upload", "cache"
CACHE_INFO = "_cache"  # key of FileRecord.metadata: {"at": when fetched (ISO 8601), "from": the upstream}

"""Blinker signals the upstream service sends, for whoever counts (the metrics listen); no Flask here."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: the Upstream; keyword argument result: fresh (within the TTL), revalidated (304), fetched,
# stale (the upstream failed, a kept copy served) or failed (nothing kept: the request fails).
page_looked_up = _signals.signal("upstream-page")
# sender: the FileCache; keyword arguments: seconds (float), size (bytes) and, for failures, reason.
file_fetched = _signals.signal("upstream-file-fetched")
file_fetch_failed = _signals.signal("upstream-file-failed")

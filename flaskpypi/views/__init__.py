"""What an asker sees of the indexes: the decisions that combine the index, the upstream and the access
policy (pypicloud's fallback table, merged pages, upstream downloads), without Flask.

Services here take a SQLAlchemy Session and the asker (a principal and the AccessPolicy) and return plain
results; the web layer parses requests, calls them and renders.
"""

from __future__ import annotations

from .fallback import Fallback, FetchedMetadata, FetchedStream, Merged, Plan, Redirect
from .service import ViewPage, ViewService

__all__ = ["Fallback", "FetchedMetadata", "FetchedStream", "Merged", "Plan", "Redirect", "ViewPage", "ViewService"]

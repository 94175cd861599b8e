"""Project descriptions as safe HTML: Markdown and reStructuredText through readme-renderer, which sanitises.

Rendering a long README costs milliseconds to tens of them, and a file's metadata never changes, so the
HTML is kept per file (by sha256) in a small per-process LRU.
"""

from __future__ import annotations

import logging
import re
from email.message import Message

from flask import current_app
from markupsafe import Markup
from readme_renderer import markdown, rst, txt

from ..pages import PageCache

log = logging.getLogger(__name__)
MAX_DESCRIPTION = 512 * 1024  # longer ones are shown as plain text, cut
# An empty link (the renderers' heading anchors `<a href="#user-content-x"></a>`) has no name for a screen
# reader (WCAG 2.4.4, axe's link-name): it gets one, and a class the stylesheet shows as "#" on hover/focus.
_EMPTY_LINK = re.compile(r"<a( [^>]*?\bhref=\"[^\"]*\"[^>]*)></a>")


def _cache() -> PageCache:
    return current_app.extensions.setdefault("flaskpypi.descriptions", PageCache(size=256))


def _content_type(value: str | None) -> tuple[str, dict[str, str]]:
    message = Message()
    message["content-type"] = value or "text/x-rst"
    params = {k.lower(): v for k, v in message.get_params()[1:]}
    return message.get_content_type(), params


def render_html(text: str, content_type: str | None) -> str:
    """Sanitised HTML of a description; reStructuredText that fails to render falls back to plain text."""
    kind, params = _content_type(content_type)
    if len(text) > MAX_DESCRIPTION:
        return txt.render(text[:MAX_DESCRIPTION]) or ""
    rendered = None
    try:
        if kind == "text/markdown":
            variant = "CommonMark" if params.get("variant", "").lower() == "commonmark" else "GFM"
            rendered = markdown.render(text, variant=variant)
        elif kind == "text/x-rst":
            rendered = rst.render(text)
    except Exception:  # a third party's README must never fail its page: show it as text
        log.warning("Rendering a %s description failed; shown as plain text", kind, exc_info=True)
    return label_empty_links(rendered if rendered is not None else (txt.render(text) or ""))


def label_empty_links(html: str) -> str:
    """Name the empty links of sanitised HTML (heading anchors), which assistive technology reads as nothing."""
    return _EMPTY_LINK.sub(r'<a\1 class="anchor" aria-label="Link to this section"></a>', html)


def description(file_sha256: str, text: str, content_type: str | None) -> Markup:
    """The description of the file with this sha256, rendered once per process."""
    if not text.strip():
        return Markup("")
    key = ("description", file_sha256, content_type or "")
    return Markup(_cache().get(key, lambda: render_html(text, content_type)).decode())  # noqa: S704 (sanitised)

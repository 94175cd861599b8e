"""Project descriptions as safe HTML: Markdown and reStructuredText through readme-renderer, which sanitises.

Rendering a long README costs milliseconds to tens of them, and a file's metadata never changes, so the
HTML is kept per file (by sha256) in a small per-process LRU. readme-renderer (docutils, pygments, nh3) is
imported on the first description a process renders: a server that never shows one never pays its start-up
time and memory.
"""

from __future__ import annotations

import logging
import re
from email.message import Message

from flask import current_app
from markupsafe import Markup, escape

from ..pages import PageCache

log = logging.getLogger(__name__)
MAX_DESCRIPTION = 512 * 1024  # longer ones are shown as plain text, cut
# An empty link (the renderers' heading anchors `<a href="#user-content-x"></a>`) has no name for a screen
# reader (WCAG 2.4.4, axe's link-name): it gets one, and a class the stylesheet shows as "#" on hover/focus.
_NO_ALT = re.compile(r"<img(?![^>]*\balt=)([^>]*?)(/?)>")
_PRE = re.compile(r"<pre\b([^>]*)>")
_SRC = re.compile(r'\bsrc="([^"]*)"')
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
    from readme_renderer import markdown, rst, txt

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


def _alt(match: re.Match[str]) -> str:
    """An image without a text alternative gets its file's name (a badge or logo says what it is by it)."""
    src = _SRC.search(match.group(1))
    name = (src.group(1) if src else "").split("?")[0].rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    text = re.sub(r"[-_]+", " ", name).strip() or "image"
    return f'<img alt="{escape(text)}"{match.group(1)}{match.group(2)}>'


def _pre(match: re.Match[str]) -> str:
    """A code block scrolls sideways, so the keyboard must reach it (tabindex); its code language is no
    human language, so it is data, not `lang` (WCAG 3.1.2)."""
    return f'<pre tabindex="0"{match.group(1).replace(" lang=", " data-lang=")}>'


def label_empty_links(html: str) -> str:
    """Name the empty links of sanitised HTML (heading anchors) and its images without alt text, which
    assistive technology reads as nothing (WCAG 1.1.1, 2.4.4)."""
    html = _NO_ALT.sub(_alt, html)
    html = _PRE.sub(_pre, html)
    return _EMPTY_LINK.sub(r'<a\1 class="anchor" aria-label="Link to this section"></a>', html)


def description(file_sha256: str, text: str, content_type: str | None) -> Markup:
    """The description of the file with this sha256, rendered once per process."""
    if not text.strip():
        return Markup("")
    key = ("description", file_sha256, content_type or "")
    return Markup(_cache().get(key, lambda: render_html(text, content_type)).decode())  # noqa: S704 (sanitised)

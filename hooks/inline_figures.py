"""Figures inlined where a page asks for one: a line `<!-- figure: <name> -->`.

The figures are SVG drawn from the code by the `figures` package (`make figures` writes
them to docs/assets/figures/<name>.<lang>.svg; tests/test_figures.py fails when a committed
file is not what the code draws). Inlined rather than linked as images, their labels are
text in the page: selectable, found by find-in-page and by the site's search, in the page's
language, and coloured by extra.css from the palette (an <img> would not see the page's
styles, so it could not follow the dark scheme). Nothing is drawn here: building the site
never imports torch.
"""

from __future__ import annotations

import re
from html import escape, unescape
from pathlib import Path

from mkdocs.exceptions import PluginError

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "assets" / "figures"
# Python-Markdown keeps an HTML comment on a line of its own as it is.
MARKER = re.compile(r"<!-- figure: ([a-z0-9_]+) -->")
CAPTION = re.compile(r' data-caption="([^"]*)"')
INLINE_CODE = re.compile(r"`([^`]+)`")


def figure(name: str, lang: str, page) -> str:
    source = FIGURES / f"{name}.{lang}.svg"
    if not source.exists():
        raise PluginError(f"{page.file.src_uri}: no figure {name!r} in {lang} "
                          f"({source.name}); run `make figures`")
    svg = source.read_text(encoding="utf-8").strip()
    caption = CAPTION.search(svg)
    if caption is None:
        raise PluginError(f"{source.name} has no data-caption")
    svg = svg[:caption.start()] + svg[caption.end():]
    # The namespace is implied in HTML.
    svg = svg.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1)
    # Focusable: on a phone narrower than the figure it scrolls, and a keyboard must reach it.
    # A caption writes code as the pages do, between backticks.
    text = INLINE_CODE.sub(r"<code>\1</code>", escape(unescape(caption[1]), quote=False))
    return (f'<figure class="figure" tabindex="0">{svg}'
            f"<figcaption>{text}</figcaption></figure>")


def on_page_content(html: str, page, config, files) -> str:
    lang = config.theme["language"]
    return MARKER.sub(lambda m: figure(m[1], lang, page), html)


def on_files(files, config):
    """The SVG files are only the hook's source: inlined, they need not be published."""
    for file in [f for f in files if f.src_uri.startswith("assets/figures/")]:
        files.remove(file)
    return files

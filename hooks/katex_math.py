"""Math typeset at build time, so that pages run no JavaScript to show a formula.

pymdownx.arithmatex (generic mode) leaves each formula as TeX in a span or div of class
`arithmatex`. This hook replaces that TeX with KaTeX's HTML (plus MathML for screen
readers), rendered by the vendored KaTeX (hooks/vendor/katex.min.js, the same release as
the stylesheet and fonts in docs/assets/katex) inside an embedded V8 (mini-racer).
Readers' browsers only apply katex.min.css: in the browser, KaTeX's auto-render cost the
Adam page about a second of main-thread work on a phone-class CPU and restyled the page
after it was shown.

A formula KaTeX cannot parse stops the build with the page and the TeX in the message.
"""

from __future__ import annotations

import functools
import html
import pathlib
import re

from mkdocs.exceptions import PluginError

KATEX_JS = pathlib.Path(__file__).parent / "vendor" / "katex.min.js"

# What arithmatex's generic mode writes: \( \) inline in a span, \[ \] display in a div.
ARITHMATEX = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">(?P<tex>.*?)</(?P=tag)>', re.DOTALL)


@functools.cache
def _katex():
    from py_mini_racer import MiniRacer

    context = MiniRacer()
    context.eval(KATEX_JS.read_text(encoding="utf-8"))
    return context


@functools.cache
def render(tex: str, display: bool) -> str:
    """KaTeX's HTML for one formula; raises ValueError with KaTeX's message if it cannot parse."""
    try:
        return _katex().call(
            "katex.renderToString", tex, {"displayMode": display, "throwOnError": True})
    except Exception as error:  # mini-racer raises its own JSEvalException
        raise ValueError(str(error).splitlines()[0]) from None


def render_or_fail(tex: str, display: bool, where: str) -> str:
    try:
        return render(tex, display)
    except ValueError as error:
        raise PluginError(f"{where}: KaTeX cannot typeset {tex!r}: {error}") from None


def _typeset(match: re.Match, where: str) -> str:
    tag, tex = match["tag"], html.unescape(match["tex"]).strip()
    display = tex.startswith("\\[")
    body = tex[2:-2] if tex[:2] in ("\\(", "\\[") else tex
    return f'<{tag} class="arithmatex">{render_or_fail(body.strip(), display, where)}</{tag}>'


def on_page_content(html_text: str, page, config, files) -> str:
    return ARITHMATEX.sub(lambda m: _typeset(m, page.file.src_uri), html_text)

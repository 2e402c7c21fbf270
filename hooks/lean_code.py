"""Fewer elements in highlighted code.

Pygments wraps every name (`n`) and every run of whitespace (`w`) in a span of its own.
Material colours names like the rest of the code (--md-code-hl-name-color is
--md-code-fg-color) and gives whitespace no style, so those spans change nothing on screen,
but on the Transformer page they were 1,234 of its 8,284 elements, and every style
recalculation that Material's scripts force while mounting the page walks all of them.

Punctuation (`p`) and operators (`o`, `ow`) were the next most common spans: 857 of the Adam
page's 3,014 elements, 1,764 of the Transformer page's 5,165. Material draws them a shade
lighter than names; extra.css draws them in the code's own colour instead, as many editor
themes do, so their spans go as well.
"""

from __future__ import annotations

import re

PLAIN_SPAN = re.compile(r'<span class="(?:n|w|p|o|ow)">([^<]*)</span>')


def on_page_content(html: str, page, config, files) -> str:
    return PLAIN_SPAN.sub(r"\1", html)

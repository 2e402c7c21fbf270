"""Each table in a box of its own before Material's script wraps it.

Material's script puts every `table:not([class])` into a scrolling wrapper when the page
loads, taking it out of the article and putting it back. A change to the article's own list
of children makes the browser restyle the whole article (the sibling and :nth-child rules in
Material's and the browser's stylesheets reach every child): traced on the Adam page, one
restyle of about 1,600 elements after the load. With the table already inside a
`display: contents` div (extra.css), the move happens there and restyles the table alone;
the div draws no box, so the page looks as before.
"""

from __future__ import annotations

import re

# Python-Markdown writes its tables as a bare <table>; tables with attributes (a notebook's
# DataFrame has a class) are ones Material leaves alone.
BARE_TABLE = re.compile(r"<table>.*?</table>", re.DOTALL)


def on_page_content(html: str, page, config, files) -> str:
    return BARE_TABLE.sub(lambda m: f'<div class="table-host">{m[0]}</div>', html)

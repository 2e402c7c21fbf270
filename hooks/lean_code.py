"""Fewer elements in highlighted code.

Pygments wraps every name (`n`) and every run of whitespace (`w`) in a span of its own.
Material colours names like the rest of the code (--md-code-hl-name-color is
--md-code-fg-color) and gives whitespace no style, so those spans change nothing on screen,
but on the Transformer page they were 1,234 of its 8,284 elements, and every style
recalculation that Material's scripts force while mounting the page walks all of them.

Punctuation (`p`) and operators (`o`, `ow`) were the next most common spans: 857 of the Adam
page's 3,014 elements, 1,764 of the Transformer page's 5,165. Material draws them a shade
lighter than names; extra.css draws them in the code's own colour instead, as many editor
themes do, so their spans go as well. So do the spans Material gives no colour of its own
(`kc` is drawn as a name; `sa`, `fm`, `vm` have no rule), and neighbouring spans that it
draws in one colour become one (`{x}"` ends an f-string in two string spans).
tests/test_hooks.py checks these classes against Material's stylesheet.
"""

from __future__ import annotations

import re

PLAIN_CLASSES = ("n", "w", "p", "o", "ow", "kc", "sa", "fm", "vm")
PLAIN_SPAN = re.compile(rf'<span class="(?:{"|".join(PLAIN_CLASSES)})">([^<]*)</span>')

# Token classes that Material's stylesheet draws in one colour, by that colour's variable.
SAME_COLOUR = {
    "string": "cpf l s s1 s2 sb sc si ss",
    "special": "cp se sh sr sx",
    "number": "il m mb mf mh mi mo",
    "keyword": "k kd kn kp kr kt nd ni nl nt",
    "constant": "bp nb no",
    "function": "nc ne nf nn",
    "comment": "c c1 ch cm cs sd",
}
COLOUR_OF = {token: colour for colour, tokens in SAME_COLOUR.items() for token in tokens.split()}
# Two or more spans with nothing between them, and one span of such a run.
SPAN_RUN = re.compile(r'(?:<span class="[a-z0-9]+">[^<]*</span>){2,}')
SPAN = re.compile(r'<span class="(?P<token>[a-z0-9]+)">(?P<text>[^<]*)</span>')


def _merge_alike(run: re.Match) -> str:
    spans: list[list[str]] = []  # [token class, text]
    for span in SPAN.finditer(run[0]):
        colour = COLOUR_OF.get(span["token"])
        if spans and colour is not None and COLOUR_OF.get(spans[-1][0]) == colour:
            spans[-1][1] += span["text"]
        else:
            spans.append([span["token"], span["text"]])
    return "".join(f'<span class="{token}">{text}</span>' for token, text in spans)


def on_page_content(html: str, page, config, files) -> str:
    return SPAN_RUN.sub(_merge_alike, PLAIN_SPAN.sub(r"\1", html))

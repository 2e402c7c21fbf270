"""The text under each heading in a box the browser may leave unrendered while off screen.

Traced at a phone's speed, most of a long topic page's load went on the first style, layout
and text shaping of the whole article, most of it far below the first screen. The hook puts
each run of blocks between two headings into `<div class="offscreen-section">`, which
extra.css gives `content-visibility: auto`: the browser styles and lays out such a box only
when it comes near the screen, and keeps it in the page (find in page, assistive technology,
printing) all along. The headings themselves stay outside the boxes, so that Material's
table of contents can measure where each heading is without rendering the text under it.

An unrendered box takes the height estimated here from its lines of code and of text, and
the height it really had once it has been rendered (extra.css: `contain-intrinsic-block-size:
auto ...`): the scroll bar is about right from the start, and exact where the reader has been.
"""

from __future__ import annotations

import re
import unicodedata
from html import unescape
from html.parser import HTMLParser

from mkdocs.exceptions import PluginError

HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                 "source", "track", "wbr"}
# The estimate, in CSS pixels, fitted to the rendered heights of 122 sections (eight pages,
# both editions; half within 10% of it): 17 per line of code and 33 per block, and 20 per line
# of text at 45 Latin characters a line (a Chinese character takes two) in a phone's column.
# extra.css halves the text's share in a wider window, where the column holds twice as much.
CHARACTERS_PER_LINE = 45
TEXT_LINE, CODE_LINE, BLOCK_SPACING = 20, 17, 33
# Sections that start within the first screens (by that estimate) are always rendered: the
# browser lays them out for the first paint anyway, and a box there that it first drew at its
# estimated height and then at its real one would move what follows it on screen.
FIRST_SCREENS = 2000
# The last section is never boxed either. Tools that read the colours under a word (axe, in
# Lighthouse's accessibility audit) find where it would be drawn; in an unrendered box that
# is where the box's estimated height leaves it, which for text that the estimate left out
# is over whatever follows the box: the article's next section (white, as the word's own
# background), or after the last one Material's dark footer (contrast "too low").
PRE = re.compile(r"<pre\b.*?</pre>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")
PRE_INSIDE = re.compile(r"(<pre\b[^>]*>)(.*?)(</pre>)", re.DOTALL)
NOT_NEWLINE = re.compile(r"[^\n]")


class _TopLevelChildren(HTMLParser):
    """Where each top-level element of an HTML fragment starts: (tag, offset)."""

    def __init__(self, fragment: str):
        super().__init__(convert_charrefs=False)
        self.children: list[tuple[str, int]] = []
        self.depth = 0
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", fragment)]
        self.feed(fragment)
        self.close()

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag, attrs):
        if self.depth == 0:
            self.children.append((tag, self._offset()))
        if tag not in VOID_ELEMENTS:
            self.depth += 1

    def handle_startendtag(self, tag, attrs):
        if self.depth == 0:
            self.children.append((tag, self._offset()))

    def handle_endtag(self, tag):
        if tag not in VOID_ELEMENTS:
            self.depth -= 1


def _width(text: str) -> int:
    """In Latin characters: wide (East Asian) characters count twice."""
    return len(text) + sum(unicodedata.east_asian_width(c) in "WF" for c in text)


def estimated_heights(fragment: str, blocks: int) -> tuple[int, int]:
    """Pixels on a phone: of the fragment's code and the spacing of its `blocks` top-level
    blocks, and of its text."""
    code_lines = sum(len(TAG.sub("", block).rstrip("\n").split("\n"))
                     for block in PRE.findall(fragment))
    text = unescape(TAG.sub(" ", PRE.sub("", fragment)))
    text_lines = sum(-(-_width(paragraph.strip()) // CHARACTERS_PER_LINE)
                     for paragraph in text.split("\n") if paragraph.strip())
    return code_lines * CODE_LINE + blocks * BLOCK_SPACING, text_lines * TEXT_LINE


def _blank_code(fragment: str) -> str:
    """The fragment with the inside of each <pre> blanked, newlines and length kept: the
    parser then skips the highlighting's thousands of spans (a third of a rebuild's time in
    this hook), and every offset it reports is still one of the fragment."""
    return PRE_INSIDE.sub(lambda m: m[1] + NOT_NEWLINE.sub(" ", m[2]) + m[3], fragment)


def wrap_sections(fragment: str, page_name: str) -> str:
    parser = _TopLevelChildren(_blank_code(fragment))
    if parser.depth != 0:
        raise PluginError(f"{page_name}: its HTML does not close every element it opens, so "
                          "hooks/offscreen_sections.py cannot tell where its sections end")
    children = parser.children
    # The blocks between two headings: [first block's offset, next heading's offset).
    pieces, section_start, blocks, last, above = [], None, 0, 0, 0
    for tag, offset in children + [("h1", len(fragment))]:  # the end closes the last section
        if tag not in HEADINGS:
            if section_start is None:
                section_start, blocks = offset, 0
            blocks += 1
        elif section_start is not None:
            section = fragment[section_start:offset]
            body = section.rstrip()
            code, text = estimated_heights(body, blocks)
            if above >= FIRST_SCREENS and offset < len(fragment):
                pieces.append(fragment[last:section_start])
                pieces.append(f'<div class="offscreen-section" style="--code-height: {code}px; '
                              f'--text-height: {text}px">{body}</div>' + section[len(body):])
                last = offset
            above += code + text
            section_start = None
    pieces.append(fragment[last:])
    return "".join(pieces)


def on_page_content(html: str, page, config, files) -> str:
    return wrap_sections(html, page.file.src_uri)

"""A small SVG writer for the figures: boxes, text and arrows, styled by CSS classes only.

No colour is written here. Every shape and label carries a class that
docs/assets/stylesheets/extra.css (its `.figure` rules) colours with Material's custom
properties, so one drawing serves the light and the dark palette. Labels are <text>
elements: selectable, found by the browser's find-in-page and by the site's search.

Coordinates are rounded to one decimal and attributes are written in a fixed order, so
the same input always gives the same bytes (tests/test_figures.py regenerates every
figure and compares it with the committed file).
"""

from __future__ import annotations

import unicodedata
from html import escape

FONT_SIZE = 13  # px at the drawing's own scale; extra.css sets the same size
SMALL = 11


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """An estimate of the text's width: wide (Chinese) characters a full em, others ~0.58."""
    return sum(size if unicodedata.east_asian_width(c) in "WF" else 0.58 * size for c in text)


def _attr(text: str) -> str:
    return escape(text, quote=False).replace('"', "&quot;")


def _n(value: float) -> str:
    value = round(value, 1)
    return str(int(value)) if value == int(value) else f"{value:.1f}"


class Drawing:
    """One figure in one language.

    `labels` maps a key to its (English, Chinese) text; `t(key)` picks the language.
    Text that is code (a module's name, a shape) is written as it is, in both languages.
    """

    def __init__(self, name: str, lang: str, width: float, height: float,
                 labels: dict[str, tuple[str, str]]):
        if lang not in ("en", "zh"):
            raise ValueError(f"unknown language {lang!r}")
        self.name, self.lang, self.width, self.height = name, lang, width, height
        self.labels = labels
        self.parts: list[str] = []
        # Lines and arrowheads of one class are drawn as one <path> at the end: a figure
        # adds few elements to a page (tests/test_site.py holds pages to an element budget).
        self._strokes: dict[str, list[str]] = {}

    def t(self, key: str, **values) -> str:
        english, chinese = self.labels[key]
        return (english if self.lang == "en" else chinese).format(**values)

    # Shapes -------------------------------------------------------------------------------
    def rect(self, x, y, w, h, cls="box", rx=4):
        self.parts.append(f'<rect class="{cls}" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" '
                          f'height="{_n(h)}" rx="{_n(rx)}"/>')

    def text(self, x, y, content: str, cls: str | None = None, anchor: str = "middle"):
        """A label whose baseline is at y (centred on x unless anchor says otherwise)."""
        attrs = f' class="{cls}"' if cls else ""
        if anchor != "middle":
            attrs += f' text-anchor="{anchor}"'
        self.parts.append(f'<text x="{_n(x)}" y="{_n(y)}"{attrs}>{escape(content, quote=False)}</text>')

    def box(self, x, y, w, h, lines, cls="box", line_classes=None, rx=4):
        """A rectangle with lines of text centred in it. `lines`: str or (text, class)."""
        self.rect(x, y, w, h, cls, rx)
        lines = [(ln, None) if isinstance(ln, str) else ln for ln in lines]
        step = FONT_SIZE + 3
        top = y + h / 2 - step * (len(lines) - 1) / 2 + FONT_SIZE * 0.36
        for i, (line, line_cls) in enumerate(lines):
            self.text(x + w / 2, top + i * step, line, line_cls)

    def path(self, d: str, cls="line"):
        self.parts.append(f'<path class="{cls}" d="{d}"/>')

    def line(self, points, cls="line", head=True):
        """A polyline through points; an arrowhead at the last point unless head=False.
        A line of class `strong-line` gets an arrowhead of its colour."""
        d = "M" + " L".join(f"{_n(x)} {_n(y)}" for x, y in points)
        self._strokes.setdefault(cls, []).append(d)
        if head:
            self.head(points[-2], points[-1],
                      cls="head strong-head" if "strong-line" in cls else "head")

    def head(self, start, end, size=6.5, cls="head"):
        (x0, y0), (x1, y1) = start, end
        length = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 or 1
        ux, uy = (x1 - x0) / length, (y1 - y0) / length
        bx, by = x1 - ux * size, y1 - uy * size
        px, py = -uy * size * 0.5, ux * size * 0.5
        self._strokes.setdefault(cls, []).append(f"M{_n(x1)} {_n(y1)} L{_n(bx + px)} {_n(by + py)} "
                           f"L{_n(bx - px)} {_n(by - py)}Z")

    def arrow(self, x0, y0, x1, y1, cls="line"):
        self.line([(x0, y0), (x1, y1)], cls)

    # Output -------------------------------------------------------------------------------
    def render(self, alt: str, caption: str) -> str:
        """The SVG document: its accessible name is `alt`; the page shows `caption` under it
        (hooks/inline_figures.py moves data-caption into the <figcaption>)."""
        parts = list(self.parts)
        for cls, pieces in self._strokes.items():
            parts.append(f'<path class="{cls}" d="{" ".join(pieces)}"/>')
        w, h = _n(self.width), _n(self.height)
        # Never drawn narrower than 480 px: on a phone the figure scrolls sideways rather
        # than shrinking its labels past reading (13 px text stays above 10 px).
        min_width = _n(min(self.width, 480))
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="figure-{self.name}" '
                f'viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
                f'style="min-width: {min_width}px" text-anchor="middle" role="img" lang="{self.lang}" '
                f'aria-label="{_attr(alt)}" data-caption="{_attr(caption)}">')
        return head + "\n" + "\n".join(parts) + "\n</svg>\n"


def circle(drawing: Drawing, cx, cy, r, cls="box", label: str | None = None):
    """A circle (a sum node), with an optional label centred in it."""
    drawing.parts.append(f'<circle class="{cls}" cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(r)}"/>')
    if label:
        drawing.text(cx, cy + FONT_SIZE * 0.36, label)

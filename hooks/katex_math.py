"""Math typeset at build time into MathML, which the reader's browser lays out natively.

pymdownx.arithmatex (generic mode) leaves each formula as TeX in a span or div of class
`arithmatex`. This hook replaces that TeX with MathML, written by the vendored KaTeX
(hooks/vendor/katex.min.js) inside an embedded V8 (mini-racer). Pages run no script to
show a formula, and the MathML is what screen readers read, too.

Why MathML alone, and not KaTeX's HTML: every current browser engine lays out MathML
(MathML Core: Chromium 109, Firefox, Safari), and KaTeX's HTML rendering of the same
formula takes about five times as many elements (a formula of the Adam update: 169 against
34). On the Adam page they were over half of the DOM (5,167 elements; 3,017 with MathML
alone), and the browser's first style and layout of the page grew with them.
The formulas are drawn in Noto Sans Math (docs/assets/fonts), an OpenType math font: its
MATH table is what the browser sizes fraction bars, radicals and stretchy brackets from.

MathML Core draws every `mathvariant` but "normal" as plain text, so the styled letters
that \\mathbb, \\mathcal, \\mathfrak or \\mathsf produce become the Unicode characters for
them (ℝ, ℒ, ℭ, 𝖠), as MathML Core asks authors to do (KaTeX already does so for bold).

A formula KaTeX cannot parse stops the build with the page and the TeX in the message.
"""

from __future__ import annotations

import functools
import html
import pathlib
import re
import unicodedata

from mkdocs.exceptions import PluginError

KATEX_JS = pathlib.Path(__file__).parent / "vendor" / "katex.min.js"

# What arithmatex's generic mode writes: \( \) inline in a span, \[ \] display in a div.
ARITHMATEX = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">(?P<tex>.*?)</(?P=tag)>', re.DOTALL)

# A token element with a styled variant, as KaTeX writes it (no other attributes, no markup).
STYLED_TOKEN = re.compile(
    r'<(?P<tag>mi|mn|mtext) mathvariant="(?P<variant>[a-z-]+)">(?P<text>[^<]*)</(?P=tag)>')

# KaTeX writes \hat and \tilde as the ASCII ^ and ~ over their base. Drawn by the browser,
# those are operators that stretch over the whole base and overlap it; the spacing
# modifier letters are the accents themselves.
ACCENTS = {"<mo>^</mo></mover>": "<mo>\u02c6</mo></mover>",
           "<mo>~</mo></mover>": "<mo>\u02dc</mo></mover>"}

# Spacing TeX applies and KaTeX's MathML leaves to the browser, which would read every
# sign as a binary operator (x = − 1) and set no space after a function name (logp):
# a sign right after an operator, a relation, an opening bracket or a comma is a prefix
# sign; a function name followed by a letter or number gets TeX's thin space.
PREFIX_SIGN = re.compile(r'(<mo(?: [^>]*)?>(?![)\]}|‖∥⟩])[^<]+</mo>)<mo>([−+±∓])</mo>')
# KaTeX also writes the function-application sign after a function name with nothing to
# apply to (v^{\max}): in a script that is a fourth child, and the browser gives up the
# layout of the whole msubsup. Nothing follows it there, so it goes.
DANGLING_FUNCTION_SIGN = "<mo>\u2061</mo></"
FUNCTION_THEN_OPERAND = re.compile(
    r'<mo>\u2061</mo>(?=<(?:mi|mn|msub|msup|msubsup|mfrac|msqrt)[ >])')

# mathvariant values and the words Unicode uses for them in character names.
VARIANT_NAMES = {
    "bold": "BOLD", "italic": "ITALIC", "bold-italic": "BOLD ITALIC",
    "script": "SCRIPT", "bold-script": "BOLD SCRIPT", "fraktur": "FRAKTUR",
    "bold-fraktur": "BOLD FRAKTUR", "double-struck": "DOUBLE-STRUCK",
    "sans-serif": "SANS-SERIF", "bold-sans-serif": "SANS-SERIF BOLD",
    "sans-serif-italic": "SANS-SERIF ITALIC",
    "sans-serif-bold-italic": "SANS-SERIF BOLD ITALIC", "monospace": "MONOSPACE",
}
# Styled letters Unicode encoded before its Mathematical Alphanumeric Symbols block; the
# rest of them (ℝ, ℒ, ℭ ...) are found under "<variant> CAPITAL <letter>".
OLDER_NAMES = {"ITALIC SMALL H": "PLANCK CONSTANT",
               **{f"FRAKTUR CAPITAL {c}": f"BLACK-LETTER CAPITAL {c}" for c in "CHIRZ"}}


@functools.cache
def _katex():
    from py_mini_racer import MiniRacer

    context = MiniRacer()
    context.eval(KATEX_JS.read_text(encoding="utf-8"))
    return context


@functools.cache
def styled_character(char: str, variant: str) -> str:
    """`char` in a mathvariant style (𝐖 for "W" in "bold"); `char` itself if Unicode has none."""
    name = unicodedata.name(char, "")
    for script in ("LATIN ", "GREEK "):
        if name.startswith(script):
            name = name[len(script):].replace("LETTER ", "", 1)
    styled = f"{VARIANT_NAMES[variant]} {name}"
    for candidate in (f"MATHEMATICAL {styled}", OLDER_NAMES.get(styled, styled)):
        try:
            return unicodedata.lookup(candidate)
        except KeyError:
            continue
    return char


def _plain_variant(match: re.Match) -> str:
    tag, variant, text = match["tag"], match["variant"], match["text"]
    if variant not in VARIANT_NAMES:  # "normal" among them: MathML Core draws it
        return match[0]
    plain = html.unescape(text)
    styled = "".join(styled_character(char, variant) for char in plain)
    if styled == plain:  # nothing Unicode can style: leave it to the browser
        return match[0]
    return f"<{tag}>{html.escape(styled, quote=False)}</{tag}>"


@functools.cache
def render(tex: str, display: bool) -> str:
    """The MathML for one formula; raises ValueError with KaTeX's message if it cannot parse."""
    try:
        markup = _katex().call("katex.renderToString", tex, {
            "displayMode": display, "output": "mathml", "throwOnError": True})
    except Exception as error:  # mini-racer raises its own JSEvalException
        raise ValueError(str(error).splitlines()[0]) from None
    # KaTeX wraps the <math> in a span of its own (class "katex"), which nothing styles here.
    math = markup[markup.index("<math"):markup.rindex("</math>") + len("</math>")]
    for ascii_accent, accent in ACCENTS.items():
        math = math.replace(ascii_accent, accent)
    math = PREFIX_SIGN.sub(r'\1<mo form="prefix">\2</mo>', math)
    math = math.replace(DANGLING_FUNCTION_SIGN, "</")
    math = FUNCTION_THEN_OPERAND.sub('<mo rspace="0.1667em">\u2061</mo>', math)
    # The search index takes a formula's TeX (its annotation), not the drawn characters as
    # well: "\\sqrt{v}" reads better in a result than "v" run into the TeX after it.
    math = math.replace("<semantics><mrow>", "<semantics><mrow data-search-exclude>", 1)
    return STYLED_TOKEN.sub(_plain_variant, math)


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

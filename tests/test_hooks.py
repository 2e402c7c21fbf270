"""The build hooks (hooks/*.py) on small inputs: math typeset or refused with a clear
message, highlighting spans dropped only where they change nothing."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "hooks"))
import example_pages  # noqa: E402
import katex_math  # noqa: E402
import lean_code  # noqa: E402
import offscreen_sections  # noqa: E402
import page_actions  # noqa: E402
import table_hosts  # noqa: E402

PAGE = SimpleNamespace(file=SimpleNamespace(src_uri="training/adam.md"))


def test_arithmatex_output_is_typeset_into_mathml():
    html = ('<p>For <span class="arithmatex">\\(\\hat m_t &lt; 1\\)</span>:</p>\n'
            '<div class="arithmatex">\\[\\frac{a}{b}\\]</div>')
    out = katex_math.on_page_content(html, PAGE, None, None)
    assert '<span class="arithmatex"><math xmlns="http://www.w3.org/1998/Math/MathML">' in out
    assert '<div class="arithmatex"><math xmlns="http://www.w3.org/1998/Math/MathML" ' \
        'display="block">' in out
    assert out.count("<math") == 2 and "\\(" not in out and "\\[" not in out
    assert "<mo>&lt;</mo>" in out  # the TeX was unescaped before KaTeX saw it
    assert "katex" not in out  # no wrapper that the stylesheet would have to know


@pytest.mark.parametrize("tex, shown", [
    ("\\mathbb{R}^d", "<mi>ℝ</mi>"),  # letters Unicode encoded early, outside the math block
    ("\\mathcal{L}", "<mi>ℒ</mi>"),
    ("\\mathfrak{C}", "<mi>ℭ</mi>"),
    ("\\mathbb{E}", "<mi>𝔼</mi>"),
    ("\\mathsf{A}", "<mi>𝖠</mi>"),
])
def test_styled_letters_become_their_unicode_characters(tex, shown):
    out = katex_math.render(tex, display=False)
    assert shown in out and "mathvariant" not in out


def test_accents_signs_and_function_names_are_spaced_as_in_tex():
    out = katex_math.render("\\hat m = -\\log p + \\tilde x - \\max(a, b)", display=False)
    assert "<mo>ˆ</mo></mover>" in out and "<mo>˜</mo></mover>" in out
    assert out.count('<mo form="prefix">−</mo>') == 1  # after "=", not after ")" or x
    assert out.count("<mo>−</mo>") == 1
    assert '<mi>log</mi><mo rspace="0.1667em">\u2061</mo><mi>p</mi>' in out
    assert "<mi>max</mi><mo>\u2061</mo>" in out  # before a bracket: no space


def test_a_function_name_as_a_script_leaves_three_children_for_the_browser():
    out = katex_math.render("v^{\\max}_t", display=False)
    assert "<msubsup><mi>v</mi><mi>t</mi><mi>max</mi></msubsup>" in out


def test_a_formula_katex_cannot_parse_names_the_page_and_the_tex():
    html = '<span class="arithmatex">\\(\\frac{a\\)</span>'
    with pytest.raises(PluginError, match=r"training/adam\.md: KaTeX cannot typeset '\\\\frac\{a'"):
        katex_math.on_page_content(html, PAGE, None, None)


@pytest.mark.parametrize("text, formulas", [
    ("a parameter $\\theta$ and $g_t$", ["\\theta", "g_t"]),
    ("$$\\sum_i x_i$$ then $y$", ["\\sum_i x_i", "y"]),
    ("costs $5 and $ 6", []),  # a space after the opening dollar: not math
    ("escaped \\$x\\$ stays text", []),
])
def test_notebook_math_delimiters(text, formulas):
    found = [m["display"] or m["inline"] for m in example_pages.MATH.finditer(text)]
    assert found == formulas


def test_only_spans_without_a_look_of_their_own_are_dropped():
    code = ('<span class="n">x</span><span class="w"> </span><span class="o">=</span>'
            '<span class="nb">len</span><span class="p">(</span><span class="n">y</span>)'
            '<span class="w"> </span><span class="ow">in</span> <span class="mi">1</span>'
            '<span class="op">+</span><span class="kc">None</span>')
    assert lean_code.on_page_content(code, PAGE, None, None) == (
        'x =<span class="nb">len</span>(y) in <span class="mi">1</span><span class="op">+</span>'
        'None')


def test_neighbouring_spans_of_one_colour_become_one():
    code = ('<span class="sa">f</span><span class="s2">&quot;x=</span><span class="si">{</span>'
            'x<span class="si">}</span><span class="s2">&quot;</span><span class="mi">1</span>'
            '<span class="mf">2.0</span><span class="nb">len</span><span class="si">{</span>')
    assert lean_code.on_page_content(code, PAGE, None, None) == (
        'f<span class="s2">&quot;x={</span>x<span class="si">}&quot;</span>'
        '<span class="mi">12.0</span><span class="nb">len</span><span class="si">{</span>')


def material_token_colours() -> dict[str, str]:
    """Pygments class -> the colour Material's stylesheet gives it."""
    import material

    sheet = next((Path(material.__file__).parent / "templates/assets/stylesheets")
                 .glob("main.*.min.css")).read_text()
    colours = {}
    for selectors, colour in re.findall(r"((?:\.highlight \.[a-z0-9]+,?)+)\{color:([^;}]+)", sheet):
        for token in re.findall(r"\.highlight \.([a-z0-9]+)", selectors):
            colours[token] = colour
    return colours


def test_lean_code_agrees_with_materials_stylesheet():
    colours = material_token_colours()
    extra = (ROOT / "docs/assets/stylesheets/extra.css").read_text()
    drawn_as_code = {"var(--md-code-hl-name-color)"} | {
        f"var({name})" for name in re.findall(r"(--md-code-hl-[a-z]+-color): var\(--md-code-fg-color\)",
                                            extra)}
    # Read from Material's stylesheet: if its rules stop matching the pattern above, the
    # comparisons below would hold for nothing, so the test fails instead.
    assert len(colours) >= 20, f"read {len(colours)} token colours from Material's stylesheet"
    assert "var(--md-code-hl-name-color)" in colours.values(), colours
    assert len(drawn_as_code) >= 2, "extra.css no longer maps any token colour to the code colour"
    coloured = {token: colours[token] for token in lean_code.PLAIN_CLASSES if token in colours}
    assert set(coloured.values()) <= drawn_as_code, f"dropped spans that Material colours: {coloured}"
    for tokens in lean_code.SAME_COLOUR.values():
        missing = [token for token in tokens.split() if token not in colours]
        assert not missing, f"Material's stylesheet gives no colour to {missing}"
        assert len({colours[token] for token in tokens.split()}) == 1, tokens


def test_search_indexes_a_formula_by_its_tex_alone():
    from material.plugins.search.plugin import Parser

    parser = Parser()
    formula = katex_math.render("1/\\sqrt{v}", display=False)
    parser.feed(f"<p>Scale by {formula} here.</p>")
    text = "".join(parser.data[0].text)
    assert text == "<p>Scale by 1/\\sqrt{v} here.</p>"


def test_bare_tables_get_a_host_and_classed_ones_are_left_alone():
    html = ('<p>a</p><table>\n<tr><td>1</td></tr>\n</table><table class="dataframe">'
            '<tr><td>2</td></tr></table>')
    assert table_hosts.on_page_content(html, PAGE, None, None) == (
        '<p>a</p><div class="table-host"><table>\n<tr><td>1</td></tr>\n</table></div>'
        '<table class="dataframe"><tr><td>2</td></tr></table>')


def _page_of_sections(count: int) -> str:
    """An article: a heading, then `count` sections of a heading and 40 lines of code."""
    code = '<div class="highlight"><pre><code>' + "x = 1\n" * 40 + "</code></pre></div>"
    return '<h1 id="t">T</h1>\n<p>Intro</p>\n' + "".join(
        f'<h2 id="s{n}">S{n}</h2>\n<p>Text {n}</p>\n{code}\n' for n in range(count))


def test_sections_below_the_first_screens_are_boxed_without_their_headings():
    html = _page_of_sections(8)
    out = offscreen_sections.on_page_content(html, PAGE, None, None)
    boxes = re.findall(r'<div class="offscreen-section" style="([^"]*)">(.*?)</div>\n',
                       out, re.DOTALL)
    # 40 code lines and two blocks: 40 * 17 + 2 * 33 = 746 px, so the sections starting
    # after 2,000 estimated pixels (the fourth on) are boxed, but for the last.
    assert len(boxes) == 4 and "<p>Text 7</p>" in out.split('<div class="offscreen-section"')[-1]
    assert all(style == "--code-height: 746px; --text-height: 20px" for style, _ in boxes)
    assert all(body.startswith("<p>Text") and "<h2" not in body for _, body in boxes)
    assert '<p>Text 2</p>' in out.split('<div class="offscreen-section"')[0]
    # Nothing but the boxes was added.
    assert re.sub(r'<div class="offscreen-section"[^>]*>(.*?)</div>\n', r"\1\n", out,
                  flags=re.DOTALL) == html


def test_section_estimates_count_wrapped_text_and_wide_characters_twice():
    code, text = offscreen_sections.estimated_heights("<p>" + "a" * 90 + "</p>", 1)
    assert (code, text) == (33, 2 * 20)
    code, text = offscreen_sections.estimated_heights("<p>" + "中" * 45 + "</p>", 1)
    assert (code, text) == (33, 2 * 20)


def test_a_page_whose_html_leaves_an_element_open_is_refused_by_name():
    with pytest.raises(PluginError, match="training/adam.md: its HTML does not close"):
        offscreen_sections.on_page_content("<h2>a</h2><div><p>b</p>", PAGE, None, None)


def _actions(src_uri: str, docs_dir: str, repository: str):
    page = SimpleNamespace(file=SimpleNamespace(src_uri=src_uri), title="Adam optimizer",
                           canonical_url="https://example.org/training/adam/", url="",
                           meta={}, edit_url=None)

    class Config(dict):
        extra = {"repository": repository}

    page_actions.on_page_context({}, page, Config(docs_dir=str(ROOT / docs_dir)), None)
    return page


def test_edit_and_report_links_name_the_page_its_source_and_the_versions():
    import importlib.metadata
    from urllib.parse import parse_qs, urlsplit

    repository = "https://github.com/someone/pytorch-notes"
    page = _actions("training/adam.md", "docs/zh", repository + "/")
    assert page.edit_url == f"{repository}/edit/main/docs/zh/training/adam.md"
    report = urlsplit(page.meta["report_url"])
    assert f"{report.scheme}://{report.netloc}{report.path}" == f"{repository}/issues/new"
    query = parse_qs(report.query)
    assert query["title"] == ["Problem on Adam optimizer"]
    assert "https://example.org/training/adam/" in query["body"][0]
    assert f"torch {importlib.metadata.version('torch')}" in query["body"][0]
    example = _actions("examples/adam/adam_from_scratch.ipynb", "docs", repository)
    assert example.edit_url == f"{repository}/edit/main/examples/adam/adam_from_scratch.py"
    assert (ROOT / "examples/adam/adam_from_scratch.py").exists()


def test_without_a_repository_there_are_no_edit_or_report_links():
    page = _actions("training/adam.md", "docs", "")
    assert page.edit_url is None and "report_url" not in page.meta

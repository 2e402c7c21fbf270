"""Static checks of the example scripts, with messages that say what to fix; the site
build then executes them (tests/test_site.py)."""

from __future__ import annotations

import ast
import re

import jupytext
import pytest

from tests.conftest import EXAMPLES, example_id

HEADING = re.compile(r"^(#{1,6})\s+(.*)$", re.MULTILINE)


@pytest.fixture(params=EXAMPLES, ids=example_id)
def notebook(request):
    return request.param, jupytext.read(request.param)


def test_opens_with_one_title(notebook):
    path, nb = notebook
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), (
        f"{example_id(path)}: start with a markdown cell whose first line is '# <Title>'"
    )
    titles = [h for cell in nb.cells if cell.cell_type == "markdown"
              for level, h in HEADING.findall(cell.source) if level == "#"]
    assert len(titles) == 1, f"{example_id(path)}: one H1 title, found {titles}"


def test_headings_have_no_inline_code(notebook):
    # mkdocs-jupyter leaves inline code out of a heading's TOC link but not out of its id,
    # so such a heading gets a broken anchor (and a title with a hole in it).
    path, nb = notebook
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for _, heading in HEADING.findall(cell.source):
                assert "`" not in heading, f"{example_id(path)}: plain text in heading {heading!r}"


def test_ends_by_asserting_its_claims(notebook):
    path, nb = notebook
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    last = ast.parse(code[-1].source)
    asserts = [node for node in ast.walk(last) if isinstance(node, ast.Assert)]
    assert asserts, f"{example_id(path)}: the last code cell asserts the claims of the page"

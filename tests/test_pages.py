"""The pages themselves: every Python block is collected, untested blocks say why, shown
output is checked, and each topic page carries the original question in Chinese."""

from __future__ import annotations

import pathlib
import re

import pytest
from pytest_markdown_docs.plugin import FenceSyntax, extract_fence_tests

from tests.conftest import DOCS, PAGES, TOPIC_PAGES
from tests.markdown_blocks import (
    fence_info,
    is_output,
    is_python,
    markdown_parser,
    python_fences_in_source,
)

CJK = re.compile(r"[\u4e00-\u9fff]")


def page_id(path: pathlib.Path) -> str:
    return str(path.relative_to(DOCS))


def fences(path: pathlib.Path):
    tokens = markdown_parser().parse(path.read_text(encoding="utf-8"))
    return [t for t in tokens if t.type == "fence"], tokens


def test_there_are_pages():
    assert TOPIC_PAGES, "no topic pages found under docs/"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_python_block_is_collected(page):
    """Blocks inside admonitions and tabs count too: the collector must see all of them."""
    text = page.read_text(encoding="utf-8")
    collected = list(
        extract_fence_tests(
            markdown_parser(), text, 0, page, fence_syntax=FenceSyntax.superfences
        )
    )
    python_fences = [t for t in fences(page)[0] if is_python(t)]
    not_tested = [t for t in python_fences if "notest" in fence_info(t)]
    in_source = python_fences_in_source(text)
    assert len(python_fences) == in_source, (
        f"the Markdown parser sees {len(python_fences)} Python blocks, "
        f"the page source has {in_source}: a block is hidden from the tests"
    )
    assert len(collected) == in_source - len(not_tested)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_untested_blocks_say_why(page):
    for token in fences(page)[0]:
        if is_python(token) and "notest" in fence_info(token):
            assert re.search(r'title="Not tested: \S', token.info), (
                f"{page_id(page)}:{token.map[0] + 1}: a notest block needs "
                'title="Not tested: <reason>" so the reason shows beside it'
            )


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_shown_output_belongs_to_a_tested_block(page):
    """An output fence that does not directly follow a tested block would go unchecked."""
    tokens = fences(page)[1]
    for index, token in enumerate(tokens):
        if is_output(token):
            before = tokens[index - 1] if index else None
            assert before is not None and is_python(before), (
                f"{page_id(page)}:{token.map[0] + 1}: output must directly follow its Python block"
            )
            assert "notest" not in fence_info(before), (
                f"{page_id(page)}:{token.map[0] + 1}: output shown for an untested block"
            )


@pytest.mark.parametrize("page", TOPIC_PAGES, ids=page_id)
def test_topic_page_quotes_the_original_question_in_chinese(page):
    lines = page.read_text(encoding="utf-8").splitlines()
    head = "\n".join(lines[:8])
    assert CJK.search(head), f"{page_id(page)}: the original question (in Chinese) goes under the title"

"""The pages themselves: every Python block is collected, untested blocks say why, shown
output is checked, and each topic page carries the original question in Chinese."""

from __future__ import annotations

import pathlib
import re

import pytest
from pytest_markdown_docs.plugin import FenceSyntax, extract_fence_tests

from tests.conftest import DOCS, EN_PAGES, PAGES, ROOT, TOPIC_PAGES, ZH, counterpart
from tests.markdown_blocks import (
    fence_info,
    is_output,
    is_python,
    markdown_parser,
    python_blocks,
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
            assert re.search(r'title="(Not tested|未测试)[:：] ?\S', token.info), (
                f"{page_id(page)}:{token.map[0] + 1}: a notest block needs "
                'title="Not tested: <reason>" (未测试：<原因>) so the reason shows beside it'
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


# The home page's table of the original questions: | 41 | <Chinese> | <English> |
QUESTION_ROW = re.compile(r"^\| (4\d|50) \| (.+?) \| (.+?) \|$", re.MULTILINE)
# Under a topic page's title: > **Q41.** <Chinese>, a blank quote line, > *<English>*
QUOTED_QUESTION = re.compile(r"\A# .+\n\n> \*\*Q(\d\d)\.\*\* (.+)\n>\n> \*(.+)\*\n")
# The original Q&A, where a checkout has it beside the project (its `## 41. ...` headings).
ORIGINAL = ROOT.parent / "shared" / "original" / "000_30a3ee90039f1980.txt"


def original_questions() -> dict[str, tuple[str, str]]:
    table = QUESTION_ROW.findall((DOCS / "index.md").read_text(encoding="utf-8"))
    return {number: (chinese, english) for number, chinese, english in table}


def test_home_page_records_the_ten_original_questions():
    questions = original_questions()
    assert sorted(questions) == [str(n) for n in range(41, 51)], sorted(questions)
    for number, (chinese, english) in questions.items():
        assert CJK.search(chinese) and not CJK.search(english), f"Q{number}: Chinese, then English"


@pytest.mark.skipif(not ORIGINAL.exists(), reason="the original Q&A is not beside this checkout")
def test_recorded_questions_are_the_originals_word_for_word():
    headings = dict(re.findall(r"^## (4\d|50)\. (.+?)\s*$", ORIGINAL.read_text(encoding="utf-8"),
                               re.MULTILINE))
    recorded = {number: chinese for number, (chinese, _) in original_questions().items()}
    assert recorded == headings


# Topic pages of both editions: each quotes its question and renders the original answer.
BOTH_TOPIC_PAGES = TOPIC_PAGES + [counterpart(p) for p in TOPIC_PAGES if counterpart(p).exists()]
# The title of the collapsed original answer, by edition: the English edition renders it in
# English, with numbered points; the Chinese one shows it as the original writes it
# (tests/test_chinese_text.py holds it word for word).
ORIGINAL_ANSWER_TITLE = {"en": "The original answer, in English", "zh": "原回答（原文）"}


@pytest.mark.parametrize("page", BOTH_TOPIC_PAGES, ids=page_id)
def test_topic_page_quotes_its_original_question(page):
    quoted = QUOTED_QUESTION.match(page.read_text(encoding="utf-8"))
    assert quoted, (
        f"{page_id(page)}: under the title, quote the question as "
        "'> **Q4x.** <Chinese>', '>', '> *<English>*' (see the table on the home page)"
    )
    number, chinese, english = quoted.groups()
    assert (chinese, english) == original_questions()[number], (
        f"{page_id(page)}: Q{number} differs from the home page's record of the question"
    )


@pytest.mark.parametrize("page", BOTH_TOPIC_PAGES, ids=page_id)
def test_topic_page_renders_the_original_answer(page):
    """A collapsed rendering of the original answer (in English, with numbered points)."""
    text = page.read_text(encoding="utf-8")
    edition = "zh" if ZH in page.parents else "en"
    title = ORIGINAL_ANSWER_TITLE[edition]
    rendering = re.search(rf'^\?\?\? quote "{title}"\n\n((?:    .*\n|\n)+)', text, re.MULTILINE)
    assert rendering, f'{page_id(page)}: add ??? quote "{title}"'
    if edition == "en":
        assert re.search(r"^    1\. ", rendering[1], re.MULTILINE), "number its points: 1. 2. ..."
    assert text.index(rendering[0]) < text.index("\n## "), "it comes before the first section"


# The two editions cannot drift apart: the Chinese page has the same code, tested the same
# way, shows the same output, and (tests/test_site.py) has the same links and anchors. So its
# blocks are not run a second time (conftest.py): the English ones stand for both.
@pytest.mark.parametrize("page", EN_PAGES, ids=page_id)
def test_every_english_page_has_a_chinese_counterpart(page):
    assert counterpart(page).exists(), f"write {counterpart(page).relative_to(ROOT)}"


def original_answer_lines(page: pathlib.Path) -> range:
    """The lines of a Chinese page's box with the original answer: the original's own code
    (not run, marked notest) is shown there and has no English counterpart."""
    text = page.read_text(encoding="utf-8")
    box = re.search(rf'^\?\?\? quote "{ORIGINAL_ANSWER_TITLE["zh"]}"\n\n(?:    .*\n|\n)+', text, re.MULTILINE)
    if box is None:
        return range(0)
    first = text[:box.start()].count("\n") + 1
    return range(first, first + box[0].count("\n"))


@pytest.mark.parametrize("page", [p for p in EN_PAGES if counterpart(p).exists()], ids=page_id)
def test_chinese_page_has_the_same_code_and_output(page):
    english = list(python_blocks(page).values())
    original = original_answer_lines(counterpart(page))
    in_original = [b for line, b in python_blocks(counterpart(page)).items() if line in original]
    assert all("notest" in b.options for b in in_original), (
        f"{page_id(counterpart(page))}: the original's code is shown, not run: mark it notest")
    chinese = [b for line, b in python_blocks(counterpart(page)).items() if line not in original]
    assert len(chinese) == len(english), (
        f"{page_id(counterpart(page))}: {len(chinese)} Python blocks, the English page has {len(english)}"
    )
    for number, (en, zh) in enumerate(zip(english, chinese), 1):
        assert zh == en, f"{page_id(counterpart(page))}: Python block {number} differs from the English one"


EXERCISES_HEADING = {"en": "## Exercises\n", "zh": "## 练习 {#exercises}\n"}
SOLUTION_TITLE = {"en": '??? success "Solution"', "zh": '??? success "解答"'}


@pytest.mark.parametrize("page", BOTH_TOPIC_PAGES, ids=page_id)
def test_topic_page_ends_with_exercises_whose_solutions_run(page):
    """Four to six exercises, each with a collapsed solution holding a tested Python block
    (which, like every block, runs in make test)."""
    edition = "zh" if ZH in page.parents else "en"
    text = page.read_text(encoding="utf-8")
    assert EXERCISES_HEADING[edition] in text, f"{page_id(page)}: add {EXERCISES_HEADING[edition]!r}"
    section = text.split(EXERCISES_HEADING[edition], 1)[1].split("\n## ", 1)[0]
    exercises = re.split(r"^### ", section, flags=re.MULTILINE)[1:]
    assert 4 <= len(exercises) <= 6, f"{page_id(page)}: {len(exercises)} exercises"
    for exercise in exercises:
        title = exercise.splitlines()[0]
        assert SOLUTION_TITLE[edition] in exercise, f"{page_id(page)}: {title!r} has no solution"
        solution = exercise.split(SOLUTION_TITLE[edition], 1)[1]
        assert re.search(r"^    ```python$", solution, re.MULTILINE), (
            f"{page_id(page)}: the solution of {title!r} has no tested Python block")

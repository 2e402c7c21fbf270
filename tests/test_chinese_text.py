"""The Chinese edition's text: the original answer shown as the original writes it, quotes of
it that are word for word, and Chinese prose that keeps one typography and one term per
concept (the glossary's), with every link to an English-only page marked as such."""

from __future__ import annotations

import pathlib
import posixpath
import re

import pytest

from hooks.search_terms import glossary_rows
from tests.conftest import DOCS, TOPIC_PAGES, ZH, ZH_PAGES, counterpart, squash

ORIGINAL = DOCS.parent.parent / "shared" / "original" / "000_30a3ee90039f1980.txt"
ZH_TOPIC_PAGES = [counterpart(p) for p in TOPIC_PAGES if counterpart(p).exists()]
GLOSSARY = ZH / "glossary.md"

CJK = "\u3400-\u9fff"
# The collapsed box under a Chinese topic page's question: the original answer, verbatim.
ORIGINAL_BOX = re.compile(r'^\?\?\? quote "原回答（原文）"\n\n((?:    .*\n|\n)+)', re.MULTILINE)
# How the box opens the original's code fences: not run, and saying why (tests/test_pages.py).
BOX_FENCE = re.compile(r'^```\{\.python notest title="[^"]+"\}$', re.MULTILINE)


def page_id(path: pathlib.Path) -> str:
    return str(path.relative_to(DOCS))


def original_answers(with_question: bool = False) -> dict[str, str]:
    """The original's answers by question number (the text under each `## 4x.` heading),
    optionally preceded by the question itself."""
    parts = re.split(r"^## ((4\d|50)\. .*)$", ORIGINAL.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {number: (heading + "\n" if with_question else "") + body.strip()
            for heading, number, body in zip(parts[1::3], parts[2::3], parts[3::3])}


def question_number(text: str) -> str:
    return re.search(r"^> \*\*Q(\d\d)\.\*\*", text, re.MULTILINE)[1]


def original_box(text: str) -> str | None:
    box = ORIGINAL_BOX.search(text)
    return None if box is None else re.sub(r"^    ", "", box[1], flags=re.MULTILINE)


needs_original = pytest.mark.skipif(not ORIGINAL.exists(),
                                    reason="the original Q&A is not beside this checkout")


@needs_original
@pytest.mark.parametrize("page", ZH_TOPIC_PAGES, ids=page_id)
def test_original_answer_is_shown_verbatim(page):
    text = page.read_text(encoding="utf-8")
    box = original_box(text)
    assert box is not None, f'{page_id(page)}: add ??? quote "原回答（原文）" under the question'
    original = original_answers()[question_number(text)]
    fences_in_original = original.count("```python")
    assert len(BOX_FENCE.findall(box)) == fences_in_original, (
        f'{page_id(page)}: open each of the original\'s {fences_in_original} code blocks as '
        '```{.python notest title="未测试：<原因>"}: the page tests do not run it')
    assert not re.search(r"^```\n(?!\n)", box, re.MULTILINE), (
        f"{page_id(page)}: leave a blank line after each of the original's code blocks, "
        "or the block renders inside the paragraph that follows it")
    shown = BOX_FENCE.sub("```python", box)
    assert squash(shown) == squash(original), (
        f"{page_id(page)}: the box differs from the original answer (whitespace aside)")


# Where the page presents words in “…” as the original's: in the corrections section, and in
# any other line that names the original answer.
CORRECTIONS = re.compile(r"^## 对原回答的更正.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
QUOTED = re.compile(r"“([^”]+)”")


def outside_box(text: str) -> str:
    box = ORIGINAL_BOX.search(text)
    return text if box is None else text[:box.start()] + "\n" * box[0].count("\n") + text[box.end():]


def quotes_of_the_original(text: str) -> list[str]:
    text = outside_box(text)
    corrections = CORRECTIONS.search(text)
    lines = [line for line in text.splitlines() if "原回答" in line]
    if corrections:
        lines += corrections[0].splitlines()
    return [quote for line in dict.fromkeys(lines) for quote in QUOTED.findall(line)
            if re.search(f"[{CJK}]", quote)]


def found_in(quote: str, original: str) -> bool:
    """The quote's pieces (an ellipsis …… marks what it leaves out) appear in order."""
    position = 0
    for piece in filter(None, (squash(p) for p in re.split(r"…+", quote))):
        position = original.find(piece, position)
        if position < 0:
            return False
        position += len(piece)
    return True


@needs_original
@pytest.mark.parametrize("page", ZH_TOPIC_PAGES, ids=page_id)
def test_quotes_of_the_original_are_word_for_word(page):
    text = page.read_text(encoding="utf-8")
    original = squash(original_answers(with_question=True)[question_number(text)])
    quotes = quotes_of_the_original(text)
    assert quotes, f"{page_id(page)}: its corrections quote nothing of the original"
    wrong = [quote for quote in quotes if not found_in(quote, original)]
    assert not wrong, f"{page_id(page)}: not in the original answer as quoted: {wrong}"


# “原回答第 3 点” points into the original's own numbered list: the English edition numbers
# its rendering's points, the verbatim original has its own numbers or none.
POINT_REFERENCE = re.compile(r"第\s*(\d+(?:\s*(?:、|和|到|至|，)\s*第?\s*\d+)*)\s*点")


@needs_original
@pytest.mark.parametrize("page", ZH_TOPIC_PAGES, ids=page_id)
def test_point_references_exist_in_the_original(page):
    text = outside_box(page.read_text(encoding="utf-8"))
    original = original_answers()[question_number(text)]
    highest = max((int(n) for n in re.findall(r"^(\d+)\. ", original, re.MULTILINE)), default=0)
    wrong = [m[0] for m in POINT_REFERENCE.finditer(text)
             if max(int(n) for n in re.findall(r"\d+", m[1])) > highest]
    assert not wrong, (f"{page_id(page)}: the original numbers no point past {highest}: {wrong}; "
                       "say where in the original (e.g. 原回答第二段)")


# --- Typography and terms ---------------------------------------------------------------

FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
# Lines that are syntax, not prose: link definitions.
LINK_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s")
TITLE = re.compile(r'^\s*(?:!!!|\?\?\?\+?|===\+?)\s*(?:[\w-]+\s*)?(?:"([^"]*)")?')
# Spans inside a prose line that are not prose: code, math, HTML tags, link targets,
# attribute lists, bare addresses.
NOT_PROSE = re.compile(r"`[^`]*`|\\\(.*?\\\)|\$[^$]*\$|<[^>]+>|\]\([^)]*\)|\]\[[^\]]*\]"
                       r"|\{[:#.][^}]*\}|\{ *\.[^}]*\}|https?://\S+")


def prose(text: str, quotes: frozenset[str] = frozenset()):
    """(line number, prose) of a page: outside code, the original's box and front matter;
    the titles of code blocks, admonitions and tabs are prose too. Quotes of the original
    are left out (they keep the original's own typography and terms)."""
    lines = outside_box(text).splitlines()
    fence = None
    front_matter = bool(lines) and lines[0] == "---"
    for number, line in enumerate(lines, 1):
        if front_matter:
            front_matter = number == 1 or line != "---"
            continue
        opening = FENCE.match(line)
        if fence is not None:
            if opening and opening[1][0] == fence[0] and len(opening[1]) >= len(fence) \
                    and not opening[2].strip():
                fence = None
            continue
        if opening:
            fence = opening[1]
            title = re.search(r'title="([^"]*)"', opening[2])
            if title:
                yield number, title[1]
            continue
        if LINK_DEFINITION.match(line):
            continue
        title = TITLE.match(line)
        if title and title.group(0).strip():
            yield number, title[1] or ""
            continue
        for quote in quotes:
            line = line.replace(f"“{quote}”", "“”")
        yield number, NOT_PROSE.sub(" ", line)


def titles(text: str):
    """(line number, title) of code blocks, admonitions and tabs, outside the original's box."""
    for number, line in enumerate(outside_box(text).splitlines(), 1):
        title = re.search(r'^\s*(?:`{3,}|~{3,}).*?title="([^"]*)"', line) or TITLE.match(line)
        if title and title[1]:
            yield number, title[1]


HALF_WIDTH = re.compile(
    rf"(?<=[{CJK}])[,:;!?](?!\w)|(?<=[{CJK}])\.(?=\s|$)|[,:;!?]\s*(?=[{CJK}])"
    rf"|(?<=[{CJK}])\s?[()]|[()]\s?(?=[{CJK}])|\([^()]*[{CJK}][^()]*\)")
# "小 10 倍", "多十倍": bigger or smaller by ten times, or ten times as big? Say "是……的 10 倍"
# or "只有……的十分之一".
AMBIGUOUS_TIMES = re.compile(
    r"(?:[深浅大小多少快慢高低长短宽窄重轻贵]|减少|缩小|降低|下降|提高|增加)了?\s*"
    r"(?:\d+(?:\.\d+)?|[一二两三四五六七八九十百千]+|多少|几)\s*倍")
# A round number of ten thousand or more: written with 万 or 亿 (glossary: 数字的写法).
GROUPED = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,]|\.\d)|(?<![\d.,])\d{5,}(?![\d,]|\.\d)")
REFERENCES = re.compile(r"^## 延伸阅读.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
EXAMPLES_NOTE = re.compile(r"示例页面(?:均)?为英文")


def glossary_variants(glossary: str) -> dict[str, str]:
    """Each variant in the glossary's 不用 column, with the term to use instead."""
    variants = {}
    for row in glossary_rows(glossary):
        for variant in filter(None, (v.strip().strip("`") for v in row["不用"].split("、"))):
            variants[variant] = row["中文"]
    return variants


def chinese_text_problems(text: str, variants: dict[str, str], quotes=frozenset()) -> list[str]:
    """What the typography and terminology check finds on one Chinese page."""
    problems = []
    for number, line in prose(text, frozenset(quotes)):
        if '"' in line:
            problems.append(f"{number}: ASCII quotes in prose; use “…”")
        for mark in HALF_WIDTH.finditer(line):
            problems.append(f"{number}: half-width {mark[0].strip()[0]!r} in Chinese text; use full-width")
        if re.search(f"[{CJK}，。：；、（] “|” [{CJK}，。：；、）]", line):
            problems.append(f"{number}: no space between Chinese text and “…”")
        for comparison in AMBIGUOUS_TIMES.finditer(line):
            problems.append(f"{number}: {comparison[0]!r} is ambiguous; say “是……的 N 倍” "
                            "or “只有……的 N 分之一”")
        for figure in GROUPED.finditer(line):
            value = int(figure[0].replace(",", ""))
            if value >= 10_000 and value % 1_000 == 0:
                problems.append(f"{number}: {figure[0]}: write round large numbers with 万 or 亿")
        for variant, term in variants.items():
            if variant in line:
                problems.append(f"{number}: {variant!r}: the glossary's term is {term!r}")
        if EXAMPLES_NOTE.search(line):
            problems.append(f"{number}: mark links to English pages with {{ .en-only }}, "
                            "not with a note")
    for number, title in titles(text):
        identifier = re.fullmatch(r"[\w.]*[._][\w.]*", title)  # torch.compile, model.py
        if re.search("[A-Za-z]", title) and not re.search(f"[{CJK}]", title) and not identifier:
            problems.append(f"{number}: the title {title!r} is in English")
    references = REFERENCES.search(text)
    if references:
        first = text[:references.start()].count("\n") + 1
        for offset, line in enumerate(references[0].splitlines()):
            if line.startswith("- ") and not line.rstrip().endswith("。"):
                problems.append(f"{first + offset}: end each reference with 。")
    return problems


def variants_for(page: pathlib.Path) -> dict[str, str]:
    # The glossary itself names the variants it rules out.
    return {} if page == GLOSSARY else glossary_variants(GLOSSARY.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", ZH_PAGES, ids=page_id)
def test_chinese_typography_and_terms(page):
    text = page.read_text(encoding="utf-8")
    quotes = quotes_of_the_original(text) if page in ZH_TOPIC_PAGES else []
    problems = chinese_text_problems(text, variants_for(page), quotes)
    assert not problems, f"{page_id(page)}:\n" + "\n".join(problems)


BAD_SNIPPET = """\
# 标题

> **Q50.** PyTorch中的ResNet是什么？它有什么应用？

??? quote "原回答（原文）"

    原回答里的“引号”和 "ASCII 引号" 不受检查: 它是原文。

它比 VGG 深 8 倍, 参数却只有 "一半"(大约)。训练了 1,000,000 步，批次大小为 256，用 “spawn” 启动。

```{.python notest title="未测试: 需要 GPU"}
print("代码里的 \\"引号\\" 不算")
```

```{.text .output title="Output"}
打印出来的 "输出" 不算
```

见[示例](../../examples/resnet/degradation/)（示例页面为英文）。

## 延伸阅读 {#further-reading}

- Kaiming He 等. [Deep Residual Learning][resnet]. CVPR 2016.
"""


def test_the_check_finds_each_kind_of_problem():
    problems = "\n".join(chinese_text_problems(BAD_SNIPPET, {"批次大小": "批大小"}))
    for expected in ["9: ASCII quotes", "9: half-width ','", "9: half-width '('",
                     "9: '深 8 倍' is ambiguous", "9: 1,000,000", "9: '批次大小'", "9: no space",
                     "11: half-width ':'", "15: the title 'Output' is in English",
                     "19: mark links", "23: end each reference", "23: half-width '.'"]:
        assert expected in problems, f"missed {expected!r} in:\n{problems}"
    assert not re.search(r"^(7|12|16):", problems, re.MULTILINE), problems


def test_point_references_are_read():
    found = [m[1] for m in POINT_REFERENCE.finditer("（原回答第 3、9 点）和（第 5 点和第 7 点）")]
    assert found == ["3、9", "5", "7"], found


def test_the_check_passes_clean_text():
    clean = ("它的深度是 VGG 的 8 倍，参数却只有“一半”（大约）。训练了 100 万步，批大小为 256，"
             "见[示例](../../examples/resnet/degradation/){ .en-only }。\n")
    assert chinese_text_problems(clean, {"批次大小": "批大小"}) == []


def test_the_glossary_lists_variants_the_check_reads():
    variants = glossary_variants(GLOSSARY.read_text(encoding="utf-8"))
    for variant in ["批次大小", "页锁定内存", "物体检测", "头部", "从零训练", "配方", "GPU 内存", "主干"]:
        assert variant in variants, f"the glossary does not rule out {variant!r}"


# --- Links to English-only pages ----------------------------------------------------------

LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)\)(\{[^}]*\})?")


def leaves_the_chinese_edition(page: pathlib.Path, href: str) -> bool:
    """Whether a relative link from a Chinese page lands outside the Chinese site (zh/):
    on a page that exists only in English (the examples)."""
    if re.match(r"[a-z]+:|#|/", href):
        return False
    path = href.split("#")[0]
    if not path or path.endswith(".md"):
        return False
    relative = page.relative_to(ZH).with_suffix("")
    url = ("zh" / relative.parent if relative.name == "index" else "zh" / relative).as_posix()
    return not posixpath.normpath(posixpath.join(url, path)).startswith("zh/")


def unmarked_english_links(page: pathlib.Path, text: str) -> list[str]:
    return [link[0] for link in LINK.finditer(text)
            if leaves_the_chinese_edition(page, link[1])
            and not re.search(r"\.en-only\b", link[2] or "")]


@pytest.mark.parametrize("page", ZH_PAGES, ids=page_id)
def test_links_to_english_pages_are_marked(page):
    unmarked = unmarked_english_links(page, page.read_text(encoding="utf-8"))
    assert not unmarked, (f"{page_id(page)}: add {{ .en-only }} after each link to an English "
                          f"page: {unmarked}")


def test_the_link_check_sees_unmarked_links():
    page = ZH / "vision" / "resnet.md"
    text = ("[退化示例](../../../examples/resnet/degradation/)；"
            "[表格里](../../../examples/resnet/resnet_from_scratch/){ .en-only }；"
            "[本站页面](inception.md#x)；[外部](https://pytorch.org/)\n")
    assert unmarked_english_links(page, text) == ["[退化示例](../../../examples/resnet/degradation/)"]
    assert EXAMPLES_NOTE.search("（示例页面为英文）")

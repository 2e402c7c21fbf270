"""Search as a reader uses it: typed into Material's search box on the built site, in
headless Chromium. A Chinese term lands on the page that explains it, typed as one word,
and with or without a space between Latin and Chinese text.

One page per edition stays open and takes every query (a fresh page costs a second each,
most of it Material building its index)."""

from __future__ import annotations

import re

import pytest

from hooks.search_terms import chinese_terms, glossary_terms
from tests.conftest import Visit

pytestmark = pytest.mark.browser

# One query, typed as a reader types it: the box emptied, the query set, a key released
# (Material searches on key events), then the results once Material has replaced the
# empty-box message.
RUN_QUERY = """async query => {
    const input = document.querySelector("input.md-search__input");
    const meta = document.querySelector(".md-search-result__meta");
    const list = document.querySelector(".md-search-result__list");
    const type = value => {
        input.value = value;
        input.dispatchEvent(new KeyboardEvent("keyup", {key: "End", bubbles: true}));
    };
    const until = async condition => {
        const start = performance.now();
        while (!condition()) {
            if (performance.now() - start > 10000) throw new Error(`no answer to ${query}`);
            await new Promise(resolve => setTimeout(resolve, 5));
        }
    };
    type("");
    await until(() => list.children.length === 0);
    const empty = meta.textContent;
    type(query);
    await until(() => meta.textContent !== empty);
    return [...list.querySelectorAll(".md-search-result__item a")].map(a => a.href);
}"""


class SearchBox(Visit):
    """Material's search box on an edition's home page, ready for queries."""

    def __init__(self, browser, url: str):
        super().__init__(browser, url)
        self.page.click("label.md-search__icon, .md-search__input", force=True)
        field = self.page.locator("input.md-search__input")
        field.fill("pytorch")  # the index is ready once a query has results
        field.press("End")
        self.page.wait_for_selector(".md-search-result__item", timeout=15_000)

    def pages(self, query: str) -> list[str]:
        """The pages found, best first, each once (address without query or fragment)."""
        links = self.page.evaluate(RUN_QUERY, query)
        return list(dict.fromkeys(re.sub(r"[?#].*", "", link) for link in links))


@pytest.fixture(scope="session")
def search_box(browser, site_url):
    boxes: dict[str, SearchBox] = {}

    def open_box(edition: str) -> SearchBox:
        if edition not in boxes:
            boxes[edition] = SearchBox(browser, site_url + edition)
        return boxes[edition]

    yield open_box
    for box in boxes.values():
        box.close(site_url)


def lands_on(pages: list[str], wanted: list[str], within: int = 3) -> bool:
    return any(page.endswith(path) for page in pages[:within] for path in wanted)


@pytest.mark.parametrize("query", ["adam", "AdamW", "优化器", "优缺点"])
def test_search_finds_the_adam_page(search_box, query):
    edition = "zh/" if re.search(r"[\u4e00-\u9fff]", query) else ""
    pages = search_box(edition).pages(query)
    assert lands_on(pages, ["/training/adam/"]), f"{query!r} found {pages[:5]}"


# Chinese concepts a Chinese reader searches for, typed as one word, and the page that
# explains each; then compound terms that jieba used to cut in two (匈牙利 | 算法) and terms
# written with a space between Latin and Chinese text, typed with and without it.
CHINESE_CONCEPTS = {
    "残差连接": "vision/resnet/",
    "学习率": "training/adam/",
    "数据增强": "training/data-augmentation/",
    "多进程": "training/data-loading/",
    "图像分类": "vision/image-classification/",
    "辅助分类器": "vision/inception/",
    "注意力机制": "sequence/transformer/",
    "迁移学习": "vision/transfer-learning/",
    "目标跟踪": "vision/object-tracking/",
    "掩码语言建模": "sequence/bert/",
    "匈牙利算法": "vision/object-tracking/",
    "卡尔曼滤波": "vision/object-tracking/",
    "预训练权重": "vision/transfer-learning/",
    "1x1 卷积": "vision/inception/",
    "1x1卷积": "vision/inception/",
    "KV 缓存": "sequence/transformer/",
    "KV缓存": "sequence/transformer/",
}


@pytest.mark.parametrize("query", CHINESE_CONCEPTS)
def test_chinese_search_finds_the_page_on_a_concept(search_box, query):
    pages = search_box("zh/").pages(query)
    wanted = "/zh/" + CHINESE_CONCEPTS[query]
    assert lands_on(pages, [wanted]), (
        f"{query!r}: {wanted} should be among the first three pages found, got {pages[:5]}")


def test_glossary_terms_are_words_of_the_search_index():
    """jieba (as the build runs it) keeps each glossary term of two characters or more whole."""
    split = {term: chinese_terms(term) for term in glossary_terms()
             if " " not in term and len(term) > 1}
    assert len(split) >= 100
    broken = {term: words for term, words in split.items() if words != [term]}
    assert not broken, broken

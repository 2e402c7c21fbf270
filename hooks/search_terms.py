"""The glossary's Chinese terms as words of the search index.

Material's search plugin cuts Chinese text into words with jieba at build time, and the
browser cuts what the reader typed into words of that index: a term that jieba cuts in two,
such as 匈牙利算法 (匈牙利 | 算法), was found only by accident. Each term of
docs/zh/glossary.md is added to jieba's dictionary (jieba.add_word, its public interface), so
the index holds it as one word and a reader typing it finds it (with the query's last
character made part of a word: overrides/assets/javascripts/workers/query.js).
"""

from __future__ import annotations

import functools
import pathlib
import re

import jieba
import jieba.posseg

GLOSSARY = pathlib.Path(__file__).resolve().parent.parent / "docs" / "zh" / "glossary.md"
CJK = re.compile(r"[\u4e00-\u9fff]")


def glossary_rows(text: str) -> list[dict[str, str]]:
    """The glossary's tables (one per letter range, with the same header): a row each, its
    cells by the header's column names."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header, *rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
                     for line in lines]
    return [dict(zip(header, row)) for row in rows
            if row != header and not set("".join(row)) <= set("-: ")]


@functools.cache
def glossary_terms() -> tuple[str, ...]:
    """The Chinese column of the glossary's table: each term, without the English in
    brackets some carry, alternatives (A、B or A / B) as separate terms."""
    terms = []
    for row in glossary_rows(GLOSSARY.read_text(encoding="utf-8")):
        chinese = re.sub(r"[（(][^）)]*[）)]", "", row["中文"])
        for term in re.split(r"[、/，,；;]", chinese):
            term = term.strip(" `*")
            if CJK.search(term):
                terms.append(term)
    return tuple(dict.fromkeys(terms))


@functools.cache
def _dictionary_loaded() -> bool:
    for term in glossary_terms():
        # jieba keeps Latin letters and digits inside a word but never a space: a term written
        # with one ("1x1 卷积") is found through its parts, which the search separator splits.
        for word in term.split():
            if CJK.search(word) and len(word) > 1:
                jieba.add_word(word)
    return True


def chinese_terms(text: str) -> list[str]:
    """The terms a reader would search for in a text: its glossary terms and nouns of two
    Chinese characters or more, cut as the search index cuts them."""
    _dictionary_loaded()
    glossary = set(glossary_terms())
    return [pair.word for pair in jieba.posseg.cut(text)
            if len(CJK.findall(pair.word)) > 1
            and (pair.word in glossary or pair.flag.startswith("n") or pair.flag == "vn")]


def on_config(config):
    _dictionary_loaded()
    return config


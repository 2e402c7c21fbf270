"""How the tests read the Python blocks of a page.

pytest-markdown-docs runs the blocks; this module gives it a Markdown parser that also
sees blocks nested in admonitions (!!!, ???) and content tabs (===), and finds the
expected output that a page shows under a block (a fence with the class `.output`).
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import re

from markdown_it import MarkdownIt
from mdit_py_plugins.admon import admon_plugin
from pytest_markdown_docs.plugin import parse_superfences_block_info

# Material's content tabs (=== "Title") nest blocks exactly like admonitions (!!! type
# "Title") do. The admonition plugin knows only its own markers, so a core rule of the
# parser (markdown-it's public Ruler API) rewrites each tab marker into an admonition
# marker before the blocks are parsed: line numbers stay those of the page.
TAB_MARKER = re.compile(r'^([ \t]*)===\+?(?=[ \t]+")', re.MULTILINE)


def _tabs_as_admonitions(state) -> None:
    state.src = TAB_MARKER.sub(r"\1!!! tab", state.src)


PYTHON_LANGS = {"py", "python", "python3"}
# The fence options pytest-markdown-docs acts on.
TEST_OPTIONS = {"notest", "continuation"}

# A fence opening line whose language is Python, in either the plain or the brace form,
# at any indentation (admonitions and tabs indent their content).
_PYTHON_FENCE = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*(?:\{[^}]*\.(?:py|python|python3)\b[^}]*\}|(?:py|python|python3)\b)"
)


def markdown_parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark").use(admon_plugin)
    parser.core.ruler.after("normalize", "material_tabs", _tabs_as_admonitions)
    return parser


def fence_info(token) -> list[str]:
    """Language first, then the options, as pytest-markdown-docs reads them."""
    return parse_superfences_block_info(token.info)


def is_python(token) -> bool:
    info = fence_info(token)
    return token.type == "fence" and bool(info) and info[0] in PYTHON_LANGS


def is_output(token) -> bool:
    return token.type == "fence" and ".output" in token.info.split()


@dataclasses.dataclass(frozen=True)
class PythonBlock:
    code: str
    expected_output: str | None  # the `.output` fence right under the block, if any
    # How the tests treat it (`notest`, `continuation`); a title is prose, not an option.
    options: frozenset[str] = frozenset()


@functools.cache
def python_blocks(path: pathlib.Path) -> dict[int, PythonBlock]:
    """The page's Python blocks, keyed by their first code line (as the plugin numbers them)."""
    tokens = markdown_parser().parse(path.read_text(encoding="utf-8"))
    blocks = {}
    for index, token in enumerate(tokens):
        if is_python(token):
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            output = following.content if following is not None and is_output(following) else None
            options = frozenset(o for o in fence_info(token)[1:] if o in TEST_OPTIONS)
            blocks[token.map[0] + 1] = PythonBlock(token.content, output, options)
    return blocks


def python_fences_in_source(text: str) -> int:
    """Count Python fences with a plain line scan, independently of any Markdown parser."""
    return sum(1 for line in text.splitlines() if _PYTHON_FENCE.match(line))

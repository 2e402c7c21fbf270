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
from mdit_py_plugins.admon import index as admon
from pytest_markdown_docs.plugin import parse_superfences_block_info

# Material's content tabs (=== "Title") nest blocks exactly like admonitions do, so the
# admonition rule parses them once it knows the marker. The plugin has no option for
# extra markers; extending its module-level tuple is the supported way to add one.
if "===" not in admon.MARKERS:
    admon.MARKERS = (*admon.MARKERS, "===", "===+")
    admon.MARKER_CHARS = {marker[0] for marker in admon.MARKERS}
    admon.MAX_MARKER_LEN = max(len(marker) for marker in admon.MARKERS)

PYTHON_LANGS = {"py", "python", "python3"}

# A fence opening line whose language is Python, in either the plain or the brace form,
# at any indentation (admonitions and tabs indent their content).
_PYTHON_FENCE = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*(?:\{[^}]*\.(?:py|python|python3)\b[^}]*\}|(?:py|python|python3)\b)"
)


def markdown_parser() -> MarkdownIt:
    return MarkdownIt("commonmark").use(admon.admon_plugin)


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


@functools.cache
def python_blocks(path: pathlib.Path) -> dict[int, PythonBlock]:
    """The page's Python blocks, keyed by their first code line (as the plugin numbers them)."""
    tokens = markdown_parser().parse(path.read_text(encoding="utf-8"))
    blocks = {}
    for index, token in enumerate(tokens):
        if is_python(token):
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            output = following.content if following is not None and is_output(following) else None
            blocks[token.map[0] + 1] = PythonBlock(token.content, output)
    return blocks


def python_fences_in_source(text: str) -> int:
    """Count Python fences with a plain line scan, independently of any Markdown parser."""
    return sum(1 for line in text.splitlines() if _PYTHON_FENCE.match(line))

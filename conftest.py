"""Project-wide pytest configuration, at the root so that it also governs docs/.

Page blocks run through pytest-markdown-docs with the parser of tests/markdown_blocks.py
and a runner that compares what a block prints with the output the page shows.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import pathlib

import pytest
from pytest_markdown_docs._runners import DefaultRunner, register_runner
from pytest_markdown_docs.plugin import MarkdownDocstringCodeModule

from tests.background import BACKGROUND, Background
from tests.examples_stage import progress_reporter
from tests.markdown_blocks import markdown_parser, python_blocks


def pytest_markdown_docs_markdown_it():
    return markdown_parser()


ZH = pathlib.Path(__file__).resolve().parent / "docs" / "zh"


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    # The plugin would also import every .py file it sees to test docstrings; the project
    # keeps its samples in pages and examples, so only Markdown files are collected. The
    # Chinese pages' blocks are not run again: tests/test_pages.py holds them identical to
    # the English blocks (code, options and shown output), which do run.
    collectors = yield
    if ZH in file_path.parents:
        return []
    return [c for c in collectors if not isinstance(c, MarkdownDocstringCodeModule)]


# The examples, the site build, the figures' drawing and Lighthouse's audits run in the
# background (tests/background.py) from the moment the tests are collected, while the tests that need
# none of them go first; those that wait for them come after, Lighthouse's readers last.
# Otherwise the order stays as collected.
def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: ("lighthouse_report" in item.fixturenames,
                                 bool({"example_runs", "build", "drawn"} & set(item.fixturenames))))


def pytest_collection_finish(session):
    if session.config.option.collectonly or not session.items:
        return
    background = session.config.stash[BACKGROUND] = Background(session.items)
    background.start()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """After each test, the examples that started or finished meanwhile."""
    result = yield
    if BACKGROUND in item.config.stash:
        item.config.stash[BACKGROUND].stage.report_progress(progress_reporter(item.config))
    return result


def pytest_unconfigure(config):
    if BACKGROUND in config.stash:
        config.stash[BACKGROUND].stop()


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


@register_runner(default=True)
class OutputCheckingRunner(DefaultRunner):
    """Runs a block like the default runner; if the page shows its output, compares.

    A continuation block's source is the chain of blocks before it plus its own code;
    the chain runs first with its output discarded, then the block itself is captured.
    """

    def runtest(self, test, args, *, asyncio_runner=None):
        block = python_blocks(pathlib.Path(test.source_path))[test.start_line]
        earlier = test.source[: len(test.source) - len(block.code)]
        # Executing the page's own code is what this runner is for (hence the noqa: S102).
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(earlier, test.source_path, "exec"), args)  # noqa: S102
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                # Blank lines in front keep the line numbers of tracebacks those of the page.
                padded = "\n" * earlier.count("\n") + block.code
                exec(compile(padded, test.source_path, "exec"), args)  # noqa: S102
        finally:
            # What the block made is freed now, as at the end of its script. Left in the
            # namespace, a DataLoader iterator of one block was freed by the garbage
            # collector during a later one, and an iterator freed that way waits 5 s on
            # each of its workers (data-loading page, "Errors and timeout").
            args.clear()
        expected = block.expected_output
        if expected is not None and _normalise(printed.getvalue()) != _normalise(expected):
            diff = "\n".join(
                difflib.unified_diff(
                    _normalise(expected).splitlines(),
                    _normalise(printed.getvalue()).splitlines(),
                    "shown on the page",
                    "printed by the block",
                    lineterm="",
                )
            )
            raise AssertionError(f"The output shown on the page is not what the block prints:\n{diff}")

"""Each example executed (tests/examples_stage.py), one test per example, named after it:
its final assertions hold, it prints something, and it calls no deprecated API. A cached
notebook (source and lock unchanged) is checked again without running the example."""

from __future__ import annotations

import importlib.metadata
import re

import jupytext
import nbformat
import pytest

from tests.conftest import EXAMPLES, example_id
from tests.execute_example import FACTS_CLASS, with_facts

# A warning as Python prints it: "path:line: DeprecationWarning: message".
DEPRECATION = re.compile(r"\S+:\d+: (?:Pending)?(?:Deprecation|Future)Warning: [^\n]*")


@pytest.fixture
def example_run(example, example_runs):
    return example_runs[example]


def stream_text(notebook, name: str) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs if output.get("name") == name)


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_example_runs_and_its_checks_pass(example, example_run):
    if example_run.notebook is None:
        pytest.fail(f"{example_id(example)} failed:\n{example_run.log}", pytrace=False)
    notebook = nbformat.read(example_run.notebook, as_version=4)
    nbformat.validate(notebook)
    source = jupytext.read(example)
    facts = re.findall(rf'<p class="{FACTS_CLASS}">.*?</p>', notebook.cells[0].source)
    assert len(facts) == 1, "no line of run facts under the title"
    expected = [c.source for c in source.cells]
    expected[0] = with_facts(expected[0], facts[0])
    assert [c.source for c in notebook.cells] == expected, (
        "the executed notebook's cells are not the example's (with its run facts)")
    versions = f"torch {importlib.metadata.version('torch')}, torchvision " \
        f"{importlib.metadata.version('torchvision')}."
    assert re.fullmatch(rf'<p class="{FACTS_CLASS}">Ran on \d{{4}}-\d\d-\d\d in \d+ s on .+'
                        rf'peak memory [\d,]+ MB.*; Python [\d.]+, {re.escape(versions)}</p>',
                        facts[0]), facts[0]
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert any(cell.outputs for cell in code), f"{example_id(example)} shows no output"
    errors = [output for cell in code for output in cell.outputs
              if output.output_type == "error"]
    assert not errors, f"an error is shown in the notebook: {errors[0].get('ename')}"
    warnings = DEPRECATION.findall(stream_text(notebook, "stderr"))
    assert not warnings, f"{example_id(example)} calls deprecated APIs: {warnings}"

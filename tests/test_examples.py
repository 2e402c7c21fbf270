"""Each example executed (tests/examples_stage.py), one test per example, named after it:
its final assertions hold, it prints something, and it calls no deprecated API. A cached
notebook (source and lock unchanged) is checked again without running the example."""

from __future__ import annotations

import re

import jupytext
import nbformat
import pytest

from tests.conftest import EXAMPLES, example_id

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
    assert [c.source for c in notebook.cells] == [c.source for c in source.cells], (
        "the executed notebook's cells are not the example's")
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert any(cell.outputs for cell in code), f"{example_id(example)} shows no output"
    errors = [output for cell in code for output in cell.outputs
              if output.output_type == "error"]
    assert not errors, f"an error is shown in the notebook: {errors[0].get('ename')}"
    warnings = DEPRECATION.findall(stream_text(notebook, "stderr"))
    assert not warnings, f"{example_id(example)} calls deprecated APIs: {warnings}"

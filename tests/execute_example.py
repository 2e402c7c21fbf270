"""Executes one example into a notebook with its outputs, as the site shows it.

    python tests/execute_example.py examples/<topic>/<name>.py OUTPUT.ipynb

The example (a jupytext percent-format script) runs cell by cell in a Jupyter kernel
started in the project root, through nbclient's public API. On success the notebook is
written to OUTPUT; a failing cell (a failed assertion, say) exits with status 1 and prints
the cell's error, and nothing is written. tests/test_examples.py runs this once per example,
in parallel, only when the example or the lock file changed.
"""

from __future__ import annotations

import pathlib
import sys

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = pathlib.Path(__file__).resolve().parent.parent
# No cell of an example should come near this (each example takes about a minute at most).
CELL_TIMEOUT_S = 600
# The kernel every Jupyter user has; notebooks downloaded from the site name it too.
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def execute(example: pathlib.Path, output: pathlib.Path) -> int:
    notebook = jupytext.read(example)
    notebook.metadata["kernelspec"] = KERNEL
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL["name"],
        timeout=CELL_TIMEOUT_S,
        record_timing=False,  # timestamps of this run say nothing to a reader
        resources={"metadata": {"path": str(ROOT)}},  # run where `python examples/...` would
    )
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        print(f"{example.relative_to(ROOT)} failed:\n{error}", file=sys.stderr)
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, output)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(execute(pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2])))

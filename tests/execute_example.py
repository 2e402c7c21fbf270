"""Executes one example into a notebook with its outputs, as the site shows it.

    python tests/execute_example.py examples/<topic>/<name>.py OUTPUT.ipynb

The example (a jupytext percent-format script) runs cell by cell in a Jupyter kernel
started in the project root, through nbclient's public API. On success the notebook is
written to OUTPUT, with the run's facts (date, device, versions, time, peak memory: asked
of the kernel by one more cell, removed again) in a line under its title; a failing cell (a
failed assertion, say) exits with status 1 and prints the cell's error, and nothing is
written. tests/test_examples.py runs this once per example, in parallel, only when the
example or the lock file changed.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import sys
import time

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = pathlib.Path(__file__).resolve().parent.parent
# No cell of an example should come near this (each example takes about a minute at most).
CELL_TIMEOUT_S = 600
# The kernel every Jupyter user has; notebooks downloaded from the site name it too.
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


# Run after the example, in its kernel: what the run used, as one line of JSON. The example's
# `device`, where it has one, names the device it chose.
FACTS_CODE = """
def _run_facts():
    import importlib.metadata, json, os, platform, resource, sys
    torch = sys.modules.get("torch")
    device = globals().get("device")
    kind = getattr(device, "type", "cpu")
    facts = {"python": platform.python_version(), "device": kind, "peak_gpu_mb": None}
    for package in ("torch", "torchvision"):
        facts[package] = importlib.metadata.version(package)
    if kind == "cuda":
        facts["device_name"] = torch.cuda.get_device_name(device)
        facts["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    elif kind == "mps":
        facts["device_name"] = "Apple MPS"
    else:
        name = platform.processor() or platform.machine()
        if os.path.exists("/proc/cpuinfo"):
            with open("/proc/cpuinfo") as cpuinfo:
                names = [line.split(":", 1)[1].strip() for line in cpuinfo
                         if line.startswith("model name")]
            name = names[0] if names else name
        facts["device_name"] = f"{name}, {os.cpu_count()} cores"
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    unit = 1 if sys.platform == "darwin" else 1024
    peak = max(resource.getrusage(who).ru_maxrss
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    facts["peak_memory_mb"] = peak * unit / 2**20
    print(json.dumps(facts))

_run_facts()
del _run_facts
"""
# Marks the line of facts inserted under the title (tests/test_examples.py finds it).
FACTS_CLASS = "run-facts"


def facts_line(facts: dict, seconds: float) -> str:
    device = {"cpu": "the CPU", "cuda": "a CUDA GPU", "mps": "Apple's MPS"}.get(
        facts["device"], facts["device"])
    memory = f"peak memory {facts['peak_memory_mb']:,.0f} MB"
    if facts["peak_gpu_mb"] is not None:
        memory += f", on the GPU {facts['peak_gpu_mb']:,.0f} MB"
    day = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return (f'<p class="{FACTS_CLASS}">Ran on {day} in {seconds:.0f} s on {device} '
            f"({facts['device_name']}), {memory}; Python {facts['python']}, "
            f"torch {facts['torch']}, torchvision {facts['torchvision']}.</p>")


def with_facts(title_cell: str, line: str) -> str:
    """The title cell with the line of facts right under its first line (the title)."""
    title, _, rest = title_cell.partition("\n")
    return f"{title}\n\n{line}\n" + (f"\n{rest.lstrip(chr(10))}" if rest.strip() else "")


def execute(example: pathlib.Path, output: pathlib.Path) -> int:
    notebook = jupytext.read(example)
    notebook.metadata["kernelspec"] = KERNEL
    notebook.cells.append(nbformat.v4.new_code_cell(FACTS_CODE))
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL["name"],
        timeout=CELL_TIMEOUT_S,
        record_timing=False,  # timestamps of this run say nothing to a reader
        resources={"metadata": {"path": str(ROOT)}},  # run where `python examples/...` would
    )
    begin = time.monotonic()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        print(f"{example.relative_to(ROOT)} failed:\n{error}", file=sys.stderr)
        return 1
    seconds = time.monotonic() - begin
    facts_cell = notebook.cells.pop()
    facts = json.loads("".join(o.get("text", "") for o in facts_cell.outputs))
    title_cell = notebook.cells[0]
    title_cell.source = with_facts(title_cell.source, facts_line(facts, seconds))
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, output)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(execute(pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2])))

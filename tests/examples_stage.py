"""The execution stage: every example executed into its notebook, in parallel, once per
change of its source or of the lock file.

Each example runs in its own process (tests/execute_example.py: a Jupyter kernel driven by
nbclient), as many at a time as the machine has cores, the slowest first. A notebook whose
example and lock are unchanged since it was executed is reused (hooks/executed_examples.py
keys it). The stage prints which example starts and how long each took, since a cold run
takes minutes.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import pathlib
import queue
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "hooks"))
import executed_examples  # noqa: E402
from executed_examples import ROOT, example_id  # noqa: E402

EXECUTOR = ROOT / "tests" / "execute_example.py"
# Far above any example's own minute, below CI's limit: a hung example fails by name.
EXAMPLE_TIMEOUT_S = 900
ENVIRONMENT = {
    # Deprecation warnings raised inside libraries (torchvision.io, say) are hidden by
    # default; shown, they land in the notebook, where tests/test_examples.py looks for them.
    "PYTHONWARNINGS": "default::DeprecationWarning",
    # Examples run side by side, one per core: a thread pool each would oversubscribe the
    # cores (small examples ran 5-25x slower so).
    "OMP_NUM_THREADS": "1",
    # Offline, as on the project machines: a model hub is never asked.
    "HF_HUB_OFFLINE": "1",
    # The kernel is the Python running the tests (the venv's).
    "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
}


@dataclasses.dataclass(frozen=True)
class Run:
    notebook: pathlib.Path | None  # the executed notebook; None when the example failed
    seconds: float | None  # None: reused from an earlier run
    log: str = ""  # what the executor printed (the failing cell's error)


def _last_seconds(example: pathlib.Path) -> float:
    """How long the example took when last executed (for scheduling the slowest first)."""
    key = executed_examples.key_path(example)
    try:
        return float(key.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("inf")  # never run: it may be slow, start it early


def _execute(example: pathlib.Path, started: queue.Queue) -> Run:
    started.put(example)
    notebook, key = executed_examples.notebook_path(example), executed_examples.key_path(example)
    key.unlink(missing_ok=True)  # from here on, the old notebook is not current
    source_key = executed_examples.source_key(example)
    with tempfile.TemporaryDirectory() as scratch:
        output = pathlib.Path(scratch) / notebook.name
        begin = time.monotonic()
        try:
            result = subprocess.run(
                [sys.executable, str(EXECUTOR), str(example), str(output)],
                cwd=ROOT, env={**os.environ, **ENVIRONMENT}, capture_output=True, text=True,
                timeout=EXAMPLE_TIMEOUT_S, check=False)  # the exit code is read below
        except subprocess.TimeoutExpired:
            return Run(None, time.monotonic() - begin,
                       f"{example_id(example)} ran longer than {EXAMPLE_TIMEOUT_S} s")
        seconds = time.monotonic() - begin
        if result.returncode != 0:
            return Run(None, seconds, result.stderr[-6000:] or result.stdout[-6000:])
        notebook.parent.mkdir(parents=True, exist_ok=True)
        notebook.write_bytes(output.read_bytes())
    key.write_text(f"{source_key}\n{seconds:.1f}\n")
    return Run(notebook, seconds)


class Stage:
    """Runs examples on request; each at most once per test session."""

    def __init__(self, report: Callable[[str], None], workers: int | None = None):
        self.report = report
        self.workers = workers or os.cpu_count() or 1
        self.runs: dict[pathlib.Path, Run] = {}

    def ensure(self, examples: Iterable[pathlib.Path]) -> dict[pathlib.Path, Run]:
        wanted = [e for e in examples if e not in self.runs]
        stale = []
        for example in wanted:
            if (notebook := executed_examples.current_notebook(example)) is not None:
                self.runs[example] = Run(notebook, None)
            else:
                stale.append(example)
        if stale:
            self._execute_all(sorted(stale, key=_last_seconds, reverse=True))
        return self.runs

    def _execute_all(self, stale: list[pathlib.Path]) -> None:
        self.report(f"Executing {len(stale)} example(s), {self.workers} at a time "
                    f"({len(self.runs)} unchanged since their last run)")
        started: queue.Queue = queue.Queue()
        begin = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            futures = {pool.submit(_execute, example, started): example for example in stale}
            pending = set(futures)
            while pending:
                done, pending = concurrent.futures.wait(
                    pending, timeout=1, return_when=concurrent.futures.FIRST_COMPLETED)
                while not started.empty():
                    self.report(f"  started  {example_id(started.get())}")
                for future in done:
                    example = futures[future]
                    run = self.runs[example] = future.result()
                    verdict = "done  " if run.notebook else "FAILED"
                    self.report(f"  {verdict}   {example_id(example)} in {run.seconds:.0f} s")
        self.report(f"Executed {len(stale)} example(s) in {time.monotonic() - begin:.0f} s")

"""The execution stage: every example executed into its notebook, in parallel, once per
change of its source or of the lock file.

Each example runs in its own process (tests/execute_example.py: a Jupyter kernel driven by
nbclient), as many at a time as the machine has cores (EXAMPLE_WORKERS overrides), the
slowest first. A notebook whose example and lock are unchanged since it was executed is
reused (hooks/executed_examples.py keys it). The stage starts as soon as pytest has
collected the tests (conftest.py) and runs while the tests that need no example do; it
reports which example starts and how long each took, since a cold run takes minutes.
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
import executed_examples
from executed_examples import ROOT, example_id

EXECUTOR = executed_examples.EXECUTOR
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


def _execute(example: pathlib.Path) -> Run:
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
    """Executes examples in the background, as many at a time as the machine has cores.

    `start` returns at once, so that the tests that need no example run meanwhile; `wait`
    blocks until the examples asked for are done. Progress lines (which example started,
    which finished and in how long) queue up for the caller to print: pytest prints them
    between tests (conftest.py) and while a test waits.
    """

    def __init__(self, workers: int | None = None):
        self.workers = workers or int(os.environ.get("EXAMPLE_WORKERS", "0")) or os.cpu_count() or 1
        self.runs: dict[pathlib.Path, Run] = {}
        self.progress: queue.Queue[str] = queue.Queue()
        self._futures: dict[pathlib.Path, concurrent.futures.Future] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(self.workers)

    def start(self, examples: Iterable[pathlib.Path]) -> None:
        stale = []
        for example in examples:
            if example in self.runs or example in self._futures:
                continue
            if (notebook := executed_examples.current_notebook(example)) is not None:
                self.runs[example] = Run(notebook, None)
            else:
                stale.append(example)
        if not stale:
            return
        self.progress.put(f"Executing {len(stale)} example(s), {self.workers} at a time, in the "
                          f"background ({len(self.runs)} unchanged since their last run)")
        for example in sorted(stale, key=_last_seconds, reverse=True):
            self._futures[example] = self._pool.submit(self._run, example)

    def _run(self, example: pathlib.Path) -> Run:
        self.progress.put(f"  started  {example_id(example)}")
        run = _execute(example)
        verdict = "done  " if run.notebook else "FAILED"
        self.progress.put(f"  {verdict}   {example_id(example)} in {run.seconds:.0f} s")
        self.runs[example] = run
        return run

    def wait(self, examples: Iterable[pathlib.Path],
             report: Callable[[str], None] | None = None) -> dict[pathlib.Path, Run]:
        """The runs of these examples (started now if need be), reporting progress if given
        a way to."""
        examples = list(examples)
        self.start(examples)
        pending = {self._futures[e] for e in examples if e in self._futures}
        while pending:
            _, pending = concurrent.futures.wait(pending, timeout=1)
            if report is not None:
                self.report_progress(report)
        if report is not None:
            self.report_progress(report)
        return self.runs

    def report_progress(self, report: Callable[[str], None]) -> None:
        while not self.progress.empty():
            report(self.progress.get())

    def stop(self) -> None:
        """Drops the examples not yet started (an interrupted test run)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def examples_needed(items) -> list[pathlib.Path]:
    """Every example when a selected test needs the built site, else just the examples whose
    own tests were selected."""
    if any("build" in item.fixturenames for item in items):
        return executed_examples.examples()
    return [item.callspec.params["example"] for item in items
            if "example_run" in item.fixturenames]


def progress_reporter(config):
    """Prints a line at once, between or during tests, past pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def report(line: str) -> None:
        if reporter is None or capture is None:
            print(line, file=sys.stderr)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    return report

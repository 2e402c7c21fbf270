"""The gate itself: on a temporary copy of the project, a page block that fails, a page
that shows the wrong output, and an example whose final assertion fails each make the
checks fail, while an untouched page passes."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.background import NICE
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

PAGE_PROBES = {
    "passes": (
        0,
        """
        ```python
        print(sum(range(4)))
        ```

        ```{.text .output title="Output"}
        6
        ```
        """,
    ),
    "failing-block-inside-a-tab": (
        1,
        """
        === "Fine"

            ```python
            x = 1
            ```

        === "Broken"

            ```python
            raise RuntimeError("gate probe")
            ```
        """,
    ),
    "wrong-output-inside-an-admonition": (
        1,
        """
        !!! example

            ```python
            print(2 + 2)
            ```

            ```{.text .output title="Output"}
            5
            ```
        """,
    ),
}


def copy_project(destination, *names):
    for name in names:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, symlinks=True,
                            ignore=shutil.ignore_patterns("node_modules", "site-checked*"))
        elif source.exists():
            shutil.copy2(source, destination / name)


def run_pytest(project, *args, nice=()):
    environment = {name: value for name, value in os.environ.items() if name != "SITE_DIR"}
    return subprocess.run(
        [*nice, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project, env=environment,
        capture_output=True,
        text=True,
        check=False,  # the callers read the exit code
    )


@pytest.mark.parametrize("probe", PAGE_PROBES)
def test_page_blocks_gate(tmp_path, probe):
    expected_exit, markdown = PAGE_PROBES[probe]
    copy_project(tmp_path, "pyproject.toml", "conftest.py", "hooks")
    (tmp_path / "tests").mkdir()
    for module in ("markdown_blocks.py", "background.py", "examples_stage.py"):
        shutil.copy2(ROOT / "tests" / module, tmp_path / "tests")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "probe.md").write_text("# Probe\n" + textwrap.dedent(markdown))
    result = run_pytest(tmp_path, "docs")
    assert result.returncode == expected_exit, result.stdout[-3000:]


def run_with_a_failing_example(project, build: concurrent.futures.Future):
    """The examples' and site's tests on a copy of the project with one more example, whose
    final assertion fails."""
    build.result()  # built: the copied cache serves every other example
    copy_project(
        project, "pyproject.toml", "requirements.lock", "conftest.py", "mkdocs.yml",
        "mkdocs.zh.yml", "docs",
        "examples", "overrides", "hooks", "tests", ".cache",
    )
    probe = project / "examples" / "adam" / "gate_probe.py"
    probe.write_text(
        "# %% [markdown]\n# # Gate probe\n\n# %%\nresult = 1 + 1\n\n"
        '# %%\nassert result == 3, "gate probe: the claim is false"\n'
    )
    config = project / "mkdocs.yml"
    config.write_text(config.read_text().replace("\nnav:\n", "\nnav:\n  - examples/adam/gate_probe.ipynb\n"))
    return run_pytest(
        project, "tests/test_examples.py", "tests/test_site.py",
        "-k", "runs_and_its_checks_pass or builds_strictly or page_shows_its_run", nice=NICE,
    )


@pytest.fixture(scope="session", autouse=True)
def failing_example_run(request, tmp_path_factory, background):
    """That run, started with this file's first test (the page probes run early), in a
    thread that waits for the site to be built: its 10 s pass while other tests run."""
    if not any(item.name == "test_failing_example_fails_its_own_test_only"
               for item in request.session.items) or background.build is None:
        yield None
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        yield pool.submit(run_with_a_failing_example, tmp_path_factory.mktemp("gate-example"),
                          background.build)


def test_failing_example_fails_its_own_test_only(failing_example_run, build):
    """One failing example is one failure, named after it; the other examples still pass,
    and the site still builds, with the failed example's page a preview."""
    result = failing_example_run.result()
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 1, result.stdout[-3000:]
    assert "gate probe: the claim is false" in result.stdout
    assert " 1 failed" in summary and "error" not in summary, summary
    assert "FAILED tests/test_examples.py::test_example_runs_and_its_checks_pass[adam/gate_probe]" in result.stdout
    assert "Executing 1 example(s)" in result.stdout, "the other examples ran again"

"""Fixtures shared by the tests of the built site."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import os
import pathlib
import re
import subprocess
import sys
import threading

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Hand-written pages (docs/examples links to the example scripts) and the topic pages among
# them (every page outside the docs root, which holds only the home page).
PAGES = sorted(p for p in DOCS.rglob("*.md") if "examples" not in p.relative_to(DOCS).parts)
TOPIC_PAGES = [p for p in PAGES if p.parent != DOCS]
EXAMPLES = sorted((ROOT / "examples").glob("*/*.py"))


def example_id(path: pathlib.Path) -> str:
    return f"{path.parent.name}/{path.stem}"


# Where the build log names a page it could not render (mkdocs's own wording).
FAILED_PAGE = re.compile(r"Error reading page '(examples/[^']+\.py)'")


@dataclasses.dataclass(frozen=True)
class Build:
    returncode: int
    log: str
    site: pathlib.Path
    # Examples whose execution failed, each with the part of the log that says why.
    failed_examples: dict[str, str] = dataclasses.field(default_factory=dict)

    def require_success(self) -> None:
        if self.returncode != 0:
            pytest.fail(f"mkdocs build --strict failed:\n{self.log[-6000:]}", pytrace=False)


def build_site(project: pathlib.Path, site_dir: pathlib.Path) -> Build:
    """`mkdocs build --strict`, which also executes every example (cached by source).

    When an example fails, the build stops there. It is then built again with that example
    left unexecuted, so that the failure is reported once, by the example's own test, and
    every other check still runs on the rest of the site. The examples that passed are
    served from the execution cache, so none runs twice.
    """
    failed: dict[str, str] = {}
    while True:
        result = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "mkdocs_build.py"), str(site_dir), *failed],
            cwd=project,
            # Deprecation warnings raised inside libraries (torchvision.io, say) are hidden by
            # default; shown, they land on the example's page, where a test looks for them.
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "EXECUTE_EXAMPLES": "true",
                 "PYTHONWARNINGS": "default::DeprecationWarning"},
            capture_output=True,
            text=True,
            check=False,  # the exit code is read below
        )
        log = result.stdout + result.stderr
        newly_failed = FAILED_PAGE.search(log)
        if result.returncode == 0 or not newly_failed or newly_failed[1] in failed:
            return Build(result.returncode, log, site_dir, failed)
        failed[newly_failed[1]] = log[newly_failed.start():]


@pytest.fixture(scope="session")
def build(tmp_path_factory) -> Build:
    return build_site(ROOT, tmp_path_factory.mktemp("build") / "site")


@pytest.fixture(scope="session")
def site(build) -> pathlib.Path:
    build.require_success()
    return build.site


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site_url(site):
    """The built site served on loopback, as a browser would see it once hosted."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()

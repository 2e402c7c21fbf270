"""Fixtures shared by the tests of the built site."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import os
import pathlib
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


@dataclasses.dataclass(frozen=True)
class Build:
    returncode: int
    log: str
    site: pathlib.Path

    def require_success(self) -> None:
        if self.returncode != 0:
            pytest.fail(f"mkdocs build --strict failed:\n{self.log[-6000:]}", pytrace=False)


def build_site(project: pathlib.Path, site_dir: pathlib.Path) -> Build:
    """`mkdocs build --strict`, which also executes every example (cached by source)."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=project,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "EXECUTE_EXAMPLES": "true"},
        capture_output=True,
        text=True,
        check=False,  # the callers read the exit code
    )
    return Build(result.returncode, result.stdout + result.stderr, site_dir)


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

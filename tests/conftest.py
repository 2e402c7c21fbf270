"""Fixtures shared by the tests of the built site."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse

import pytest

from tests.examples_stage import Stage, executed_examples
from tests.examples_stage import example_id as example_id  # re-exported for the tests

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ZH = DOCS / "zh"  # the Chinese edition, built by mkdocs.zh.yml into the site's zh/ folder
# Hand-written pages of both editions (docs/examples links to the example scripts).
PAGES = sorted(p for p in DOCS.rglob("*.md") if "examples" not in p.relative_to(DOCS).parts)
ZH_PAGES = [p for p in PAGES if ZH in p.parents]
# The English edition, and its topic pages (every page but the home page).
EN_PAGES = [p for p in PAGES if ZH not in p.parents]
TOPIC_PAGES = [p for p in EN_PAGES if p.parent != DOCS]
EXAMPLES = executed_examples.examples()


def counterpart(page: pathlib.Path) -> pathlib.Path:
    """The Chinese edition's version of an English page."""
    return ZH / page.relative_to(DOCS)


# A system Chromium (Debian's, installed by scripts/install-chromium.sh) where there is one;
# otherwise Playwright's own. CHROMIUM overrides.
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """A system Chromium, or None for the one Playwright manages (`playwright install`)."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in CHROMIUM_CANDIDATES:
        if found := shutil.which(name):
            return found
    return None


@pytest.fixture(scope="session")
def examples_stage(request) -> Stage:
    """Executes examples when a test first needs them: every example when a selected test
    needs the built site, else just the examples whose own tests were selected."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def report(line: str) -> None:  # shown as it happens, not captured with the test
        if reporter is None or capture is None:
            print(line, file=sys.stderr)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    return Stage(report)


def examples_needed(session) -> list[pathlib.Path]:
    if any("build" in item.fixturenames for item in session.items):
        return EXAMPLES
    return [item.callspec.params["example"] for item in session.items
            if "example_run" in item.fixturenames]


@pytest.fixture(scope="session")
def example_runs(request, examples_stage):
    return examples_stage.ensure(examples_needed(request.session))


@dataclasses.dataclass(frozen=True)
class Build:
    returncode: int
    log: str
    site: pathlib.Path

    def require_success(self) -> None:
        if self.returncode != 0:
            pytest.fail(f"mkdocs build --strict failed:\n{self.log[-6000:]}", pytrace=False)


def build_site(project: pathlib.Path, site_dir: pathlib.Path) -> Build:
    """Both editions, strictly: the English site, then the Chinese one in its zh/ folder
    (a build empties its site folder first). Nothing is executed: example pages render the
    notebooks the execution stage wrote."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    log = ""
    for config, target in (("mkdocs.yml", site_dir), ("mkdocs.zh.yml", site_dir / "zh")):
        if not (project / config).exists():
            continue
        result = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", config,
             "--site-dir", str(target)],
            cwd=project, env=env, capture_output=True, text=True,
            check=False,  # the exit code is read below
        )
        log += f"--- {config} ---\n{result.stdout}{result.stderr}"
        if result.returncode != 0:
            break
    return Build(result.returncode, log, site_dir)


@pytest.fixture(scope="session")
def build(example_runs, tmp_path_factory) -> Build:
    """The site, built once per test session. `make site` sets SITE_DIR so that the tree
    the checks passed is the tree it publishes; otherwise a temporary folder."""
    site_dir = pathlib.Path(os.environ.get("SITE_DIR") or tmp_path_factory.mktemp("build") / "site")
    return build_site(ROOT, site_dir.resolve())


@pytest.fixture(scope="session")
def site(build) -> pathlib.Path:
    build.require_success()
    return build.site


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built site as a static host does: text is sent gzip-compressed to a
    browser that accepts it (page weights and load times depend on it)."""

    COMPRESSED = {".html", ".css", ".js", ".json", ".svg", ".xml", ".txt", ".py", ".ipynb"}

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = pathlib.Path(self.translate_path(self.path))
        if path.is_dir() and self.path.split("?")[0].endswith("/"):
            path = path / "index.html"
        if (path.suffix not in self.COMPRESSED or not path.is_file()
                or "gzip" not in self.headers.get("Accept-Encoding", "")):
            return super().do_GET()
        body = gzipped(path)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def gzipped(path: pathlib.Path) -> bytes:
    """A file as a static host sends it (gzip, level 6: the usual server default)."""
    return _gzipped(path, path.stat().st_mtime_ns)


@functools.cache
def _gzipped(path: pathlib.Path, modified: int) -> bytes:  # a rebuilt file is compressed anew
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)


def requested_elsewhere(urls: list[str], site_url: str) -> list[str]:
    """The network requests among `urls` that go to a host other than the served site's."""
    host = urllib.parse.urlsplit(site_url).netloc
    return [url for url in urls
            if urllib.parse.urlsplit(url).scheme in {"http", "https", "ws", "wss"}
            and urllib.parse.urlsplit(url).netloc != host]


@pytest.fixture(scope="session")
def site_url(site):
    """The built site served on loopback, as a browser would see it once hosted."""
    handler = functools.partial(_SiteHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


# Lighthouse (npm, pinned in tests/lighthouse; scripts/install-lighthouse.sh installs it).
LIGHTHOUSE = ROOT / "tests" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
# One page of each kind, and the heaviest of a kind where size is what differs: the pages
# tests/test_lighthouse.py audits and tests/benchmark_page_speed.py times.
PAGE_KINDS = {
    "home page": "",
    "topic page (most code and math)": "training/adam/",
    "topic page (most elements)": "sequence/transformer/",
    "Chinese topic page": "zh/training/adam/",
    "example page": "examples/adam/adam_nonconvergence/",
    "example page (largest plots)": "examples/data_augmentation/augmentation_gallery/",
    "Chinese home page": "zh/",
}


@pytest.fixture(scope="session")
def lighthouse(site_url):
    """Runs Lighthouse (its default mobile emulation) on a page of the served site and
    returns its report; each call is a fresh run."""
    if not LIGHTHOUSE.exists():
        pytest.fail("Lighthouse is not installed: run scripts/install-lighthouse.sh "
                    "(make test does)", pytrace=False)
    browser = chromium_path()
    if browser is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.executable_path
    environment = {**os.environ, "CHROME_PATH": browser}

    def run(path: str) -> dict:
        result = subprocess.run(
            [str(LIGHTHOUSE), site_url + path, "--quiet", "--output=json",
             "--output-path=stdout", "--only-categories=performance,accessibility",
             "--chrome-flags=--headless=new --no-sandbox --disable-gpu"],
            capture_output=True, text=True, env=environment, timeout=300,
            check=False)  # the exit code is read below
        if result.returncode != 0:
            pytest.fail(f"Lighthouse failed on /{path}:\n{result.stderr[-3000:]}",
                        pytrace=False)
        report = json.loads(result.stdout)
        if error := report.get("runtimeError"):
            pytest.fail(f"Lighthouse could not load /{path}: {error}", pytrace=False)
        return report

    return run

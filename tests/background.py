"""What a test session does besides running tests, on threads of its own.

Started as soon as pytest has collected the tests (conftest.py), so that the tests that need
none of it (page blocks, page and hook checks) run meanwhile:

1. the execution stage (tests/examples_stage.py): stale examples, one per core;
2. when a selected test needs the site, both editions built once (`mkdocs build --strict`,
   which executes nothing): the Chinese one at once, the English one when the examples are
   done, into SITE_DIR when set (`make site` publishes that very tree) or a temporary
   folder; then the site is served on loopback as a static host serves it;
3. then, when a selected test reads them, Lighthouse's audits of one page of each kind,
   a few at a time (they mostly wait on page loads).

The fixtures in tests/conftest.py wait for each result where a test first needs it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import gzip
import http.server
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse

import pytest

from tests.examples_stage import ROOT, Stage, examples_needed

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


@dataclasses.dataclass(frozen=True)
class Build:
    returncode: int
    log: str
    site: pathlib.Path

    def require_success(self) -> None:
        if self.returncode != 0:
            command = self.log.splitlines()[0].strip("- ") if self.log else "the build"
            pytest.fail(f"{command} failed:\n{self.log[-6000:]}", pytrace=False)


# The background's own processes (builds, the figures' drawing, Lighthouse) yield the CPU to
# the tests running meanwhile: those run one after another and make the session's length.
# (Not the examples: on a fresh clone they are what the session waits for.)
NICE = ["nice", "-n", "10"] if shutil.which("nice") else []


def build_edition(config: str, site_dir: pathlib.Path) -> Build:
    """`mkdocs build --strict` of one edition. Nothing is executed: example pages render
    the notebooks the execution stage wrote."""
    result = subprocess.run(
        [*NICE, sys.executable, "-m", "mkdocs", "build", "--strict", "-f", config,
         "--site-dir", str(site_dir)],
        cwd=ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, capture_output=True,
        text=True, check=False)  # the exit code is read below
    return Build(result.returncode, f"--- {config} ---\n{result.stdout}{result.stderr}", site_dir)


def draw_figures(folder: pathlib.Path) -> Build:
    """Every figure drawn from the code now (`python -m figures`), into a scratch folder, for
    tests/test_figures.py to compare with the committed ones. (A process of its own: it
    imports torch, torchvision and transformers, and runs beside the tests that need none.)"""
    result = subprocess.run(
        [*NICE, sys.executable, "-m", "figures", "--into", str(folder)], cwd=ROOT,
        capture_output=True, text=True, check=False)  # the exit code is read by the tests
    return Build(result.returncode, f"--- python -m figures ---\n{result.stdout}{result.stderr}",
                 folder)


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


class LighthouseError(Exception):
    pass


def run_lighthouse(site_url: str, path: str) -> dict:
    """Lighthouse (its default mobile emulation) on a page of the served site: its report."""
    if not LIGHTHOUSE.exists():
        raise LighthouseError("Lighthouse is not installed: run scripts/install-lighthouse.sh "
                              "(make test does)")
    browser = chromium_path()
    if browser is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.executable_path
    result = subprocess.run(
        [*NICE, str(LIGHTHOUSE), site_url + path, "--quiet", "--output=json",
         "--output-path=stdout", "--only-categories=performance,accessibility,seo",
         "--chrome-flags=--headless=new --no-sandbox --disable-gpu"],
        capture_output=True, text=True, env={**os.environ, "CHROME_PATH": browser},
        timeout=300, check=False)  # the exit code is read below
    if result.returncode != 0:
        raise LighthouseError(f"Lighthouse failed on /{path}:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout)
    if error := report.get("runtimeError"):
        raise LighthouseError(f"Lighthouse could not load /{path}: {error}")
    return report


# Lighthouse runs spend most of their time waiting for pages to settle: side by side, the
# seven page kinds took about a quarter of their time one after another. (Page speed, which
# concurrent runs would distort, is measured by make benchmark, one run at a time.)
LIGHTHOUSE_CONCURRENT_RUNS = 4


def serve(site: pathlib.Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """The site served on loopback, as a browser would see it once hosted, and its URL."""
    handler = functools.partial(_SiteHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class Background:
    def __init__(self, items):
        self.stage = Stage()
        self.examples = examples_needed(items)
        self.needs_site = any("build" in item.fixturenames for item in items)
        self.needs_lighthouse = any("lighthouse_report" in item.fixturenames for item in items)
        self.needs_figures = any("drawn" in item.fixturenames for item in items)
        self.server: http.server.ThreadingHTTPServer | None = None
        self.url: str | None = None
        self.lighthouse_reports: dict[str, concurrent.futures.Future] = {}
        self._scratch = None if os.environ.get("SITE_DIR") else tempfile.mkdtemp(prefix="site-")
        self.site_dir = pathlib.Path(os.environ.get("SITE_DIR") or self._scratch).resolve()
        # The Chinese edition has no example pages, so it is built at once, beside the
        # execution stage, and moved into the English site's zh/ folder once that is built
        # (a build empties its site folder first).
        self._zh_dir = self.site_dir.with_name(self.site_dir.name + "-zh")
        self._site = concurrent.futures.ThreadPoolExecutor(3)
        self._lighthouse = concurrent.futures.ThreadPoolExecutor(LIGHTHOUSE_CONCURRENT_RUNS)
        self.build: concurrent.futures.Future | None = None
        self.figures: concurrent.futures.Future | None = None

    def start(self) -> None:
        self.stage.start(self.examples)
        if self.needs_site:
            chinese = self._site.submit(build_edition, "mkdocs.zh.yml", self._zh_dir)
            self.build = self._site.submit(self._build_and_serve, chinese)
        if self.needs_figures:
            self.figures = self._site.submit(draw_figures, self.site_dir.with_name(
                self.site_dir.name + "-figures"))

    def _build_and_serve(self, chinese: concurrent.futures.Future) -> Build:
        self.stage.wait(self.examples)
        english = build_edition("mkdocs.yml", self.site_dir)
        chinese = chinese.result()
        build = Build(english.returncode or chinese.returncode, english.log + chinese.log,
                      self.site_dir)
        if build.returncode != 0:
            return build
        shutil.rmtree(self.site_dir / "zh", ignore_errors=True)
        shutil.move(self._zh_dir, self.site_dir / "zh")
        self.server, self.url = serve(self.site_dir)
        if self.needs_lighthouse:
            self.lighthouse_reports = {
                path: self._lighthouse.submit(run_lighthouse, self.url, path)
                for path in PAGE_KINDS.values()}
        return build

    def stop(self) -> None:
        self.stage.stop()
        for pool in (self._site, self._lighthouse):
            pool.shutdown(wait=False, cancel_futures=True)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        shutil.rmtree(self._zh_dir, ignore_errors=True)
        shutil.rmtree(self.site_dir.with_name(self.site_dir.name + "-figures"), ignore_errors=True)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


# The background work of a test session. (Kept here, not in tests/conftest.py: pytest
# imports a conftest under a name of its own, so a key defined there would exist twice.)
BACKGROUND = pytest.StashKey[Background]()

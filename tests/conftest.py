"""Fixtures shared by the tests, and the names they import from here."""

from __future__ import annotations

import pathlib
import re

import pytest

from tests.background import (  # noqa: F401  (re-exported for the tests)
    BACKGROUND, CHROMIUM_ARGS, PAGE_KINDS, Background, Build, LighthouseError, chromium_path,
    gzipped, requested_elsewhere, run_lighthouse)
from tests.examples_stage import executed_examples, progress_reporter
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


def squash(text: str) -> str:
    """Text without whitespace: how the tests compare Chinese text, which has no spaces
    between words (the original's quotes, the terms a search should find)."""
    return re.sub(r"\s+", "", text)


def site_folder(source: pathlib.Path) -> pathlib.PurePosixPath:
    """Where mkdocs puts a Markdown page of either edition, relative to the site (directory
    URLs; the Chinese edition is built into the site's zh/ folder; "." for the home page)."""
    relative = pathlib.PurePosixPath(source.relative_to(DOCS).as_posix())
    return relative.parent if relative.name == "index.md" else relative.with_suffix("")


def counterpart(page: pathlib.Path) -> pathlib.Path:
    """The Chinese edition's version of an English page."""
    return ZH / page.relative_to(DOCS)


@pytest.fixture(scope="session")
def background(request) -> Background:
    """The session's background work (started at collection by conftest.py)."""
    return request.config.stash[BACKGROUND]


@pytest.fixture(scope="session")
def example_runs(background, request):
    """The examples this session needs, executed: waits for them, printing progress."""
    return background.stage.wait(background.examples, progress_reporter(request.config))


@pytest.fixture(scope="session")
def build(background, example_runs) -> Build:
    """The site, built once per test session (in the background, once the examples ran)."""
    if background.build is None:
        pytest.fail("the session did not plan to build the site", pytrace=False)
    return background.build.result()


@pytest.fixture(scope="session")
def site(build) -> pathlib.Path:
    build.require_success()
    return build.site


@pytest.fixture(scope="session")
def site_url(site, background) -> str:
    """The built site served on loopback, as a browser would see it once hosted."""
    return background.url


@pytest.fixture(scope="session")
def lighthouse_report(site_url, background):
    """The report of each page kind, from the runs started once the site was served."""
    def report(path: str) -> dict:
        try:
            return background.lighthouse_reports[path].result()
        except LighthouseError as error:
            pytest.fail(str(error), pytrace=False)

    return report


@pytest.fixture(scope="session")
def lighthouse(site_url):
    """A fresh Lighthouse run on a page each call (for timing: make benchmark)."""
    def run(path: str) -> dict:
        try:
            return run_lighthouse(site_url, path)
        except LighthouseError as error:
            pytest.fail(str(error), pytrace=False)

    return run


# The browser tests' Chromium (Playwright), and pages opened in it that record what they do.
@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        except Error as error:
            pytest.fail(
                "No Chromium to run the browser tests: run scripts/install-chromium.sh "
                f"(make test does), or set CHROMIUM to a Chromium or Chrome binary.\n{error}",
                pytrace=False,
            )
        yield browser
        browser.close()


class Visit:
    """A page that records console errors and every request it makes."""

    def __init__(self, browser, url, wait_until="networkidle"):
        self.page = browser.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url, wait_until=wait_until)

    def close(self, site_url: str) -> None:
        """Closes the page, failing if it logged an error or loaded from another host."""
        assert not self.errors, f"console errors on {self.page.url}: {self.errors}"
        elsewhere = requested_elsewhere(self.requests, site_url)
        assert not elsewhere, f"requests to other hosts: {elsewhere}"
        self.page.close()


@pytest.fixture
def visit(browser, site_url):
    opened = []

    def open_page(path: str, wait_until: str = "networkidle") -> Visit:
        """The page, once loaded and (by default) once nothing has been requested for 0.5 s."""
        opened.append(Visit(browser, site_url + path, wait_until))
        return opened[-1]

    yield open_page
    for v in opened:
        v.close(site_url)

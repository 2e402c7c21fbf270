"""Page speed and accessibility as Lighthouse scores them (its default mobile emulation:
a mid-range phone on a slow 4G network), on one page of each kind, served gzip-compressed
as a static host serves them.

Absolute timings depend on the machine, so speed is judged against the home page scored in
the same run: every page kind within a few points of it (PAGE_KINDS; the goal is 5), and
the home page itself at 90 or more. Accessibility audits do not depend on timing: every
page passes all of them.
Lighthouse comes from npm (tests/lighthouse, installed by scripts/install-lighthouse.sh,
which `make test` runs) and drives the same Chromium as the browser tests.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import ROOT, chromium_path

pytestmark = pytest.mark.browser

LIGHTHOUSE = ROOT / "tests" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
HOME = ""
# One page of each kind, and the heaviest of a kind where weight is what differs, with the
# performance points it may lose against the home page. The goal is 5 for every kind. Long
# topic pages do not reach it yet: their thousands of elements (KaTeX's HTML, highlighted
# code) make each style recalculation that Material's scripts force while mounting the
# page cost 25-110 ms on a 2-core CI machine, so they lose on total blocking time (540-950
# ms in median runs, against 70-90 ms for the home page). Measured medians there: Adam 15-18
# points behind, Transformer 21, the Chinese Adam page 24-31 (its first paint also waits
# for the system's CJK font). Their allowance stops them sliding back (the line spans this
# issue removed put the Adam page 41 behind); it is not the goal.
PAGE_KINDS = {
    "topic page (most code and math)": ("training/adam/", 35),
    "topic page (most examples)": ("sequence/transformer/", 35),
    "Chinese topic page": ("zh/training/adam/", 35),
    "example page": ("examples/adam/adam_nonconvergence/", 10),
    "example page (largest plots)": ("examples/data_augmentation/augmentation_gallery/", 10),
    "Chinese home page": ("zh/", 5),
}
HOME_MINIMUM = 90
# Scores of one run swing by 20 points on a busy machine (main-thread timings): each page is
# scored by the run with the median performance score of five, as Lighthouse's own
# documentation recommends for comparisons.
RUNS = 5
# What a failure message shows about the page's load.
METRICS = ["first-contentful-paint", "largest-contentful-paint", "total-blocking-time",
           "cumulative-layout-shift", "speed-index", "dom-size", "total-byte-weight"]


def browser_binary() -> str:
    if found := chromium_path():
        return found
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        return playwright.chromium.executable_path


@pytest.fixture(scope="session")
def lighthouse(site_url):
    """Runs Lighthouse once per page (cached for the session) and returns its report."""
    if not LIGHTHOUSE.exists():
        pytest.fail("Lighthouse is not installed: run scripts/install-lighthouse.sh "
                    "(make test does)", pytrace=False)
    reports: dict[str, dict] = {}
    environment = {**os.environ, "CHROME_PATH": browser_binary()}

    def run_once(path: str) -> dict:
        run = subprocess.run(
            [str(LIGHTHOUSE), site_url + path, "--quiet", "--output=json",
             "--output-path=stdout", "--only-categories=performance,accessibility",
             "--chrome-flags=--headless=new --no-sandbox --disable-gpu"],
            capture_output=True, text=True, env=environment, timeout=300)
        if run.returncode != 0:
            pytest.fail(f"Lighthouse failed on /{path}:\n{run.stderr[-3000:]}", pytrace=False)
        result = json.loads(run.stdout)
        if error := result.get("runtimeError"):
            pytest.fail(f"Lighthouse could not load /{path}: {error}", pytrace=False)
        return result

    def report(path: str) -> dict:
        if path not in reports:
            runs = sorted((run_once(path) for _ in range(RUNS)),
                          key=lambda r: r["categories"]["performance"]["score"])
            reports[path] = runs[len(runs) // 2]
            reports[path]["all runs"] = [score(r, "performance") for r in runs]
        return reports[path]

    return report


def score(report: dict, category: str) -> int:
    return round(report["categories"][category]["score"] * 100)


def summary(report: dict) -> str:
    audits = report["audits"]
    return f"runs scored {report['all runs']}; median run: " + ", ".join(
        f"{name} {audits[name].get('displayValue', '?')}" for name in METRICS)


def test_home_page_is_fast(lighthouse):
    home = lighthouse(HOME)
    assert score(home, "performance") >= HOME_MINIMUM, (
        f"home page performance {score(home, 'performance')} < {HOME_MINIMUM}: {summary(home)}")


@pytest.mark.parametrize("path, allowance", PAGE_KINDS.values(), ids=PAGE_KINDS.keys())
def test_page_is_about_as_fast_as_the_home_page(lighthouse, path, allowance):
    home, page = lighthouse(HOME), lighthouse(path)
    behind = score(home, "performance") - score(page, "performance")
    assert behind <= allowance, (
        f"/{path} scores {score(page, 'performance')} for performance, {behind} points behind "
        f"the home page's {score(home, 'performance')}.\n  page: {summary(page)}\n"
        f"  home: {summary(home)}")


@pytest.mark.parametrize("path", [HOME, *(path for path, _ in PAGE_KINDS.values())],
                         ids=["home page", *PAGE_KINDS])
def test_page_passes_every_accessibility_audit(lighthouse, path):
    report = lighthouse(path)
    failed = []
    for reference in report["categories"]["accessibility"]["auditRefs"]:
        audit = report["audits"][reference["id"]]
        if audit["score"] is not None and audit["score"] < 1:
            items = audit.get("details", {}).get("items", [])
            examples = [item.get("node", {}).get("snippet", "") for item in items[:3]]
            failed.append(f"{audit['id']} ({len(items)} elements, e.g. {examples}): "
                          f"{audit['title']}")
    assert not failed, f"/{path} fails accessibility audits:\n" + "\n".join(failed)

"""What Lighthouse finds on one page of each kind (conftest.PAGE_KINDS), served
gzip-compressed as a static host serves them, for the audits whose result does not depend on
how fast or busy the machine is: every accessibility and search engine (SEO) audit, and the
performance audits that look at what the page is made of (image formats, sizes, minified
files, fonts) and where it loads from.

Load times are not tested here: they swing by 20 points of Lighthouse's score between
runs on one busy machine and by more between machines, so a timed test fails on a slow CI
runner. `make benchmark` (tests/benchmark_page_speed.py) measures them. What they depend on
most here, the number of elements, is held to a budget for every page in test_site.py.
"""

from __future__ import annotations

import pytest

from tests.conftest import PAGE_KINDS, requested_elsewhere

pytestmark = pytest.mark.browser

# Performance audits decided by the page's files alone. Each guards a fix of issue 14:
# plots as compressed WebP with width and height set, no inlined styles or scripts that
# ship unminified, and fonts that do not hide text while they load.
STRUCTURAL_AUDITS = [
    "modern-image-formats",
    "uses-optimized-images",
    "unsized-images",
    "unminified-css",
    "unminified-javascript",
    "duplicated-javascript",
    "font-display",
    "no-document-write",
    "viewport",
]


def failed_audits(report: dict, audit_ids: list[str]) -> list[str]:
    failed = []
    for audit_id in audit_ids:
        audit = report["audits"][audit_id]
        if audit["score"] is not None and audit["score"] < 1:
            items = audit.get("details", {}).get("items", [])
            examples = [item.get("node", {}).get("snippet") or item.get("url", "")
                        for item in items[:3]]
            failed.append(f"{audit_id} ({len(items)} items, e.g. {examples}): "
                          f"{audit['title']} {audit.get('displayValue', '')}")
    return failed


@pytest.mark.parametrize("path", PAGE_KINDS.values(), ids=PAGE_KINDS.keys())
def test_page_passes_every_accessibility_audit(lighthouse_report, path):
    page = lighthouse_report(path)
    audit_ids = [ref["id"] for ref in page["categories"]["accessibility"]["auditRefs"]]
    failed = failed_audits(page, audit_ids)
    assert not failed, f"/{path} fails accessibility audits:\n" + "\n".join(failed)


@pytest.mark.parametrize("path", PAGE_KINDS.values(), ids=PAGE_KINDS.keys())
def test_page_passes_every_search_engine_audit(lighthouse_report, path):
    """Lighthouse's SEO category, hreflang among its audits: the editions name each page's
    counterpart in their sitemaps (tests/test_site.py), and no page carries the relative
    links the audit rejects."""
    page = lighthouse_report(path)
    audit_ids = [ref["id"] for ref in page["categories"]["seo"]["auditRefs"]]
    failed = failed_audits(page, audit_ids)
    assert not failed, f"/{path} fails search engine audits:\n" + "\n".join(failed)


@pytest.mark.parametrize("path", PAGE_KINDS.values(), ids=PAGE_KINDS.keys())
def test_page_passes_the_structural_performance_audits(lighthouse_report, path):
    failed = failed_audits(lighthouse_report(path), STRUCTURAL_AUDITS)
    assert not failed, f"/{path} fails performance audits:\n" + "\n".join(failed)


@pytest.mark.parametrize("path", PAGE_KINDS.values(), ids=PAGE_KINDS.keys())
def test_page_requests_nothing_from_another_host(lighthouse_report, site_url, path):
    """What the page requests while it runs (scripts, the search worker, fonts, images),
    beyond the links test_site.py reads from the HTML."""
    page = lighthouse_report(path)
    requests = [item["url"] for item in page["audits"]["network-requests"]["details"]["items"]]
    assert requests, f"Lighthouse recorded no requests for /{path}"
    elsewhere = requested_elsewhere(requests, site_url)
    assert not elsewhere, f"/{path} requests from other hosts: {elsewhere}"

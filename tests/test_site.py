"""The built site: it builds strictly, every example executed with its checks passing,
links and anchors resolve, examples are reachable from their topic pages, and no page
loads anything from another host."""

from __future__ import annotations

import functools
import os
import pathlib
import re
import urllib.parse
from xml.etree import ElementTree

import nbformat
import pytest
from bs4 import BeautifulSoup

from tests.conftest import (
    DOCS,
    EN_PAGES,
    EXAMPLES,
    ROOT,
    TOPIC_PAGES,
    counterpart,
    example_id,
    gzipped,
    site_folder,
)

# Attributes through which a page loads something (a plain <a href> only links).
LOADING_ATTRIBUTES = {
    "script": "src",
    "link": "href",
    "img": "src",
    "source": "src",
    "iframe": "src",
    "video": "src",
    "audio": "src",
    "embed": "src",
    "object": "data",
}
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)")


def built_page(site: pathlib.Path, source: pathlib.Path) -> pathlib.Path:
    """The HTML that mkdocs builds from a Markdown page of either edition (directory URLs;
    the Chinese edition is built into the site's zh/ folder)."""
    return site / site_folder(source) / "index.html"


def example_page(site: pathlib.Path, example: pathlib.Path) -> pathlib.Path:
    return site / "examples" / example.parent.name / example.stem / "index.html"


def html_pages(site: pathlib.Path) -> list[pathlib.Path]:
    return sorted(site.rglob("*.html"))


def parse(page: pathlib.Path) -> BeautifulSoup:
    """The page's HTML, parsed once for all the tests that read it (none changes it)."""
    return _parse(page, page.stat().st_mtime_ns)


@functools.cache
def _parse(page: pathlib.Path, modified: int) -> BeautifulSoup:  # a rebuilt page is read anew
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")


def is_external(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return bool(parts.scheme and parts.scheme not in {"data", "blob"}) or url.startswith("//")


def resolve(page: pathlib.Path, href: str, site: pathlib.Path) -> tuple[pathlib.Path, str]:
    """The file an internal href points to, and its fragment."""
    parts = urllib.parse.urlsplit(href)
    path = urllib.parse.unquote(parts.path)
    if path.startswith("/"):
        # Root-relative (the 404 page, download buttons): relative to where the site is served.
        base = urllib.parse.urlsplit(site_url_setting()).path
        target = (site / path.removeprefix(base.rstrip("/")).lstrip("/")).resolve()
    else:
        target = (page.parent / path).resolve() if path else page
    if target.is_dir():
        target = target / "index.html"
    return target, urllib.parse.unquote(parts.fragment)


@functools.cache
def site_url_setting() -> str:
    from mkdocs.config import load_config

    return load_config(str(ROOT / "mkdocs.yml")).site_url or "/"


def loads(element) -> str | None:
    """The URL through which an element makes the browser fetch something, if any."""
    if element.name == "link" and {"canonical", "alternate", "next", "prev"} & set(element.get("rel", [])):
        return None
    return element.get(LOADING_ATTRIBUTES[element.name])


def test_site_builds_strictly(build):
    build.require_success()


def test_there_are_examples():
    assert EXAMPLES, "no examples found under examples/"


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_example_page_shows_its_run(site, example_runs, example):
    """The page renders the notebook the execution stage wrote, with its output, and offers
    that notebook and the script for download."""
    run = example_runs[example]
    if run.notebook is None:
        pytest.skip(f"{example_id(example)} failed: its own test in test_examples.py says why")
    page = example_page(site, example)
    assert page.exists(), f"{example_id(example)} was not rendered"
    soup = parse(page)
    assert soup.select(".jp-OutputArea-output"), f"{example_id(example)} shows no executed output"
    assert not soup.find(string="Preview without output"), "shown as a preview"
    facts = soup.select_one("article h1 ~ .run-facts")
    assert facts and facts.get_text().startswith("Ran on "), "no run facts under the title"
    assert (page.parent / example.name).read_bytes() == example.read_bytes(), (
        "the script offered for download is not the example's source"
    )
    assert soup.select_one(f'a[download][href="{example.name}"]'), "no script button"
    notebook_file = page.parent / f"{example.stem}.ipynb"
    assert soup.select_one(f'a[download][href="{notebook_file.name}"]'), "no notebook button"
    assert notebook_file.read_bytes() == run.notebook.read_bytes(), (
        "the notebook offered for download is not the one that was executed")
    notebook = nbformat.reads(notebook_file.read_text(encoding="utf-8"), as_version=4)
    shown = len(soup.select(".jp-CodeCell .jp-OutputArea-output"))
    outputs = sum(len(c.outputs) for c in notebook.cells if c.cell_type == "code")
    assert outputs == shown > 0, f"the notebook has {outputs} outputs, the page shows {shown}"


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_example_is_linked_from_a_topic_page(site, example):
    target = example_page(site, example).resolve()
    for source in TOPIC_PAGES:
        page = built_page(site, source)
        for link in parse(page).select("article a[href]"):
            href = link["href"]
            if not is_external(href) and resolve(page, href, site)[0] == target:
                return
    pytest.fail(f"no topic page links to {example_id(example)}")


def topics_of(example: pathlib.Path) -> list[pathlib.Path]:
    """The English topic pages whose source links to the example."""
    link = f"examples/{example.parent.name}/{example.stem}"
    return [source for source in TOPIC_PAGES if link in source.read_text(encoding="utf-8")]


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_example_page_language_switch_leads_to_its_topic_in_chinese(site, example):
    """Example pages are English only: the switch's 中文 entry leads to the Chinese page of
    the topic the example belongs to (the first page of its navigation section)."""
    page = example_page(site, example)
    switch = parse(page).select_one('a.md-select__link[hreflang="zh"]')
    assert switch is not None, "no 中文 entry in the language switch"
    target = resolve(page, switch["href"], site)[0]
    topics = [built_page(site, counterpart(source)).resolve() for source in topics_of(example)]
    assert topics, f"no topic page links to {example_id(example)}"
    assert target in topics, f"the 中文 entry leads to {target.relative_to(site)}"


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_chinese_navigation_lists_every_example(site, example):
    """The Chinese edition's navigation lists each English example page under its topic."""
    target = example_page(site, example).resolve()
    sources = [counterpart(source) for source in topics_of(example)]
    for source in sources:
        page = built_page(site, source)
        for link in parse(page).select("nav a.md-nav__link[href]"):
            if resolve(page, link["href"], site)[0] == target:
                return
    pytest.fail(f"the navigation of {[str(s.relative_to(DOCS)) for s in sources]} "
                f"does not list {example_id(example)}")


def test_sitemaps_name_each_pages_counterpart_in_the_other_edition(site):
    """Both editions' sitemaps list every topic page and the home page with its two
    addresses (hreflang en and zh, full addresses, each the page of that edition), and no
    page carries a relative hreflang link in its head."""
    base = site_url_setting()
    namespaces = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9",
                  "x": "http://www.w3.org/1999/xhtml"}
    pairs = {}
    for edition in ("", "zh/"):
        root = ElementTree.parse(site / edition / "sitemap.xml").getroot()
        for url in root.findall("s:url", namespaces):
            links = {link.get("hreflang"): link.get("href")
                     for link in url.findall("x:link", namespaces)}
            pairs[url.findtext("s:loc", namespaces=namespaces)] = links
    for source in [DOCS / "index.md", *TOPIC_PAGES]:
        path = built_page(site, source).parent.relative_to(site).as_posix()
        english = base + ("" if path == "." else path + "/")
        chinese = base + "zh/" + ("" if path == "." else path + "/")
        for address in (english, chinese):
            assert pairs.get(address) == {"en": english, "zh": chinese}, (
                f"{address} in the sitemap: {pairs.get(address)}")
    relative = [str(page.relative_to(site)) for page in html_pages(site)
                for link in parse(page).select("head link[hreflang]")
                if not link["href"].startswith(("http://", "https://"))]
    assert not relative, f"relative hreflang links: {relative[:5]}"


def test_every_local_link_and_resource_resolves(site):
    """What an outside link checker follows: links with their anchors, and every file a
    page loads (scripts, stylesheets, icons, images)."""
    broken = []
    ids: dict[pathlib.Path, set[str]] = {}
    for page in html_pages(site):
        soup = parse(page)
        references = [(a["href"], True) for a in soup.select("a[href], link[href]")] + [
            (url, False) for tag in LOADING_ATTRIBUTES if tag != "link"
            for e in soup.find_all(tag) if (url := loads(e))]
        for href, is_link in references:
            if is_external(href) or href.startswith(("mailto:", "javascript:", "data:")):
                continue
            target, fragment = resolve(page, href, site)
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {href} (no such file)")
                continue
            if is_link and fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = {tag["id"] for tag in parse(target).select("[id]")}
                if fragment not in ids[target]:
                    broken.append(f"{page.relative_to(site)}: {href} (no such anchor)")
    assert not broken, "broken references:\n" + "\n".join(broken)


# Gzipped HTML plus the images it shows: what a first visit to the page downloads beyond
# the stylesheets and scripts that every page shares.
PAGE_WEIGHT_LIMIT = 250_000


def test_every_page_weighs_under_the_limit(site):
    heavy = []
    for page in html_pages(site):
        # An image inlined as a data: URL is already part of the HTML's bytes.
        images = {resolve(page, img["src"], site)[0] for img in parse(page).select("img[src]")
                  if not is_external(img["src"]) and not img["src"].startswith("data:")}
        weight = len(gzipped(page)) + sum(i.stat().st_size for i in images if i.exists())
        if weight > PAGE_WEIGHT_LIMIT:
            heavy.append(f"{page.relative_to(site)}: {weight / 1000:.0f} KB")
    assert not heavy, f"pages over {PAGE_WEIGHT_LIMIT / 1000:.0f} KB:\n" + "\n".join(heavy)


# Elements in a page's HTML. In Lighthouse's page-speed runs (make benchmark) a long page's
# blocking time grew with them (70 ms at 560 elements, 990 ms at 7,050), most of it the
# browser's style and layout of the whole page (now mostly put off for the text far below the
# screen, hooks/offscreen_sections.py; every element is still parsed and kept). Highlighted
# code and math make most of them (math is MathML: KaTeX's HTML for the same formulas took
# five times the elements; code keeps only the spans that colour something,
# hooks/lean_code.py), and the sidebar lists only the current topic's pages
# (navigation.prune). The longest page, the Transformer topic, has about 3,250; the limit
# stops a page sliding back.
ELEMENT_LIMIT = 4_000


def test_every_page_stays_under_the_element_limit(site):
    crowded = [f"{page.relative_to(site)}: {count:,} elements"
               for page in html_pages(site)
               if (count := len(parse(page).find_all(True))) > ELEMENT_LIMIT]
    assert not crowded, f"pages over {ELEMENT_LIMIT:,} elements:\n" + "\n".join(crowded)


# What each MathML layout element holds (MathML Core). With any other count the browser
# gives up its layout and shows the pieces in a row.
MATHML_CHILDREN = {"mfrac": 2, "msub": 2, "msup": 2, "msubsup": 3, "munder": 2, "mover": 2,
                   "munderover": 3, "mroot": 2}


def test_no_script_file_holds_up_the_first_paint(site):
    """A script file without `defer` (or `async`) stops the parser until it has downloaded
    and run: on a slow phone the page would wait for Material's bundle before painting."""
    blocking = [f"{page.relative_to(site)}: {script['src']}" for page in html_pages(site)
                for script in parse(page).select("script[src]")
                if not script.has_attr("defer") and not script.has_attr("async")]
    assert not blocking, "scripts that block the first paint:\n" + "\n".join(blocking)


def test_every_formula_is_mathml_the_browser_lays_out(site):
    broken = []
    for page in html_pages(site):
        for element in parse(page).find_all(list(MATHML_CHILDREN)):
            if len(element.find_all(True, recursive=False)) != MATHML_CHILDREN[element.name]:
                broken.append(f"{page.relative_to(site)}: {element}")
        # MathML Core draws no mathvariant but "normal": styled letters must be characters.
        for element in parse(page).find_all(mathvariant=lambda v: v and v != "normal"):
            broken.append(f"{page.relative_to(site)}: {element}")
    assert not broken, "formulas the browser cannot lay out as written:\n" + "\n".join(broken)


def test_nothing_is_loaded_from_another_host(site):
    offenders = []
    for page in html_pages(site):
        soup = parse(page)
        for tag, attribute in LOADING_ATTRIBUTES.items():
            for element in soup.find_all(tag):
                url = loads(element)
                if url and is_external(url):
                    offenders.append(f"{page.relative_to(site)}: <{tag} {attribute}={url}>")
        for style in [s.get_text() for s in soup.find_all("style")] + [
            e["style"] for e in soup.select("[style]")
        ]:
            offenders += [f"{page.relative_to(site)}: url({u})" for u in CSS_URL.findall(style) if is_external(u)]
    for stylesheet in site.rglob("*.css"):
        text = stylesheet.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{stylesheet.relative_to(site)}: url({u})" for u in CSS_URL.findall(text) if is_external(u)]
    assert not offenders, "resources from other hosts:\n" + "\n".join(offenders)


def test_home_page_lists_every_topic(site):
    home = parse(site / "index.html")
    linked = {resolve(site / "index.html", a["href"], site)[0] for a in home.select("article a[href]") if not is_external(a["href"])}
    for source in TOPIC_PAGES:
        page = built_page(site, source).resolve()
        assert page in linked, f"the home page does not list {source.relative_to(DOCS)}"


def test_every_page_title_names_its_topic(site):
    """Browser tabs and bookmarks show the page's own heading, not a nav label like "Overview"."""
    titles = {}
    for page in html_pages(site):
        soup = parse(page)
        heading = soup.select_one("article h1")
        if heading is None or page == site / "index.html" or page.name == "404.html":
            continue
        title = soup.title.get_text(strip=True)
        assert title.startswith(heading.get_text(strip=True).removesuffix("¶")), (
            f"{page.relative_to(site)}: title {title!r} does not name the page"
        )
        titles.setdefault(title, []).append(str(page.relative_to(site)))
    assert all(len(pages) == 1 for pages in titles.values()), {t: p for t, p in titles.items() if len(p) > 1}


@pytest.mark.parametrize("source", TOPIC_PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_header_names_the_topic(site, source):
    """Material's header shows the page's title once it is scrolled (always on a phone):
    the topic's heading, not the navigation's "Overview"."""
    soup = parse(built_page(site, source))
    heading = soup.select_one("article h1").get_text(strip=True).removesuffix("¶")
    topic = soup.select_one('[data-md-component="header-topic"] .md-ellipsis')
    assert topic is not None, "Material's header markup changed: no header topic found"
    assert topic.get_text(strip=True) == heading


def test_edit_and_report_links_follow_the_repository_setting(site):
    """With REPOSITORY_URL (the publish workflow sets it), every page links to its own
    source for editing and to a new issue; without it, no page shows either link."""
    repository = os.environ.get("REPOSITORY_URL", "").rstrip("/")
    wrong = []
    for page in html_pages(site):
        if page.name == "404.html":
            continue
        soup = parse(page)
        edit = soup.select_one('article a[rel="edit"]')
        report = soup.select_one('article a[href*="/issues/new?"]')
        name = str(page.relative_to(site))
        if not repository:
            if edit or report:
                wrong.append(f"{name}: links shown without a repository")
            continue
        if edit is None or report is None:
            wrong.append(f"{name}: no edit or no report link")
            continue
        prefix = f"{repository}/edit/main/"
        source = edit["href"].removeprefix(prefix)
        if not edit["href"].startswith(prefix) or not (ROOT / source).is_file():
            wrong.append(f"{name}: edit link to {edit['href']}")
    assert not wrong, "\n".join(wrong)


def test_stylesheets_refer_only_to_files_the_site_has(site):
    missing = []
    for stylesheet in site.rglob("*.css"):
        for url in CSS_URL.findall(stylesheet.read_text(encoding="utf-8", errors="replace")):
            if is_external(url) or url.startswith(("#", "data:")):
                continue
            path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
            if path and not (stylesheet.parent / path).exists():
                missing.append(f"{stylesheet.relative_to(site)}: {url}")
    assert not missing, "stylesheets refer to missing files:\n" + "\n".join(missing)


def english_target(site: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    """Where a Chinese page's link would point in the English edition."""
    zh = (site / "zh").resolve()
    return site.resolve() / target.relative_to(zh) if target.is_relative_to(zh) else target


def internal_links(site: pathlib.Path, page: pathlib.Path) -> set[tuple[pathlib.Path, str]]:
    links = set()
    # Permalinks (a.headerlink) are the page's own headings, compared by heading_ids.
    for link in parse(page).select("article a[href]:not(.headerlink)"):
        href = link["href"]
        if not is_external(href) and not href.startswith(("mailto:", "javascript:")):
            target, fragment = resolve(page, href, site)
            english = english_target(site, target.resolve())
            if english.exists() or not target.exists():  # pages of one edition only are not compared
                links.add((english, fragment))
    return links


def heading_ids(page: pathlib.Path) -> list[str]:
    return [h["id"] for h in parse(page).select("article :is(h2, h3, h4, h5, h6)[id]")]


@pytest.mark.parametrize("source", EN_PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_chinese_page_has_the_same_links_and_anchors(site, source):
    english, chinese = built_page(site, source), built_page(site, counterpart(source))
    assert chinese.exists(), f"the Chinese edition has no {source.relative_to(DOCS)}"
    assert heading_ids(chinese) == heading_ids(english), (
        "give the Chinese headings the English ids ({#id}), in the same order"
    )
    missing = internal_links(site, english) - internal_links(site, chinese)
    extra = internal_links(site, chinese) - internal_links(site, english)
    assert not missing and not extra, f"links only in English: {missing}; only in Chinese: {extra}"


def test_chinese_pages_use_chinese_theme_strings_and_search(site):
    home = parse(site / "zh" / "index.html")
    assert home.html["lang"].startswith("zh"), home.html.get("lang")
    toggle_names = [label["title"] for label in home.select("form[data-palette-toggle] label")]
    assert toggle_names and not any(re.search("[A-Za-z]", name) for name in toggle_names), (
        f"the light/dark toggle speaks English on the Chinese home page: {toggle_names}")
    index = (site / "zh" / "search" / "search_index.json").read_text(encoding="utf-8")
    assert "\\u200b" in index or "\u200b" in index, "the Chinese search index is not split into words"

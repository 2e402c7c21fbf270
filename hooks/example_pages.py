"""Example pages (rendered by mkdocs-jupyter from the notebooks the tests executed) made
light and native to the site.

The site executes nothing: tests/test_examples.py runs each example into an executed
notebook (hooks/executed_examples.py says where), and on_files below hands that notebook to
mkdocs-jupyter as the page `examples/<topic>/<name>.ipynb`, with the script beside it. With
`include_source`, mkdocs-jupyter publishes that same notebook for download.

mkdocs-jupyter's notebook template inlines JupyterLab's whole stylesheet (about 590 KB),
a MathJax loader, a clipboard script and every plot as a base64 PNG into each example
page. This hook rewrites the rendered notebook:

* no inline styles or scripts: the few notebook classes the pages use are styled in
  docs/assets/stylesheets/extra.css, and code cells become Material code blocks (same
  colours and copy button as the topic pages, full article width);
* plots become WebP files beside the page (lossless; lossy at high quality only for
  photo-like figures too big for that), with their size, lazy loading and an alt text
  taken from the titles the code gives them;
* math in the notebook's text is typeset at build time, like the topic pages';
* printed output is left out of the search index (which every page downloads).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import logging
import pathlib
import re
import shutil
from html import escape as html_escape

import executed_examples  # hooks/ is on sys.path while MkDocs loads this hook
import katex_math
from bs4 import BeautifulSoup, NavigableString
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.example_pages")

# A lossless WebP above this size is a photo-like figure (an image grid): lossy instead.
LOSSLESS_LIMIT = 100_000
LOSSY_QUALITY = 90

_previews: set[str] = set()  # src_uri of the example pages shown without output, this build


def _is_example(page) -> bool:
    return page.file.src_uri.startswith("examples/") and page.file.src_uri.endswith(".ipynb")


def _not_about_alt_text(record: logging.LogRecord) -> bool:
    return "Alternative text is missing" not in record.getMessage()


def on_config(config):
    # nbconvert warns that plots have no alt text; _extract_plots gives each one.
    for name in ("NbConvertApp", "traitlets"):
        logging.getLogger(name).addFilter(_not_about_alt_text)
    return config


# --- The notebooks ------------------------------------------------------------------------

def _preview(example: pathlib.Path) -> pathlib.Path:
    """The example as a notebook without output, for a preview of a changed example."""
    import jupytext

    target = executed_examples.PREVIEW_CACHE / example.parent.name / f"{example.stem}.ipynb"
    if not target.exists() or target.stat().st_mtime_ns < example.stat().st_mtime_ns:
        target.parent.mkdir(parents=True, exist_ok=True)
        jupytext.write(jupytext.read(example), target)
    return target


# Early, so that mkdocs-jupyter (whose `include` matches examples/*/*.ipynb) turns the
# notebooks added here into pages.
@event_priority(50)
def on_files(files, config):
    """Each example becomes `examples/<topic>/<name>.ipynb`: its executed notebook when the
    tests have run this very source, else a preview without output. Its script is published
    beside the page for download."""
    global _previews
    if config.plugins.get("mkdocs-jupyter") is None:  # the Chinese edition has no examples
        return files
    _previews = set()
    for example in executed_examples.examples():
        src_uri = f"examples/{executed_examples.example_id(example)}.ipynb"
        notebook = executed_examples.current_notebook(example)
        if notebook is None:
            notebook = _preview(example)
            _previews.add(src_uri)
        # A File read from the notebook's own folder (not File.generated: mkdocs-jupyter's
        # wrapper finds the source path of a File through its src_dir).
        src_dir = notebook.parents[2]
        assert src_dir / src_uri == notebook, notebook
        files.append(File(src_uri, str(src_dir), config["site_dir"], config["use_directory_urls"]))
        files.append(File.generated(config, f"{src_uri.removesuffix('.ipynb')}/{example.name}",
                                    abs_src_path=str(example)))
    if _previews:
        log.info("%d example(s) shown without output (not executed, or changed since): "
                 "run 'make examples' to execute them", len(_previews))
    return files


# --- The page -----------------------------------------------------------------------------

def _site_folder(page, config) -> pathlib.Path:
    return pathlib.Path(config["site_dir"]) / pathlib.PurePosixPath(page.file.dest_uri).parent


def _as_code_block(soup, pre) -> None:
    """<pre>spans</pre> -> <pre><code>spans</code></pre>, the form Material styles."""
    code = soup.new_tag("code")
    code.extend(list(pre.contents))
    pre.append(code)


TITLE_CALL = re.compile(r'(?:set_title|suptitle|title)\(\s*r?"([^"{}]+)"')


def _alt_text(image) -> str:
    cell = image.find_parent(class_="jp-CodeCell")
    code = cell.select_one(".highlight") if cell else None
    titles = TITLE_CALL.findall(code.get_text()) if code else []
    if titles:
        return "Plot: " + "; ".join(dict.fromkeys(titles))
    return "Plot drawn by the code above"


def _webp(png: bytes) -> tuple[bytes, int, int]:
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    out = io.BytesIO()
    image.save(out, "WEBP", lossless=True, method=4)
    if out.tell() > LOSSLESS_LIMIT:
        out = io.BytesIO()
        image.convert("RGB").save(out, "WEBP", quality=LOSSY_QUALITY, method=6)
    return out.getvalue(), image.width, image.height


def _extract_plots(soup, stem: str) -> dict[str, bytes]:
    """Plots out of the page, as WebP files named after the example: {name: bytes}."""
    plots = {}
    images = [img for img in soup.select(".jp-RenderedImage img")
              if img.get("src", "").startswith("data:image/png;base64,")]
    for number, image in enumerate(images, 1):
        data, width, height = _webp(base64.b64decode(image["src"].split(",", 1)[1]))
        name = f"{stem}-plot-{number}.webp"
        plots[name] = data
        image.attrs = {
            "src": name, "width": str(width), "height": str(height), "alt": _alt_text(image),
            "loading": "lazy" if number > 1 else "eager", "decoding": "async",
        }
    return plots


# $$display$$ or $inline$ (no space inside the dollars, as in Jupyter and auto-render).
MATH = re.compile(r"\$\$(?P<display>.+?)\$\$|(?<![\\$])\$(?=\S)(?P<inline>.+?)(?<=\S)(?<!\\)\$",
                  re.DOTALL)


def _typeset_text(text: NavigableString, where: str) -> None:
    pieces, end = [], 0
    for match in MATH.finditer(text):
        pieces.append(html_escape(text[end:match.start()]))
        display = match["display"] is not None
        tex = match["display"] if display else match["inline"]
        pieces.append(katex_math.render_or_fail(tex.strip(), display, where))
        end = match.end()
    if pieces:
        pieces.append(html_escape(text[end:]))
        text.replace_with(BeautifulSoup("".join(pieces), "html.parser"))


def _typeset_markdown_math(soup, where: str) -> None:
    for cell in soup.select(".jp-RenderedMarkdown"):
        for text in list(cell.find_all(string=re.compile(r"\$"))):
            if text.find_parent(["code", "pre"]) is None:
                _typeset_text(text, where)


def _slim(html: str, stem: str, where: str) -> tuple[str, dict[str, bytes]]:
    """The rendered notebook made light: the page's HTML and its plots."""
    soup = BeautifulSoup(html, "html.parser")
    # JupyterLab's CSS, the MathJax loader, the clipboard helpers and the cells' hidden
    # copies of their source: Material provides all of this already.
    for tag in soup.select("style, script, link, .zeroclipboard-container, "
                           ".clipboard-copy-txt, .jp-Collapser"):
        tag.decompose()
    for tag in soup.select("[tabindex]"):  # cells are not controls: no tab stop each
        del tag["tabindex"]
    for block in soup.select("div.highlight-ipynb"):
        block["class"] = ["highlight", "language-python"]
        _as_code_block(soup, block.pre)
    for pre in soup.select(".jp-RenderedText > pre"):
        _as_code_block(soup, pre)
    for output in soup.select(".jp-OutputArea"):  # printed numbers are not search terms
        output["data-search-exclude"] = ""
    for anchor in soup.select("a.anchor-link"):  # permalinks, shown on hover as on topic pages
        anchor["class"] = ["headerlink"]
        anchor["title"] = "Permanent link"
    plots = _extract_plots(soup, stem)
    _typeset_markdown_math(soup, where)
    return str(soup), plots


# Slimming a page takes most of a build (parsing and re-encoding the notebooks' HTML and
# plots), and its result depends only on the rendered notebook and on this code: it is kept
# on disk, keyed by both, so rebuilds (make serve, each test run) reuse it.
SLIM_CACHE = executed_examples.ROOT / ".cache" / "example-pages"
_used_slim_entries: set[pathlib.Path] = set()


@functools.cache
def _code_version() -> bytes:
    digest = hashlib.sha256()
    for module in (__file__, katex_math.__file__):
        digest.update(pathlib.Path(module).read_bytes())
    return digest.digest()


def _slim_cached(html: str, stem: str, where: str) -> tuple[str, dict[str, bytes]]:
    digest = hashlib.sha256(_code_version())
    digest.update(f"{stem}\n{html}".encode())
    entry = SLIM_CACHE / digest.hexdigest()
    _used_slim_entries.add(entry)
    if (entry / "page.html").exists():
        plots = {plot.name: plot.read_bytes() for plot in sorted(entry.glob("*.webp"))}
        return (entry / "page.html").read_text(encoding="utf-8"), plots
    slim, plots = _slim(html, stem, where)
    entry.mkdir(parents=True, exist_ok=True)
    for name, data in plots.items():
        (entry / name).write_bytes(data)
    (entry / "page.html").write_text(slim, encoding="utf-8")  # written last: marks it whole
    return slim, plots


def on_page_content(html: str, page, config, files) -> str:
    if not _is_example(page):
        return html
    # Ranked below the topic pages: a whole program repeats its names (cls, ids, idf) and
    # outranked the page that explains them; at 0.4 its title still finds it (README: Search).
    page.meta["search"] = {"boost": 0.4}
    if page.file.src_uri in _previews:  # overrides/main.html: no notebook, a notice instead
        page.meta["example_preview"] = True
    stem = pathlib.PurePosixPath(page.file.src_uri).stem
    slim, plots = _slim_cached(html, stem, page.file.src_uri)
    folder = _site_folder(page, config)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in plots.items():
        (folder / name).write_bytes(data)
    return slim


def on_post_build(config):
    """Entries no page of this build used are dropped (an edited example leaves one)."""
    if config.plugins.get("mkdocs-jupyter") is None or not _used_slim_entries:
        return
    for entry in SLIM_CACHE.glob("*"):
        if entry not in _used_slim_entries:
            shutil.rmtree(entry, ignore_errors=True)
    _used_slim_entries.clear()

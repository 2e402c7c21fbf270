"""Example pages (rendered by mkdocs-jupyter) made light and native to the site.

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
* printed output is left out of the search index (which every page downloads);
* the executed notebook is published beside the script, as `<name>.ipynb`, with its
  outputs: it is captured when mkdocs-jupyter executes the example and kept beside
  mkdocs-jupyter's own cache entry, so a cached page offers the same notebook.
"""

from __future__ import annotations

import base64
import io
import logging
import pathlib
import re
from html import escape as html_escape

import katex_math  # hooks/ is on sys.path while MkDocs loads this hook
from bs4 import BeautifulSoup, NavigableString
from mkdocs.exceptions import PluginError

# A lossless WebP above this size is a photo-like figure (an image grid): lossy instead.
LOSSLESS_LIMIT = 100_000
LOSSY_QUALITY = 90

_plugin_config = None  # mkdocs-jupyter's options, for its cache key
_executed: dict[str, str] = {}  # notebook source path -> executed notebook (JSON), this build


def _is_example(page) -> bool:
    return page.file.src_uri.startswith("examples/") and page.file.src_uri.endswith(".py")


# --- The executed notebook ----------------------------------------------------------------

def _capture_executed_notebooks() -> None:
    """Wrap mkdocs-jupyter's converter so that it hands over the notebook it executed."""
    from mkdocs_jupyter import convert
    from nbconvert.exporters.exporter import Exporter
    import nbformat

    if getattr(convert.nb2html, "keeps_notebook", False):
        return
    convert_notebook = convert.nb2html

    def nb2html(nb_path, *args, **kwargs):
        processed = []
        preprocess = Exporter._preprocess

        def keep(self, nb, resources):
            nb, resources = preprocess(self, nb, resources)
            processed.append(nb)
            return nb, resources

        Exporter._preprocess = keep
        try:
            html = convert_notebook(nb_path, *args, **kwargs)
        finally:
            Exporter._preprocess = preprocess
        notebook = processed[-1]
        for cell in notebook.cells:  # timings of this run say nothing to a reader
            cell.metadata.pop("execution", None)
        notebook.metadata.setdefault("kernelspec", {
            "name": "python3", "display_name": "Python 3", "language": "python"})
        _executed[str(pathlib.Path(nb_path).resolve())] = nbformat.writes(notebook)
        return html

    nb2html.keeps_notebook = True
    convert.nb2html = nb2html


def _cache_path(page) -> pathlib.Path | None:
    """Where mkdocs-jupyter caches this page; our notebook sits beside it as .ipynb."""
    from mkdocs_jupyter.plugin import _compute_cache_key, _get_cache_path

    config = _plugin_config
    if not config["cache"]:
        return None
    execute = config["execute"] and not any(
        pathlib.PurePath(page.file.abs_src_path).match(pattern)
        for pattern in config["execute_ignore"] or [])
    key = _compute_cache_key(page.file.abs_src_path, config, execute)
    return _get_cache_path(config["cache_dir"], key).with_suffix(".ipynb")


def _not_about_alt_text(record: logging.LogRecord) -> bool:
    return "Alternative text is missing" not in record.getMessage()


def on_config(config):
    global _plugin_config
    plugin = config.plugins.get("mkdocs-jupyter")
    if plugin is None:  # the Chinese edition renders no notebooks
        return config
    _plugin_config = plugin.config
    _capture_executed_notebooks()
    # nbconvert warns that plots have no alt text; _extract_plots gives each one.
    for name in ("NbConvertApp", "traitlets"):
        logging.getLogger(name).addFilter(_not_about_alt_text)
    # A cached page without its notebook (cached before this hook existed) is executed again.
    cache_dir = pathlib.Path(_plugin_config["cache_dir"])
    for page_cache in cache_dir.glob("*.json"):
        if not page_cache.with_suffix(".ipynb").exists():
            page_cache.unlink()
    return config


def _publish_notebook(page, config) -> None:
    source = str(pathlib.Path(page.file.abs_src_path).resolve())
    if not _plugin_config["execute"]:  # a preview without output offers no notebook
        _executed.pop(source, None)
        return
    cached = _cache_path(page)
    notebook = _executed.pop(source, None)
    if notebook is not None and cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(notebook, encoding="utf-8")
    elif notebook is None and cached is not None and cached.exists():
        notebook = cached.read_text(encoding="utf-8")
    if notebook is None:
        raise PluginError(f"{page.file.src_uri}: no executed notebook to publish; "
                          "delete .cache/mkdocs-jupyter and build again")
    target = _site_folder(page, config) / (pathlib.Path(source).stem + ".ipynb")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(notebook, encoding="utf-8")


def on_post_build(config):
    if _plugin_config is None or not _plugin_config["cache"]:
        return
    for notebook in pathlib.Path(_plugin_config["cache_dir"]).glob("*.ipynb"):
        if not notebook.with_suffix(".json").exists():  # mkdocs-jupyter evicted the page
            notebook.unlink()


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


def _extract_plots(soup, page, config) -> None:
    folder = _site_folder(page, config)
    folder.mkdir(parents=True, exist_ok=True)
    stem = pathlib.PurePosixPath(page.file.src_uri).stem
    images = [img for img in soup.select(".jp-RenderedImage img")
              if img.get("src", "").startswith("data:image/png;base64,")]
    for number, image in enumerate(images, 1):
        data, width, height = _webp(base64.b64decode(image["src"].split(",", 1)[1]))
        name = f"{stem}-plot-{number}.webp"
        (folder / name).write_bytes(data)
        image.attrs = {
            "src": name, "width": str(width), "height": str(height), "alt": _alt_text(image),
            "loading": "lazy" if number > 1 else "eager", "decoding": "async",
        }


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


def _typeset_markdown_math(soup, page) -> None:
    for cell in soup.select(".jp-RenderedMarkdown"):
        for text in list(cell.find_all(string=re.compile(r"\$"))):
            if text.find_parent(["code", "pre"]) is None:
                _typeset_text(text, page.file.src_uri)


def on_page_content(html: str, page, config, files) -> str:
    if _plugin_config is None or not _is_example(page):
        return html
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
    _extract_plots(soup, page, config)
    _typeset_markdown_math(soup, page)
    _publish_notebook(page, config)
    return str(soup)

""""Edit this page" and "Report a problem with this page" on every page, from one setting.

`extra.repository` in mkdocs.yml (the REPOSITORY_URL environment variable; the publish
workflow sets it to the repository it runs in) is the project's GitHub address. With it,
each page gets Material's edit button (the page's own source: the Markdown page, or an
example's script) and a link that opens a new issue naming the page and the torch and
torchvision versions the site was built with (overrides/main.html shows it). Without it,
neither appears: no link points nowhere. Material's own `repo_url` is not used: its header
widget asks GitHub's API for the repository's stars at every visit.
"""

from __future__ import annotations

import importlib.metadata
import pathlib
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
BRANCH = "main"


def source_path(page, config) -> str:
    """The page's source, relative to the repository: an example page's is its script."""
    uri = page.file.src_uri
    if uri.startswith("examples/") and uri.endswith(".ipynb"):
        return uri.removesuffix(".ipynb") + ".py"
    docs = pathlib.Path(config["docs_dir"]).resolve().relative_to(ROOT)
    return f"{docs.as_posix()}/{uri}"


def report_url(repository: str, page, config) -> str:
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}"
                         for name in ("torch", "torchvision"))
    body = (f"Page: {page.canonical_url or page.url}\n"
            f"Source: {source_path(page, config)}\n"
            f"Site built with {versions}\n\n"
            "What is wrong, and what did you expect?\n")
    query = urllib.parse.urlencode({"title": f"Problem on {page.title}", "body": body})
    return f"{repository}/issues/new?{query}"


def on_page_context(context, page, config, nav):
    repository = (config.extra.get("repository") or "").rstrip("/")
    if not repository:
        return context
    page.edit_url = f"{repository}/edit/{BRANCH}/{source_path(page, config)}"
    page.meta["report_url"] = report_url(repository, page, config)
    return context

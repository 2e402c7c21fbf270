"""Each topic page named by its own heading, not by its navigation label.

The navigation labels every English topic page "Overview" under its topic's section.
Material's header shows a page's title once the page is scrolled (and always on a phone),
and it reads the page's `title` metadata before that label; so does the browser tab's
title (overrides/main.html). The page's H1 goes there, and the navigation keeps its label.
"""

from __future__ import annotations


def on_page_content(html: str, page, config, files) -> str:
    if page.is_homepage or page.meta.get("title") or not page.toc.items:
        return html
    heading = page.toc.items[0]
    if heading.level == 1 and heading.title != page.title:
        page.meta["title"] = heading.title
    return html

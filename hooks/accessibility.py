"""Names for the parts of Material's page that assistive technology announces without one.

Material's search overlay is a `role="dialog"` element with no accessible name (axe's
aria-dialog-name rule; Lighthouse lists it under accessibility). The hook names it after
the search field, in the page's language.
"""

from __future__ import annotations

from mkdocs.exceptions import PluginError

SEARCH_DIALOG = '<div class="md-search" data-md-component="search" role="dialog">'
SEARCH_NAME = {"en": "Search", "zh": "搜索"}


def on_post_page(output: str, page, config) -> str:
    if SEARCH_DIALOG not in output:
        raise PluginError(f"{page.file.src_uri}: Material's search dialog markup changed; "
                          "update hooks/accessibility.py")
    name = SEARCH_NAME[config.theme["language"]]
    return output.replace(SEARCH_DIALOG, SEARCH_DIALOG[:-1] + f' aria-label="{name}">', 1)

"""A `urljoin` filter for the templates: overrides/sitemap.xml names each page's counterpart
in the other edition by its full address, the site's address joined with the edition's
relative link (`zh/`, `../`) and the page's path."""

from __future__ import annotations

import urllib.parse


def on_env(env, config, files):
    env.filters["urljoin"] = urllib.parse.urljoin
    return env

"""`mkdocs build --strict`, with chosen examples left unexecuted.

    python tests/mkdocs_build.py SITE_DIR [examples/<topic>/<name>.py ...]

The examples named after the site folder are rendered without running them (through
mkdocs-jupyter's own `execute_ignore` option), so that the tests can build the rest of the
site after one example has failed. Every other example is executed (or served from the
execution cache) exactly as `mkdocs build` does it. Exit code: mkdocs's.
"""

from __future__ import annotations

import logging
import sys

from mkdocs.commands.build import build
from mkdocs.config import load_config
from mkdocs.exceptions import MkDocsException


def main(site_dir: str, *skipped: str) -> int:
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)  # some libraries (jieba) log at DEBUG on their own
    handler.setFormatter(logging.Formatter("%(levelname)-7s -  %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    config = load_config("mkdocs.yml", site_dir=site_dir, strict=True)
    # The patterns match from the right of each example's path (pathlib's match).
    config.plugins["mkdocs-jupyter"].config["execute_ignore"] = list(skipped)
    try:
        build(config)
    except MkDocsException as error:
        print(f"Aborted: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

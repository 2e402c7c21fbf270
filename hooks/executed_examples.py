"""Where the executed notebook of each example lives, and whether it is current.

The tests execute each example (tests/test_examples.py) into
`.cache/examples/<topic>/<name>.ipynb`, with a `.key` file beside it: the SHA-256 of the
example's source, of the lock file it ran under and of the executor. The site renders that notebook and
offers it for download (hooks/example_pages.py); it never executes anything. An example
whose notebook is missing or stale is shown as a preview without output.

Not a hook itself: hooks/example_pages.py and the tests import it.
"""

from __future__ import annotations

import hashlib
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"
LOCK = ROOT / "requirements.lock"
# What runs an example into its notebook: a change to it changes every notebook.
EXECUTOR = ROOT / "tests" / "execute_example.py"
CACHE = ROOT / ".cache" / "examples"
# Unexecuted notebooks made from changed examples, for a preview (make serve).
PREVIEW_CACHE = ROOT / ".cache" / "preview" / "examples"


def examples() -> list[pathlib.Path]:
    return sorted(EXAMPLES_DIR.glob("*/*.py"))


def example_id(example: pathlib.Path) -> str:
    """`<topic>/<name>`: how tests and messages name an example."""
    return f"{example.parent.name}/{example.stem}"


def source_key(example: pathlib.Path) -> str:
    """Changes when the example, the locked environment or the executor changes."""
    digest = hashlib.sha256(example.read_bytes())
    for path in (LOCK, EXECUTOR):
        digest.update(path.read_bytes() if path.exists() else b"missing")
    return digest.hexdigest()


def notebook_path(example: pathlib.Path) -> pathlib.Path:
    return CACHE / example.parent.name / f"{example.stem}.ipynb"


def key_path(example: pathlib.Path) -> pathlib.Path:
    return notebook_path(example).with_suffix(".key")


def current_notebook(example: pathlib.Path) -> pathlib.Path | None:
    """The executed notebook of this very source under this lock, if there is one."""
    notebook, key = notebook_path(example), key_path(example)
    # The key file holds the key, then the seconds the run took.
    if notebook.exists() and key.exists() and key.read_text().split()[:1] == [source_key(example)]:
        return notebook
    return None

"""The site's figures, drawn from the code: one function per figure, each reading the real
modules (or a recorded run) and returning SVG with text labels in English or Chinese.

`python -m figures` (or `make figures`) writes every figure to
docs/assets/figures/<name>.<lang>.svg; hooks/inline_figures.py inlines a figure where a page has
the line `<!-- figure: <name> -->`; tests/test_figures.py regenerates every figure and fails
when the committed file differs, so a figure cannot drift from the code it shows.
"""

from __future__ import annotations

import importlib
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "assets" / "figures"
LANGUAGES = ("en", "zh")

# The topic modules of this package, each with FIGURES = {name: draw(lang) -> svg}.
TOPICS = ("inception", "resnet", "transformer", "bert", "data_loading", "tracking",
          "transfer", "adam", "augmentation", "classification")

# Where each figure is shown: the topic page (the same path under docs/ and docs/zh/).
PAGES = {
    "vision/inception.md": ["inception_module", "googlenet_stages"],
    "vision/resnet.md": ["resnet_blocks", "resnet50_stages"],
    "sequence/transformer.md": ["attention_scores", "transformer_masks", "kv_cache"],
    "sequence/bert.md": ["bert_inputs", "bert_heads"],
    "training/data-loading.md": ["loader_processes", "loader_timeline"],
    "vision/object-tracking.md": ["siamese_correlation", "sort_loop"],
    "vision/transfer-learning.md": ["transfer_strategies"],
    "training/adam.md": ["optimizer_paths"],
    "training/data-augmentation.md": ["augmentation_pipelines"],
    "vision/image-classification.md": ["classifier_train_eval"],
}


def figures() -> dict:
    """{name: draw function} over every topic module that exists."""
    found = {}
    for topic in TOPICS:
        try:
            module = importlib.import_module(f"figures.{topic}")
        except ModuleNotFoundError as error:
            if error.name != f"figures.{topic}":
                raise
            continue
        found.update(module.FIGURES)
    return found


def path(name: str, lang: str) -> pathlib.Path:
    return OUTPUT / f"{name}.{lang}.svg"


def page_code(page: str, heading: str) -> str:
    """The first Python block under a heading of an English page (docs/<page>): figures that
    show what a page's code does run that very code."""
    import re

    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    block = re.search(r"^```python\n(.*?)^```$", text[start:], re.MULTILINE | re.DOTALL)
    if block is None:
        raise LookupError(f"docs/{page}: no Python block under {heading!r}")
    return block[1]


def run_page_code(page: str, heading: str) -> dict:
    """Run that block (quietly) and return its names."""
    import contextlib
    import io

    namespace: dict = {"__name__": "figures.page"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(page_code(page, heading), f"docs/{page}", "exec"), namespace)  # noqa: S102
    return namespace

"""Write every figure (or those named) to docs/assets/figures: python -m figures [name ...].
With --into FOLDER, write them there instead (the tests compare those with the committed ones)."""

from __future__ import annotations

import argparse
import pathlib
import sys

from figures import LANGUAGES, OUTPUT, figures, path


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m figures", description=__doc__)
    parser.add_argument("names", nargs="*", help="figures to draw (default: all)")
    parser.add_argument("--into", type=pathlib.Path, default=OUTPUT, metavar="FOLDER",
                        help="where to write them (default: docs/assets/figures)")
    arguments = parser.parse_args(argv)
    names, folder = arguments.names, arguments.into
    import torch

    torch.set_num_threads(1)
    available = figures()
    unknown = set(names) - set(available)
    if unknown:
        sys.exit(f"no such figure: {', '.join(sorted(unknown))}")
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or available:
        for lang in LANGUAGES:
            svg = available[name](lang)
            target = folder / path(name, lang).name
            if not target.exists() or target.read_text(encoding="utf-8") != svg:
                target.write_text(svg, encoding="utf-8")
                print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])

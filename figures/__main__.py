"""Write every figure (or those named) to docs/assets/figures: python -m figures [name ...]."""

from __future__ import annotations

import sys

from figures import LANGUAGES, OUTPUT, figures, path


def main(names: list[str]) -> None:
    import torch

    torch.set_num_threads(1)
    available = figures()
    unknown = set(names) - set(available)
    if unknown:
        sys.exit(f"no such figure: {', '.join(sorted(unknown))}")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for name in names or available:
        for lang in LANGUAGES:
            svg = available[name](lang)
            target = path(name, lang)
            if not target.exists() or target.read_text(encoding="utf-8") != svg:
                target.write_text(svg, encoding="utf-8")
                print(f"wrote {target.relative_to(OUTPUT.parent.parent.parent)}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Data augmentation (Q44): the page's training and evaluation pipelines, step by step, with
what each step does to a photograph (type, shape, dtype) and whether it is random."""

from __future__ import annotations

import functools

from figures import run_page_code
from figures.svg import Drawing

PAGE, HEADING = "training/data-augmentation.md", "### A training pipeline and an evaluation pipeline"
LABELS = {
    "train": ("train_transform: a new random view each call", "train_transform：每次调用一个新的随机视图"),
    "eval": ("eval_transform: the same output every call", "eval_transform：每次调用输出相同"),
    "input": ("input: PIL image {w}x{h}", "输入：PIL 图像 {w}x{h}"),
    "random": ("random", "随机"),
    "fixed": ("fixed", "确定"),
    "alt": (
        "The page's two pipelines applied to a {w}x{h} photo. Training: {train}. Evaluation: "
        "{eval}. Both end as a 3x{size}x{size} float32 tensor; the training steps marked random "
        "give a different result on each call.",
        "把本页的两条流水线用在一张 {w}x{h} 的照片上。训练：{train}。评估：{eval}。两者最终都得到 "
        "3x{size}x{size} 的 float32 张量；标为随机的训练步骤每次调用结果都不同。"),
    "caption": (
        "The training and evaluation pipelines of this page's code, run on a photograph: after "
        "each transform, the type, shape and dtype it returns, and whether two calls differ "
        "(random) or agree (fixed).",
        "本页代码中的训练流水线与评估流水线，运行在一张照片上：每个变换之后返回的类型、形状和 dtype，"
        "以及两次调用结果不同（随机）还是相同（确定）。"),
}


def _describe(transform) -> str:
    """The transform as its constructor call, shortened to what the figure has room for."""
    name = type(transform).__name__
    args = {
        "RandomResizedCrop": lambda t: f"{t.size[0]}, scale={t.scale}",
        "Resize": lambda t: f"{t.size[0]}",
        "CenterCrop": lambda t: f"{t.size[0]}",
        "ToDtype": lambda t: f"{str(t.dtype).split('.')[1]}, scale={t.scale}",
        "ColorJitter": lambda t: ", ".join(f"{1 - getattr(t, k)[0]:.2g}"
                                           for k in ("brightness", "contrast", "saturation")),
        "Normalize": lambda t: "mean, std",
    }.get(name)
    return f"{name}({args(transform) if args else ''})"


def _state(value) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        return f"{type(value).__name__} {'x'.join(map(str, value.shape))} {str(value.dtype).split('.')[1]}"
    return f"{type(value).__name__} {value.size[0]}x{value.size[1]}"


@functools.cache
def facts() -> dict:
    import matplotlib.cbook
    import torch
    from PIL import Image

    namespace = run_page_code(PAGE, HEADING)
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        photo = Image.open(file).convert("RGB")
    pipelines = {}
    for key in ("train", "eval"):
        steps, value = [], photo
        for transform in namespace[f"{key}_transform"].transforms:
            # Random if two calls on the same input differ (three tries: a flip can agree).
            outputs = []
            for seed in range(3):
                torch.manual_seed(seed)
                outputs.append(transform(value))
            first = outputs[0]
            random = any(not _same(first, other) for other in outputs[1:])
            steps.append({"name": _describe(transform), "out": _state(first), "random": random})
            value = first
        pipelines[key] = steps
    return {"size": photo.size, "pipelines": pipelines,
            "out": tuple(value.shape)}


def _same(a, b) -> bool:
    import torch

    if isinstance(a, torch.Tensor):
        return a.shape == b.shape and torch.equal(a, b)
    return a.size == b.size and a.tobytes() == b.tobytes()


def draw(lang: str) -> str:
    f = facts()
    w, h = f["size"]
    train, evaluation = f["pipelines"]["train"], f["pipelines"]["eval"]
    rows = max(len(train), len(evaluation))
    d = Drawing("augmentation_pipelines", lang, 660, 100 + rows * 46, LABELS)
    d.box(180, 8, 300, 28, [d.t("input", w=w, h=h)], "box plain")
    for c, (key, steps) in enumerate((("train", train), ("eval", evaluation))):
        x = 10 + c * 330
        cx = x + 155
        d.text(cx, 60, d.t(key), "small strong")
        d.line([(330, 36), (330, 44), (cx, 44), (cx, 48)], head=False)
        for i, step in enumerate(steps):
            y = 70 + i * 46
            cls = "box primary" if step["random"] else "box"
            tag = d.t("random" if step["random"] else "fixed")
            d.box(x, y, 310, 36, [(step["name"], "code small"), (f"{step['out']} · {tag}", "code small muted")],
                  cls)
            if i:
                d.arrow(cx, y - 10, cx, y)
    size = f["out"][-1]

    def listing(steps):
        return ", ".join(f"{s['name']} ({d.t('random') if s['random'] else d.t('fixed')})" for s in steps)

    alt = d.t("alt", w=w, h=h, train=listing(train), eval=listing(evaluation), size=size)
    return d.render(alt, d.t("caption"))


FIGURES = {"augmentation_pipelines": draw}

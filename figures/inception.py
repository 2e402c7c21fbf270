"""Inception (Q48): torchvision's GoogLeNet, its inception3a module and its stages."""

from __future__ import annotations

import functools

from figures.svg import SMALL, Drawing, text_width

LABELS = {
    "input": ("input of inception3a", "inception3a 的输入"),
    "conv": ("{k}x{k} conv", "{k}x{k} 卷积"),
    "pool": ("{k}x{k} max pool", "{k}x{k} 最大池化"),
    "stride": ("stride {s}", "步幅 {s}"),
    "branch": ("branch {i}", "分支 {i}"),
    "concat": ("concatenate along channels: {sum} = {total}", "沿通道拼接：{sum} = {total}"),
    "output": ("output: {shape}", "输出：{shape}"),
    "module_alt": (
        "The inception3a module of torchvision's GoogLeNet: a {c_in}-channel {hw} input goes "
        "through four branches, {branches}; their outputs are concatenated into {total} channels.",
        "torchvision 的 GoogLeNet 中的 inception3a 模块：{c_in} 通道、{hw} 的输入经过四个分支，"
        "{branches}；各分支的输出拼接成 {total} 个通道。"),
    "module_caption": (
        "The inception3a module, with the channel counts and kernel sizes of torchvision's "
        "googlenet (its third branch has a 3x3 convolution where the paper has 5x5).",
        "inception3a 模块，通道数与卷积核大小取自 torchvision 的 googlenet（其第三个分支用 3x3 "
        "卷积，论文中是 5x5）。"),
    "stem": ("stem", "主干起始层"),
    "stage3": ("stage 3", "第 3 段"),
    "stage4": ("stage 4", "第 4 段"),
    "stage5": ("stage 5", "第 5 段"),
    "head": ("classifier", "分类头"),
    "stages_alt": (
        "GoogLeNet's layers in order with the output shape of each on a {input} input: {layers}.",
        "GoogLeNet 的各层依次排列，以及在 {input} 输入上每层的输出形状：{layers}。"),
    "stages_caption": (
        "GoogLeNet's stages: each box is a child module of torchvision's googlenet with its "
        "output shape (channels x height x width) on one 224x224 image, recorded by forward hooks.",
        "GoogLeNet 的各段：每个方框是 torchvision 的 googlenet 的一个子模块，下面是它在一张 "
        "224x224 图像上的输出形状（通道 x 高 x 宽），由前向钩子记录。"),
}


def shape_text(shape) -> str:
    return "x".join(str(s) for s in shape)


@functools.cache
def facts() -> dict:
    """What the figures show, read from torchvision's googlenet and one forward pass."""
    import torch
    import torchvision

    model = torchvision.models.googlenet(weights=None, init_weights=False, aux_logits=False).eval()
    shapes: dict[str, tuple] = {}
    hooks = []
    for name, child in model.named_children():
        hooks.append(child.register_forward_hook(
            lambda m, args, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))))
    module = model.inception3a
    branch_shapes = {}
    for i in range(1, 5):
        hooks.append(getattr(module, f"branch{i}").register_forward_hook(
            lambda m, args, out, i=i: branch_shapes.__setitem__(i, tuple(out.shape[1:]))))
    module_input = {}
    hooks.append(module.register_forward_pre_hook(
        lambda m, args: module_input.__setitem__("shape", tuple(args[0].shape[1:]))))
    with torch.inference_mode():
        model(torch.zeros(1, 3, 224, 224))
    for hook in hooks:
        hook.remove()

    branches = []
    for i in range(1, 5):
        branch = getattr(module, f"branch{i}")
        layers = []
        for layer in (branch if isinstance(branch, torch.nn.Sequential) else [branch]):
            if isinstance(layer, torch.nn.MaxPool2d):
                layers.append(("pool", layer.kernel_size, layer.stride))
            else:
                conv = layer.conv
                layers.append(("conv", conv.kernel_size[0], conv.in_channels, conv.out_channels))
        branches.append({"layers": layers, "out": branch_shapes[i]})
    return {"input": module_input["shape"], "branches": branches,
            "output": shapes["inception3a"], "stages": list(shapes.items())}


def draw_module(lang: str) -> str:
    f = facts()
    labels = LABELS
    col_w, gap, left = 150, 14, 10
    width = left * 2 + 4 * col_w + 3 * gap
    d = Drawing("inception_module", lang, width, 372, labels)
    c_in, h, w = f["input"]
    top_w = 320
    d.box((width - top_w) / 2, 8, top_w, 44, [d.t("input"), (shape_text(f["input"]), "code")])
    branch_texts = []
    for i, branch in enumerate(f["branches"]):
        x = left + i * (col_w + gap)
        cx = x + col_w / 2
        d.text(cx, 84, d.t("branch", i=i + 1), "muted small")
        d.line([(width / 2, 52), (width / 2, 62), (cx, 62), (cx, 96)])
        y = 96
        parts = []
        for layer in branch["layers"]:
            if layer[0] == "pool":
                _, k, s = layer
                d.box(x, y, col_w, 44, [d.t("pool", k=k), d.t("stride", s=s)], "box muted-box")
                parts.append(f"{d.t('pool', k=k)} ({d.t('stride', s=s)})")
            else:
                _, k, cin, cout = layer
                d.box(x, y, col_w, 44, [d.t("conv", k=k), (f"{cin} → {cout}", "code")],
                      "box accent" if k > 1 else "box")
                parts.append(f"{d.t('conv', k=k)} {cin}→{cout}")
            y += 44
            if len(branch["layers"]) == 1:
                break
            if layer is not branch["layers"][-1]:
                d.arrow(cx, y, cx, y + 22)
            y += 22
        # The branch's output, then down to the concatenation.
        out_y = 96 + 44 * 2 + 22
        if len(branch["layers"]) == 1:
            d.line([(cx, 140), (cx, out_y + 6)])
        else:
            d.line([(cx, y - 22), (cx, out_y + 6)])
        d.box(x + 20, out_y + 6, col_w - 40, 26, [(shape_text(branch["out"]), "code small")],
              "box plain")
        d.line([(cx, out_y + 32), (cx, 276)])
        branch_texts.append(", ".join(parts) + f" ({branch['out'][0]})")
    widths = [b["out"][0] for b in f["branches"]]
    total = f["output"][0]
    d.box(left, 276, width - 2 * left, 32,
          [d.t("concat", sum=" + ".join(map(str, widths)), total=total)], "box primary")
    d.arrow(width / 2, 308, width / 2, 326)
    d.box((width - top_w) / 2, 326, top_w, 34, [(d.t("output", shape=shape_text(f["output"])), "code")])
    alt = d.t("module_alt", c_in=c_in, hw=f"{h}x{w}", branches="; ".join(branch_texts), total=total)
    return d.render(alt, d.t("module_caption"))


def draw_stages(lang: str) -> str:
    f = facts()
    stages = f["stages"]
    groups = [("stem", 0, 5), ("stage3", 5, 8), ("stage4", 8, 14), ("stage5", 14, 16),
              ("head", 16, 19)]
    box_w, box_h, gap_x, row_h, left = 104, 42, 14, 96, 108
    per_row = max(end - start for _, start, end in groups)
    width = left + per_row * (box_w + gap_x)
    d = Drawing("googlenet_stages", lang, width, 20 + row_h * len(groups), LABELS)
    for row, (key, start, end) in enumerate(groups):
        y = 30 + row * row_h
        d.text(8, y + box_h / 2 + 4, d.t(key), "strong", anchor="start")
        for j, (name, shape) in enumerate(stages[start:end]):
            x = left + j * (box_w + gap_x)
            cls = "box accent" if name.startswith("inception") else (
                "box muted-box" if "pool" in name or name == "dropout" else "box")
            d.box(x, y, box_w, box_h, [(name, "code"), (shape_text(shape), "code small")], cls)
            if j:
                d.arrow(x - gap_x, y + box_h / 2, x, y + box_h / 2)
        if row < len(groups) - 1:
            # From this row's last box down to the next row's first.
            x_end = left + (end - start - 1) * (box_w + gap_x) + box_w / 2
            d.line([(x_end, y + box_h), (x_end, y + box_h + 14), (left + box_w / 2, y + box_h + 14),
                    (left + box_w / 2, y + row_h)])
    alt = d.t("stages_alt", input="3x224x224",
              layers=", ".join(f"{name} {shape_text(shape)}" for name, shape in stages))
    return d.render(alt, d.t("stages_caption"))


FIGURES = {"inception_module": draw_module, "googlenet_stages": draw_stages}

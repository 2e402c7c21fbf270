"""ResNet (Q50): torchvision's basic and bottleneck blocks, and ResNet-50's stages."""

from __future__ import annotations

import functools
import math

from figures.svg import Drawing, circle

LABELS = {
    "basic": ("basic block: resnet18.layer1[0]", "基本块：resnet18.layer1[0]"),
    "bottleneck": ("bottleneck block: resnet50.layer2[0]", "瓶颈块：resnet50.layer2[0]"),
    "conv": ("{name}: {k}x{k}, {cin} → {cout}", "{name}：{k}x{k}，{cin} → {cout}"),
    "stride": (", stride {s}", "，步幅 {s}"),
    "bn_relu": ("{bn}, ReLU", "{bn}，ReLU"),
    "identity": ("identity", "恒等"),
    "projection": ("downsample: 1x1, {cin} → {cout}{stride}, BN",
                   "downsample：1x1，{cin} → {cout}{stride}，BN"),
    "shortcut": ("shortcut", "捷径"),
    "input": ("x: {shape}", "x：{shape}"),
    "output": ("y: {shape}", "y：{shape}"),
    "blocks_alt": (
        "Two residual blocks. Left, torchvision's basic block (resnet18.layer1[0]): {basic}, "
        "added to the input through an identity shortcut, then ReLU; {basic_in} in, {basic_out} "
        "out. Right, a bottleneck block with a projection shortcut (resnet50.layer2[0]): "
        "{bottleneck}; the shortcut is {projection}; {bottle_in} in, {bottle_out} out.",
        "两个残差块。左：torchvision 的基本块（resnet18.layer1[0]）：{basic}，通过恒等捷径与输入"
        "相加，再经 ReLU；输入 {basic_in}，输出 {basic_out}。右：带投影捷径的瓶颈块"
        "（resnet50.layer2[0]）：{bottleneck}；捷径为 {projection}；输入 {bottle_in}，输出 "
        "{bottle_out}。"),
    "blocks_caption": (
        "A basic block with an identity shortcut and a bottleneck block with a projection "
        "shortcut, as torchvision builds them (layer names, kernel sizes, channels and strides "
        "read from the modules, shapes from a forward pass on a 224x224 image).",
        "带恒等捷径的基本块与带投影捷径的瓶颈块，与 torchvision 中的构造一致（层名、卷积核大小、"
        "通道数和步幅读自模块，形状来自 224x224 图像上的一次前向传播）。"),
    "stem": ("stem", "起始层"),
    "blocks": ("{n} blocks", "{n} 个块"),
    "stages_alt": (
        "ResNet-50's stages and the output shape of each on a 224x224 image: {stages}.",
        "ResNet-50 的各段及其在 224x224 图像上的输出形状：{stages}。"),
    "stages_caption": (
        "ResNet-50's stages: each box's height follows the feature map's side and its width the "
        "number of channels (log scale); shapes recorded by forward hooks on torchvision's resnet50.",
        "ResNet-50 的各段：方框的高度对应特征图的边长，宽度对应通道数（对数刻度）；形状由前向钩子"
        "在 torchvision 的 resnet50 上记录。"),
    "spatial": ("feature map side", "特征图边长"),
}


def shape_text(shape) -> str:
    return "x".join(str(s) for s in shape)


def _record(model, names, x):
    import torch

    shapes = {}
    hooks = []
    for name in names:
        module = model.get_submodule(name)
        hooks.append(module.register_forward_hook(
            lambda m, args, out, name=name: shapes.__setitem__(
                name, (tuple(args[0].shape[1:]), tuple(out.shape[1:])))))
    with torch.inference_mode():
        model.eval()(x)
    for hook in hooks:
        hook.remove()
    return shapes


def _convs(block):
    import torch

    convs = []
    for name, module in block.named_children():
        if isinstance(module, torch.nn.Conv2d):
            convs.append({"name": name, "k": module.kernel_size[0], "cin": module.in_channels,
                          "cout": module.out_channels, "stride": module.stride[0],
                          "bn": name.replace("conv", "bn")})
    return convs


@functools.cache
def facts() -> dict:
    import torch
    import torchvision

    x = torch.zeros(1, 3, 224, 224)
    r18, r50 = torchvision.models.resnet18(), torchvision.models.resnet50()
    basic_shapes = _record(r18, ["layer1.0"], x)["layer1.0"]
    stage_names = ["maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    r50_shapes = _record(r50, ["layer2.0", *stage_names], x)
    downsample = r50.layer2[0].downsample[0]
    return {
        "basic": {"convs": _convs(r18.layer1[0]), "shapes": basic_shapes,
                  "type": type(r18.layer1[0]).__name__, "downsample": r18.layer1[0].downsample},
        "bottleneck": {"convs": _convs(r50.layer2[0]), "shapes": r50_shapes["layer2.0"],
                       "type": type(r50.layer2[0]).__name__,
                       "projection": {"cin": downsample.in_channels, "cout": downsample.out_channels,
                                      "k": downsample.kernel_size[0], "stride": downsample.stride[0]}},
        "stages": [{"name": name, "shape": r50_shapes[name][1],
                    "blocks": len(r50.get_submodule(name)) if name.startswith("layer") else None}
                   for name in stage_names],
    }


def _conv_label(d, conv):
    stride = d.t("stride", s=conv["stride"]) if conv["stride"] > 1 else ""
    return d.t("conv", name=conv["name"], k=conv["k"], cin=conv["cin"], cout=conv["cout"]) + stride


def _block(d, x, width, title, block, projection=None):
    """One block drawn in a column from x; returns the text that describes its layers."""
    cx = x + 110
    d.text(cx, 18, title, "strong")
    d.box(cx - 95, 30, 190, 28, [(d.t("input", shape=shape_text(block["shapes"][0])), "code")],
          "box plain")
    y, described = 78, []
    d.arrow(cx, 58, cx, y)
    convs = block["convs"]
    for i, conv in enumerate(convs):
        last = i == len(convs) - 1
        second = conv["bn"] if last else d.t("bn_relu", bn=conv["bn"])
        stride = d.t("stride", s=conv["stride"]).lstrip(", ，") + " · " if conv["stride"] > 1 else ""
        label = d.t("conv", name=conv["name"], k=conv["k"], cin=conv["cin"], cout=conv["cout"])
        d.box(cx - 95, y, 190, 40, [(label, "code"), (stride + second, "code small")],
              "box accent" if conv["k"] > 1 else "box")
        described.append(f"{_conv_label(d, conv)} + {second}")
        y += 40
        d.arrow(cx, y, cx, y + 16)
        y += 16
    # The sum, then ReLU and the output.
    circle(d, cx, y + 11, 11, "box primary", "+")
    d.arrow(cx, y + 22, cx, y + 38)
    d.box(cx - 95, y + 38, 190, 28, [(d.t("output", shape=shape_text(block["shapes"][1])) + ", ReLU",
                                      "code")], "box plain")
    # The shortcut: from the input, down the right-hand side, into the sum.
    side = x + 262
    if projection is None:
        d.line([(cx + 95, 44), (side, 44), (side, y + 11), (cx + 11, y + 11)], "line strong-line")
        d.text(side - 6, (44 + y) / 2, d.t("identity"), "small", anchor="end")
    else:
        d.line([(cx + 95, 44), (side, 44), (side, (44 + y) / 2 - 34)], "line strong-line", head=False)
        stride = d.t("stride", s=projection["stride"]) if projection["stride"] > 1 else ""
        label = d.t("projection", cin=projection["cin"], cout=projection["cout"], stride=stride)
        k = projection["k"]
        d.box(side - 52, (44 + y) / 2 - 34, 104, 68,
              [("downsample", "code small"),
               (f"{k}x{k}, {projection['cin']} → {projection['cout']}", "code small"),
               (stride.lstrip(", ，"), "code small"), ("+ BN", "code small")], "box primary")
        d.line([(side, (44 + y) / 2 + 34), (side, y + 11), (cx + 11, y + 11)], "line strong-line")
        described.append(label)
    return described, y + 66


def draw_blocks(lang: str) -> str:
    f = facts()
    d = Drawing("resnet_blocks", lang, 640, 1, LABELS)
    basic, h1 = _block(d, 0, 300, d.t("basic"), f["basic"])
    projection = f["bottleneck"]["projection"]
    bottle, h2 = _block(d, 320, 320, d.t("bottleneck"), f["bottleneck"], projection)
    d.height = max(h1, h2) + 8
    stride = d.t("stride", s=projection["stride"]) if projection["stride"] > 1 else ""
    alt = d.t("blocks_alt", basic="; ".join(basic),
              basic_in=shape_text(f["basic"]["shapes"][0]), basic_out=shape_text(f["basic"]["shapes"][1]),
              bottleneck="; ".join(bottle[:-1]),
              projection=d.t("projection", cin=projection["cin"], cout=projection["cout"], stride=stride),
              bottle_in=shape_text(f["bottleneck"]["shapes"][0]),
              bottle_out=shape_text(f["bottleneck"]["shapes"][1]))
    return d.render(alt, d.t("blocks_caption"))


def draw_stages(lang: str) -> str:
    stages = facts()["stages"]
    d = Drawing("resnet50_stages", lang, 600, 236, LABELS)
    base = 150  # the boxes' common bottom line is at base, their centres on one line
    x = 6
    gap = 8
    widths = [34 + (math.log2(max(s["shape"][0], 1)) - 6) * 9 for s in stages]
    scale = (600 - 12 - gap * (len(stages) - 1)) / sum(max(w, 74) for w in widths)
    described = []
    for stage, w in zip(stages, widths):
        slot = max(w, 74) * scale
        side = stage["shape"][1] if len(stage["shape"]) == 3 else 1
        h = 14 + side * 2
        bx = x + (slot - w * scale) / 2
        d.rect(bx, 90 - h / 2, w * scale, h, "box accent" if stage["blocks"] else "box muted-box")
        name = d.t("stem") + " (maxpool)" if stage["name"] == "maxpool" else stage["name"]
        d.text(x + slot / 2, 178, stage["name"] if stage["name"] != "maxpool" else d.t("stem"),
               "code")
        shape = shape_text(stage["shape"])
        d.text(x + slot / 2, 196, shape, "code small")
        if stage["blocks"]:
            d.text(x + slot / 2, 213, d.t("blocks", n=stage["blocks"]), "small muted")
        described.append(f"{name} {shape}" + (f" ({d.t('blocks', n=stage['blocks'])})"
                                              if stage["blocks"] else ""))
        if x > 6:
            d.arrow(x - gap, 90, x, 90)
        x += slot + gap
    alt = d.t("stages_alt", stages=", ".join(described))
    return d.render(alt, d.t("stages_caption"))


FIGURES = {"resnet_blocks": draw_blocks, "resnet50_stages": draw_stages}

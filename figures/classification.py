"""Image classification (Q42): the page's SmallCNN with the shape after each layer, and what
model.train() and model.eval() + torch.inference_mode() change, each measured on it."""

from __future__ import annotations

import functools

from figures import run_page_code
from figures.svg import Drawing

PAGE, HEADING = "vision/image-classification.md", "### Defining a CNN"
LABELS = {
    "layers": ("SmallCNN on a batch of 4 digits", "SmallCNN 处理一批 4 张数字图像"),
    "train": ("model.train(): training", "model.train()：训练"),
    "eval": ("model.eval() + torch.inference_mode(): evaluation",
             "model.eval() + torch.inference_mode()：评估"),
    "dropout_train": ("Dropout zeroes {p:.0%} of features at random", "Dropout 随机把 {p:.0%} 的特征置零"),
    "dropout_eval": ("Dropout passes features through", "Dropout 原样传递特征"),
    "calls_differ": ("two calls on the same batch differ: {v}", "同一批数据调用两次结果不同：{v}"),
    "calls_agree": ("two calls on the same batch agree: {v}", "同一批数据调用两次结果相同：{v}"),
    "bn_train": ("BatchNorm normalises with the batch's statistics", "BatchNorm 用本批数据的统计量归一化"),
    "bn_eval": ("BatchNorm uses its running statistics", "BatchNorm 使用累积的统计量"),
    "running_changed": ("running_mean updated by the call: {v}", "调用后 running_mean 被更新：{v}"),
    "running_same": ("running_mean left as it was: {v}", "running_mean 保持不变：{v}"),
    "grad_train": ("autograd records the graph: loss.backward(), optimizer.step()",
                   "autograd 记录计算图：loss.backward()、optimizer.step()"),
    "grad_eval": ("no graph, no gradients", "没有计算图，没有梯度"),
    "requires_grad": ("logits.requires_grad: {v}", "logits.requires_grad：{v}"),
    "alt": (
        "The page's SmallCNN, layer by layer, with the output shape of each on a batch of four "
        "8x8 digits: {layers}. Beside it, what the mode changes, measured on this model: in "
        "training mode Dropout zeroes features at random (two calls differ: {differ}), BatchNorm "
        "uses batch statistics and updates its running mean ({changed}) and autograd records the "
        "graph ({grad_train}); in evaluation mode under torch.inference_mode() two calls agree "
        "({agree}), the running mean stays ({same}) and no graph is recorded ({grad_eval}).",
        "本页的 SmallCNN 逐层展开，以及每层在一批四张 8x8 数字图像上的输出形状：{layers}。旁边是模式"
        "改变了什么，均在这个模型上测得：训练模式下 Dropout 随机置零特征（两次调用结果不同：{differ}），"
        "BatchNorm 使用本批统计量并更新 running_mean（{changed}），autograd 记录计算图（{grad_train}）；"
        "评估模式并在 torch.inference_mode() 下，两次调用结果相同（{agree}），running_mean 不变"
        "（{same}），不记录计算图（{grad_eval}）。"),
    "caption": (
        "Training and evaluation of the SmallCNN defined on this page: the shapes come from "
        "forward hooks, and each statement on the right is checked by running the model in "
        "that mode.",
        "本页定义的 SmallCNN 的训练与评估：形状来自前向钩子，右侧每一条都通过在该模式下运行模型得到验证。"),
}


def _kind(module) -> str:
    """A layer's class, or for a block its convolution's channels and what follows it."""
    import torch

    if not isinstance(module, torch.nn.Sequential):
        return type(module).__name__
    conv, *rest = list(module)
    short = {"BatchNorm2d": "BN"}
    return (f"Conv2d {conv.in_channels}→{conv.out_channels}, "
            + ", ".join(short.get(type(m).__name__, type(m).__name__) for m in rest))


@functools.cache
def facts() -> dict:
    import torch

    namespace = run_page_code(PAGE, HEADING)
    torch.manual_seed(0)
    model = namespace["SmallCNN"]()
    x = torch.randn(4, 1, 8, 8)
    shapes = []
    hooks = []
    for name, module in model.named_modules():
        if name.count(".") == 1:  # features.0, ..., head.3
            hooks.append(module.register_forward_hook(
                lambda m, a, out, name=name: shapes.append((name, _kind(m), tuple(out.shape[1:])))))
    model.train()
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    dropout = next(m for m in model.modules() if isinstance(m, torch.nn.Dropout))
    before = bn.running_mean.clone()
    first = model(x)
    for hook in hooks:
        hook.remove()
    second = model(x)
    train = {"differ": not torch.equal(first, second),
             "changed": not torch.equal(before, bn.running_mean),
             "grad": first.requires_grad}
    model.eval()
    before = bn.running_mean.clone()
    with torch.inference_mode():
        a, b = model(x), model(x)
    evaluation = {"agree": torch.equal(a, b), "same": torch.equal(before, bn.running_mean),
                  "grad": a.requires_grad}
    return {"shapes": shapes, "train": train, "eval": evaluation, "p": dropout.p}


def _shape(shape) -> str:
    return "x".join(map(str, shape))


def draw(lang: str) -> str:
    f = facts()
    t, e = f["train"], f["eval"]
    rows = len(f["shapes"])
    d = Drawing("classifier_train_eval", lang, 660, max(40 + rows * 30, 34 + (3 * 42 + 34) + 6 + 3 * 42 + 4), LABELS)
    d.text(128, 20, d.t("layers"), "small strong")
    for i, (name, kind, shape) in enumerate(f["shapes"]):
        y = 34 + i * 30
        cls = "box accent" if kind in ("Dropout",) or "BN" in kind else "box"
        d.box(10, y, 236, 24, [(f"{name} {kind}", "code small")], cls)
        d.text(252, y + 16, _shape(shape), "code small", anchor="start")
        if i:
            d.arrow(128, y - 6, 128, y)
    columns = [
        (d.t("train"), [(d.t("dropout_train", p=f["p"]), d.t("calls_differ", v=t["differ"])),
                        (d.t("bn_train"), d.t("running_changed", v=t["changed"])),
                        (d.t("grad_train"), d.t("requires_grad", v=t["grad"]))], "box primary"),
        (d.t("eval"), [(d.t("dropout_eval"), d.t("calls_agree", v=e["agree"])),
                       (d.t("bn_eval"), d.t("running_same", v=e["same"])),
                       (d.t("grad_eval"), d.t("requires_grad", v=e["grad"]))], "box accent"),
    ]
    for c, (title, items, cls) in enumerate(columns):
        y0 = 34 + c * (3 * 42 + 34)
        d.text(330, y0 - 4, title, "small strong", anchor="start")
        for k, (line, measured) in enumerate(items):
            y = y0 + 6 + k * 42
            d.box(330, y, 322, 36, [(line, "small"), (measured, "code small")], cls)
    layers = ", ".join(f"{name} {kind} {_shape(shape)}" for name, kind, shape in f["shapes"])
    alt = d.t("alt", layers=layers, differ=t["differ"], changed=t["changed"], grad_train=t["grad"],
              agree=e["agree"], same=e["same"], grad_eval=e["grad"])
    return d.render(alt, d.t("caption"))


FIGURES = {"classifier_train_eval": draw}

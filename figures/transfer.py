"""Transfer learning (Q45): which of resnet18's parameters each strategy trains, before and
after its ImageNet head is replaced, with the trainable counts of each, set up as the page
sets them up (requires_grad_, a new nn.Linear) and counted."""

from __future__ import annotations

import functools

from figures.svg import Drawing

CLASSES = 2  # the page's examples replace the head with a 2-class one
GROUPS = [("fc", ["fc"]), ("layer4", ["layer4"]), ("layer3", ["layer3"]), ("layer2", ["layer2"]),
          ("layer1", ["layer1"]), ("stem", ["conv1", "bn1"])]
LABELS = {
    "pretrained": ("pretrained resnet18", "预训练的 resnet18"),
    "probe": ("linear probing", "线性探测"),
    "gradual": ("gradual unfreezing", "逐步解冻"),
    "finetune": ("fine-tuning", "微调"),
    "stem": ("stem (conv1, bn1)", "起始层（conv1、bn1）"),
    "imagenet_head": ("fc: {i} → {o}", "fc：{i} → {o}"),
    "weights": ("ImageNet weights", "ImageNet 权重"),
    "new_head": ("new fc: {i} → {o}", "新的 fc：{i} → {o}"),
    "frozen": ("frozen", "冻结"),
    "trained": ("trained", "训练"),
    "trained_lr": ("trained, lr {lr}", "训练，lr {lr}"),
    "stage": ("stage {n}, lr {lr}", "第 {n} 阶段，lr {lr}"),
    "trainable": ("{n} trainable", "{n} 可训练参数"),
    "params": ("{n} parameters", "{n} 个参数"),
    "alt": (
        "resnet18's parameter groups (stem {stem}, layer1 {layer1}, layer2 {layer2}, layer3 "
        "{layer3}, layer4 {layer4}, and the ImageNet head fc {fc}) under three strategies "
        "once the head is replaced by a new {classes}-class fc: linear probing trains the new "
        "head only ({probe} parameters); gradual unfreezing trains the head, then layer4, then "
        "layer3, each stage with a smaller learning rate ({gradual} after two stages); "
        "fine-tuning trains everything, the backbone with a smaller learning rate ({finetune}).",
        "resnet18 的各参数组（起始层 {stem}、layer1 {layer1}、layer2 {layer2}、layer3 {layer3}、"
        "layer4 {layer4}，以及 ImageNet 分类头 fc {fc}）在分类头换成新的 {classes} 类 fc 之后，"
        "三种做法各训练哪些：线性探测只训练新的分类头（{probe} 个参数）；逐步解冻先训练分类头，再依次"
        "解冻 layer4、layer3，每一阶段的学习率更小（两阶段后 {gradual} 个）；微调训练全部参数，主干用"
        "较小的学习率（{finetune} 个）。"),
    "caption": (
        "What each strategy trains in resnet18 after the ImageNet head is replaced: parameter "
        "counts per stage and trainable totals, counted on the model set up the page's way "
        "(learning rates as in the page's examples).",
        "把 ImageNet 分类头换掉之后，每种做法训练 resnet18 的哪些部分：每段的参数数量和可训练参数"
        "总数，均在按本页方式设置的模型上统计（学习率与本页示例相同）。"),
}


def _count(model, names, trainable=False) -> int:
    return sum(p.numel() for name in names for p in getattr(model, name).parameters()
               if p.requires_grad or not trainable)


@functools.cache
def facts() -> dict:
    from torch import nn
    from torchvision.models import resnet18

    pretrained = resnet18(weights=None)
    sizes = {key: _count(pretrained, names) for key, names in GROUPS}
    head = (pretrained.fc.in_features, pretrained.fc.out_features)

    def total(model):
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    probe = resnet18(weights=None)
    probe.requires_grad_(False)
    probe.fc = nn.Linear(probe.fc.in_features, CLASSES)
    gradual = resnet18(weights=None)
    gradual.requires_grad_(False)
    gradual.fc = nn.Linear(gradual.fc.in_features, CLASSES)
    gradual.layer4.requires_grad_(True)
    gradual.layer3.requires_grad_(True)
    finetune = resnet18(weights=None)
    finetune.fc = nn.Linear(finetune.fc.in_features, CLASSES)
    trained = {
        "probe": {key for key, names in GROUPS if _count(probe, names, True)},
        "gradual": {key for key, names in GROUPS if _count(gradual, names, True)},
        "finetune": {key for key, names in GROUPS if _count(finetune, names, True)},
    }
    new_fc = sum(p.numel() for p in probe.fc.parameters())
    return {"sizes": sizes, "head": head, "new_fc": new_fc, "classes": CLASSES,
            "trained": {k: sorted(v) for k, v in trained.items()},
            "totals": {"probe": total(probe), "gradual": total(gradual),
                       "finetune": total(finetune)}}


def draw(lang: str) -> str:
    f = facts()
    columns = [("pretrained", None), ("probe", {"fc": "1e-3"}),
               ("gradual", {"fc": "1e-3", "layer4": "3e-4", "layer3": "1e-4"}),
               ("finetune", {"fc": "1e-3", **{k: "1e-4" for k, _ in GROUPS if k != "fc"}})]
    label_w, col_w, gap, row_h = 140, 122, 8, 36
    width = label_w + len(columns) * (col_w + gap)
    d = Drawing("transfer_strategies", lang, width, 48 + row_h * len(GROUPS) + 40, LABELS)
    for r, (key, _) in enumerate(GROUPS):
        y = 44 + r * row_h
        name = d.t("stem") if key == "stem" else key
        d.text(8, y + 14, name, "small strong" if key != "stem" else "small strong", anchor="start")
        size = f["sizes"][key] if key != "fc" else f["sizes"]["fc"]
        d.text(8, y + 28, d.t("params", n=f"{size:,}"), "small muted", anchor="start")
    stage_of = {"fc": 1, "layer4": 2, "layer3": 3}
    for c, (key, rates) in enumerate(columns):
        x = label_w + c * (col_w + gap)
        d.text(x + col_w / 2, 24, d.t(key), "small strong")
        for r, (group, _) in enumerate(GROUPS):
            y = 44 + r * row_h
            if key == "pretrained":
                cls = "box muted-box"
                lines = ([(d.t("imagenet_head", i=f["head"][0], o=f["head"][1]), "small")]
                         if group == "fc" else [(d.t("weights"), "small muted")])
            else:
                trained = group in f["trained"][key]
                cls = "box primary" if group == "fc" else ("box accent" if trained else "box muted-box")
                if group == "fc":
                    lines = [(d.t("new_head", i=f["head"][0], o=f["classes"]), "small")]
                elif key == "gradual" and trained:
                    lines = [(d.t("stage", n=stage_of[group], lr=rates[group]), "small")]
                elif trained:
                    lines = [(d.t("trained_lr", lr=rates[group]), "small")]
                else:
                    lines = [(d.t("frozen"), "small muted")]
            d.box(x, y, col_w, row_h - 6, lines, cls)
        if key != "pretrained":
            total = f["totals"][key]
            number, _, rest = d.t("trainable", n=f"{total:,}").partition(" ")
            d.text(x + col_w / 2, 44 + row_h * len(GROUPS) + 12, number, "code small strong")
            d.text(x + col_w / 2, 44 + row_h * len(GROUPS) + 27, rest, "small muted")
    sizes = {k: f"{v:,}" for k, v in f["sizes"].items()}
    alt = d.t("alt", classes=f["classes"], probe=f"{f['totals']['probe']:,}",
              gradual=f"{f['totals']['gradual']:,}", finetune=f"{f['totals']['finetune']:,}", **sizes)
    return d.render(alt, d.t("caption"))


FIGURES = {"transfer_strategies": draw}

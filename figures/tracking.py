"""Object tracking (Q49): the SORT loop with a worked association, and Siamese correlation,
read from the page's examples (their constants and their embedding network, taken from the
source without running the example) and from runs of torchvision's box_iou, scipy's
Hungarian solver and the network."""

from __future__ import annotations

import ast
import functools

from figures import ROOT
from figures.svg import Drawing, _n

EXAMPLES = ROOT / "examples" / "object_tracking"

LABELS = {
    "tracks_before": ("tracks at frame t-1", "第 t-1 帧的轨迹"),
    "predict": ("Kalman predict: each track's box at t", "卡尔曼预测：每条轨迹在 t 时刻的框"),
    "detections": ("detector: boxes in frame t", "检测器：第 t 帧中的框"),
    "iou": ("IoU of every predicted box with every detection",
            "每个预测框与每个检测框的 IoU"),
    "hungarian": ("Hungarian assignment (linear_sum_assignment), keep IoU ≥ {min_iou}",
                  "匈牙利算法分配（linear_sum_assignment），保留 IoU ≥ {min_iou}"),
    "update": ("matched: Kalman update", "已匹配：卡尔曼更新"),
    "birth": ("unmatched detection: new track", "未匹配的检测：新轨迹"),
    "death": ("unmatched track: deleted after {age} missed frames",
              "未匹配的轨迹：连续漏检 {age} 帧后删除"),
    "tracks_after": ("tracks at frame t, reported after {hits} hits",
                     "第 t 帧的轨迹，命中 {hits} 次后才输出"),
    "example": ("a worked frame", "一个实际算出的帧"),
    "track": ("track", "轨迹"),
    "kept": ("shaded: assigned, IoU ≥ {min_iou}; dashed: assigned, dropped",
             "着色：已分配且 IoU ≥ {min_iou}；虚线：已分配但被舍弃"),
    "det": ("detection", "检测"),
    "sort_alt": (
        "The SORT loop: tracks from frame t-1 are moved to frame t by a Kalman prediction; the "
        "IoU of every predicted box with every detection is computed; the Hungarian algorithm "
        "finds the assignment with the largest total IoU and pairs below {min_iou} are dropped; "
        "matched tracks are corrected by the Kalman update, unmatched detections start new "
        "tracks, and unmatched tracks are deleted after {age} missed frames. The worked frame: "
        "{example}.",
        "SORT 的循环：第 t-1 帧的轨迹经卡尔曼预测移到第 t 帧；计算每个预测框与每个检测框的 IoU；"
        "匈牙利算法找到总 IoU 最大的分配，低于 {min_iou} 的配对被舍弃；已匹配的轨迹由卡尔曼更新修正，"
        "未匹配的检测开始新轨迹，未匹配的轨迹连续漏检 {age} 帧后删除。实际算出的帧：{example}。"),
    "sort_caption": (
        "One frame of SORT, with the thresholds of the multi-object example (MIN_IOU, MAX_AGE, "
        "MIN_HITS) and an IoU matrix computed with torchvision.ops.box_iou and assigned with "
        "scipy's linear_sum_assignment (highlighted: the pairs kept).",
        "SORT 的一帧，阈值取自多目标示例（MIN_IOU、MAX_AGE、MIN_HITS），IoU 矩阵由 "
        "torchvision.ops.box_iou 计算、scipy 的 linear_sum_assignment 分配（高亮的是保留的配对）。"),
    "exemplar": ("exemplar z", "样例 z"),
    "search": ("search region x", "搜索区域 x"),
    "embed": ("φ: the same network", "φ：同一个网络"),
    "correlate": ("z's features as the kernel", "以 z 的特征为卷积核"),
    "response": ("response map", "响应图"),
    "peak": ("peak: the target", "峰值：目标位置"),
    "siamese_alt": (
        "Siamese correlation as the example builds it: the {z} exemplar and the {x} search "
        "region go through the same network φ ({layers}) to {fz} and {fx} feature maps; the "
        "exemplar's features slide over the search region's as a convolution kernel, giving a "
        "{r} response map whose peak, at row {row}, column {col}, is where the target is in "
        "the search region.",
        "示例中构造的孪生相关：{z} 的样例和 {x} 的搜索区域经过同一个网络 φ（{layers}），得到 {fz} "
        "和 {fx} 的特征图；样例的特征作为卷积核在搜索区域的特征上滑动，得到 {r} 的响应图，其峰值位于"
        "第 {row} 行、第 {col} 列，正是目标在搜索区域中的位置。"),
    "siamese_caption": (
        "Siamese correlation (SiamFC) with the network and crop sizes of the Siamese example, "
        "run before any training on a flat search region holding one textured target, the "
        "exemplar: the response peaks at the target (the outlined cell). Training makes this "
        "reliable on real scenes.",
        "孪生相关（SiamFC），网络和裁剪尺寸取自孪生示例，在训练之前运行于一个平坦的搜索区域，其中只有"
        "一个带纹理的目标，即样例：响应在目标处达到峰值（描边的格子）。训练使它在真实场景中也可靠。"),
}


def constants(path, names) -> dict:
    """Module-level constants of an example, read from its source (it is not run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets[0]
            elements = targets.elts if isinstance(targets, ast.Tuple) else [targets]
            values = ast.literal_eval(node.value) if any(
                isinstance(t, ast.Name) and t.id in names for t in elements) else None
            if values is None:
                continue
            values = values if isinstance(targets, ast.Tuple) else [values]
            for target, value in zip(elements, values):
                if target.id in names:
                    found[target.id] = value
    assert set(found) == set(names), f"{path.name}: missing {set(names) - set(found)}"
    return found


def definitions(path, names) -> dict:
    """Classes and functions of an example, compiled from its source alone."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    namespace = {"torch": torch, "nn": nn, "F": F}
    nodes = [n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name in names]
    assert {n.name for n in nodes} == set(names)
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec"), namespace)  # noqa: S102
    return namespace


BOXES = {  # predicted track boxes and detections of one frame (x1, y1, x2, y2)
    "tracks": [[10, 10, 50, 90], [40, 20, 80, 100], [150, 30, 190, 110]],
    "detections": [[44, 26, 84, 104], [13, 15, 52, 93], [172, 40, 212, 120]],
}


@functools.cache
def facts() -> dict:
    import torch
    from scipy.optimize import linear_sum_assignment
    from torchvision.ops import box_iou

    sort = constants(EXAMPLES / "multi_object_sort.py", ["MIN_IOU", "MAX_AGE", "MIN_HITS"])
    iou = box_iou(torch.tensor(BOXES["tracks"], dtype=torch.float),
                  torch.tensor(BOXES["detections"], dtype=torch.float))
    rows, cols = linear_sum_assignment(iou.numpy(), maximize=True)
    kept = [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= sort["MIN_IOU"]]

    siamese_path = EXAMPLES / "siamese_correlation.py"
    sizes = constants(siamese_path, ["EXEMPLAR", "SEARCH"])
    ns = definitions(siamese_path, ["Embedding", "cross_correlation"])
    torch.manual_seed(0)
    embed = ns["Embedding"]().eval()
    z_size, x_size = sizes["EXEMPLAR"], sizes["SEARCH"]
    # A flat, faintly noisy search region with one textured target in it; the exemplar is the
    # target. (Even untrained, the network responds most where the texture is; in 7 of 10
    # seeds exactly at the target. Training, as the example does, makes it reliable.)
    top, left = 12, 20  # where the target is (even: the network's stride is 2)
    search = 0.5 + 0.05 * torch.randn(1, 3, x_size, x_size)
    search[:, :, top:top + z_size, left:left + z_size] = torch.rand(1, 3, z_size, z_size)
    exemplar = search[:, :, top:top + z_size, left:left + z_size]
    with torch.inference_mode():
        fz, fx = embed(exemplar), embed(search)
        response = ns["cross_correlation"](fz, fx)[0, 0]
    peak = int(response.argmax())
    r = response.shape[-1]
    low, high = float(response.min()), float(response.max())
    levels = [[min(4, int((float(v) - low) / (high - low) * 5)) for v in row] for row in response]
    assigned = [(int(r), int(c)) for r, c in zip(rows, cols)]
    return {**sort, "iou": [[round(float(v), 2) for v in row] for row in iou], "kept": kept,
            "assigned": assigned,
            "z": (3, z_size, z_size), "x": (3, x_size, x_size), "fz": tuple(fz.shape[1:]),
            "fx": tuple(fx.shape[1:]), "response": tuple(response.shape), "levels": levels,
            "peak": (peak // r, peak % r), "cut": (top, left),
            "layers": [type(m).__name__ + (f" {m.kernel_size[0]}x{m.kernel_size[0]}, "
                                            f"{m.in_channels} → {m.out_channels}"
                                            if hasattr(m, "in_channels") else "")
                       for m in embed.layers]}


def shape_text(shape) -> str:
    return "x".join(str(s) for s in shape)


def draw_sort(lang: str) -> str:
    f = facts()
    d = Drawing("sort_loop", lang, 660, 388, LABELS)
    bw, x = 330, 12
    cx = x + bw / 2
    d.box(x, 8, bw, 30, [d.t("tracks_before")], "box plain")
    d.box(x, 58, bw, 30, [d.t("predict")], "box accent")
    d.box(x, 108, bw, 30, [d.t("iou")], "box accent")
    d.box(x, 158, bw, 30, [(d.t("hungarian", min_iou=f["MIN_IOU"]), "small")], "box primary")
    d.arrow(cx, 38, cx, 58)
    d.arrow(cx, 88, cx, 108)
    d.arrow(cx, 138, cx, 158)
    outcomes = [d.t("update"), d.t("birth"), d.t("death", age=f["MAX_AGE"])]
    for i, text in enumerate(outcomes):
        y = 210 + i * 38
        d.box(x + 24, y, bw - 24, 28, [(text, "small")])
        d.line([(x + 10, 188), (x + 10, y + 14), (x + 24, y + 14)], head=True)
    d.box(x, 330, bw, 30, [(d.t("tracks_after", hits=f["MIN_HITS"]), "small")], "box plain")
    d.arrow(cx, 314, cx, 330)
    # Back to the top: the next frame.
    d.line([(x + bw, 345), (x + bw + 8, 345), (x + bw + 8, 23), (x + bw, 23)], "line dashed")
    # The worked frame: the IoU matrix, tracks as rows, detections as columns.
    mx, my, cell = 430, 120, 62
    d.text(mx + cell * 1.5, 72, d.t("example"), "strong")
    d.text(mx + cell * 1.5, 94, d.t("det") + " →", "small muted")
    for j in range(3):
        d.text(mx + j * cell + cell / 2, my - 8, f"d{j + 1}", "code small")
    kept_cells, other = [], []
    for i, row in enumerate(f["iou"]):
        for j, value in enumerate(row):
            target = kept_cells if (i, j) in f["kept"] else other
            target.append(f"M{_n(mx + j * cell + 1)} {_n(my + i * cell + 1)}h{cell - 2}v{cell - 2}h{2 - cell}Z")
    d.path(" ".join(other), "cell l0")
    d.path(" ".join(kept_cells), "cell l2")
    for i, j in f["assigned"]:
        if (i, j) not in f["kept"]:  # assigned, but below the threshold: dropped
            d.rect(mx + j * cell + 4, my + i * cell + 4, cell - 8, cell - 8, "box plain")
    for i, row in enumerate(f["iou"]):
        d.text(mx - 8, my + i * cell + cell / 2 + 4, f"{d.t('track')} {chr(65 + i)}", "small", anchor="end")
        for j, value in enumerate(row):
            d.text(mx + j * cell + cell / 2, my + i * cell + cell / 2 + 4, f"{value:.2f}",
                   "code strong" if (i, j) in f["kept"] else "code")
    d.text(mx + cell * 1.5, my + 3 * cell + 22, d.t("kept", min_iou=f["MIN_IOU"]), "small muted")
    matched = {i for i, _ in f["kept"]}
    born = [j for j in range(3) if j not in {c for _, c in f["kept"]}]
    missed = [i for i in range(3) if i not in matched]
    example = "; ".join([
        ", ".join(f"{d.t('track')} {chr(65 + i)} + d{j + 1} (IoU {f['iou'][i][j]:.2f})" for i, j in f["kept"]),
        ", ".join(f"d{j + 1}: {d.t('birth')}" for j in born),
        ", ".join(f"{d.t('track')} {chr(65 + i)}: {d.t('death', age=f['MAX_AGE'])}" for i in missed),
    ])
    alt = d.t("sort_alt", min_iou=f["MIN_IOU"], age=f["MAX_AGE"], example=example)
    return d.render(alt, d.t("sort_caption"))


def draw_siamese(lang: str) -> str:
    f = facts()
    d = Drawing("siamese_correlation", lang, 640, 300, LABELS)
    s = 3  # pixels per input pixel
    zx, zy = 20, 40
    xx, xy = 20, 118
    zs, xs = f["z"][1] * s, f["x"][1] * s
    d.rect(zx, zy, zs, zs, "box accent", rx=0)
    d.text(zx + zs + 8, zy + 14, d.t("exemplar"), "small strong", anchor="start")
    d.text(zx + zs + 8, zy + 30, shape_text(f["z"]), "code small", anchor="start")
    d.rect(xx, xy, xs, xs, "box", rx=0)
    top, left = f["cut"]
    d.rect(xx + left * s, xy + top * s, zs, zs, "box plain", rx=0)
    d.text(xx + xs / 2, xy + xs + 16, d.t("search"), "small strong")
    d.text(xx + xs / 2, xy + xs + 31, shape_text(f["x"]), "code small")
    # φ, shared.
    px = 220
    convs = [layer for layer in f["layers"] if layer.startswith(("Conv", "MaxPool"))]
    d.box(px, 84, 150, 24 + 15 * len(convs), [d.t("embed")] + [(layer, "code small") for layer in convs],
          "box primary")
    d.arrow(zx + zs + 4, zy + zs / 2 + 20, px, 120)
    d.arrow(xx + xs + 4, xy + xs / 2, px, 160)
    # The embedded exemplar and search region.
    fx0 = 400
    d.rect(fx0, 40, f["fz"][1] * 8, f["fz"][1] * 8, "box accent", rx=0)
    d.text(fx0 + 24, 52, shape_text(f["fz"]), "code small", anchor="start")
    d.rect(fx0, 110, f["fx"][1] * 5, f["fx"][1] * 5, "box", rx=0)
    d.text(fx0 + f["fx"][1] * 5 / 2, 110 + f["fx"][1] * 5 + 16, shape_text(f["fx"]), "code small")
    d.arrow(px + 150, 124, fx0, 56)
    d.arrow(px + 150, 150, fx0, 150)
    d.text(fx0 + 20, 82, "⋆ " + d.t("correlate"), "small", anchor="start")
    # The response map.
    rx, ry, c = 520, 110, 6
    levels: dict[int, list[str]] = {}
    for i, row in enumerate(f["levels"]):
        for j, level in enumerate(row):
            levels.setdefault(level, []).append(f"M{_n(rx + j * c)} {_n(ry + i * c)}h{c}v{c}h-{c}Z")
    for level in sorted(levels):
        d.path(" ".join(levels[level]), f"cell l{level}")
    pr, pc = f["peak"]
    d.rect(rx + pc * c - 1, ry + pr * c - 1, c + 2, c + 2, "box primary", rx=0)
    n = f["response"][0]
    d.text(rx + n * c / 2, ry - 8, d.t("response"), "small strong")
    d.text(rx + n * c / 2, ry + n * c + 16, shape_text((1, *f["response"])), "code small")
    d.text(rx + n * c / 2, ry + n * c + 31, d.t("peak"), "small muted")
    d.arrow(fx0 + f["fx"][1] * 5 + 4, 155, rx - 4, 155)
    alt = d.t("siamese_alt", z=shape_text(f["z"]), x=shape_text(f["x"]), layers=", ".join(f["layers"]),
              fz=shape_text(f["fz"]), fx=shape_text(f["fx"]), r=shape_text(f["response"]),
              row=pr, col=pc)
    return d.render(alt, d.t("siamese_caption"))


FIGURES = {"sort_loop": draw_sort, "siamese_correlation": draw_siamese}

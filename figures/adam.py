"""Adam (Q41): paths of SGD, SGD with momentum and Adam on a badly scaled 2-D loss, each
computed with torch.optim, over the loss's contour lines."""

from __future__ import annotations

import functools

from figures.svg import Drawing, _n

A, B = 0.05, 2.0  # loss = A x^2 + B y^2: curvatures 40 times apart
START, STEPS = (-9.0, 2.0), 40
OPTIMIZERS = [  # (key, class name, options)
    ("sgd", "SGD", {"lr": 0.45}),
    ("momentum", "SGD", {"lr": 0.06, "momentum": 0.9}),
    ("adam", "Adam", {"lr": 0.3}),
]
X, Y = (-10.0, 2.0), (-3.0, 3.0)  # the plotted window
LABELS = {
    "sgd": ("SGD, lr={lr}", "SGD，lr={lr}"),
    "momentum": ("SGD, lr={lr}, momentum={momentum}", "SGD，lr={lr}，momentum={momentum}"),
    "adam": ("Adam, lr={lr}", "Adam，lr={lr}"),
    "start": ("start", "起点"),
    "minimum": ("minimum", "最小值"),
    "alt": (
        "Paths of three optimisers over {steps} steps on the loss {a} x² + {b} y² (contour "
        "lines), from ({x0}, {y0}) towards the minimum at (0, 0): {paths}.",
        "三个优化器在损失 {a} x² + {b} y²（等高线）上走 {steps} 步的路径，从 ({x0}, {y0}) 出发，"
        "趋向 (0, 0) 处的最小值：{paths}。"),
    "caption": (
        "{steps} steps of each optimiser on a loss whose curvature differs 40-fold between x and y "
        "(computed with torch.optim): SGD zig-zags across the steep direction and crawls along "
        "the flat one; momentum builds speed along it; Adam's per-coordinate scaling starts both "
        "coordinates at a step of lr and moves them at a similar pace.",
        "各优化器在一个 x 与 y 方向曲率相差 40 倍的损失上走 {steps} 步（用 torch.optim 计算）：SGD 在"
        "陡峭方向上来回震荡，在平坦方向上缓慢前进；动量沿平坦方向逐渐加速；Adam 按坐标缩放，两个坐标"
        "都以 lr 的步长起步，并以相近的速度前进。"),
    "distance": ("{d} from the minimum", "距最小值 {d}"),
}


@functools.cache
def facts() -> dict:
    import contourpy
    import numpy as np
    import torch

    paths = {}
    for key, name, options in OPTIMIZERS:
        w = torch.tensor(START, requires_grad=True)
        optimizer = getattr(torch.optim, name)([w], **options)
        points = [tuple(w.tolist())]
        for _ in range(STEPS):
            optimizer.zero_grad()
            loss = A * w[0] ** 2 + B * w[1] ** 2
            loss.backward()
            optimizer.step()
            points.append(tuple(w.tolist()))
        paths[key] = points
    xs, ys = np.linspace(*X, 121), np.linspace(*Y, 61)
    gx, gy = np.meshgrid(xs, ys)
    generator = contourpy.contour_generator(gx, gy, A * gx ** 2 + B * gy ** 2)
    levels = [0.25, 1, 2.5, 5, 8]
    contours = {level: [line.tolist() for line in generator.lines(level)] for level in levels}
    return {"paths": paths, "contours": contours}


def draw(lang: str) -> str:
    f = facts()
    width, height, pad = 640, 330, 20
    legend_w = 0
    sx = (width - 2 * pad - legend_w) / (X[1] - X[0])
    sy = sx  # the same scale on both axes: the ellipses as they are
    plot_h = (Y[1] - Y[0]) * sy
    d = Drawing("optimizer_paths", lang, width, plot_h + 2 * pad + 60, LABELS)

    def point(x, y):
        return pad + (x - X[0]) * sx, pad + (Y[1] - y) * sy

    def polyline(points):
        return "M" + " L".join(f"{_n(px)} {_n(py)}" for px, py in (point(x, y) for x, y in points))

    d.rect(pad, pad, (X[1] - X[0]) * sx, plot_h, "grid", rx=0)
    d.path(" ".join(polyline(line) for level in f["contours"] for line in f["contours"][level]),
           "line contour")
    styles = {"sgd": "path-a", "momentum": "path-b", "adam": "path-c"}
    marks = []
    for key, _, _ in OPTIMIZERS:
        d.path(polyline(f["paths"][key]), f"line {styles[key]}")
        for x, y in f["paths"][key][1:]:
            px, py = point(x, y)
            marks.append(f"M{_n(px - 1.6)} {_n(py)}a1.6 1.6 0 1 0 3.2 0a1.6 1.6 0 1 0 -3.2 0")
        d.path(" ".join(marks), f"dot {styles[key]}")
        marks = []
    sx0, sy0 = point(*START)
    d.text(sx0 + 6, sy0 - 6, d.t("start"), "small", anchor="start")
    mx, my = point(0, 0)
    d.path(f"M{_n(mx - 5)} {_n(my)}h10M{_n(mx)} {_n(my - 5)}v10", "line")
    d.text(mx + 8, my + 16, d.t("minimum"), "small", anchor="start")
    # Legend under the plot.
    y = plot_h + 2 * pad + 12
    described = []
    for i, (key, name, options) in enumerate(OPTIMIZERS):
        x = pad + i * 200
        d.path(f"M{_n(x)} {_n(y - 4)}h24", f"line {styles[key]}")
        label = d.t(key, **options)
        d.text(x + 30, y, label, "small", anchor="start")
        last = f["paths"][key][-1]
        distance = (last[0] ** 2 + last[1] ** 2) ** 0.5
        d.text(x + 30, y + 16, d.t("distance", steps=STEPS, d=f"{distance:.2f}"), "small muted",
               anchor="start")
        described.append(f"{label}: {d.t('distance', steps=STEPS, d=f'{distance:.2f}')}")
    alt = d.t("alt", steps=STEPS, a=A, b=B, x0=START[0], y0=START[1], paths="; ".join(described))
    return d.render(alt, d.t("caption", steps=STEPS))


FIGURES = {"optimizer_paths": draw}

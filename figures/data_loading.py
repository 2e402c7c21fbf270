"""Asynchronous data loading (Q47): the processes and queues of a DataLoader with workers,
and a timeline recorded from a real run.

The timeline is drawn from figures/data/loader_trace.json, which `python -m
figures.data_loading` records by running a DataLoader (timings vary from run to run, so the
trace is committed and the figure redrawn from it identically; tests/test_figures.py checks
the committed trace, and a fresh one, for what the figure claims: round-robin workers, at most
num_workers x prefetch_factor batches ahead, the main process waiting only at the start).
"""

from __future__ import annotations

import functools
import json
import pathlib

from figures.svg import Drawing, _n

TRACE = pathlib.Path(__file__).resolve().parent / "data" / "loader_trace.json"
# The recorded run: loading a batch takes LOAD s in a worker, a training step STEP s.
WORKERS, PREFETCH, BATCHES, LOAD, STEP = 2, 2, 10, 0.04, 0.05

LABELS = {
    "main": ("main process", "主进程"),
    "worker": ("worker {i}", "工作进程 {i}"),
    "sampler": ("sampler: batch indices", "采样器：批次索引"),
    "index_queue": ("index queue", "索引队列"),
    "result_queue": ("result queue (shared memory)", "结果队列（共享内存）"),
    "loop": ("for batch in loader: training step", "for batch in loader：训练步"),
    "pin": ("pin_memory thread (optional)", "pin_memory 线程（可选）"),
    "next": ("each next(): one more index list", "每次 next()：再发出一个索引列表"),
    "start": ("iter(): workers start", "iter()：启动工作进程"),
    "copy": ("dataset, collate_fn copies", "dataset、collate_fn 的副本"),
    "getitem": ("collate_fn([dataset[i] for i in batch])",
                "collate_fn([dataset[i] for i in batch])"),
    "in_flight": ("at most {w} x {p} = {n} batches in flight", "最多 {w} x {p} = {n} 个批次在途"),
    "processes_alt": (
        "A DataLoader with num_workers={w} and prefetch_factor={p} ({iterator}): the main "
        "process's sampler puts lists of batch indices in each worker's index queue, round-robin; "
        "each worker, a separate process with its own copy of the dataset and collate_fn, builds "
        "the batch and puts it on the result queue in shared memory; the training loop takes "
        "batches in order, and each one taken hands a worker one more index list, so at most "
        "{n} batches are in flight.",
        "一个 num_workers={w}、prefetch_factor={p} 的 DataLoader（{iterator}）：主进程的采样器"
        "把批次索引列表轮流放进每个工作进程的索引队列；每个工作进程是一个独立进程，拥有 dataset 和 "
        "collate_fn 的副本，它构造批次并把它放到共享内存中的结果队列；训练循环按顺序取出批次，每取走"
        "一个就再给某个工作进程一个索引列表，所以最多有 {n} 个批次在途。"),
    "processes_caption": (
        "The processes and queues behind `for batch in loader` with workers, as torch.utils.data "
        "runs them (its iterator class and settings read from the loader).",
        "使用工作进程时 `for batch in loader` 背后的进程和队列，与 torch.utils.data 的运行方式一致"
        "（迭代器类和设置读自 loader）。"),
    "time": ("time (ms)", "时间（毫秒）"),
    "step": ("training step", "训练步"),
    "wait": ("waiting in next()", "在 next() 中等待"),
    "load": ("loading batch n", "加载第 n 个批次"),
    "timeline_alt": (
        "A recorded run of a DataLoader with {w} workers and prefetch_factor {p}, loading a "
        "batch in about {load} ms and training on it for about {step} ms: the workers start "
        "after {start} ms; the main process waits for the first batch until {first} ms, then "
        "trains while the workers load ahead, batches alternating between the workers; the "
        "workers stop when {n} batches are ready and wait for the main process. {batches} "
        "batches took {total} ms.",
        "一次 DataLoader 运行的记录：{w} 个工作进程，prefetch_factor 为 {p}，加载一个批次约 {load} "
        "毫秒，训练一步约 {step} 毫秒。工作进程在 {start} 毫秒后开始工作；主进程等待第一个批次直到 "
        "{first} 毫秒，之后在工作进程提前加载的同时训练，批次在两个工作进程间轮流分配；当 {n} 个批次"
        "已就绪时工作进程停下，等待主进程。{batches} 个批次共用 {total} 毫秒。"),
    "timeline_caption": (
        "A timeline recorded from a real run (figures/data/loader_trace.json): each bar a batch "
        "loaded by a worker or a training step in the main process; the numbers are batch indices.",
        "由一次真实运行记录的时间线（figures/data/loader_trace.json）：每个条块是一个工作进程加载"
        "的批次或主进程中的一个训练步；数字是批次编号。"),
}


class _Timed:
    """A dataset whose item records when and where it was loaded (index 0 .. n-1)."""

    def __init__(self, n, seconds):
        self.n, self.seconds = n, seconds

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        import time

        import torch
        from torch.utils.data import get_worker_info

        start = time.perf_counter()
        time.sleep(self.seconds)
        return torch.tensor([index, get_worker_info().id, start, time.perf_counter()],
                            dtype=torch.float64)


def record() -> dict:
    """Run the loader and record the workers' loads and the main process's waits and steps.
    (perf_counter is the system's monotonic clock: the same in every process.)"""
    import time

    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(_Timed(BATCHES, LOAD), batch_size=1, num_workers=WORKERS,
                        prefetch_factor=PREFETCH)
    t0 = time.perf_counter()
    iterator = iter(loader)
    main, loads = [], []
    for _ in range(BATCHES):
        asked = time.perf_counter()
        batch = next(iterator)[0]
        got = time.perf_counter()
        time.sleep(STEP)  # the training step
        main.append([asked, got, time.perf_counter()])
        loads.append(batch.tolist())
    del iterator

    def ms(t):
        return round((t - t0) * 1000, 1)

    return {
        "workers": WORKERS, "prefetch_factor": PREFETCH, "load_ms": LOAD * 1000,
        "step_ms": STEP * 1000, "torch": torch.__version__.split("+")[0],
        "main": [[ms(a), ms(g), ms(s)] for a, g, s in main],
        "loads": [[int(i), int(w), ms(s), ms(e)] for i, w, s, e in loads],
    }


@functools.cache
def trace() -> dict:
    return json.loads(TRACE.read_text(encoding="utf-8"))


@functools.cache
def facts() -> dict:
    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(_Timed(BATCHES, LOAD), batch_size=1, num_workers=trace()["workers"],
                        prefetch_factor=trace()["prefetch_factor"])
    return {"workers": loader.num_workers, "prefetch": loader.prefetch_factor,
            "iterator": torch.utils.data.dataloader._MultiProcessingDataLoaderIter.__name__,
            "persistent": loader.persistent_workers}


def draw_processes(lang: str) -> str:
    f = facts()
    w, p = f["workers"], f["prefetch"]
    d = Drawing("loader_processes", lang, 640, 140 + 88 * w, LABELS)
    # The main process on the left, the workers on the right.
    top = 14
    height = 88 * w + 96
    d.rect(8, top, 270, height + 18, "box muted-box")
    d.text(20, top + 20, d.t("main"), "strong", anchor="start")
    d.box(24, top + 34, 238, 32, [d.t("sampler")])
    rq_y = top + 104
    d.box(24, rq_y, 238, 32, [d.t("result_queue")])
    d.box(24, rq_y + 56, 238, 32, [d.t("pin")], "box plain")
    d.box(24, top + height - 52, 238, 40, [(d.t("loop"), "small")], "box primary")
    d.arrow(143, rq_y + 32, 143, rq_y + 56)
    d.arrow(143, rq_y + 88, 143, top + height - 52)
    # Each batch taken hands one more index list out: back to the sampler.
    d.line([(24, top + height - 32), (16, top + height - 32), (16, top + 50), (24, top + 50)],
           "line dashed")
    d.text(24, top + height + 10, d.t("next"), "small muted", anchor="start")
    for i in range(w):
        y = top + 44 + i * 88 + 40
        d.rect(338, y - 30, 292, 74, "box muted-box")
        d.text(350, y - 12, d.t("worker", i=i), "strong", anchor="start")
        d.text(350, y + 4, d.t("copy"), "small muted", anchor="start")
        d.box(346, y + 12, 276, 24, [(d.t("getitem"), "code small")], "box accent")
        # The index queue: prefetch_factor slots, all full at the start.
        slots = " ".join(f"M{_n(286 + k * 14)} {_n(y - 26)}h11v14h-11Z" for k in range(p))
        d.path(slots, "cell new")
        if i == 0:
            d.text(286, y - 32, d.t("index_queue"), "small muted", anchor="start")
        d.line([(262, top + 50), (280, top + 50), (280, y - 19), (284, y - 19)], "line", head=False)
        d.arrow(286 + p * 14, y - 19, 338, y - 19)
        # Back to the result queue.
        d.line([(338, y + 24), (318, y + 24), (318, rq_y + 16), (262, rq_y + 16)],
               head=i == w - 1)
    d.text(470, top + height + 2, d.t("in_flight", w=w, p=p, n=w * p), "small strong")
    alt = d.t("processes_alt", w=w, p=p, n=w * p, iterator=f["iterator"])
    return d.render(alt, d.t("processes_caption"))


def draw_timeline(lang: str) -> str:
    t = trace()
    main, loads = t["main"], t["loads"]
    end = max(s for _, _, s in main)
    lanes = [d_key for d_key in range(t["workers"] + 1)]
    x0, width = 96, 640
    scale = (width - x0 - 16) / end
    lane_h, top = 34, 24
    d = Drawing("loader_timeline", lang, width, top + lane_h * len(lanes) + 66, LABELS)

    def x(ms):
        return x0 + ms * scale

    d.text(x0 - 8, top + 20, d.t("main"), "small strong", anchor="end")
    waits, steps = [], []
    for asked, got, stepped in main:
        if got - asked > 0.5:
            waits.append(f"M{_n(x(asked))} {_n(top + 10)}H{_n(x(got))}")
        steps.append(f"M{_n(x(got))} {_n(top + 5)}H{_n(x(stepped))}v20H{_n(x(got))}Z")
    d.path(" ".join(steps), "cell new")
    d.text(x(0), top - 4, d.t("start"), "small muted", anchor="start")
    waits.insert(0, f"M{_n(x(0))} {_n(top + 10)}H{_n(x(main[0][0]))}")
    d.path(" ".join(waits) or "M0 0", "line dashed")
    bars = {}
    for index, worker, start, stop in loads:
        y = top + lane_h * (worker + 1)
        bars.setdefault(worker, []).append(f"M{_n(x(start))} {_n(y + 5)}H{_n(x(stop))}v20H{_n(x(start))}Z")
        d.text((x(start) + x(stop)) / 2, y + 19, str(index), "code small")
    for worker in range(t["workers"]):
        d.text(x0 - 8, top + lane_h * (worker + 1) + 20, d.t("worker", i=worker), "small strong", anchor="end")
    d.path(" ".join(p for w in sorted(bars) for p in bars[w]), "cell l1")
    # The axis, every 50 ms.
    axis_y = top + lane_h * len(lanes) + 6
    ticks = " ".join(f"M{_n(x(ms))} {_n(axis_y)}v4" for ms in range(0, int(end) + 1, 50))
    d.path(f"M{_n(x0)} {_n(axis_y)}H{_n(x(end))} " + ticks, "line thin")
    for ms in range(0, int(end) + 1, 100):
        d.text(x(ms), axis_y + 16, str(ms), "small muted")
    d.text(x0 - 8, axis_y + 16, d.t("time"), "small muted", anchor="end")
    # Legend.
    y = axis_y + 38
    d.path(f"M{_n(x0)} {_n(y - 10)}h14v12h-14Z", "cell l1")
    d.text(x0 + 20, y, d.t("load"), "small", anchor="start")
    d.path(f"M{_n(x0 + 180)} {_n(y - 10)}h14v12h-14Z", "cell new")
    d.text(x0 + 200, y, d.t("step"), "small", anchor="start")
    d.path(f"M{_n(x0 + 330)} {_n(y - 4)}h22", "line dashed")
    d.text(x0 + 358, y, d.t("wait"), "small", anchor="start")
    start = min(s for _, _, s, _ in loads)
    alt = d.t("timeline_alt", w=t["workers"], p=t["prefetch_factor"], load=_n(t["load_ms"]),
              step=_n(t["step_ms"]), start=_n(start), first=_n(main[0][1]),
              n=t["workers"] * t["prefetch_factor"], batches=len(main), total=_n(end))
    return d.render(alt, d.t("timeline_caption"))


FIGURES = {"loader_processes": draw_processes, "loader_timeline": draw_timeline}


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    TRACE.parent.mkdir(exist_ok=True)
    TRACE.write_text(json.dumps(record(), indent=1) + "\n", encoding="utf-8")
    print(f"recorded {TRACE}")

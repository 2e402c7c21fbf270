# %% [markdown]
# # DataLoader throughput against num_workers
#
# This program times one epoch of a `DataLoader` with 0, 1, 2, 4 and 8 worker processes on
# three kinds of dataset: one whose items wait on (simulated) storage, one whose items are
# CPU-heavy (decoding PNG images held in memory) and one whose items cost almost nothing. It
# prints each speed-up over loading in the main process, and as a fraction of the best speed-up
# the workers could give (the number of workers when items wait, the number of cores when they
# compute). It then measures `persistent_workers` over several epochs, and the overlap of
# loading with a training step. Run it with `python examples/data_loading/loader_throughput.py`.

# %%
import io
import multiprocessing
import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2.functional import pil_to_tensor

start = time.perf_counter()

SEED = 0
WORKER_COUNTS = [0, 1, 2, 4, 8]
IO_ITEMS, IO_WAIT_S = 160, 0.010  # 160 items that each wait 10 ms: 1.6 s in the main process
PNG_ITEMS, PNG_SIZE = 240, 256  # noise images: they compress badly, so decoding is real work
CHEAP_ITEMS = 4096
BATCH_SIZES = {"io": 8, "cpu": 8, "cheap": 16}
EPOCHS = 5  # for the persistent_workers comparison

# Workers start with "fork" where the platform offers it (Linux; also macOS, although its
# default has been "spawn" since Python 3.8). This page is built in a Jupyter kernel, and only
# a forked worker can use classes defined in a notebook; "spawn" and "forkserver" (the defaults
# on Windows and macOS, and on Linux from Python 3.14) need them importable from a file, plus
# an `if __name__ == "__main__":` guard: see main_guard.py.
MP_CONTEXT = "fork" if "fork" in multiprocessing.get_all_start_methods() else None

# PyTorch runs each worker with one thread (torch.set_num_threads(1)); the main process does
# the same here, so that 0 workers and N workers compare one core against N.
torch.set_num_threads(1)
# DataLoader warns when num_workers exceeds the cores; asking for 8 on purpose is the point here.
warnings.filterwarnings("ignore", message="This DataLoader will create")

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
COLORS = {"io": "#0072b2", "cpu": "#e69f00", "cheap": "#cc79a7", "respawn": "#d55e00",
          "ideal": "#999999"}


def pick_device() -> torch.device:
    """CUDA if available, then Apple MPS, then CPU; PYTORCH_NOTES_DEVICE=cpu|cuda|mps forces one."""
    forced = os.environ.get("PYTORCH_NOTES_DEVICE", "").strip().lower()
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
        "cpu": True,
    }
    if forced:
        if forced not in available:
            raise SystemExit(f"PYTORCH_NOTES_DEVICE={forced!r}: expected one of cpu, cuda, mps")
        if not available[forced]:
            raise SystemExit(f"PYTORCH_NOTES_DEVICE={forced!r}, but no {forced} device is available")
        return torch.device(forced)
    return torch.device(next(name for name, ok in available.items() if ok))


device = pick_device()
print(f"device: {device}, cores available: {CORES}, start method: {MP_CONTEXT or 'default'}")

# %% [markdown]
# ## Three datasets
#
# - **I/O-bound**: each item sleeps 10 ms, as a read from a network disk or an object store
#   would. A sleeping worker needs no core, so $W$ workers can wait in parallel even on 2 cores:
#   the ideal speed-up is $W$.
# - **CPU-bound**: each item decodes a 256x256 PNG from bytes in memory (with PIL, as
#   torchvision's folder datasets do; torchvision's own `decode_png` is deprecated since 0.29 in
#   favour of TorchCodec) and resizes it to 64x64, a typical image pipeline. Decoding needs a
#   core, so the ideal is $\min(W, \text{cores})$.
# - **Cheap**: each item is a row of a tensor already in memory. There is nothing to
#   parallelise; workers only add their start-up and the cost of sending every batch from the
#   worker to the main process.


# %%
class SlowStorage(Dataset):
    """Items that wait on storage (simulated with a sleep)."""

    def __init__(self, n, wait_s):
        self.n, self.wait_s = n, wait_s

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        time.sleep(self.wait_s)
        return torch.full((8,), float(index))


class InMemoryPngs(Dataset):
    """Items that decode and resize a PNG held as bytes, like a JPEG/PNG folder in RAM."""

    def __init__(self, n, encoded):
        self.n, self.encoded = n, encoded

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        png = io.BytesIO(self.encoded[index % len(self.encoded)])
        image = pil_to_tensor(Image.open(png)).float().div_(255)  # decode: 3 x H x W, uint8
        return F.interpolate(image[None], size=(64, 64), mode="bilinear", antialias=True)[0]


class TensorRows(Dataset):
    """Items that are rows of a tensor: nothing to do per item."""

    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return self.data[index]


def encode_png(pixels: np.ndarray) -> bytes:
    """The bytes of a PNG file holding an H x W x 3 uint8 array (PIL's encoder)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


generator = torch.Generator().manual_seed(SEED)
# Encoding is slow (tens of ms an image), so 16 distinct images are cycled through.
pngs = [
    encode_png(torch.randint(0, 256, (PNG_SIZE, PNG_SIZE, 3), dtype=torch.uint8,
                             generator=generator).numpy())
    for _ in range(16)
]
datasets = {
    "io": SlowStorage(IO_ITEMS, IO_WAIT_S),
    "cpu": InMemoryPngs(PNG_ITEMS, pngs),
    "cheap": TensorRows(torch.randn(CHEAP_ITEMS, 16, generator=generator)),
}
ideal = {
    "io": lambda workers: max(workers, 1),
    "cpu": lambda workers: max(min(workers, CORES), 1),
    "cheap": lambda workers: max(min(workers, CORES), 1),
}

# %% [markdown]
# ## Start-up and throughput per setting
#
# Each setting is measured in two parts. The **start-up** is the time from a new loader to its
# first batch: it includes starting the worker processes. The **throughput** is the items per
# second of one full epoch once the workers run: the loader keeps them (`persistent_workers`),
# so the timed epoch starts no processes. The cost of starting workers every epoch comes in
# the next section.


# %%
def measure(dataset, workers, batch_size):
    """Seconds to the first batch of a new loader, and seconds for one epoch after it."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                        persistent_workers=workers > 0,
                        multiprocessing_context=MP_CONTEXT if workers else None)
    tick = time.perf_counter()
    next(iter(loader))  # starts the workers, if any, and waits for one batch
    first_batch_s = time.perf_counter() - tick
    epoch = iter(loader)  # the same workers begin a new epoch
    tick = time.perf_counter()
    for _ in epoch:
        pass
    epoch_s = time.perf_counter() - tick
    del epoch, loader  # stops the workers
    return first_batch_s, epoch_s


first_batch, seconds = {}, {}
for name, dataset in datasets.items():
    runs = {workers: measure(dataset, workers, BATCH_SIZES[name]) for workers in WORKER_COUNTS}
    first_batch[name] = {workers: run[0] for workers, run in runs.items()}
    seconds[name] = {workers: run[1] for workers, run in runs.items()}
speedup = {
    name: {workers: times[0] / times[workers] for workers in WORKER_COUNTS}
    for name, times in seconds.items()
}

print(f"{'dataset':<8}{'workers':>8}{'start-up s':>11}{'epoch s':>9}{'items/s':>9}"
      f"{'speed-up':>10}{'ideal':>7}{'of ideal':>10}")
for name, times in seconds.items():
    for workers in WORKER_COUNTS:
        best = ideal[name](workers)
        rate = len(datasets[name]) / times[workers]
        print(f"{name:<8}{workers:>8}{first_batch[name][workers]:>11.2f}{times[workers]:>9.2f}"
              f"{rate:>9.0f}{speedup[name][workers]:>9.2f}x{best:>6}x"
              f"{speedup[name][workers] / best:>10.0%}")

# %% [markdown]
# Waiting items scale with the number of workers, well past the number of cores: a sleeping
# worker needs no core. Decoding can at best scale with the cores; workers beyond them add no
# compute, only start-up time and memory, and on a machine shared with other programs the
# decoding speed-ups are noisy (the checks below leave them out for that reason). Cheap items
# get slower with every worker count: each batch now has to travel from a worker to the main
# process, and that transfer costs more than making the batch did.
#
# ## persistent_workers over several epochs
#
# Without `persistent_workers`, every epoch starts and stops its workers. With it, the same
# workers (and their copy of the dataset) serve every epoch. A short epoch makes the start-up
# visible: 16 items that wait 2 ms each, in batches of 4, 4 workers, five epochs. (Here, an
# epoch's own work is small next to starting and stopping four processes; in a long epoch the
# same start-up is still paid, it just weighs less.)

# %%
small = SlowStorage(16, 0.002)
per_epoch = {}
for persistent in (False, True):
    loader = DataLoader(small, batch_size=4, num_workers=4, persistent_workers=persistent,
                        multiprocessing_context=MP_CONTEXT)
    times = []
    for _ in range(EPOCHS):
        tick = time.perf_counter()
        for _ in loader:
            pass
        times.append(time.perf_counter() - tick)
    per_epoch[persistent] = times
    del loader  # shuts the persistent workers down

respawn_total, persistent_total = sum(per_epoch[False]), sum(per_epoch[True])
print(f"{EPOCHS} epochs, re-spawning workers: {respawn_total:.2f} s "
      f"(epochs {', '.join(f'{t:.3f}' for t in per_epoch[False])})")
print(f"{EPOCHS} epochs, persistent workers:  {persistent_total:.2f} s "
      f"(epochs {', '.join(f'{t:.3f}' for t in per_epoch[True])})")
print(f"persistent_workers speed-up: {respawn_total / persistent_total:.2f}x")

# %% [markdown]
# Only the first persistent epoch pays the start-up. With "fork" a worker starts as a copy of
# the running process; with "spawn" or "forkserver" every worker starts a new interpreter that
# imports torch and your script again, which costs far more, and `persistent_workers=True`
# matters even more. The example "Why DataLoader workers need the main guard" measures that
# start-up under each start method.
#
# ## Loading overlaps the training step
#
# Workers prepare the next batches (`prefetch_factor` of them per worker, 2 by default) while
# the main process works on the current one. Here each batch takes 50 ms to load (5 items of
# 10 ms) and the "training step" takes 50 ms (a sleep, standing in for the forward and
# backward pass). In the main process the two add up; with one worker they overlap, so the
# ideal speed-up is 2 even with a single worker. Batches go to the device with
# `pin_memory` and `non_blocking=True` when it is a CUDA GPU (on the CPU both are no-ops).

# %%
STEP_S, OVERLAP_BATCHES, OVERLAP_BATCH_SIZE = 0.050, 20, 5
overlap_data = SlowStorage(OVERLAP_BATCHES * OVERLAP_BATCH_SIZE, STEP_S / OVERLAP_BATCH_SIZE)


def train_epoch_seconds(workers):
    loader = DataLoader(overlap_data, batch_size=OVERLAP_BATCH_SIZE, num_workers=workers,
                        pin_memory=device.type == "cuda",
                        multiprocessing_context=MP_CONTEXT if workers else None)
    tick = time.perf_counter()
    for batch in loader:
        batch = batch.to(device, non_blocking=True)
        time.sleep(STEP_S)  # the training step
    return time.perf_counter() - tick


overlap_seconds = {workers: train_epoch_seconds(workers) for workers in (0, 1)}
overlap_speedup = overlap_seconds[0] / overlap_seconds[1]
print(f"load 50 ms + step 50 ms per batch, {OVERLAP_BATCHES} batches: "
      f"0 workers {overlap_seconds[0]:.2f} s, 1 worker {overlap_seconds[1]:.2f} s, "
      f"speed-up {overlap_speedup:.2f}x of ideal 2x ({overlap_speedup / 2:.0%})")

# %%
fig, (ax_speed, ax_epochs) = plt.subplots(1, 2, figsize=(11, 4))
labels = {"io": "I/O-bound (10 ms wait)", "cpu": "CPU-bound (PNG decode)",
          "cheap": "cheap (tensor rows)"}
positions = np.arange(len(WORKER_COUNTS))  # evenly spaced, labelled with the worker counts
for name in datasets:
    ax_speed.plot(positions, [speedup[name][w] for w in WORKER_COUNTS], "o-",
                  color=COLORS[name], label=labels[name])
ax_speed.plot(positions, [ideal["io"](w) for w in WORKER_COUNTS], ":",
              color=COLORS["io"], label="ideal, waiting: W")
ax_speed.plot(positions, [ideal["cpu"](w) for w in WORKER_COUNTS], ":",
              color=COLORS["cpu"], label=f"ideal, computing: min(W, {CORES} cores)")
ax_speed.axhline(1, color=COLORS["ideal"], linewidth=0.8)
ax_speed.set_yscale("log")
# Head room above the ideal lines for the legend.
ax_speed.set_ylim(min(min(v.values()) for v in speedup.values()) / 2, 5 * max(WORKER_COUNTS))
ax_speed.set_xticks(positions, [str(w) for w in WORKER_COUNTS])
ax_speed.set_xlabel("num_workers")
ax_speed.set_ylabel("speed-up over num_workers=0")
ax_speed.set_title("Throughput once running, against num_workers")
ax_speed.legend(fontsize=8, loc="upper left")

epochs = np.arange(1, EPOCHS + 1)
ax_epochs.plot(epochs, per_epoch[False], "o-", color=COLORS["respawn"],
               label="re-spawned each epoch")
ax_epochs.plot(epochs, per_epoch[True], "o-", color=COLORS["io"], label="persistent_workers=True")
ax_epochs.set_ylim(bottom=0)
ax_epochs.set_xticks(epochs)
ax_epochs.set_xlabel("epoch")
ax_epochs.set_ylabel("seconds")
ax_epochs.set_title("4 workers, 16 items of 2 ms: time per epoch")
ax_epochs.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Checks
#
# Timings depend on the machine and on what else it runs, so every check compares two times
# measured in this run, with a margin, and none compares a time with a fixed number.

# %%
io_4 = speedup["io"][4]
assert io_4 >= 2.5, f"I/O-bound: 4 workers should be >= 2.5x faster than 0, got {io_4:.2f}x"
assert speedup["io"][8] > speedup["io"][2], (
    f"I/O-bound: 8 workers ({speedup['io'][8]:.2f}x) should beat 2 ({speedup['io'][2]:.2f}x)"
)
cheap_best = max(speedup["cheap"][w] for w in WORKER_COUNTS if w)
assert cheap_best < 0.8, f"cheap items: workers should lose to 0 workers, best {cheap_best:.2f}x"
persistent_gain = respawn_total / persistent_total
assert persistent_gain > 1.5, (
    f"persistent_workers should beat re-spawning over {EPOCHS} epochs, got {persistent_gain:.2f}x"
)
assert overlap_speedup > 1.4, (
    f"one worker should overlap loading with the step (ideal 2x), got {overlap_speedup:.2f}x"
)
print(f"wall time: {time.perf_counter() - start:.1f} s")

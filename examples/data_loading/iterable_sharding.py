# %% [markdown]
# # Sharding an IterableDataset across workers
#
# A `DataLoader` gives each worker process its own copy of the dataset. For a map-style dataset
# that is harmless, because the main process hands out the indices. An `IterableDataset` has no
# indices: each copy runs its own `__iter__`, so with two workers a naive stream is read twice.
# This program shows the duplication, then shards the stream with `get_worker_info()` so that
# each record arrives exactly once, and shows how batches form per worker.
# Run it with `python examples/data_loading/iterable_sharding.py`.

# %%
import collections
import math
import multiprocessing
import os
import time
import warnings

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

start = time.perf_counter()

SEED = 0
RECORDS = 20  # the stream: records 0..19, as lines of a file or rows of a database table
WORKERS = 2

# Workers start with "fork" where the platform offers it (Linux; also macOS, although its
# default has been "spawn" since Python 3.8): this page is built in a Jupyter kernel, and only
# forked workers can use classes defined in a notebook. See main_guard.py for what "spawn" and
# "forkserver" need instead.
MP_CONTEXT = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
COLORS = ["#0072b2", "#e69f00", "#009e73"]
# DataLoader warns when num_workers exceeds the cores; 3 workers on a 2-core machine is harmless.
warnings.filterwarnings("ignore", message="This DataLoader will create")


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
torch.manual_seed(SEED)  # nothing here is random; the seed is set for the habit
print(f"device: {device}, start method: {MP_CONTEXT or 'default'}")


# %% [markdown]
# ## The naive stream
#
# Each record is yielded together with the id of the worker that produced it
# (`get_worker_info()` returns `None` in the main process, so that case reports `-1`).


# %%
def worker_id():
    info = get_worker_info()
    return -1 if info is None else info.id


class NaiveStream(IterableDataset):
    """Reads every record, whichever process it runs in."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        for record in range(self.n):
            yield {"record": record, "worker": worker_id()}


def load(dataset, workers, batch_size=None):
    """Everything a DataLoader yields, in arrival order."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                        multiprocessing_context=MP_CONTEXT if workers else None)
    return list(loader)


def records_and_workers(items):
    return [int(item["record"]) for item in items], [int(item["worker"]) for item in items]


naive_records, naive_workers = records_and_workers(load(NaiveStream(RECORDS), WORKERS))
naive_counts = collections.Counter(naive_records)
print(f"naive, {WORKERS} workers: {len(naive_records)} items for {RECORDS} records")
print(f"times each record was read: {sorted(set(naive_counts.values()))}")
print("first items (record, worker):", list(zip(naive_records, naive_workers))[:6])

# %% [markdown]
# Both copies read the whole stream, and the loader interleaves them: record 0 from worker 0,
# record 0 from worker 1, record 1 from worker 0, and so on. Training on this sees every
# example twice per epoch (or $W$ times with $W$ workers) and nothing warns about it.
#
# ## Sharding with get_worker_info()
#
# Inside a worker, `get_worker_info()` gives `id` and `num_workers`. Worker $k$ of $W$ keeps
# the records whose position $i$ satisfies $i \bmod W = k$. Striding like this suits a stream
# read sequentially (each worker still reads, or skips, everything); for a source that can
# seek, give each worker a contiguous range instead.


# %%
class ShardedStream(IterableDataset):
    """Worker k of W yields records k, k + W, k + 2W, ...; one process yields them all."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        shard, shards = (0, 1) if info is None else (info.id, info.num_workers)
        for record in range(self.n):
            if record % shards == shard:
                yield {"record": record, "worker": worker_id()}


sharded_records, sharded_workers = records_and_workers(load(ShardedStream(RECORDS), WORKERS))
sharded_counts = collections.Counter(sharded_records)
print(f"sharded, {WORKERS} workers: {len(sharded_records)} items for {RECORDS} records")
print(f"times each record was read: {sorted(set(sharded_counts.values()))}")
print("first items (record, worker):", list(zip(sharded_records, sharded_workers))[:6])

# The same class must also work without workers and with a worker count that does not divide
# the stream evenly.
single_records, _ = records_and_workers(load(ShardedStream(RECORDS), 0))
three_records, three_workers = records_and_workers(load(ShardedStream(RECORDS), 3))
print(f"0 workers: {len(single_records)} items; 3 workers: {len(three_records)} items, "
      f"per worker {sorted(collections.Counter(three_workers).items())}")

# %% [markdown]
# ## Batches form inside each worker
#
# With `batch_size` set, each worker batches its own shard, so the last batch of *every*
# worker can be short: 20 records in batches of 4 over 3 workers (shards of 7, 7 and 6
# records) give batches of 4, 4, 4, 3, 3, 2 rather than five full batches. `drop_last=True`
# would drop every worker's short batch.

# %%
batches = load(ShardedStream(RECORDS), 3, batch_size=4)
batch_sizes = [len(batch["record"]) for batch in batches]
batch_workers = [int(batch["worker"][0]) for batch in batches]
print("batch sizes:", batch_sizes, "from workers", batch_workers)
# What per-worker batching predicts: each shard cut into batches of 4, its last one short.
shard_sizes = [len(range(k, RECORDS, 3)) for k in range(3)]
expected_sizes = sorted((min(4, size - i) for size in shard_sizes for i in range(0, size, 4)),
                        reverse=True)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharex=True, sharey=True)
for ax, (title, records, workers_of) in zip(axes, [
    (f"naive: {len(naive_records)} items", naive_records, naive_workers),
    (f"sharded: {len(sharded_records)} items", sharded_records, sharded_workers),
]):
    for worker in range(WORKERS):
        positions = [i for i, w in enumerate(workers_of) if w == worker]
        ax.scatter(positions, [records[i] for i in positions], color=COLORS[worker], s=18,
                   label=f"worker {worker}")
    ax.set_xlabel("arrival order in the main process")
    ax.set_title(title)
    ax.legend()
axes[0].set_ylabel("record")
fig.suptitle(f"An IterableDataset of {RECORDS} records with {WORKERS} workers")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Checks

# %%
assert len(naive_records) == WORKERS * RECORDS, f"naive: {len(naive_records)} items"
assert all(naive_counts[r] == WORKERS for r in range(RECORDS)), (
    f"naive: every record should come {WORKERS} times, got {sorted(set(naive_counts.values()))}"
)
assert set(naive_workers) == set(range(WORKERS)), f"naive: workers seen {set(naive_workers)}"
assert sorted(sharded_records) == list(range(RECORDS)), (
    f"sharded: every record exactly once, got counts {sorted(set(sharded_counts.values()))}"
)
assert set(sharded_workers) == set(range(WORKERS)), f"sharded: workers {set(sharded_workers)}"
assert sorted(single_records) == list(range(RECORDS)), "sharded, 0 workers: not each record once"
assert sorted(three_records) == list(range(RECORDS)), "sharded, 3 workers: not each record once"
assert sorted(batch_sizes, reverse=True) == expected_sizes, (
    f"per-worker batching: sizes {batch_sizes}, expected {expected_sizes}"
)
assert sum(batch_sizes) == RECORDS and len(batch_sizes) > math.ceil(RECORDS / 4), (
    f"per-worker batching should leave more batches than {math.ceil(RECORDS / 4)}: {batch_sizes}"
)
print(f"wall time: {time.perf_counter() - start:.1f} s")

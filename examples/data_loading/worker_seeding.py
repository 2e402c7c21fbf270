# %% [markdown]
# # Random augmentations in DataLoader workers
#
# Every worker process starts from a copy of the dataset, random number generators included. A
# dataset that draws its augmentations from a NumPy generator it created in `__init__` therefore
# hands every worker the same generator state: the workers produce the same "random" crops, and
# since the copy in the main process never advances, they produce them again every epoch. This
# program shows both repeats, what PyTorch already seeds per worker, and the fix: reseed in
# `worker_init_fn` from the per-worker seed, and pass `generator` for runs that repeat exactly.
# Run it with `python examples/data_loading/worker_seeding.py`.

# %%
import multiprocessing
import os
import random
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

start = time.perf_counter()

SEED = 0
ITEMS, BATCH_SIZE, WORKERS = 16, 4, 2
SIZE, CROP = 32, 20  # random 20x20 crops (and flips) of a 32x32 image

# Workers start with "fork" where the platform offers it (Linux; also macOS, although its
# default has been "spawn" since Python 3.8): this page is built in a Jupyter kernel, and only
# forked workers can use classes defined in a notebook. See main_guard.py for what "spawn" and
# "forkserver" need instead.
MP_CONTEXT = "fork" if "fork" in multiprocessing.get_all_start_methods() else None


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
torch.manual_seed(SEED)
print(f"device: {device}, start method: {MP_CONTEXT or 'default'}")

# %% [markdown]
# ## A dataset with its own generator
#
# Every item is the same 32x32 picture (a disc on a gradient), so that identical crop
# parameters give identical pictures. Each item also reports which worker made it, and one
# draw from each of the three global generators a worker has: Python's `random`, NumPy's legacy
# `np.random` and PyTorch's.

# %%
yy, xx = torch.meshgrid(torch.linspace(0, 1, SIZE), torch.linspace(0, 1, SIZE), indexing="ij")
disc = (((yy - 0.35) ** 2 + (xx - 0.3) ** 2) < 0.04).float()
picture = torch.stack([xx, yy, disc])  # 3 x 32 x 32, values in [0, 1]


class RandomCrops(Dataset):
    """Random crops and horizontal flips, drawn from a NumPy generator made in __init__."""

    def __init__(self, image, n, seed):
        self.image, self.n = image, n
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        top, left = (int(v) for v in self.rng.integers(0, SIZE - CROP + 1, size=2))
        flip = bool(self.rng.random() < 0.5)
        crop = self.image[:, top:top + CROP, left:left + CROP]
        info = get_worker_info()
        return {
            "image": crop.flip(-1) if flip else crop,
            "params": torch.tensor([top, left, int(flip)]),
            "worker": -1 if info is None else info.id,
            # One draw from each global generator, to see which ones PyTorch seeds per worker.
            "globals": torch.tensor([random.getrandbits(31), np.random.randint(2**31),
                                     int(torch.randint(2**31, ()))]),
        }


def run_epochs(dataset, epochs=2, **loader_options):
    """Per epoch, per worker: the list of crop parameters and of global draws, in order."""
    loader = DataLoader(dataset, batch_size=BATCH_SIZE, num_workers=WORKERS,
                        multiprocessing_context=MP_CONTEXT, **loader_options)
    results = []
    for _ in range(epochs):
        params = {w: [] for w in range(WORKERS)}
        draws = {w: [] for w in range(WORKERS)}
        images = []
        for batch in loader:
            for p, w, g, image in zip(batch["params"], batch["worker"], batch["globals"],
                                      batch["image"]):
                params[int(w)].append(tuple(p.tolist()))
                draws[int(w)].append(tuple(g.tolist()))
                images.append(image)
        results.append({"params": params, "draws": draws, "images": images})
    return results


def show(name, epochs):
    for number, epoch in enumerate(epochs, 1):
        for worker, params in epoch["params"].items():
            print(f"{name:<9} epoch {number} worker {worker}: (top, left, flip) "
                  + " ".join(f"{p}" for p in params[:4]))


naive = run_epochs(RandomCrops(picture, ITEMS, SEED))
show("naive", naive)

# %% [markdown]
# Worker 1's crops repeat worker 0's one for one, and epoch 2 repeats epoch 1. With a batch of
# 4 and 2 workers, batch 0 and batch 1 of every epoch are the same augmentation of their
# images: half the randomness is gone, and the "random" augmentation is a fixed one.
#
# The global generators, on the other hand, differ between workers: PyTorch seeds each worker's
# `torch` and `random` generators with `base_seed + worker_id`, and (since PyTorch 1.9) NumPy's
# legacy global generator from the same pair. The classic form of this pitfall, `np.random` in
# `__getitem__` repeating across workers, is fixed; a generator object stored on the dataset,
# or any other library's generator, still repeats.

# %%
naive_globals_0 = naive[0]["draws"][0]
naive_globals_1 = naive[0]["draws"][1]
differs = [any(a[k] != b[k] for a, b in zip(naive_globals_0, naive_globals_1)) for k in range(3)]
for name, d in zip(["random", "np.random", "torch"], differs):
    print(f"global {name:<9} draws differ between workers: {d}")

# %% [markdown]
# ## The fix: reseed from the worker's seed
#
# `worker_init_fn` runs in each worker after PyTorch has seeded it and before it loads
# anything. `get_worker_info()` there gives the worker's copy of the dataset and its `seed`
# (`base_seed + worker_id`, where the main process draws `base_seed` each time it starts
# workers, every epoch here, from `generator` if one is given). Building the dataset's
# generator from that seed makes the workers differ, and the epochs too.


# %%
def reseed_dataset_rng(worker_id):
    info = get_worker_info()
    info.dataset.rng = np.random.default_rng(info.seed)


seeded = run_epochs(RandomCrops(picture, ITEMS, SEED), worker_init_fn=reseed_dataset_rng,
                    generator=torch.Generator().manual_seed(SEED))
show("seeded", seeded)

# The same generator seed gives the same augmentations in a second run: reproducible.
again = run_epochs(RandomCrops(picture, ITEMS, SEED), worker_init_fn=reseed_dataset_rng,
                   generator=torch.Generator().manual_seed(SEED))
print("second run with the same generator seed repeats the first:",
      again[0]["params"] == seeded[0]["params"] and again[1]["params"] == seeded[1]["params"])

# %%
fig, axes = plt.subplots(2, 8, figsize=(11, 3.3))
for row, (name, epochs) in enumerate([("naive", naive), ("reseeded", seeded)]):
    for col, image in enumerate(epochs[0]["images"][:8]):
        ax = axes[row, col]
        ax.imshow(image.permute(1, 2, 0).numpy())
        ax.set_xticks([])
        ax.set_yticks([])
        if row == 0:
            ax.set_title(f"item {col}\nworker {col // BATCH_SIZE % WORKERS}", fontsize=8)
    axes[row, 0].set_ylabel(name)
fig.suptitle("The first 8 augmented items of epoch 1 (items 0-3 from worker 0, 4-7 from worker 1)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Checks

# %%
for epoch in naive:
    same = epoch["params"][0] == epoch["params"][1]
    assert same, f"naive: the workers should repeat each other, got {epoch['params']}"
assert naive[0]["params"] == naive[1]["params"], "naive: epoch 2 should repeat epoch 1"
assert all(differs), f"global generators should differ per worker (random, np, torch): {differs}"
for number, epoch in enumerate(seeded, 1):
    overlap = set(epoch["params"][0]) & set(epoch["params"][1])
    # 13 x 13 positions x 2 flips = 338 possible crops: a chance match or two among 8 draws is fine.
    assert epoch["params"][0] != epoch["params"][1] and len(overlap) <= 3, (
        f"reseeded epoch {number}: workers share {len(overlap)} of 8 crops"
    )
assert seeded[0]["params"] != seeded[1]["params"], "reseeded: epoch 2 should differ from epoch 1"
assert again[0]["params"] == seeded[0]["params"] and again[1]["params"] == seeded[1]["params"], (
    "the same generator seed should reproduce the same augmentations"
)
print(f"wall time: {time.perf_counter() - start:.1f} s")

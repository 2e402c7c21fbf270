# %% [markdown]
# # Distributed data parallel training on the digits
#
# This program trains a small CNN on scikit-learn's bundled 8x8 digits twice: once with
# `DistributedDataParallel` in two processes launched by `torchrun` (the gloo backend, on the
# CPU), and once in a single ordinary process with the same hyperparameters. The two runs see
# the same images in the same batches and start from the same weights, so they compute the same
# training steps up to floating-point rounding and end at the same accuracy. Run it with
# `python examples/image_classification/ddp_digits.py`: it launches `torchrun` itself. Under
# `torchrun`, as in
# `torchrun --standalone --nproc-per-node=2 examples/image_classification/ddp_digits.py`,
# the same file is an ordinary DDP training script.

# %%
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset, TensorDataset

start = time.perf_counter()

SEED = 0  # the split, the initial weights and the shuffling all follow from it
EPOCHS = 12
GLOBAL_BATCH = 64  # images per optimizer step, summed over all processes
LR = 1e-2
WORLD_SIZE = 2  # processes that the launcher below starts
# 449 test images leave 1,348 for training: an even number, so DistributedSampler does not
# have to pad the data with repeated images to give both processes the same count.
TEST_SIZE = 449

# torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in every process it
# starts. Their presence is how this file knows it is one of the workers.
IS_WORKER = "RANK" in os.environ and "WORLD_SIZE" in os.environ


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


def device_and_backend(local_rank: int, local_world_size: int) -> tuple[torch.device, str]:
    """One GPU per process with NCCL when there are enough GPUs; otherwise the CPU with gloo.

    Two processes cannot share one GPU under NCCL, and the distributed backends do not handle
    Apple's MPS tensors, so both of those cases fall back to the CPU.
    """
    device = pick_device()
    if device.type == "cuda" and torch.cuda.device_count() >= local_world_size:
        return torch.device("cuda", local_rank), "nccl"
    return torch.device("cpu"), "gloo"


if not IS_WORKER:
    print(f"launcher: {pick_device()} available; workers: {WORLD_SIZE} processes")

# %% [markdown]
# ## Data and model, shared by both runs
#
# The split is stratified and the pixels are standardised with the training set's mean and
# standard deviation. The model has neither batch normalisation nor dropout: with those, the
# two runs would differ on purpose (batch statistics over 32 images per process instead of 64,
# different random dropout masks), and the point here is that DDP itself changes nothing about
# the optimisation. A real DDP script keeps its batch norm layers; see the page for what that
# means.

# %%
def load_data() -> tuple[TensorDataset, TensorDataset]:
    digits = load_digits()
    images = digits.images.astype(np.float32)  # (1797, 8, 8), values 0 to 16
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=TEST_SIZE, stratify=digits.target, random_state=SEED
    )
    mean, std = x_train.mean(), x_train.std()  # training statistics only

    def to_tensors(x, y):
        return TensorDataset(torch.tensor((x - mean) / std).unsqueeze(1), torch.tensor(y))

    return to_tensors(x_train, y_train), to_tensors(x_test, y_test)


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 4x4 -> 2x2
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
    )


# %% [markdown]
# ## One training function for one process or many
#
# Every process runs `train`. With `world_size` processes:
#
# - `DistributedSampler` gives each process its own share of a shuffled order. Its shuffle is
#   seeded with `seed + epoch`, so every process computes the same permutation and takes every
#   `world_size`-th index of it; `set_epoch` must be called each epoch or the order repeats.
#   The single-process run uses the same sampler with `num_replicas=1`, so its batch $k$ is
#   exactly the union of the processes' batches $k$.
# - Each process takes `GLOBAL_BATCH / world_size` images per step. `DistributedDataParallel`
#   averages the gradients over the processes during `backward()`, which for equal shares is the
#   gradient of the mean loss over all `GLOBAL_BATCH` images: the same step as one process
#   with the whole batch.
# - Every process seeds the same generator before building the model (DDP would also copy
#   rank 0's weights to the others when it wraps the model), so the single-process run starts
#   from the same weights too.
# - Each process scores its own slice of the test set, and `all_reduce` adds up the counts.
#   (`DistributedSampler` would pad the test set to a multiple of `world_size` with repeated
#   images, which would count some of them twice.)

# %%
def train(device: torch.device, rank: int = 0, world_size: int = 1) -> dict:
    distributed = world_size > 1
    train_set, test_set = load_data()

    def all_sum(values: list[float]) -> list[float]:
        """Sum over the processes (a no-op in a single process)."""
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        if distributed:
            dist.all_reduce(tensor)  # SUM by default
        return tensor.tolist()

    torch.manual_seed(SEED)  # identical initial weights in every process and in the reference
    model = make_model().to(device)
    if distributed:
        device_ids = [device] if device.type == "cuda" else None  # None: CPU processes
        model = DistributedDataParallel(model, device_ids=device_ids)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    sampler = DistributedSampler(train_set, num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=SEED)
    loader = DataLoader(train_set, batch_size=GLOBAL_BATCH // world_size, sampler=sampler)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR,
                                                    total_steps=EPOCHS * len(loader))
    loss_fn = nn.CrossEntropyLoss()

    train_start = time.perf_counter()
    losses = []
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same one in every process
        model.train()
        loss_sum, seen = 0.0, 0
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()  # under DDP, this also averages the gradients across processes
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(labels)
            seen += len(labels)
        total, count = all_sum([loss_sum, seen])
        losses.append(total / count)
        if rank == 0 and sys.stdout.isatty():
            print(f"  epoch {epoch + 1:2d}  training loss {losses[-1]:.4f}", flush=True)
    train_seconds = time.perf_counter() - train_start

    model.eval()
    shard = Subset(test_set, range(rank, len(test_set), world_size))  # no padding, no repeats
    correct, count = 0, 0
    with torch.inference_mode():
        for images, labels in DataLoader(shard, batch_size=256):
            predictions = model(images.to(device)).argmax(dim=1)
            correct += (predictions == labels.to(device)).sum().item()
            count += len(labels)
    correct, count = all_sum([correct, count])
    # DDP keeps the real model in .module: save that, so the file loads without DDP.
    plain_model = model.module if distributed else model
    return {
        "world_size": world_size,
        "losses": losses,
        "test_correct": int(correct),
        "test_count": int(count),
        "test_accuracy": correct / count,
        "train_seconds": train_seconds,
        "state_dict": {k: v.detach().cpu() for k, v in plain_model.state_dict().items()},
    }


# %% [markdown]
# ## The worker: what runs under torchrun
#
# `init_process_group` reads the rendezvous address, rank and world size that `torchrun` put in
# the environment. Only rank 0 reports and saves: the processes hold identical weights, and
# several processes writing one file would clash. When this file runs under `torchrun`, it
# stops at the end of this cell; the cells after it are the launcher.

# %%
def run_worker() -> None:
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device, backend = device_and_backend(int(os.environ["LOCAL_RANK"]),
                                         int(os.environ["LOCAL_WORLD_SIZE"]))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend)
    try:
        result = train(device, rank, world_size)
        if rank == 0:
            print(f"[rank 0] {world_size} processes, backend {backend}, device {device}: "
                  f"test accuracy {result['test_accuracy']:.4f} "
                  f"({result['test_correct']}/{result['test_count']})", flush=True)
            out_dir = os.environ.get("DDP_DIGITS_OUT")  # set by the launcher below
            if out_dir:
                torch.save(result.pop("state_dict"), Path(out_dir) / "model.pt")
                result["backend"], result["device"] = backend, str(device)
                (Path(out_dir) / "result.json").write_text(json.dumps(result))
        dist.barrier()  # leave together: no rank tears down while another still talks to it
    finally:
        # Free DDP's pending gloo work while the interpreter is fully alive: left to
        # interpreter shutdown, it can abort the process ("terminate called without an
        # active exception") after all the work is done.
        gc.collect()
        dist.destroy_process_group()


if IS_WORKER:
    run_worker()
    sys.exit(0)

# %% [markdown]
# ## Launching two processes with torchrun
#
# `python -m torch.distributed.run` is `torchrun`. `--standalone` sets up a rendezvous on this
# machine with a free port; `--nproc-per-node=2` starts two workers. The workers get
# `OMP_NUM_THREADS=1` (which `torchrun` would also set, with a warning) so that the two
# processes share the CPU's cores instead of fighting over them.

# %%
# In a Jupyter kernel (which is how the site runs this file) __file__ is not defined and the
# working directory is the project root, so the script is found by its path from there.
try:
    script = Path(__file__).resolve()
except NameError:
    script = Path("examples/image_classification/ddp_digits.py").resolve()

with tempfile.TemporaryDirectory() as out_dir:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={WORLD_SIZE}", str(script)]
    env = {**os.environ, "DDP_DIGITS_OUT": out_dir, "OMP_NUM_THREADS": "1"}
    launch_start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300,
                               check=False)  # a failure is reported with its stderr below
    launch_seconds = time.perf_counter() - launch_start
    if completed.returncode != 0:
        raise RuntimeError(f"torchrun failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    print(completed.stdout.strip())
    ddp = json.loads((Path(out_dir) / "result.json").read_text())
    ddp_weights = torch.load(Path(out_dir) / "model.pt", weights_only=True)
print(f"torchrun: {launch_seconds:.1f} s in all, {ddp['train_seconds']:.1f} s of it training")

# %% [markdown]
# ## The single-process reference
#
# The same `train` function, called in this process with `world_size=1`: one process, the
# whole batch of 64 images per step, the same device rule as the workers.

# %%
device, _ = device_and_backend(0, 1)
single = train(device)
print(f"single process on {device}: test accuracy {single['test_accuracy']:.4f} "
      f"({single['test_correct']}/{single['test_count']}), "
      f"{single['train_seconds']:.1f} s training")

# %%
weight_gap = max((ddp_weights[k] - v).abs().max().item() for k, v in single["state_dict"].items())
loss_gaps = [abs(a / b - 1) for a, b in zip(ddp["losses"], single["losses"])]

print(f"{'run':<16} {'processes':>9} {'batch/process':>13} {'final loss':>10} "
      f"{'test accuracy':>13}")
for name, result in (("DDP (torchrun)", ddp), ("single process", single)):
    print(f"{name:<16} {result['world_size']:>9} {GLOBAL_BATCH // result['world_size']:>13} "
          f"{result['losses'][-1]:>10.5f} {result['test_accuracy']:>13.4f}")
print("relative difference of the mean training loss, epoch by epoch:")
print("  " + " ".join(f"{gap:.0e}" for gap in loss_gaps))
print(f"largest difference between the final weights: {weight_gap:.1e}")

fig, (ax_loss, ax_gap) = plt.subplots(1, 2, figsize=(11, 4))
epochs = np.arange(1, EPOCHS + 1)
ax_loss.semilogy(epochs, single["losses"], color="#56b4e9", lw=4, alpha=0.7,
                 label="single process, batch 64")
ax_loss.semilogy(epochs, ddp["losses"], color="#d55e00", ls="--", marker="o", ms=4,
                 label=f"DDP, {WORLD_SIZE} processes x 32")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("mean training loss (cross-entropy)")
ax_loss.set_title("Training loss")
ax_loss.legend()
ax_gap.semilogy(epochs, loss_gaps, color="#cc79a7", marker="o")
ax_gap.set_xlabel("epoch")
ax_gap.set_ylabel("|loss DDP / loss single - 1|")
ax_gap.set_title("Relative difference between the two runs")
fig.tight_layout()
plt.show()

# %% [markdown]
# The two runs start out identical to within float32 rounding (the first printed difference).
# Averaging gradients across processes is the same
# computation with the additions in a different order, not a different algorithm. The tiny
# differences then grow from epoch to epoch, as any rounding difference does in training (two
# single-process runs on different hardware, or with a different number of CPU threads, drift
# apart the same way). How far they grow depends on the seed; the test accuracy ends the same.
#
# What DDP buys is time: each process computes the forward and backward pass for its share of
# the batch. On two CPU cores and a model this small the start-up of the processes (each one
# imports PyTorch and joins the rendezvous) costs more than it saves; on several GPUs with a
# real model, the split of the work is what matters.

# %%
# Every claim made above, checked.
assert ddp["world_size"] == WORLD_SIZE, f"torchrun ran {ddp['world_size']} processes"
assert ddp["test_count"] == single["test_count"] == TEST_SIZE, (
    f"every test image should be scored exactly once: {ddp['test_count']}, "
    f"{single['test_count']}")
assert single["test_accuracy"] >= 0.97, f"single-process accuracy {single['test_accuracy']:.4f}"
assert ddp["test_accuracy"] >= 0.97, f"DDP accuracy {ddp['test_accuracy']:.4f}"
assert abs(ddp["test_accuracy"] - single["test_accuracy"]) <= 2 / TEST_SIZE, (
    f"DDP and single process should reach the same accuracy (within 2 images): "
    f"{ddp['test_accuracy']:.4f} vs {single['test_accuracy']:.4f}")
assert loss_gaps[0] < 1e-5, f"the first epoch should match to rounding, gap {loss_gaps[0]:.2e}"

print(f"wall time: {time.perf_counter() - start:.1f} s")

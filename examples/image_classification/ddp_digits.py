# %% [markdown]
# # Distributed data parallel training on the digits
#
# This program trains a small CNN on scikit-learn's bundled 8x8 digits twice: once with
# `DistributedDataParallel` in two processes launched by `torchrun` (the gloo backend, on the
# CPU), and once in a single ordinary process with the same hyperparameters. The two runs see
# the same images in the same batches and start from the same weights, so their first steps are
# the same computation up to floating-point rounding: the program checks that the averaged
# gradient of the first step and the weights after the first steps agree to rounding, that each
# run on its own reaches a good test accuracy, and shows how the two runs drift apart as training
# goes on. Run it with
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
EARLY_STEPS = 3  # optimizer steps after which the two runs' weights are compared to rounding
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
# - For the comparison with the single-process run, `train` also records the weights before
#   training, the gradient of the first step (under DDP, the averaged one that every process
#   holds after `backward()`), the weights after each of the first `EARLY_STEPS` steps and the
#   weights at the end of every epoch.

# %%
def train(device: torch.device, rank: int = 0, world_size: int = 1) -> dict:
    distributed = world_size > 1
    train_set, test_set = load_data()
    if device.type == "cuda":
        # cuDNN runs float32 convolutions in TF32 (10-bit mantissa) by default on recent GPUs;
        # the comparison with the single-process run below is to float32 rounding.
        torch.backends.cudnn.conv.fp32_precision = "ieee"

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
    # DDP keeps the real model in .module: its parameters, and later its state_dict.
    plain_model = model.module if distributed else model

    def flat(tensors) -> torch.Tensor:
        return torch.cat([t.detach().reshape(-1) for t in tensors]).cpu()

    trace = {"initial": flat(plain_model.parameters()), "after_step": [], "after_epoch": []}
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    sampler = DistributedSampler(train_set, num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=SEED)
    loader = DataLoader(train_set, batch_size=GLOBAL_BATCH // world_size, sampler=sampler)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR,
                                                    total_steps=EPOCHS * len(loader))
    loss_fn = nn.CrossEntropyLoss()

    train_start = time.perf_counter()
    losses, step = [], 0
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same one in every process
        model.train()
        loss_sum, seen = 0.0, 0
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()  # under DDP, this also averages the gradients across processes
            if step == 0:
                trace["first_gradient"] = flat(p.grad for p in plain_model.parameters())
            optimizer.step()
            scheduler.step()
            step += 1
            if step <= EARLY_STEPS:
                trace["after_step"].append(flat(plain_model.parameters()))
            loss_sum += loss.item() * len(labels)
            seen += len(labels)
        total, count = all_sum([loss_sum, seen])
        losses.append(total / count)
        trace["after_epoch"].append(flat(plain_model.parameters()))
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
    return {
        "world_size": world_size,
        "losses": losses,
        "test_correct": int(correct),
        "test_count": int(count),
        "test_accuracy": correct / count,
        "train_seconds": train_seconds,
        # .module's state_dict, so that the saved file loads without DDP.
        "state_dict": {k: v.detach().cpu() for k, v in plain_model.state_dict().items()},
        "trace": {k: torch.stack(v) if isinstance(v, list) else v for k, v in trace.items()},
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
                torch.save(result.pop("trace"), Path(out_dir) / "trace.pt")
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
    ddp_trace = torch.load(Path(out_dir) / "trace.pt", weights_only=True)
print(f"torchrun: {launch_seconds:.1f} s in all, {ddp['train_seconds']:.1f} s of it training")

# %% [markdown]
# ## The single-process reference
#
# The same `train` function, called in this process with `world_size=1`: one process, the
# whole batch of 64 images per step, on the same kind of device as the workers (the CPU unless
# there are enough GPUs for one per worker) and, on the CPU, with one thread like each worker.

# %%
device, _ = device_and_backend(0, WORLD_SIZE)
if device.type == "cpu":
    torch.set_num_threads(1)
single = train(device)
print(f"single process on {device}: test accuracy {single['test_accuracy']:.4f} "
      f"({single['test_correct']}/{single['test_count']}), "
      f"{single['train_seconds']:.1f} s training")

# %% [markdown]
# ## Comparing the two runs
#
# Three comparisons, from the first step to the end of training:
#
# - **The gradient of the first step.** Both runs start from the same weights and see the same 64
#   images, so DDP's averaged gradient and the single process's gradient are the same sum, added
#   up in a different order (two halves of 32 images, then the all-reduce, against one batch of
#   64). The difference is printed relative to the largest gradient entry.
# - **The weights after each of the first few steps**, relative to how far those steps moved the
#   weights.
# - **The weights and the training loss at the end of every epoch**: how far the runs drift apart.

# %%
def gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


single_trace = single["trace"]
initial_gap = gap(ddp_trace["initial"], single_trace["initial"])
gradient = single_trace["first_gradient"]
gradient_gap = gap(ddp_trace["first_gradient"], gradient)
gradient_scale = gradient.abs().max().item()
gradient_close = torch.allclose(ddp_trace["first_gradient"], gradient, rtol=1e-4,
                                atol=1e-6 * gradient_scale)
step_gaps = [gap(a, b) for a, b in zip(ddp_trace["after_step"], single_trace["after_step"])]
step_moves = [gap(b, single_trace["initial"]) for b in single_trace["after_step"]]
epoch_gaps = [gap(a, b) for a, b in zip(ddp_trace["after_epoch"], single_trace["after_epoch"])]
weight_scale = single_trace["after_epoch"][-1].abs().max().item()
loss_gaps = [abs(a / b - 1) for a, b in zip(ddp["losses"], single["losses"])]
final_weight_gap = max(gap(ddp_weights[k], v) for k, v in single["state_dict"].items())

print(f"initial weights: largest difference {initial_gap:.1e}")
print(f"gradient of the first step: largest |difference| {gradient_gap:.1e}, "
      f"{gradient_gap / gradient_scale:.1e} of the largest entry ({gradient_scale:.2e})")
for k, (step_gap, move) in enumerate(zip(step_gaps, step_moves), start=1):
    print(f"weights after step {k}: largest |difference| {step_gap:.1e}, "
          f"{step_gap / move:.1e} of how far the weights moved ({move:.1e})")
print(f"{'run':<16} {'processes':>9} {'batch/process':>13} {'final loss':>10} "
      f"{'test accuracy':>13}")
for name, result in (("DDP (torchrun)", ddp), ("single process", single)):
    print(f"{name:<16} {result['world_size']:>9} {GLOBAL_BATCH // result['world_size']:>13} "
          f"{result['losses'][-1]:>10.5f} {result['test_accuracy']:>13.4f}")
print("epoch by epoch, largest |difference| between the weights:")
print("  " + " ".join(f"{g:.0e}" for g in epoch_gaps))
print("epoch by epoch, relative difference of the mean training loss:")
print("  " + " ".join(f"{g:.0e}" for g in loss_gaps))
print(f"largest final weight: {weight_scale:.2f}; largest difference at the end: "
      f"{final_weight_gap:.1e}")

fig, (ax_loss, ax_gap) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=90)
epochs = np.arange(1, EPOCHS + 1)
ax_loss.semilogy(epochs, single["losses"], color="#56b4e9", lw=4, alpha=0.7,
                 label="single process, batch 64")
ax_loss.semilogy(epochs, ddp["losses"], color="#d55e00", ls="--", marker="o", ms=4,
                 label=f"DDP, {WORLD_SIZE} processes x 32")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("mean training loss (cross-entropy)")
ax_loss.set_title("Training loss")
ax_loss.legend()
ax_gap.semilogy(epochs, epoch_gaps, color="#cc79a7", marker="o", label="weights (largest)")
ax_gap.semilogy(epochs, loss_gaps, color="#009e73", marker="s", ls=":",
                label="training loss (relative)")
ax_gap.set_xlabel("epoch")
ax_gap.set_ylabel("|DDP - single process|")
ax_gap.set_title("How far the two runs drift apart")
ax_gap.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The weights start identical (both runs seed the same generator), and the first steps agree to
# float32 rounding. The averaged gradient of the first step differs from the single-process
# gradient by rounding error only: the check allows $10^{-5}$ of its largest entry, about a
# hundred times float32's relative precision. After each of the first steps the weights differ by
# a small fraction of how far the steps moved them (the check allows 1%; AdamW divides each
# gradient entry by its own running size, so for an entry that is almost zero the rounding error
# is not scaled down with it). Averaging gradients across processes is the same computation with
# the additions in a different order, not a different algorithm.
#
# Later epochs drift apart, and that is not a fault of DDP. Float32 addition is not associative:
# the all-reduce adds the processes' gradients in its own order, each process sums over 32 images
# where the single process sums over 64, and different CPUs (or a different number of threads)
# use different kernels that round differently. Each difference is tiny, but training amplifies
# it: a slightly different step changes every later gradient, AdamW divides by small running
# averages, and a ReLU or a max pool that switches for one image changes a gradient outright.
# The per-epoch differences printed above show how far the two runs drift on the machine that
# ran this page. After many steps they are two different trainings of the same model, each as
# good as the other: their test accuracies can differ by a few images, in either direction,
# depending on the seed and the machine. Two single-process runs on two different machines drift
# apart in the same way. So what DDP guarantees, and what this program checks, is that each step
# is the single-process step up to rounding, and that each run on its own trains well.
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
assert initial_gap == 0.0, f"both runs should start from the same weights: {initial_gap:.1e}"
assert gradient_close and gradient_gap <= 1e-5 * gradient_scale, (
    f"the first averaged gradient should equal the single-process gradient to float32 "
    f"rounding: largest difference {gradient_gap:.1e}, largest entry {gradient_scale:.1e}")
for k, (step_gap, move) in enumerate(zip(step_gaps, step_moves), start=1):
    assert step_gap <= 1e-2 * move, (
        f"after step {k} the weights should agree to rounding: difference {step_gap:.1e}, "
        f"movement {move:.1e}")
assert single["test_accuracy"] > 0.95, f"single-process accuracy {single['test_accuracy']:.4f}"
assert ddp["test_accuracy"] > 0.95, f"DDP accuracy {ddp['test_accuracy']:.4f}"

print(f"wall time: {time.perf_counter() - start:.1f} s")

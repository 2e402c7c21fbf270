# %% [markdown]
# # The cost of attention: time and memory against sequence length
#
# Attention compares every query with every key: for a sequence of $n$ tokens that is an
# $n \times n$ matrix of scores per head, so its time and (done naively) its memory grow with
# $n^2$. This program measures both for a hand-written attention, for
# `F.scaled_dot_product_attention` (SDPA) with the backend PyTorch picks, and (memory only) for
# SDPA forced onto its plain `MATH` backend with `torch.nn.attention.sdpa_kernel`. It fits the
# slope of time against length on a log-log plot (close to 2 for the naive version and for
# SDPA alike) and shows where the fused kernel saves: memory, not arithmetic. Run it with
# `python examples/transformer/attention_cost.py`.

# %%
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.nn import functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode

start = time.perf_counter()

SEED = 0
BATCH, HEADS, HEAD_DIM = 2, 8, 64  # 2 sequences, 8 heads of 64 dimensions
REPEATS = 4  # each timing is the fastest of 4 runs: noise from other processes only adds time

COLORS = {"naive": "#d55e00", "SDPA (MATH backend)": "#e69f00", "SDPA (default)": "#0072b2"}


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
print(f"device: {device}")
if device.type == "cpu":
    # One thread: the timings then measure the work itself, and the CPU time of this process
    # (time.process_time) is what other processes on a shared machine cannot inflate.
    torch.set_num_threads(1)
    LENGTHS = [256, 512, 1024, 1536, 2048]
else:
    # A GPU needs longer sequences before the n^2 work, not the launch overhead, dominates.
    LENGTHS = [512, 1024, 2048, 3072, 4096]
FIT = LENGTHS[-3:]  # the slope is fitted where the n^2 term dominates
torch.manual_seed(SEED)

# %% [markdown]
# ## Three ways to compute the same attention
#
# The naive version materialises the $n \times n$ score matrix (and the softmax of it) as
# ordinary tensors. SDPA's fused backends (a FlashAttention-style kernel on CPU; on CUDA
# FlashAttention, memory-efficient attention or cuDNN, depending on the GPU and dtype) walk
# through the keys block by block with an online softmax and never hold the whole matrix. The
# `MATH` backend is SDPA's reference implementation in plain operations, which does hold it.

# %%
def naive(q, k, v):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (batch, heads, n, n)
    return scores.softmax(dim=-1) @ v


def sdpa_math(q, k, v):
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v)


METHODS = {"naive": naive, "SDPA (MATH backend)": sdpa_math,
           "SDPA (default)": F.scaled_dot_product_attention}


def inputs(n: int):
    return [torch.randn(BATCH, HEADS, n, HEAD_DIM, device=device) for _ in range(3)]


q, k, v = inputs(256)
reference = naive(q, k, v)
for name, method in METHODS.items():
    err = ((method(q, k, v) - reference).abs().max() / reference.abs().max()).item()
    print(f"{name:<20} agrees with the naive version to {err:.0e} (relative)")

# %% [markdown]
# ## What each one allocates
#
# On a GPU, `torch.cuda.max_memory_allocated` reports the peak memory of a call. A CPU has no
# such counter in PyTorch, so the program measures something narrower and exact on every
# device: a `TorchDispatchMode` sees every operator that runs and every tensor it returns, and
# records the largest of them. That is the memory the algorithm *must* hold at once (a fused
# kernel's small internal work buffers, a few blocks per thread, are not seen by it).

# %%
class LargestTensor(TorchDispatchMode):
    """Records each operator that runs, and the largest tensor any of them returns."""

    def __init__(self):
        super().__init__()
        self.ops, self.largest = [], 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.ops.append(func.__name__)
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.untyped_storage().nbytes())
        return out


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def clock() -> float:
    # CPU: the CPU time of this process. GPU: wall time, after waiting for the GPU.
    sync()
    return time.process_time() if device.type == "cpu" else time.perf_counter()


largest = {name: [] for name in METHODS}
peak = {name: [] for name in METHODS}  # CUDA only
ops = {}
for n in LENGTHS:
    q, k, v = inputs(n)
    for name, method in METHODS.items():
        with LargestTensor() as seen:
            method(q, k, v)
        largest[name].append(seen.largest)
        ops[name] = sorted(set(seen.ops))
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            method(q, k, v)
            torch.cuda.synchronize()
            peak[name].append(torch.cuda.max_memory_allocated() - before)
    del q, k, v

for name in METHODS:
    print(f"{name:<20} operators: {', '.join(ops[name])}")
print(f"\n{'n':>6} " + " ".join(f"{name:>20}" for name in METHODS) + "   (largest tensor, MiB)")
for i, n in enumerate(LENGTHS):
    print(f"{n:>6} " + " ".join(f"{largest[name][i] / 2**20:>20.2f}" for name in METHODS))
if device.type == "cuda":
    print(f"\n{'n':>6} " + " ".join(f"{name:>20}" for name in METHODS) + "   (peak memory, MiB)")
    for i, n in enumerate(LENGTHS):
        print(f"{n:>6} " + " ".join(f"{peak[name][i] / 2**20:>20.2f}" for name in METHODS))

# %% [markdown]
# The naive version and the `MATH` backend each create a $2 \times 8 \times n \times n$ float32
# score tensor (16 matrices of $n^2$ numbers of 4 bytes: 256 MiB at $n = 2048$); the fused
# kernel's largest tensor is its output, $n \times 64$ per head.
#
# Where the score tensor outgrows the CPU's caches, or becomes large enough that the memory
# allocator hands it fresh pages from the operating system at every call (above 32 MiB with
# glibc), the naive version's time jumps by more than the factor of four that doubling $n$
# should cost. The slope is therefore fitted on the three longest sequences, where the score
# tensors are all well past both thresholds (64 MiB and more).
#
# ## Time
#
# The naive version and the default SDPA (the `MATH` backend does the naive version's work).
# Each runs once to warm up, then `REPEATS` times; the fastest run counts. The two take turns
# at each length, so a burst of load from elsewhere hits them alike.

# %%
TIMED = ["naive", "SDPA (default)"]
seconds = {name: [] for name in TIMED}
for n in LENGTHS:
    q, k, v = inputs(n)
    for name in TIMED:
        METHODS[name](q, k, v)  # warm-up
    runs = {name: [] for name in TIMED}
    for _ in range(REPEATS):
        for name in TIMED:
            t0 = clock()
            METHODS[name](q, k, v)
            runs[name].append(clock() - t0)
    for name in TIMED:
        seconds[name].append(min(runs[name]))
    del q, k, v

unit = "CPU time" if device.type == "cpu" else "GPU time"
print(f"{'n':>6} " + " ".join(f"{name:>20}" for name in TIMED) + f"   ({unit}, ms)")
for i, n in enumerate(LENGTHS):
    print(f"{n:>6} " + " ".join(f"{seconds[name][i] * 1e3:>20.2f}" for name in TIMED))


def slope(values) -> float:
    """Exponent b of a fit values ~ n^b over the lengths in FIT."""
    chosen = [LENGTHS.index(n) for n in FIT]
    return float(np.polyfit(np.log(FIT), np.log([values[i] for i in chosen]), 1)[0])


time_slopes = {name: slope(seconds[name]) for name in TIMED}
memory_slopes = {name: slope(largest[name]) for name in METHODS}
half = LENGTHS.index(LENGTHS[-1] // 2)
doubling = {name: seconds[name][-1] / seconds[name][half] for name in TIMED}
speedup = seconds["naive"][-1] / seconds["SDPA (default)"][-1]
print(f"\nslopes fitted on n = {FIT}:")
for name in METHODS:
    timing = (f"time ~ n^{time_slopes[name]:.2f} (x{doubling[name]:.1f} from n/2 to n)"
              if name in TIMED else "(not timed)")
    print(f"{name:<20} {timing:<44} largest tensor ~ n^{memory_slopes[name]:.2f}")
print(f"at n = {LENGTHS[-1]} the fused kernel is {speedup:.1f}x faster than the naive version")

# %%
fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4), dpi=90)
n_ref = np.array(LENGTHS, dtype=float)
STYLE = {"naive": {"marker": "o", "lw": 3}, "SDPA (MATH backend)": {"marker": "s", "ls": "--"},
         "SDPA (default)": {"marker": "o"}}
for name in TIMED:
    ax_t.loglog(LENGTHS, np.array(seconds[name]) * 1e3, color=COLORS[name], **STYLE[name],
                label=f"{name}: slope {time_slopes[name]:.2f}")
for name in METHODS:
    ax_m.loglog(LENGTHS, np.array(largest[name]) / 2**20, color=COLORS[name], **STYLE[name],
                label=f"{name}: slope {memory_slopes[name]:.2f}")
anchor = seconds["naive"][-1] * 1e3
ax_t.loglog(n_ref, anchor * (n_ref / n_ref[-1]) ** 2, ls=":", color="#999999", label="n^2")
ax_t.set_ylabel(f"{unit} per call (ms)")
ax_t.set_title("Time: quadratic for both")
ax_m.set_ylabel("largest tensor created (MiB)")
ax_m.set_title("Memory: the fused kernel never holds n x n")
for ax in (ax_t, ax_m):
    ax.axvspan(FIT[0], FIT[-1], color="#999999", alpha=0.15, lw=0)
    ax.set_xticks(LENGTHS, [str(n) for n in LENGTHS])
    ax.tick_params(axis="x", which="minor", labelbottom=False)
    ax.set_xlabel("sequence length n (shaded: where the slope is fitted)")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Doubling the sequence multiplies the time of both by about four: a fused kernel does
# the same $O(n^2 d)$ arithmetic, only without writing the score matrix to memory. That saves
# memory traffic (hence time, by a constant factor) and, above all, memory: at long context the
# $n \times n$ matrix per head would not fit at all. Making attention itself cheaper than $n^2$
# needs a different attention: a sliding window, sparse patterns (FlexAttention's block masks
# skip the blocks a mask removes entirely), or linear-attention variants.

# %%
# Every claim made above, checked (ratios and slopes from this run, never absolute times).
for name in TIMED:
    assert 1.5 < time_slopes[name] < 2.6, (
        f"{name}: time should grow like n^2 where that term dominates, slope "
        f"{time_slopes[name]:.2f}")
for name in ("naive", "SDPA (MATH backend)"):
    assert abs(memory_slopes[name] - 2) < 0.05, (
        f"{name}: the score tensor grows like n^2, slope {memory_slopes[name]:.2f}")
    expected = HEADS * LENGTHS[-1] ** 2 * 4  # float32 scores
    assert largest[name][-1] >= expected, f"{name} should hold the n x n scores"
assert memory_slopes["SDPA (default)"] < 1.1, (
    f"the fused kernel's largest tensor should grow like n: {memory_slopes['SDPA (default)']:.2f}")
assert speedup > 1.3, f"not writing the scores to memory should also save time: x{speedup:.2f}"
ratio = largest["naive"][-1] / largest["SDPA (default)"][-1]
assert ratio > 10, f"at n={LENGTHS[-1]} the fused kernel should need far less: x{ratio:.1f}"
if device.type == "cuda":
    peak_slopes = {name: slope(peak[name]) for name in METHODS}
    print("peak-memory slopes:", {name: round(s, 2) for name, s in peak_slopes.items()})
    assert peak_slopes["naive"] > 1.8 and peak_slopes["SDPA (default)"] < 1.2, peak_slopes

print(f"wall time: {time.perf_counter() - start:.1f} s")

# %% [markdown]
# # The Inception module and what its 1x1 convolutions save
#
# This program builds the Inception module of GoogLeNet
# ([Szegedy et al., 2014](https://arxiv.org/abs/1409.4842)) with the channel numbers of the
# paper's "inception (3a)" row, counts its parameters and its multiply-accumulates with
# `torch.utils.flop_counter`, and compares them with the paper's Table 1. It then removes the 1x1
# reductions (the paper's "naive" module) to show what they save, and looks at torchvision's
# version of the same module. Run it with `python examples/inception/inception_module.py`.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

start = time.perf_counter()

SEED = 0  # only the random weights and input depend on it; the counts do not

# The "inception (3a)" row of Table 1 in Szegedy et al. (2014): input 28x28x192.
IN_CHANNELS, SIZE = 192, 28
CONFIG_3A = {"ch1x1": 64, "ch3x3red": 96, "ch3x3": 128, "ch5x5red": 16, "ch5x5": 32,
             "pool_proj": 32}
PAPER_PARAMS, PAPER_OPS = 159e3, 128e6  # the table's "params" (159K) and "ops" (128M) columns

# Okabe-Ito colours, readable on white and dark backgrounds.
COLORS = {"1x1 reduction": "#56b4e9", "main convolution": "#e69f00"}


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
    # Small models: splitting each operation across threads gains little, and on a machine
    # shared with other jobs it can be several times slower.
    torch.set_num_threads(1)

# %% [markdown]
# ## The module
#
# Four branches see the same input and their outputs are concatenated along the channels:
#
# 1. a 1x1 convolution;
# 2. a 1x1 convolution that *reduces* the channels (192 to 96), then a 3x3 convolution;
# 3. a 1x1 reduction (192 to 16), then a 5x5 convolution;
# 4. a 3x3 max pool with stride 1, then a 1x1 *projection* (192 to 32).
#
# Every convolution has a bias and a ReLU, as in the paper (which predates batch norm). Padding
# keeps the 28x28 grid in every branch, so the outputs can be stacked: 64 + 128 + 32 + 32 = 256
# channels. Passing `reduce=False` builds the naive module of the paper's Figure 2(a): the 3x3
# and 5x5 convolutions see all 192 input channels, and the pooled input is passed on unprojected.

# %%
def conv_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2), nn.ReLU()
    )


class InceptionModule(nn.Module):
    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, reduce: bool = True):
        super().__init__()
        self.branch1 = conv_relu(in_channels, ch1x1, 1)
        if reduce:
            self.branch2 = nn.Sequential(conv_relu(in_channels, ch3x3red, 1),
                                         conv_relu(ch3x3red, ch3x3, 3))
            self.branch3 = nn.Sequential(conv_relu(in_channels, ch5x5red, 1),
                                         conv_relu(ch5x5red, ch5x5, 5))
            self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                         conv_relu(in_channels, pool_proj, 1))
        else:
            self.branch2 = conv_relu(in_channels, ch3x3, 3)
            self.branch3 = conv_relu(in_channels, ch5x5, 5)
            self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], dim=1)


torch.manual_seed(SEED)
module = InceptionModule(IN_CHANNELS, **CONFIG_3A).to(device)
naive = InceptionModule(IN_CHANNELS, **CONFIG_3A, reduce=False).to(device)
x = torch.randn(1, IN_CHANNELS, SIZE, SIZE, device=device)
with torch.inference_mode():
    print("inception (3a):", tuple(x.shape), "->", tuple(module(x).shape))
    print("naive module:  ", tuple(x.shape), "->", tuple(naive(x).shape))

# %% [markdown]
# ## Counting
#
# A $k \times k$ convolution from $C_\text{in}$ to $C_\text{out}$ channels has
# $k^2 C_\text{in} C_\text{out}$ weights (plus $C_\text{out}$ biases), and on an $H \times W$
# output it performs $k^2 C_\text{in} C_\text{out} H W$ multiply-accumulates (MACs). Rather than
# trusting that arithmetic, `FlopCounterMode` records every convolution that actually runs and
# attributes it to the submodule it ran in. It reports FLOPs, counting a multiply-accumulate as
# two operations (the next cell checks that on one convolution), and it does not count the
# pooling, the ReLUs or the bias additions, which are cheap by comparison.

# %%
probe = nn.Conv2d(IN_CHANNELS, 64, 1).to(device)
with FlopCounterMode(display=False) as counter, torch.inference_mode():
    probe(x)
formula_macs = 1 * 1 * IN_CHANNELS * 64 * SIZE * SIZE
flops_per_mac = counter.get_total_flops() / formula_macs
print(f"1x1 convolution 192 -> 64 on 28x28: {formula_macs:,} MACs by the formula, "
      f"{counter.get_total_flops():,} FLOPs counted: {flops_per_mac:g} per MAC")


def count(model: InceptionModule) -> dict[str, dict[str, float]]:
    """Parameters and MACs of each branch, split into the 1x1 reduction and the main part."""
    with FlopCounterMode(display=False, depth=3) as counter, torch.inference_mode():
        model(x)
    flops = counter.get_flop_counts()
    result = {}
    for name in ("branch1", "branch2", "branch3", "branch4"):
        branch = getattr(model, name)
        total_macs = sum(flops.get(f"InceptionModule.{name}", {}).values()) / flops_per_mac
        total_params = sum(p.numel() for p in branch.parameters())
        # In branches 2 and 3 of the reduced module, the first convolution is the 1x1 reduction.
        has_reduction = name in ("branch2", "branch3") and isinstance(branch[0], nn.Sequential)
        reduce_macs = (sum(flops.get(f"InceptionModule.{name}.0", {}).values()) / flops_per_mac
                       if has_reduction else 0.0)
        reduce_params = sum(p.numel() for p in branch[0].parameters()) if has_reduction else 0
        result[name] = {"params": total_params, "macs": total_macs,
                        "reduce_params": reduce_params, "reduce_macs": reduce_macs}
    return result


LABELS = {"branch1": "1x1", "branch2": "3x3", "branch3": "5x5", "branch4": "pool"}
costs = {"with 1x1 reductions": count(module), "naive (no reductions)": count(naive)}
totals = {version: {key: sum(b[key] for b in branches.values()) for key in ("params", "macs")}
          for version, branches in costs.items()}

for version, branches in costs.items():
    print(f"\n{version}")
    print(f"{'branch':<7} {'parameters':>11} {'MACs':>13} {'of which 1x1 reduction':>23}")
    for name, c in branches.items():
        print(f"{LABELS[name]:<7} {c['params']:>11,} {c['macs']:>13,.0f} "
              f"{c['reduce_macs']:>23,.0f}")
    print(f"{'total':<7} {totals[version]['params']:>11,} {totals[version]['macs']:>13,.0f}")

# %% [markdown]
# ## Against the paper's Table 1

# %%
ours = totals["with 1x1 reductions"]
weights_only = sum(p.numel() for n, p in module.named_parameters() if n.endswith("weight"))
print(f"MACs:       counted {ours['macs'] / 1e6:7.2f}M   paper 'ops'    {PAPER_OPS / 1e6:.0f}M   "
      f"ratio {ours['macs'] / PAPER_OPS:.4f}")
print(f"parameters: counted {ours['params'] / 1e3:7.2f}K   paper 'params' "
      f"{PAPER_PARAMS / 1e3:.0f}K   ratio {ours['params'] / PAPER_PARAMS:.4f}")
print(f"            (weights without biases: {weights_only:,}; divided by 1024: "
      f"{weights_only / 1024:.1f})")
naive_ratio = totals["naive (no reductions)"]["macs"] / ours["macs"]
print(f"naive module: {totals['naive (no reductions)']['macs'] / 1e6:.1f}M MACs, "
      f"{naive_ratio:.2f}x the reduced module")

# %% [markdown]
# The paper's "ops" column is the multiply-accumulate count of the convolutions, and it matches
# ours to the rounding of the table. The "params" column is a few percent below a direct
# count in thousands, and a thousand of 1,024 accounts for all of it: counted in units of
# 1,024 (printed above, without and with the biases), the module's parameters come to the
# table's 159K. The check below holds the count to that.
#
# Without the reductions the module costs well over twice as much, and its output is wider: the
# pooling branch passes all 192 input channels on, so the next module would receive 416 channels
# instead of 256 and be more expensive still. Stacking such modules makes the width, and the
# cost, grow from one module to the next; the 1x1 reductions and projections are what keep
# GoogLeNet's width (and so its computation) under control while it grows deeper.

# %%
fig, ax = plt.subplots(figsize=(8, 4.2))
positions = np.arange(len(LABELS))
for offset, (version, hatch) in zip((-0.2, 0.2), (("naive (no reductions)", "//"),
                                                  ("with 1x1 reductions", ""))):
    branches = costs[version]
    reduce_part = np.array([b["reduce_macs"] for b in branches.values()]) / 1e6
    main_part = np.array([b["macs"] for b in branches.values()]) / 1e6 - reduce_part
    ax.bar(positions + offset, reduce_part, 0.38, color=COLORS["1x1 reduction"], hatch=hatch,
           edgecolor="0.3")
    ax.bar(positions + offset, main_part, 0.38, bottom=reduce_part,
           color=COLORS["main convolution"], hatch=hatch, edgecolor="0.3")
    for position, total in zip(positions + offset, reduce_part + main_part):
        ax.annotate(f"{total:.0f}M", (position, total), ha="center", va="bottom", fontsize=9)
handles = [plt.Rectangle((0, 0), 1, 1, color=c, label=label) for label, c in COLORS.items()]
handles += [plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="0.3", hatch="//",
                          label="naive module (left bar)"),
            plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="0.3",
                          label="with reductions (right bar)")]
ax.legend(handles=handles, fontsize=9)
ax.set_xticks(positions, [f"{label} branch" for label in LABELS.values()])
ax.set_ylabel("multiply-accumulates (millions)")
ax.set_title("inception (3a) on 28x28x192: where the multiply-accumulates go")
fig.tight_layout()
plt.show()

# %% [markdown]
# Most of the naive module's cost is in the 3x3 and 5x5 convolutions over all 192 channels. The
# reductions themselves are cheap (the blue parts), and they make the 5x5 branch almost ten times
# cheaper. The pooling branch costs nothing in the naive module only because its
# output is not projected, which is the width problem above.
#
# ## torchvision's version of the same module
#
# `torchvision.models.googlenet` builds inception (3a) with the same channel numbers, but each
# convolution is followed by batch norm instead of having a bias, and the "5x5" branch uses a 3x3
# kernel: its source calls this a known bug, kept so that the published weights still load
# ([pytorch/vision#906](https://github.com/pytorch/vision/issues/906)).

# %%
googlenet = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
tv_module = googlenet.inception3a.to(device).eval()
kernel = tv_module.branch3[1].conv.kernel_size
with FlopCounterMode(display=False) as counter, torch.inference_mode():
    tv_module(x)
tv_macs = counter.get_total_flops() / flops_per_mac
print(f"torchvision inception3a: '5x5' branch kernel {kernel}, {tv_macs / 1e6:.2f}M MACs "
      f"(ours {ours['macs'] / 1e6:.2f}M)")

# %%
# Every claim made above, checked.
assert flops_per_mac == 2, f"FlopCounterMode should count 2 FLOPs per MAC, got {flops_per_mac}"
assert abs(ours["macs"] / PAPER_OPS - 1) < 0.005, (
    f"MACs should match the paper's 128M to the table's rounding: {ours['macs']:,.0f}")
assert int(ours["params"] / 1024) == int(weights_only / 1024) == PAPER_PARAMS / 1e3, (
    f"parameters should be the paper's 159K in units of 1,024: {ours['params']:,}")
assert naive_ratio > 2, f"the naive module should cost over twice as much: {naive_ratio:.2f}x"
b3 = costs["with 1x1 reductions"]["branch3"]["macs"]
b3_naive = costs["naive (no reductions)"]["branch3"]["macs"]
assert b3_naive > 9 * b3, (
    f"the 5x5 branch should be about 10x cheaper: {b3_naive:,.0f} vs {b3:,.0f}")
with torch.inference_mode():
    out_channels = (module(x).shape[1], naive(x).shape[1])
assert out_channels == (256, 416), f"output channels should be 256 and 416: {out_channels}"
assert kernel == (3, 3), f"torchvision's '5x5' branch kernel is now {kernel}: update the text"
assert tv_macs < ours["macs"], "torchvision's 3x3 '5x5' branch should make its module cheaper"

print(f"wall time: {time.perf_counter() - start:.1f} s")

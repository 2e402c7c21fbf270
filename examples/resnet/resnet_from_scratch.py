# %% [markdown]
# # ResNet-18 and ResNet-50 from scratch
#
# This program writes the two residual blocks of
# [He et al. (2015)](https://arxiv.org/abs/1512.03385), the basic block and the bottleneck block,
# with plain `torch.nn` layers, and builds ResNet-18 and ResNet-50 from them. It then checks the
# result against torchvision: the same number of parameters, torchvision's `state_dict` loads with
# `strict=True` (every name and shape matches), and both models compute the same output for the
# same input. Finally it counts where the
# parameters and the multiply-accumulates sit, stage by stage. Run it with
# `python examples/resnet/resnet_from_scratch.py`.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import ResNet18_Weights, ResNet50_Weights

start = time.perf_counter()

SEED = 0  # random weights, random batch-norm statistics and the test input follow from it


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
# The output comparison below runs in float64, which Apple's MPS backend lacks: use the CPU there.
if device.type == "mps":
    device = torch.device("cpu")
print(f"device: {device}")
if device.type == "cpu":
    # One thread, as in the other examples: the run stays predictable on a machine shared
    # with other jobs, where more threads can make it several times slower.
    torch.set_num_threads(1)

# %% [markdown]
# ## The two blocks
#
# A residual block computes $y = \mathrm{ReLU}(F(x) + s(x))$. $F$ is a short stack of
# convolutions with batch normalisation; the shortcut $s$ is the identity when the shape does not
# change, and a strided 1x1 convolution with batch norm (a *projection*) when the block halves the
# resolution or changes the channel count.
#
# - **Basic block** (ResNet-18 and -34): two 3x3 convolutions.
# - **Bottleneck block** (ResNet-50 and deeper): a 1x1 convolution that reduces the channels by 4,
#   a 3x3 convolution on the reduced channels, and a 1x1 convolution that expands them back. The
#   expensive 3x3 convolution works on a quarter of the channels.
#
# The attribute names (`conv1`, `bn1`, ..., `downsample`) follow torchvision's, because a
# `state_dict` is keyed by them. One detail follows torchvision rather than the paper: the
# bottleneck block downsamples in its 3x3 convolution, where the paper put the stride on the first
# 1x1 convolution (torchvision's source calls this variant "ResNet V1.5").

# %%
class BasicBlock(nn.Module):
    expansion = 1  # output channels = channels * expansion

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = projection(in_channels, channels * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + shortcut)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)  # reduce
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)  # expand
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample = projection(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + shortcut)


def projection(in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    """Identity shortcut (None) when shapes match, else a strided 1x1 convolution + batch norm."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
    )

# %% [markdown]
# ## The network
#
# Every ImageNet ResNet has the same skeleton: a 7x7 stride-2 convolution and a 3x3 stride-2 max
# pool (the *stem*, which cuts the resolution by 4), four stages of blocks with 64, 128, 256 and 512
# base channels (each stage after the first halves the resolution in its first block), global
# average pooling, and one fully connected layer. Only the block type and the number of blocks per
# stage change: `[2, 2, 2, 2]` basic blocks for ResNet-18, `[3, 4, 6, 3]` bottlenecks for
# ResNet-50.
#
# The initialisation is torchvision's: He (Kaiming) normal for convolutions, batch norm scale 1 and
# shift 0, and with `zero_init_residual=True` the last batch norm of each block starts at scale 0,
# so that every block starts as the identity.

# %%
class ResNet(nn.Module):
    def __init__(self, block: type[nn.Module], blocks_per_stage: list[int],
                 num_classes: int = 1000, zero_init_residual: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        in_channels = 64
        for index, (channels, count) in enumerate(zip((64, 128, 256, 512), blocks_per_stage)):
            stride = 1 if index == 0 else 2
            layers = []
            for i in range(count):
                layers.append(block(in_channels, channels, stride if i == 0 else 1))
                in_channels = channels * block.expansion
            setattr(self, f"layer{index + 1}", nn.Sequential(*layers))  # layer1 ... layer4
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, Bottleneck):
                    nn.init.zeros_(module.bn3.weight)
                elif isinstance(module, BasicBlock):
                    nn.init.zeros_(module.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(**kwargs) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], **kwargs)


def resnet50(**kwargs) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], **kwargs)

# %% [markdown]
# ## The same parameters as torchvision
#
# The count is compared with torchvision's model and with the `num_params` recorded in its weights
# enum (available offline: the metadata ships with torchvision, only the weights file would be
# downloaded). Then torchvision's `state_dict` is loaded with `strict=True`, which fails on any
# missing, unexpected or differently shaped entry.

# %%
def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


torch.manual_seed(SEED)
pairs = {
    "ResNet-18": (resnet18(), torchvision.models.resnet18(weights=None),
                  ResNet18_Weights.IMAGENET1K_V1),
    "ResNet-50": (resnet50(), torchvision.models.resnet50(weights=None),
                  ResNet50_Weights.IMAGENET1K_V2),
}
counts = {}
print(f"{'model':<10} {'ours':>12} {'torchvision':>12} {'weights.meta':>13}  strict load")
for name, (ours, theirs, weights) in pairs.items():
    result = ours.load_state_dict(theirs.state_dict(), strict=True)
    counts[name] = (count(ours), count(theirs), weights.meta["num_params"])
    loaded = not result.missing_keys and not result.unexpected_keys
    print(f"{name:<10} {counts[name][0]:>12,} {counts[name][1]:>12,} {counts[name][2]:>13,}  "
          f"{'ok' if loaded else result}")

# %% [markdown]
# ## The same outputs
#
# Freshly initialised batch-norm layers have running mean 0 and variance 1, and scale 1 and shift 0:
# in evaluation mode they do almost nothing, which would make the comparison weak. So the
# statistics and affine parameters of every batch norm in torchvision's model are first set to
# random values, then copied into ours. Both models run in evaluation mode in float64 on a
# 1x3x64x64 input (the architecture accepts any size of about 32x32 and up; a small one keeps this
# fast). The two models run the same operations in the same order, so they should agree to
# rounding error at most (on the CPU they agree exactly); the check allows $10^{-12}$ relative to
# the size of the outputs, far below any real difference (a missing ReLU or a misplaced stride
# changes the outputs in the first digit).

# %%
def randomize_batch_norm(model: nn.Module, generator: torch.Generator) -> None:
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
            module.weight.data.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)


generator = torch.Generator().manual_seed(SEED)
image = torch.randn(1, 3, 64, 64, generator=generator, dtype=torch.float64).to(device)
differences = {}
print(f"{'model':<10} {'max |output|':>13} {'max |ours - torchvision|':>25}")
for name, (ours, theirs, _) in pairs.items():
    randomize_batch_norm(theirs, generator)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours, theirs = ours.double().to(device).eval(), theirs.double().to(device).eval()
    with torch.inference_mode():
        out_ours, out_theirs = ours(image), theirs(image)
    scale = out_theirs.abs().max().item()
    differences[name] = ((out_ours - out_theirs).abs().max().item(), scale)
    print(f"{name:<10} {scale:13.4f} {differences[name][0]:25.3g}")

# %% [markdown]
# A check that the comparison can fail: a copy of our ResNet-18 whose first block skips its
# shortcut gives clearly different outputs.

# %%
class NoShortcut(nn.Module):
    """Wraps a BasicBlock and drops its shortcut: ReLU(F(x)) instead of ReLU(F(x) + x)."""

    def __init__(self, block: BasicBlock):
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.block
        return torch.relu(b.bn2(b.conv2(torch.relu(b.bn1(b.conv1(x))))))


broken = resnet18().double().to(device).eval()
broken.load_state_dict(pairs["ResNet-18"][1].state_dict(), strict=True)
broken.layer1[0] = NoShortcut(broken.layer1[0])
with torch.inference_mode():
    broken_difference = (broken(image) - pairs["ResNet-18"][1](image)).abs().max().item()
print(f"without the first shortcut: max |difference| = {broken_difference:.3g}")

# %% [markdown]
# ## zero_init_residual: every block starts as the identity
#
# With the last batch norm's scale at zero, $F(x) = 0$ at initialisation and a block outputs
# $\mathrm{ReLU}(0 + x) = x$ for the non-negative $x$ it receives (the previous block ended with a
# ReLU). Blocks with a projection shortcut are the exception: they output the projection. In
# training mode:

# %%
torch.manual_seed(SEED)
zero_init = resnet50(zero_init_residual=True).to(device).train()
x = torch.relu(torch.randn(2, 256, 16, 16, generator=generator)).to(device)
block = zero_init.layer1[1]  # a block with an identity shortcut: 256 -> 256 channels
with torch.no_grad():
    identity_error = (block(x) - x).abs().max().item()
print(f"layer1[1] with zero_init_residual=True: max |block(x) - x| = {identity_error:.3g}")

# %% [markdown]
# ## Where the parameters and the computation are
#
# `torch.utils.flop_counter.FlopCounterMode` counts floating-point operations of the matrix
# multiplications and convolutions, two per multiply-accumulate (MAC). For a 224x224 image, the
# count divided by 2 is compared with the `_ops` entry of torchvision's weights metadata, which is
# labelled GFLOPS in torchvision's tables but counts multiply-accumulates. ResNet-50's 4.1 is
# that count for torchvision's model, "ResNet v1.5", which strides in the 3x3 convolution of a
# downsampling bottleneck instead of its first 1x1; the ResNet paper's Table 1 gives 3.8 billion
# for the original layout.

# %%
STAGES = ("conv1", "layer1", "layer2", "layer3", "layer4", "fc")


def stage_costs(model: nn.Module) -> tuple[dict, dict]:
    """Parameters and forward MACs at 224x224 per stage (stem = conv1 + bn1)."""
    params = {s: 0 for s in STAGES}
    for name, p in model.named_parameters():
        stage = name.split(".")[0]
        params["conv1" if stage == "bn1" else stage] += p.numel()
    model = model.float().cpu().eval()  # counting is shape arithmetic: the CPU is fine
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, 3, 224, 224))
    flops = counter.get_flop_counts()
    macs = {s: sum(flops.get(f"ResNet.{s}", {}).values()) // 2 for s in STAGES}
    return params, macs


costs = {name: stage_costs(ours) for name, (ours, _, _) in pairs.items()}
total_macs = {name: sum(macs.values()) for name, (_, macs) in costs.items()}
print(f"{'model':<10} {'stage':<7} {'parameters':>12} {'GMACs at 224':>13}")
for name, (params, macs) in costs.items():
    for stage in STAGES:
        print(f"{name:<10} {stage:<7} {params[stage]:>12,} {macs[stage] / 1e9:13.3f}")
for name, (_, _, weights) in pairs.items():
    print(f"{name}: {total_macs[name] / 1e9:.3f} GMACs counted, weights.meta['_ops'] = "
          f"{weights.meta['_ops']}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
x_positions = np.arange(len(STAGES))
colors = {"ResNet-18": "#56b4e9", "ResNet-50": "#e69f00"}
for offset, (name, (params, macs)) in zip((-0.2, 0.2), costs.items()):
    axes[0].bar(x_positions + offset, [params[s] / 1e6 for s in STAGES], 0.4,
                color=colors[name], label=name)
    axes[1].bar(x_positions + offset, [macs[s] / 1e9 for s in STAGES], 0.4,
                color=colors[name], label=name)
for ax, label in zip(axes, ("parameters (millions)", "multiply-accumulates at 224x224 (billions)")):
    ax.set_xticks(x_positions, ["stem", "layer1", "layer2", "layer3", "layer4", "fc"])
    ax.set_xlabel("stage")
    ax.set_ylabel(label)
    ax.legend()
axes[0].set_title("Parameters sit in the last stages")
axes[1].set_title("Computation is spread over the stages")
fig.tight_layout()
plt.show()

# %% [markdown]
# Each stage halves the resolution and doubles the channels, so a 3x3 convolution costs about the
# same number of multiply-accumulates in every stage while its weights grow fourfold. In both models
# `layer4` holds more than half of the parameters but does less than a quarter of the computation.
# ResNet-50 has about twice ResNet-18's parameters and more than twice its computation, although
# its bottleneck blocks keep each 3x3 convolution on a quarter of the channels.

# %%
# Every claim made above, checked.
for name, (ours_count, theirs_count, meta_count) in counts.items():
    assert ours_count == theirs_count == meta_count, (
        f"{name}: parameter counts differ: ours {ours_count}, torchvision {theirs_count}, "
        f"meta {meta_count}")
for name, (difference, scale) in differences.items():
    assert scale > 0.1, f"{name}: outputs too small for a meaningful comparison ({scale:.3g})"
    assert difference < 1e-12 * scale, (
        f"{name}: outputs differ from torchvision's by {difference:.3g} (scale {scale:.3g})")
assert broken_difference > 1e-3 * differences["ResNet-18"][1], (
    f"dropping a shortcut should change the output, max |difference| = {broken_difference:.3g}")
assert identity_error == 0.0, f"zero-initialised block should be the identity: {identity_error:.3g}"
for name, (_, _, weights) in pairs.items():
    ratio = total_macs[name] / 1e9 / weights.meta["_ops"]
    assert abs(ratio - 1) < 0.01, (
        f"{name}: counted {total_macs[name] / 1e9:.3f} GMACs vs meta _ops {weights.meta['_ops']}")
for name, (params, macs) in costs.items():
    param_share = params["layer4"] / sum(params.values())
    mac_share = macs["layer4"] / total_macs[name]
    assert param_share > 0.5, f"{name}: layer4 holds only {param_share:.0%} of the parameters"
    assert mac_share < 0.25, f"{name}: layer4 does {mac_share:.0%} of the MACs"
assert 2 < count(pairs["ResNet-50"][0]) / count(pairs["ResNet-18"][0]) < 2.5, (
    f"ResNet-50 should have about twice ResNet-18's parameters: {counts}")
assert total_macs["ResNet-50"] > 2 * total_macs["ResNet-18"], (
    f"ResNet-50 should cost over twice ResNet-18's MACs: {total_macs}")

print(f"wall time: {time.perf_counter() - start:.1f} s")

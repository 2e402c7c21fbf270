# %% [markdown]
# # The preprocessing the weights expect
#
# Pretrained weights come with the preprocessing they were trained with, and in torchvision
# the weights enum carries it: `ResNet18_Weights.DEFAULT.transforms()`. This program applies it
# to a real photograph that ships with matplotlib (Grace Hopper, `grace_hopper.jpg`) and
# compares it with the pipeline of the original answer, which normalises every channel with
# mean 0.5 and standard deviation 0.5. The geometry is the same in both; only the last step
# differs, and the program measures what that does to the numbers the network receives. Nothing
# is downloaded: the transforms and the metadata ship with torchvision, only the weights file
# does not. Run it with `python examples/transfer_learning/imagenet_preprocessing.py`.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import cbook
from PIL import Image
from torchvision.models import ResNet18_Weights
from torchvision.transforms import v2

start = time.perf_counter()


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


device = pick_device()  # the statistics below are computed wherever the model would run
print(f"device: {device}")
if device.type == "cpu":
    torch.set_num_threads(1)

# %% [markdown]
# ## What the weights enum knows
#
# The enum member is a small record: the URL of the weights, their metadata (ImageNet accuracy,
# the 1,000 category names, the number of parameters, a link to the training recipe) and the
# inference transform. None of it needs a download.

# %%
weights = ResNet18_Weights.DEFAULT
preprocess = weights.transforms()
print(f"{weights} -> {weights.url.rsplit('/', 1)[-1]} ({weights.meta['_file_size']:.1f} MB)")
print(f"ImageNet-1K: {weights.meta['_metrics']['ImageNet-1K']}, {len(weights.meta['categories'])} "
      f"categories, {weights.meta['num_params']:,} parameters")
print(f"recipe: {weights.meta['recipe']}")
print(preprocess)

# %% [markdown]
# ## Two pipelines, the same geometry
#
# The photograph is a 512x600 JPEG. `preprocess` resizes its shorter side to 256 (bilinear,
# antialiased), crops the central 224x224, scales the pixels to $[0, 1]$ and normalises each
# channel $c$ with the ImageNet mean $m_c$ and standard deviation $s_c$:
# $x' = (x - m_c) / s_c$. The original answer's pipeline, with the same resize and crop,
# computes $x'' = (x - 0.5) / 0.5 = 2x - 1$. Written `v2` pipelines make both explicit; the
# first must give exactly what `preprocess` gives.

# %%
with cbook.get_sample_data("grace_hopper.jpg") as file:
    photo = Image.open(file).convert("RGB")
print(f"photo: {photo.size[0]}x{photo.size[1]} {photo.mode}")

geometry = [v2.Resize(256, antialias=True), v2.CenterCrop(224), v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True)]
as_weights_expect = v2.Compose([*geometry, v2.Normalize(preprocess.mean, preprocess.std)])
as_in_original = v2.Compose([*geometry, v2.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])])
unnormalised = v2.Compose(geometry)

reference = preprocess(photo).to(device)
x_weights = as_weights_expect(photo).to(device)
x_original = as_in_original(photo).to(device)
x01 = unnormalised(photo).to(device)
print(f"preprocess(photo): {tuple(reference.shape)} {reference.dtype}; largest difference from "
      f"the explicit v2 pipeline: {(reference - x_weights).abs().max().item():.1g}")

# %% [markdown]
# ## What the network receives
#
# Per-channel mean and standard deviation of the 224x224 input, under each pipeline:

# %%
mean_std = torch.tensor(preprocess.mean, device=device), torch.tensor(preprocess.std, device=device)
stats = {}
for name, x in (("pixels in [0, 1]", x01), ("weights.transforms()", x_weights),
                ("Normalize(0.5, 0.5)", x_original)):
    stats[name] = (x.mean(dim=(1, 2)), x.std(dim=(1, 2)))
    means = " ".join(f"{v:+.3f}" for v in stats[name][0].tolist())
    stds = " ".join(f"{v:.3f}" for v in stats[name][1].tolist())
    print(f"{name:<22} mean (R G B) {means}   std {stds}")

# The two normalised inputs are affine functions of each other: x'' = 2 s x' + (2 m - 1).
m, s = mean_std
scale, shift = 2 * s, 2 * m - 1
mapped = scale[:, None, None] * x_weights + shift[:, None, None]
largest = (mapped - x_original).abs().max().item()
print(f"x'' - (2 s x' + 2 m - 1): largest difference {largest:.1g}")
print("per channel, the original's input is the expected one times "
      + " ".join(f"{v:.3f}" for v in scale.tolist()) + ", plus "
      + " ".join(f"{v:+.3f}" for v in shift.tolist()))

# %% [markdown]
# Over ImageNet, inputs normalised as the weights expect have mean about 0 and standard
# deviation about 1 in every channel: that is what $m$ and $s$ were computed for. With the
# original's `Normalize(0.5, 0.5)` the same images arrive with a standard deviation of
# $2 s_c \approx 0.45$ (less than half the contrast the first layer was trained on) and a
# mean of $2 m_c - 1$, shifted most in the blue channel. On this photograph:

# %%
fig, (ax_img, ax_w, ax_o) = plt.subplots(1, 3, figsize=(11, 3.3), dpi=90,
                                         gridspec_kw={"width_ratios": [0.8, 1, 1]})
ax_img.imshow(x01.permute(1, 2, 0).cpu().numpy())
ax_img.set_title("the 224x224 crop", fontsize=9)
ax_img.axis("off")
CHANNEL_COLORS = ("#d55e00", "#009e73", "#0072b2")  # Okabe-Ito vermillion, green, blue
bins = np.linspace(-2.5, 2.8, 60)
for ax, (name, x) in ((ax_w, ("weights.transforms()", x_weights)),
                      (ax_o, ("Normalize(0.5, 0.5)", x_original))):
    for c, (channel, color) in enumerate(zip("RGB", CHANNEL_COLORS)):
        ax.hist(x[c].flatten().cpu().numpy(), bins=bins, histtype="step", color=color, lw=1.5,
                label=f"{channel}: mean {stats[name][0][c]:+.2f}, std {stats[name][1][c]:.2f}")
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("input value")
    ax.legend(fontsize=7, loc="upper right")
ax_w.set_ylabel("pixels")
fig.suptitle("The same photograph, as the network receives it", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# The histograms have the same shapes, squeezed and shifted: a fixed affine map per channel.
# A network being fine-tuned end to end can partly absorb such a map in its first layer, but
# it starts from weights tuned to the other scale, and a frozen backbone (feature extraction)
# cannot absorb it at all. Use the statistics of the weights you load (`weights.transforms()`,
# or its `mean` and `std` in your own training pipeline); `Normalize(0.5, 0.5)` is right only
# for weights that were trained with it.

# %%
# Every claim made above, checked.
assert torch.allclose(reference, x_weights, atol=1e-5), "the explicit v2 pipeline = transforms()"
assert preprocess.mean == [0.485, 0.456, 0.406] and preprocess.std == [0.229, 0.224, 0.225]
assert torch.allclose(mapped, x_original, atol=1e-5), "x'' = 2 s x' + (2 m - 1)"
mean01, std01 = stats["pixels in [0, 1]"]
assert torch.allclose(stats["weights.transforms()"][0], (mean01 - m) / s, atol=1e-4)
assert torch.allclose(stats["Normalize(0.5, 0.5)"][0], 2 * mean01 - 1, atol=1e-4)
ratio = stats["Normalize(0.5, 0.5)"][1] / stats["weights.transforms()"][1]
assert torch.allclose(ratio, 2 * s, atol=1e-4), f"std ratio per channel should be 2 s: {ratio}"
assert torch.all(ratio < 0.46), f"less than half the expected spread: {ratio}"
assert shift.argmin().item() == 2 and shift.min().item() < -0.18, f"blue shifted most: {shift}"

print(f"wall time: {time.perf_counter() - start:.1f} s")

# %% [markdown]
# # Siamese tracking: the exemplar as a convolution kernel
#
# [SiamFC (Bertinetto et al., 2016)](https://arxiv.org/abs/1606.09549) turned single-object
# tracking into matching. One network $\varphi$ embeds a small *exemplar* image of the target
# (cut from the first frame) and a larger *search* region of the current frame; the embedded
# exemplar is then slid over the embedded search region as a convolution kernel, and the
# response map
#
# $$ f(z, x) = \varphi(z) \star \varphi(x) + b $$
#
# peaks where the target is. Nothing is learned online: $\varphi$ is trained offline, on pairs
# of frames, to make that peak sharp and in the right place. SiamRPN, SiamRPN++ and, in a way, the
# transformer trackers after them build on this operation.
#
# This program implements the operation for a batch with one call to `F.conv2d` (`groups` =
# batch size), trains a small $\varphi$ on generated pairs in seconds, and compares it with
# correlating raw pixels, on held-out pairs with and without distractors (similar objects near
# the target) and lighting changes. Run it with
# `python examples/object_tracking/siamese_correlation.py`.

# %%
import os
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.cbook import get_sample_data
from torch import nn
from torch.nn import functional as F
from torchvision.ops import roi_align

start = time.perf_counter()

SEED = 0  # the training pairs, the weights and the test pairs all follow from it
EXEMPLAR, SEARCH = 16, 48  # crop sizes in pixels; the target is about 12 pixels wide
MAX_SHIFT = 12  # the target moves up to this many pixels from the search region's centre
N_DISTRACTORS = 3
STEPS, BATCH_SIZE = 300, 32
N_TEST = 300  # held-out pairs per condition
HIT_PX = 3  # a localisation is correct if the peak is within this many pixels of the centre

COLORS = {"raw pixels": "#56b4e9", "learned embedding": "#d55e00", "truth": "#f0e442"}


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
    # Small convolutions on 48x48 crops: threads gain little, and on a machine shared with
    # other jobs they can make it several times slower.
    torch.set_num_threads(1)

# %% [markdown]
# ## The cross-correlation, batched
#
# `F.conv2d(input, weight)` slides each output channel's kernel over the input. To correlate
# sample *i*'s exemplar with sample *i*'s search region only, for a whole batch at once, stack
# the batch into the channels of one input image and use `groups` = batch size: group *i* sees
# only the channels of search region *i*, and its kernel is exemplar *i*.

# %%
def cross_correlation(exemplars: torch.Tensor, searches: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) kernels over (B, C, H, W) inputs -> (B, 1, H - h + 1, W - w + 1)."""
    b, c, h, w = searches.shape
    response = F.conv2d(searches.reshape(1, b * c, h, w), exemplars, groups=b)
    return response.reshape(b, 1, *response.shape[-2:])


# It is the same as a loop over the batch, one conv2d per sample:
z, x = torch.randn(5, 8, 4, 4), torch.randn(5, 8, 20, 20)
looped = torch.cat([F.conv2d(x[i : i + 1], z[i : i + 1]) for i in range(5)])
print("response:", tuple(cross_correlation(z, x).shape), "| equals the loop:",
      torch.allclose(cross_correlation(z, x), looped, atol=1e-5))

# %% [markdown]
# ## Generated pairs with known positions
#
# An exemplar is a 16 x 16 crop centred on the target (a textured square of about 12 pixels); the
# search region is a 48 x 48 crop of a later frame, centred where the target *was*, in which it
# has moved by up to 12 pixels and changed its size by up to 10%. Backgrounds are cut from
# matplotlib's photograph of Grace Hopper; every crop has pixel noise. Two nuisances can be
# switched on in the search region:
#
# - **distractors**: three more objects with the target's own colours in other arrangements;
# - **lighting change**: a different colour cast (each channel's gain between 0.6 and 1.4), an
#   offset, and a brightness gradient across the region (from 0.4 to 1.6 times), none of which
#   the exemplar has.
#
# Training pairs have each nuisance half of the time; the test pairs come in four conditions.

# %%
photo = torch.from_numpy(plt.imread(get_sample_data("grace_hopper.jpg", asfileobj=False)).copy())
photo = photo.permute(2, 0, 1).float().div(255).unsqueeze(0)  # (1, 3, 600, 512)
photo = F.interpolate(photo, scale_factor=1 / 3, mode="bilinear", antialias=True)  # 200 x 170


def random_cells(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, 3, 3, 3, generator=gen)  # 3 x 3 cells of random colours


def shuffled(cells: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The same colours in another arrangement."""
    order = torch.argsort(torch.rand(len(cells), 9, generator=gen), dim=1)
    flat = cells.flatten(2)
    return flat.gather(2, order[:, None, :].expand_as(flat)).reshape(cells.shape)


def texture(cells: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    image = F.interpolate(cells, size=(12, 12), mode="nearest")
    return (image + 0.08 * torch.randn(image.shape, generator=gen)).clamp(0, 1)


def paste(images: torch.Tensor, texture: torch.Tensor, centres: torch.Tensor, sizes: torch.Tensor):
    """Paint each texture as a square of the given size (pixels) at the given centre."""
    n, _, height, width = images.shape
    theta = torch.zeros(n, 2, 3)  # maps image coordinates to texture coordinates
    theta[:, 0, 0], theta[:, 0, 2] = width / sizes, (width - 2 * centres[:, 0]) / sizes
    theta[:, 1, 1], theta[:, 1, 2] = height / sizes, (height - 2 * centres[:, 1]) / sizes
    grid = F.affine_grid(theta, [n, 4, height, width], align_corners=False)
    rgba = torch.cat([texture, torch.ones_like(texture[:, :1])], 1)
    painted = F.grid_sample(rgba, grid, padding_mode="zeros", align_corners=False)
    alpha = painted[:, 3:]
    return images * (1 - alpha) + painted[:, :3] * alpha


def background(corners: torch.Tensor, size: int) -> torch.Tensor:
    rois = torch.cat([torch.zeros(len(corners), 1), corners, corners + size], 1)
    return roi_align(photo, rois, size, sampling_ratio=2, aligned=True)


def make_pairs(n: int, gen: torch.Generator, distractors, lighting):
    """Exemplars (n,3,16,16), search regions (n,3,48,48), the target's centre in each search.

    `distractors` and `lighting` are booleans, or None to switch each on for half the pairs."""
    def flags(setting):
        if setting is None:
            return torch.rand(n, generator=gen) < 0.5
        return torch.full((n,), bool(setting))

    with_distractors, with_lighting = flags(distractors), flags(lighting)
    cells = random_cells(n, gen)
    target = texture(cells, gen)
    size = 11 + 2 * torch.rand(n, generator=gen)
    room = torch.tensor([photo.shape[-1] - SEARCH, photo.shape[-2] - SEARCH], dtype=torch.float32)
    corner = torch.rand(n, 2, generator=gen) * room  # the search region in the photo
    cast = 0.8 + 0.4 * torch.rand(n, 3, 1, 1, generator=gen)  # the scene's own colour cast

    # Exemplar: the target in the middle of its crop, on the background it had then.
    middle = torch.full((n, 2), EXEMPLAR / 2)
    offset = (SEARCH - EXEMPLAR) / 2
    exemplar = paste(background(corner + offset, EXEMPLAR) * cast, target, middle, size)

    # Search region: the target has moved and changed size; the background is the same place.
    centre = SEARCH / 2 + (2 * torch.rand(n, 2, generator=gen) - 1) * MAX_SHIFT
    search = background(corner, SEARCH) * cast
    for k in range(N_DISTRACTORS):
        where = 6 + (SEARCH - 12) * torch.rand(n, 2, generator=gen)
        painted = paste(search, texture(shuffled(cells, gen), gen), where, size)
        search = torch.where(with_distractors[:, None, None, None], painted, search)
    search = paste(search, target, centre, size * (0.9 + 0.2 * torch.rand(n, generator=gen)))
    gain = 0.6 + 0.8 * torch.rand(n, 3, 1, 1, generator=gen)
    # A shadow: one side of a random line through the region gets 35% of the light.
    ramp = torch.arange(SEARCH) - SEARCH / 2 + 0.5
    angle = 2 * torch.pi * torch.rand(n, 1, 1, generator=gen)
    across = angle.cos() * ramp[None, None, :] + angle.sin() * ramp[None, :, None]
    edge = (torch.rand(n, 1, 1, generator=gen) - 0.5) * 24
    shade = 0.35 + 0.65 * torch.sigmoid((across - edge) / 2)
    lit = search * gain * shade[:, None] + 0.2 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    search = torch.where(with_lighting[:, None, None, None], lit, search)

    def noisy(images):
        return (images + 0.03 * torch.randn(images.shape, generator=gen)).clamp(0, 1)

    return noisy(exemplar), noisy(search), centre


show_gen = torch.Generator().manual_seed(SEED + 2)
examples = {f"{'distractors' if d else 'clean'}{', lighting' if l else ''}":
            make_pairs(1, show_gen, d, l) for d, l in ((False, False), (True, False), (True, True))}
fig, axes = plt.subplots(1, 6, figsize=(11, 2.4), gridspec_kw={"width_ratios": [1, 3] * 3})
for (name, (exemplar, search, centre)), (ax_z, ax_x) in zip(examples.items(),
                                                          axes.reshape(3, 2)):
    ax_z.imshow(exemplar[0].permute(1, 2, 0).numpy())
    ax_z.set_title("exemplar", fontsize=9)
    ax_x.imshow(search[0].permute(1, 2, 0).numpy())
    # imshow puts pixel i's centre at i, our coordinates at i + 0.5: hence - 0.5 when drawing.
    ax_x.plot(*(centre[0] - 0.5).tolist(), "+", color=COLORS["truth"], ms=12, mew=2)
    ax_x.set_title(f"search: {name}", fontsize=9)
for ax in axes:
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The embedding and its training
#
# $\varphi$ is fully convolutional and has no padding, as in SiamFC, so that a shift of the
# input shifts its output exactly (total stride 2): three convolutions and a max pool, turning the
# 16 x 16 exemplar into a 32-channel 2 x 2 kernel and the 48 x 48 search region into an 18 x 18
# map, hence a 17 x 17 response. The response is scaled and shifted by two learned numbers (SiamFC's
# "adjust" layer) and trained with SiamFC's loss: a logistic loss at every position, the
# positions within 2 pixels of the true centre labelled 1 and all others 0, positives and
# negatives weighted equally.

# %%
class Embedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


class SiamFC(nn.Module):
    stride = 2

    def __init__(self):
        super().__init__()
        self.embed = Embedding()
        self.adjust = nn.Conv2d(1, 1, 1)  # response * a + b
        nn.init.constant_(self.adjust.weight, 1e-2)

    def forward(self, exemplars: torch.Tensor, searches: torch.Tensor) -> torch.Tensor:
        return self.adjust(cross_correlation(self.embed(exemplars), self.embed(searches)))


def peak_to_centre(response: torch.Tensor, stride: int) -> torch.Tensor:
    """Position of each response's maximum, as the target centre in search-region pixels."""
    b, _, h, w = response.shape
    index = response.reshape(b, -1).argmax(1)
    rows, cols = index // w, index % w
    # Response (row, col) places the exemplar's top-left corner at stride * (row, col).
    return torch.stack([cols, rows], 1).float() * stride + EXEMPLAR / 2


def grid_centres(h: int, w: int, stride: int) -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([cols, rows], -1).float() * stride + EXEMPLAR / 2  # (h, w, 2)


def siamfc_loss(response: torch.Tensor, centres: torch.Tensor, radius: float = 2.0):
    grid = grid_centres(*response.shape[-2:], SiamFC.stride).to(response.device)
    distance = (grid[None] - centres[:, None, None, :]).norm(dim=-1)
    labels = (distance <= radius).float()
    positives = labels.sum((1, 2), keepdim=True)
    negatives = labels[0].numel() - positives
    weights = labels * 0.5 / positives + (1 - labels) * 0.5 / negatives
    loss = F.binary_cross_entropy_with_logits(response[:, 0], labels, weights, reduction="sum")
    return loss / len(response)


torch.manual_seed(SEED)
model = SiamFC().to(device)
print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
with torch.no_grad():
    shapes = model.embed(torch.zeros(1, 3, EXEMPLAR, EXEMPLAR, device=device)).shape, \
        model.embed(torch.zeros(1, 3, SEARCH, SEARCH, device=device)).shape
print(f"embedded exemplar {tuple(shapes[0][1:])}, embedded search {tuple(shapes[1][1:])}")

train_gen = torch.Generator().manual_seed(SEED)
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, STEPS)
losses = []
train_start = time.perf_counter()
model.train()
for step in range(STEPS):
    exemplars, searches, centres = (t.to(device) for t in make_pairs(
        BATCH_SIZE, train_gen, distractors=None, lighting=None))
    loss = siamfc_loss(model(exemplars, searches), centres)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    schedule.step()
    losses.append(loss.item())
    if sys.stdout.isatty() and (step + 1) % 100 == 0:
        print(f"  step {step + 1}: loss {np.mean(losses[-100:]):.3f}", flush=True)
train_seconds = time.perf_counter() - train_start
print(f"trained {STEPS} steps of {BATCH_SIZE} pairs in {train_seconds:.1f} s; loss "
      f"{np.mean(losses[:20]):.3f} (first 20 steps) -> {np.mean(losses[-20:]):.3f} (last 20)")

# %% [markdown]
# ## Learned embedding against raw pixels
#
# The raw-pixel matcher is the same operation with $\varphi$ the identity: the exemplar's
# pixels, minus their mean per channel, slid over the search region's pixels (at stride 1). Each
# condition has its own held-out pairs; a localisation counts as correct when the response's
# peak is within 3 pixels of the true centre.

# %%
def raw_pixels(exemplars: torch.Tensor, searches: torch.Tensor) -> torch.Tensor:
    kernels = exemplars - exemplars.mean(dim=(2, 3), keepdim=True)
    return cross_correlation(kernels, searches)


@torch.no_grad()
def localise(exemplars, searches):
    model.eval()
    learned = model(exemplars.to(device), searches.to(device)).cpu()
    return {"raw pixels": peak_to_centre(raw_pixels(exemplars, searches), 1),
            "learned embedding": peak_to_centre(learned, SiamFC.stride)}


test_gen = torch.Generator().manual_seed(SEED + 1)
conditions = {"clean": (False, False), "distractors": (True, False),
              "lighting change": (False, True), "distractors + lighting": (True, True)}
results = {}
print(f"{'condition':<24} {'method':<18} {'correct':>8} {'mean error (px)':>16}")
for condition, (d, l) in conditions.items():
    exemplars, searches, centres = make_pairs(N_TEST, test_gen, d, l)
    for method, found in localise(exemplars, searches).items():
        error = (found - centres).norm(dim=1)
        results[condition, method] = {"correct": (error <= HIT_PX).float().mean().item(),
                                      "error": error.mean().item()}
        print(f"{condition:<24} {method:<18} {results[condition, method]['correct']:8.3f} "
              f"{results[condition, method]['error']:16.2f}")

# %% [markdown]
# ## Response maps
#
# One held-out pair with distractors and a lighting change: the raw-pixel response (stride 1) and
# the learned response (stride 2), each cell drawn where the exemplar's centre would be in the
# search region, so that both cover the same area: the positions 8 pixels or more from the
# border, where the whole exemplar fits.

# %%
exemplar, search, centre = make_pairs(1, test_gen, True, True)
with torch.no_grad():
    model.eval()
    learned = model(exemplar.to(device), search.to(device)).cpu()[0, 0]
raw = raw_pixels(exemplar, search)[0, 0]
half = EXEMPLAR / 2
fig, axes = plt.subplots(1, 4, figsize=(11, 2.9), gridspec_kw={"width_ratios": [1, 3, 3, 3]})
axes[0].imshow(exemplar[0].permute(1, 2, 0).numpy())
axes[0].set_title("exemplar")
axes[1].imshow(search[0].permute(1, 2, 0).numpy())
axes[1].set_title("search region")
for ax, response, stride, name in ((axes[2], raw, 1, "raw pixels"),
                                   (axes[3], learned, SiamFC.stride, "learned embedding")):
    h, w = response.shape
    # Each response cell is drawn where the exemplar's centre would be, in search-region pixels.
    first, last = half - 0.5, half - 0.5 + stride * (w - 1)  # first and last cell, drawn
    ax.imshow(response.numpy(), cmap="viridis",
              extent=(first - stride / 2, last + stride / 2, last + stride / 2, first - stride / 2))
    found = peak_to_centre(response[None, None], stride)[0] - 0.5
    ax.plot(*found.tolist(), "x", color="white", ms=10, mew=2)
    ax.set_xlim(half - 1.5, SEARCH - half + 0.5)
    ax.set_ylim(SEARCH - half + 0.5, half - 1.5)
    ax.set_title(f"response: {name}")
for ax in axes[1:]:
    ax.plot(*(centre[0] - 0.5).tolist(), "+", color=COLORS["truth"], ms=14, mew=2)
for ax in axes:
    ax.axis("off")
fig.suptitle("yellow +: true centre; white x: the response's peak", fontsize=10)
fig.tight_layout()
plt.show()

fig, ax = plt.subplots(figsize=(7, 3.2))
positions = np.arange(len(conditions))
for k, method in enumerate(("raw pixels", "learned embedding")):
    values = [results[c, method]["correct"] for c in conditions]
    ax.bar(positions + (k - 0.5) * 0.38, values, 0.38, label=method, color=COLORS[method])
ax.set_xticks(positions, list(conditions))
ax.set_ylabel(f"peak within {HIT_PX} px of the centre")
ax.set_ylim(0, 1.05)
ax.legend(loc="lower left", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# On clean pairs raw pixels already do well: the exemplar's own pattern is the best match. A
# lighting change hurts them, because a plain correlation grows with the brightness and contrast
# of a window as much as with its likeness to the exemplar: a target in shadow loses to bright
# clutter. Distractors with the target's colours add more windows that correlate well, and the
# two together are the hardest case. The learned embedding, trained on pairs with those
# nuisances, localises the target more often in every condition here. Under a lighting change
# it misses far less often, and its mean error is under half the raw pixels' (with the lighting
# change alone) or well below it (with distractors as well). It is only as good as its training
# pairs, though: SiamFC trained on thousands of real videos (ImageNet VID), and later Siamese
# trackers added harder negative pairs (DaSiamRPN) and deeper backbones (SiamRPN++) for that
# reason.

# %%
# Every claim made above, checked against the raw-pixel matcher measured in this run.
def score(condition, method, key="correct"):
    return results[condition, method][key]


raw_clean = score("clean", "raw pixels")
assert raw_clean > 0.8, f"raw pixels should do well on clean pairs: {raw_clean:.3f}"
raw_lit = score("lighting change", "raw pixels")
assert raw_lit < raw_clean - 0.03, f"a lighting change should hurt raw pixels: {raw_lit:.3f}"
raw_error_clean, raw_error_lit = (score(c, "raw pixels", "error") for c in ("clean",
                                                                           "lighting change"))
assert raw_error_lit > 1.4 * raw_error_clean, (
    f"a lighting change should raise the raw pixels' mean error: {raw_error_clean:.2f} -> "
    f"{raw_error_lit:.2f} px")
raw_both = score("distractors + lighting", "raw pixels")
assert raw_both < raw_lit, f"distractors and lighting together should be hardest: {raw_both:.3f}"
for condition in conditions:
    learned, raw = score(condition, "learned embedding"), score(condition, "raw pixels")
    assert learned > raw, f"{condition}: learned {learned:.3f} vs raw pixels {raw:.3f}"
for condition, error_ratio in (("lighting change", 0.5), ("distractors + lighting", 0.75)):
    learned, raw = score(condition, "learned embedding"), score(condition, "raw pixels")
    assert learned > raw + 0.1, f"{condition}: learned {learned:.3f} vs raw pixels {raw:.3f}"
    learned_error = score(condition, "learned embedding", "error")
    raw_error = score(condition, "raw pixels", "error")
    assert learned_error < error_ratio * raw_error, (
        f"{condition}: mean error learned {learned_error:.2f} vs raw {raw_error:.2f} px")
average = {m: np.mean([score(c, m) for c in conditions])
           for m in ("raw pixels", "learned embedding")}
assert average["learned embedding"] > average["raw pixels"] + 0.08, f"on average: {average}"
assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20]), "training should reduce the loss"

print(f"wall time: {time.perf_counter() - start:.1f} s")

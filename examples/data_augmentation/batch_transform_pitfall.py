# %% [markdown]
# # One random draw per call: the batch-transform pitfall
#
# A `torchvision.transforms.v2` transform draws its random parameters once per call. Called on
# one image, that is what you want; called on a whole batch tensor of shape (N, C, H, W), it
# gives **every image in the batch the same** rotation, crop or erased patch. This program
# shows the pitfall on a batch of digits, then three ways to get a fresh draw per image: inside
# the `Dataset`, in a loop over the batch, and vectorised with per-image parameters (the way to
# augment on the GPU). Run it with `python examples/data_augmentation/batch_transform_pitfall.py`.

# %%
import os
import time

import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_digits
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

start = time.perf_counter()

SEED = 0  # change it: every check below holds for any seed
BATCH = 8


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
if device.type == "cpu":
    # These images are tiny: their operations are too small to share between threads, and on a
    # busy machine extra threads mostly wait for each other.
    torch.set_num_threads(1)
print(f"device: {device}")

# %% [markdown]
# ## The pitfall
#
# The batch holds the same digit eight times (scikit-learn's bundled digits, upsampled from 8x8
# to 24x24), so any difference between the outputs comes from the transform. The transform
# rotates, shifts and scales the digit, then erases a random rectangle.

# %%
digits = load_digits()
digit = torch.tensor(digits.images[0], dtype=torch.float32)[None, None] / 16.0  # a zero
digit = F.interpolate(digit, size=(24, 24), mode="bilinear", align_corners=False)[0]
batch = digit.expand(BATCH, -1, -1, -1).contiguous().to(device)  # (8, 1, 24, 24)

BILINEAR = v2.InterpolationMode.BILINEAR  # smoother than the default, NEAREST
augment = v2.Compose([
    v2.RandomAffine(degrees=30, translate=(0.1, 0.1), scale=(0.8, 1.1), interpolation=BILINEAR),
    v2.RandomErasing(p=1.0, scale=(0.05, 0.1), value=0.5),
])


def distinct(images: torch.Tensor) -> int:
    """How many different images a batch holds."""
    return len(torch.unique(images.flatten(start_dim=1), dim=0))


torch.manual_seed(SEED)
one_call = augment(batch)  # ONE set of random parameters for all eight images
print(f"one call on the (8, 1, 24, 24) batch: {distinct(one_call)} distinct image(s) out of "
      f"{BATCH}")

# %% [markdown]
# v2 transforms treat every leading dimension of a tensor as a batch dimension, which is what
# lets them accept a batch at all. The same one-draw rule is what keeps an image and its mask
# or boxes aligned when they are passed together in one call: the transform cannot tell
# "several images that should vary" from "parts of one sample that must move together".
#
# ## Fix 1: transform each sample in the Dataset
#
# The usual place for augmentation: `__getitem__` transforms one image, and the `DataLoader`
# stacks the results into a batch. Each image gets its own call, hence its own draw.

# %%
class AugmentedImages(Dataset):
    def __init__(self, images: torch.Tensor, transform):
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)  # augmentation does not change the number of samples

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(self.images[index])  # a fresh draw for every image, every time


torch.manual_seed(SEED)
loader = DataLoader(AugmentedImages(batch.cpu(), augment), batch_size=BATCH)
from_dataset = next(iter(loader)).to(device)
print(f"Dataset + DataLoader: {distinct(from_dataset)} distinct images out of {BATCH}")

# %% [markdown]
# ## Fix 2: a loop over the batch
#
# When the batch already exists (on the GPU, say), call the transform once per image. Simple,
# but one Python call and a handful of small kernels per image.

# %%
torch.manual_seed(SEED)
looped = torch.stack([augment(image) for image in batch])
print(f"loop over the batch: {distinct(looped)} distinct images out of {BATCH}")

# %% [markdown]
# ## Fix 3: per-image parameters, one batched warp
#
# Draw a parameter vector per image, build one affine matrix per image, and warp the whole
# batch with one `affine_grid` + `grid_sample`: a few kernels in total, whatever the batch
# size. The matrix below follows the convention of `v2.functional.affine` (angle in degrees,
# shift in pixels, rotation about the image centre), so each image comes out as
# `v2.functional.affine` would make it, which the next cell checks.

# %%
def affine_batch(images: torch.Tensor, angle: torch.Tensor, translate: torch.Tensor,
                 scale: torch.Tensor) -> torch.Tensor:
    """Rotate (degrees), shift (pixels, (N, 2)) and scale each image of an (N, C, H, W) batch
    by its own parameters, as v2.functional.affine does for one image (bilinear, zero fill)."""
    height, width = images.shape[-2:]
    rad = torch.deg2rad(angle)
    cos, sin = torch.cos(rad) / scale, torch.sin(rad) / scale
    # Inverse map, output pixel -> input pixel, in pixel units about the centre.
    inverse = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)
    offset = -(inverse @ translate.unsqueeze(-1)).squeeze(-1)
    # affine_grid works in coordinates from -1 to 1 across the image (align_corners=False).
    half = torch.tensor([width / 2, height / 2], dtype=images.dtype, device=images.device)
    theta = torch.cat([inverse * half / half[:, None], (offset / half)[..., None]], dim=-1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)


generator = torch.Generator().manual_seed(SEED)  # parameters drawn on the CPU: same on any device
angle = (torch.rand(BATCH, generator=generator) * 60 - 30).to(device)
translate = torch.randint(-2, 3, (BATCH, 2), generator=generator).float().to(device)
scale = (torch.rand(BATCH, generator=generator) * 0.3 + 0.8).to(device)
batched = affine_batch(batch, angle, translate, scale)

reference = torch.stack([
    v2.functional.affine(image, angle=a.item(), translate=t.tolist(), scale=s.item(), shear=[0.0],
                         interpolation=BILINEAR)
    for image, a, t, s in zip(batch, angle, translate, scale)
])
mismatch = (batched - reference).abs().max().item()
print(f"batched per-image warp: {distinct(batched)} distinct images out of {BATCH}; "
      f"max |difference| from v2.functional.affine per image: {mismatch:.1e}")

# %% [markdown]
# How much the batched warp saves grows with the batch. The timing below compares the loop
# (fix 2, with `RandomAffine` alone) and the batched warp on 256 images; the numbers depend on
# the machine, but the loop pays per image and the batched warp does not.

# %%
def synchronize():
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def seconds(fn, repeats: int = 2) -> float:
    """Best of `repeats` timed calls, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        synchronize()
        t0 = time.perf_counter()
        fn()
        synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


big = digit.expand(256, -1, -1, -1).contiguous().to(device)
rotate_shift_scale = v2.RandomAffine(degrees=30, translate=(0.1, 0.1), scale=(0.8, 1.1),
                                     interpolation=BILINEAR)


def loop_256():
    return torch.stack([rotate_shift_scale(image) for image in big])


def batched_256():
    n = len(big)
    a = torch.rand(n, device=device) * 60 - 30
    t = torch.randint(-2, 3, (n, 2), device=device).float()
    s = torch.rand(n, device=device) * 0.3 + 0.8
    return affine_batch(big, a, t, s)


loop_time, batched_time = seconds(loop_256), seconds(batched_256)
print(f"256 images: loop {1000 * loop_time:.1f} ms, batched {1000 * batched_time:.2f} ms "
      f"({loop_time / batched_time:.0f}x faster)")

# %%
rows = {
    "one call\non the batch": one_call,
    "Dataset +\nDataLoader": from_dataset,
    "loop over\nthe batch": looped,
    "batched\nper-image warp": batched,
}
fig, axes = plt.subplots(len(rows), BATCH, figsize=(BATCH * 1.1, len(rows) * 1.35))
for r, (name, images) in enumerate(rows.items()):
    for c in range(BATCH):
        axes[r, c].imshow(images[c, 0].cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(name, fontsize=9)
fig.suptitle("The same digit eight times, augmented: one draw per call versus one per image")
fig.tight_layout()
plt.show()

# %% [markdown]
# The top row is eight copies of one augmented image: a batch like that teaches the network
# nothing that one image would not, and the augmentation's variety within a batch is gone.
# The other rows differ image by image (the bottom row has no erased patch: the batched warp
# stands in for `RandomAffine` only, though a per-image rectangle could be drawn the same way,
# as one boolean mask per image). MixUp and CutMix are the exception that proves the
# rule: they are *meant* to be called on a batch, and they draw one mixing weight (and, for
# CutMix, one box) per call, pairing each image with its neighbour in the batch.

# %%
# Every claim made above, checked.
assert distinct(one_call) == 1, f"one call should give one image, got {distinct(one_call)}"
assert not torch.equal(one_call[0], batch[0]), "the one-call output should still be augmented"
for name, images in rows.items():
    if images is not one_call:
        assert distinct(images) == BATCH, f"{name}: {distinct(images)} distinct of {BATCH}"
# Float32 arithmetic in a different order (the sampling grids are computed differently): equal
# to rounding. A wrong convention (the angle's sign, a half-pixel shift) is off by more than 0.5
# on these digits, so the tolerance still catches it (looser on accelerators).
tolerance = 1e-4 if device.type == "cpu" else 1e-3
assert mismatch < tolerance, f"batched warp differs from v2.functional.affine by {mismatch:.2e}"
assert batched_time < loop_time / 3, (
    f"the batched warp should be much faster than the loop: {batched_time:.4f} s "
    f"vs {loop_time:.4f} s")

print(f"wall time: {time.perf_counter() - start:.1f} s")

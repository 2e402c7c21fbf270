# %% [markdown]
# # A gallery of torchvision v2 transforms
#
# This program applies common `torchvision.transforms.v2` augmentations to two images: a real
# handwritten digit from scikit-learn's bundled digits, and a generated colour picture of an
# object with its bounding box and segmentation mask. It shows which transforms keep a digit a
# digit (and which turn it into another one), and checks that the geometric transforms move the
# box and the mask together with the pixels. Run it with
# `python examples/data_augmentation/augmentation_gallery.py`.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes
from torchvision.transforms import v2
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

start = time.perf_counter()

SEED = 0  # each transform below is called after torch.manual_seed(SEED + its position)


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


device = pick_device()  # v2 transforms run on whatever device their input is on
print(f"device: {device}")

# %% [markdown]
# ## A digit: which transforms preserve the label?
#
# A digit is upsampled from 8x8 to 32x32 so that the transforms have pixels to work with, and
# wrapped as a `tv_tensors.Image` (a tensor subclass that tells v2 transforms "this is an
# image"). Small rotations, shifts, shears, perspective and elastic distortions, blur, noise
# and a small erased patch leave it recognisably the same digit. A mirror image or a turn by
# 180° does not: a mirrored 6 is no digit at all, and a 6 upside down is a 9.

# %%
digits = load_digits()
six = torch.tensor(digits.images[digits.target == 6][0], dtype=torch.float32)[None] / 16.0
digit = v2.Resize((32, 32), antialias=True)(tv_tensors.Image(six)).to(device)
# Rotations, affine and perspective warps interpolate with NEAREST unless told otherwise:
# jagged edges on an image (masks always use NEAREST, which is right for class indices).
BILINEAR = v2.InterpolationMode.BILINEAR

label_preserving = {
    "original": v2.Identity(),
    "RandomRotation(15)": v2.RandomRotation(15, interpolation=BILINEAR),
    "RandomAffine\nshift + scale": v2.RandomAffine(degrees=0, translate=(0.1, 0.1),
                                                   scale=(0.85, 1.1), interpolation=BILINEAR),
    "RandomAffine\nshear=15": v2.RandomAffine(degrees=0, shear=15, interpolation=BILINEAR),
    "RandomPerspective\n(0.3)": v2.RandomPerspective(distortion_scale=0.3, p=1.0,
                                                     interpolation=BILINEAR),
    "ElasticTransform": v2.ElasticTransform(alpha=25.0, sigma=4.0),
    "GaussianBlur(5)": v2.GaussianBlur(kernel_size=5, sigma=(0.8, 1.2)),
    "GaussianNoise(0.1)": v2.GaussianNoise(sigma=0.1),  # clipped to [0, 1] by default
    "RandomErasing": v2.RandomErasing(p=1.0, scale=(0.04, 0.08), value=0),
}
label_changing = {
    "HorizontalFlip": v2.RandomHorizontalFlip(p=1.0),
    "VerticalFlip": v2.RandomVerticalFlip(p=1.0),
    "rotate 180°": v2.RandomRotation((180, 180)),  # exact: no interpolation needed
}


def apply_all(transforms: dict, sample, offset: int = 0) -> dict:
    """Apply each transform to the sample after seeding, so every run draws the same."""
    results = {}
    for k, (name, transform) in enumerate(transforms.items()):
        torch.manual_seed(SEED + offset + k)
        results[name] = transform(sample)
    return results


digit_good = apply_all(label_preserving, digit)
digit_bad = apply_all(label_changing, digit, offset=len(label_preserving))

panels = [(name, image, "#009e73") for name, image in digit_good.items()]
panels += [(f"{name}\n(changes the label)", image, "#d55e00") for name, image in digit_bad.items()]
fig, axes = plt.subplots(2, 6, figsize=(10, 4.4))
for ax, (name, image, colour) in zip(axes.flat, panels):
    ax.imshow(image[0].cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(name, fontsize=8, color=colour)
    ax.axis("off")
fig.suptitle("A handwritten 6: green titles keep it a 6, red ones do not", fontsize=11)
fig.tight_layout()
plt.show()

# %% [markdown]
# How much do the label-changing transforms change? A nearest-class-mean classifier (each
# image goes to the class whose average image is closest) needs no training and no
# randomness. Applied to every digit in the data set, it shows what the eye sees in the bottom
# row: mirrored, most digits stop looking like their class, and most 6s turned by 180° look like
# the average 9.

# %%
pixels = digits.images / 16.0
class_means = np.stack([pixels[digits.target == c].mean(axis=0) for c in range(10)])


def nearest_mean(images: np.ndarray) -> np.ndarray:
    return ((images[:, None] - class_means[None]) ** 2).sum(axis=(2, 3)).argmin(axis=1)


as_is = (nearest_mean(pixels) == digits.target).mean()
mirrored = (nearest_mean(pixels[:, :, ::-1]) == digits.target).mean()
sixes = pixels[digits.target == 6]
six_as_nine = (nearest_mean(sixes[:, ::-1, ::-1]) == 9).mean()  # rotated by 180°
print("nearest-class-mean classifier on all 1,797 digits")
print(f"  as they are:               {as_is:.1%} assigned to their own class")
print(f"  mirrored left to right:    {mirrored:.1%} assigned to their own class")
print(f"  6s rotated by 180 degrees: {six_as_nine:.1%} assigned to class 9")

# %% [markdown]
# ## A colour image with a bounding box and a mask
#
# For detection and segmentation the targets must follow the pixels. v2 transforms do this
# when the targets are wrapped as `tv_tensors`: `BoundingBoxes` (with their format and the
# size of the image they belong to) and `Mask`. Pass everything in one call, here a dict, and
# every geometric transform applies the **same** random parameters to all of it; colour
# transforms change only the image. The scene is generated: a sky-to-grass gradient, a grey
# block, and an orange ball, whose mask gives the box.

# %%
HEIGHT, WIDTH = 96, 128
rng = np.random.default_rng(SEED)
ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
sky, grass = np.array([110, 170, 230]), np.array([70, 150, 60])
t = (ys / HEIGHT)[..., None]
scene = (1 - t) * sky + t * grass + rng.normal(0, 8, (HEIGHT, WIDTH, 3))
scene[20:45, 90:112] = (120, 120, 130)  # a grey block
ball = ((xs - 48) / 22) ** 2 + ((ys - 52) / 16) ** 2 <= 1
scene[ball] = (240, 130, 30)
scene[ball & (np.abs(ys - 52) < 3)] = (150, 60, 20)  # a dark band across the ball
image = torch.from_numpy(np.clip(scene, 0, 255).astype(np.uint8)).permute(2, 0, 1)

mask = torch.from_numpy(ball)[None]


def tight_box(mask: torch.Tensor) -> torch.Tensor:
    """XYXY box around the mask's pixels (pixel i spans [i, i + 1))."""
    return masks_to_boxes(mask.to(torch.uint8)) + torch.tensor([0.0, 0.0, 1.0, 1.0],
                                                               device=mask.device)


sample = {
    "image": tv_tensors.Image(image).to(device),
    "boxes": tv_tensors.BoundingBoxes(tight_box(mask), format="XYXY",
                                      canvas_size=(HEIGHT, WIDTH)).to(device),
    "mask": tv_tensors.Mask(mask).to(device),
    "labels": torch.tensor([1], device=device),  # plain tensors pass through untouched
}

geometric = {
    "original": v2.Identity(),
    "RandomHorizontalFlip": v2.RandomHorizontalFlip(p=1.0),
    "RandomRotation(30)": v2.RandomRotation(30, interpolation=BILINEAR),
    "RandomAffine": v2.RandomAffine(degrees=10, translate=(0.15, 0.15), scale=(0.7, 1.2),
                                    interpolation=BILINEAR),
    "RandomResizedCrop": v2.RandomResizedCrop((HEIGHT, WIDTH), scale=(0.4, 1.0),
                                              antialias=True),
    "RandomPerspective": v2.RandomPerspective(distortion_scale=0.4, p=1.0,
                                              interpolation=BILINEAR),
    "RandomZoomOut": v2.RandomZoomOut(fill=0, side_range=(1.0, 1.8), p=1.0),
}
photometric = {
    "ColorJitter": v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.5, hue=0.1),
    "RandomGrayscale": v2.RandomGrayscale(p=1.0),
    "RandomPhotometricDistort": v2.RandomPhotometricDistort(p=1.0),
}
scene_results = apply_all({**geometric, **photometric}, sample)

for name, out in scene_results.items():
    box = [round(v) for v in out["boxes"][0].tolist()]
    print(f"{name:<24} box {box!s:<18} on a canvas of {tuple(out['boxes'].canvas_size)}")

# %% [markdown]
# The auto-augmentation policies (`AutoAugment`, `RandAugment`, `TrivialAugmentWide`,
# `AugMix`) and `RandomErasing` are image transforms: the policies raise a `TypeError` if
# they are given boxes or masks, and `RandomErasing` passes boxes through unchanged with a
# warning. They are applied to the image alone. Each policy picks its operations at random, so
# the same policy gives a different picture at every call.

# %%
policies = {
    "AutoAugment(IMAGENET)": v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET),
    "RandAugment": v2.RandAugment(num_ops=2, magnitude=9),
    "TrivialAugmentWide": v2.TrivialAugmentWide(),
    "AugMix": v2.AugMix(),
    "RandomErasing": v2.RandomErasing(p=1.0, scale=(0.05, 0.15), value=0),
}
policy_results = apply_all(policies, sample["image"], offset=100)

# The policies refuse targets they cannot transform.
refused = []
for name in ("AutoAugment(IMAGENET)", "RandAugment", "TrivialAugmentWide"):
    try:
        policies[name](sample)
    except TypeError as error:
        refused.append(name)
        print(f"{name}: TypeError: {error}")

# %%
def overlay(out: dict) -> np.ndarray:
    """The image with its mask (translucent) and its box drawn on it, as an H x W x 3 array."""
    picture = out["image"].cpu()
    picture = draw_segmentation_masks(picture, out["mask"].cpu().bool(), alpha=0.35,
                                      colors="#cc79a7")
    picture = draw_bounding_boxes(picture, out["boxes"].cpu(), colors="#ffff00", width=2)
    return picture.permute(1, 2, 0).numpy()


fig, axes = plt.subplots(3, 5, figsize=(13, 7.6))
for ax in axes.flat:
    ax.axis("off")
for ax, (name, out) in zip(axes[:2].flat, scene_results.items()):
    ax.imshow(overlay(out))
    ax.set_title(name, fontsize=9)
for ax, (name, picture) in zip(axes[2], policy_results.items()):
    ax.imshow(picture.cpu().permute(1, 2, 0).numpy())
    ax.set_title(f"{name} (image only)", fontsize=9)
fig.suptitle("Rows 1-2: image, box (yellow) and mask (pink) transformed together.  "
             "Row 3: image-only transforms.", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# Each box still encloses its mask after rotation and perspective, where it becomes the box
# around the transformed corners (a little looser than the object), and fits it tightly after
# flips, crops and zooms, which keep edges parallel to the axes. `RandomZoomOut` also enlarges
# the canvas, and the box's `canvas_size` follows. The colour transforms left box and mask
# exactly where they were.

# %%
# Every claim made above, checked.
assert as_is > 0.85, f"the nearest-mean classifier should work on plain digits: {as_is:.3f}"
assert mirrored < 0.5, f"mirrored, most digits should lose their class: {mirrored:.3f} kept"
assert six_as_nine > 0.7, f"most 6s rotated by 180 degrees should look like 9s: {six_as_nine:.3f}"

TOLERANCE = 1.5  # pixels: the mask is resampled on the pixel grid, the box is not
for name in geometric:
    out = scene_results[name]
    assert out["mask"].any(), f"{name}: the ball left the picture; pick another SEED"
    box, around_mask = out["boxes"][0], tight_box(out["mask"])[0]
    inside = (around_mask[:2] >= box[:2] - TOLERANCE).all() and (
        around_mask[2:] <= box[2:] + TOLERANCE).all()
    assert inside, f"{name}: mask {around_mask.tolist()} sticks out of box {box.tolist()}"
    if name in ("original", "RandomHorizontalFlip", "RandomResizedCrop", "RandomZoomOut"):
        gap = (box - around_mask).abs().max().item()
        assert gap <= TOLERANCE, f"{name}: box should fit the mask tightly, off by {gap:.2f} px"
    assert tuple(out["boxes"].canvas_size) == tuple(out["image"].shape[-2:]) == tuple(
        out["mask"].shape[-2:]), f"{name}: box canvas {out['boxes'].canvas_size}"
zoomed = scene_results["RandomZoomOut"]["image"].shape[-2:]
assert zoomed[0] > HEIGHT and zoomed[1] > WIDTH, f"RandomZoomOut should enlarge: {zoomed}"
x1, y1, x2, y2 = sample["boxes"][0].tolist()
flipped = scene_results["RandomHorizontalFlip"]["boxes"][0].tolist()
assert flipped == [WIDTH - x2, y1, WIDTH - x1, y2], f"flipped box {flipped}"
for name in photometric:
    out = scene_results[name]
    assert torch.equal(out["boxes"], sample["boxes"]) and torch.equal(out["mask"], sample["mask"])
    assert not torch.equal(out["image"], sample["image"]), f"{name} should change the pixels"
assert refused == ["AutoAugment(IMAGENET)", "RandAugment", "TrivialAugmentWide"], refused
for name, picture in policy_results.items():
    assert picture.shape == sample["image"].shape and picture.dtype == torch.uint8, name

print(f"wall time: {time.perf_counter() - start:.1f} s")

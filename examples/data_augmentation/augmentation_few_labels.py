# %% [markdown]
# # Augmentation when labels are scarce
#
# This program trains a small CNN on only 5, 10 or 20 labelled digits per class from
# scikit-learn's bundled digits, once without augmentation and once with small random
# rotations, scalings and shifts drawn afresh for every image in every batch, and tests both on
# every digit that was not used for training. It repeats this for several random choices of
# the labelled images, and then trains once more with transforms that do *not* preserve the
# label (mirror images and rotations up to 180°). Run it with
# `python examples/data_augmentation/augmentation_few_labels.py`.

# %%
import os
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.nn import functional as F

start = time.perf_counter()

SEED = 0  # runs use seeds SEED, SEED + 1, ...; change it to check the conclusions still hold
N_SEEDS = 3  # each budget is trained N_SEEDS times, each time with other labelled images
BUDGETS = (5, 10, 20)  # labelled images per class
SIZE = 16  # the 8x8 digits are upsampled so that small rotations and shifts are meaningful
STEPS, BATCH_SIZE, MAX_LR = 250, 32, 1e-2

# Okabe-Ito colours: readable on white and on dark backgrounds.
COLORS = {"without": "#e69f00", "with": "#0072b2", "label-breaking": "#cc79a7"}


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
    # The network is tiny: its operations are too small to share between threads, and on a
    # busy machine extra threads mostly wait for each other.
    torch.set_num_threads(1)
print(f"device: {device}")

# %% [markdown]
# ## The data
#
# `load_digits()` ships with scikit-learn: 1,797 real handwritten digits of 8x8 pixels with
# values 0 to 16. They are scaled to $[0, 1]$ and upsampled once to 16x16 (bilinear), so that a
# rotation by 10° or a shift by one pixel changes the picture without destroying it. For each
# run a few images per class are drawn as the labelled training set; **all the other images**
# are the test set, so the test set has well over a thousand images however small the budget.

# %%
digits = load_digits()
images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
images = F.interpolate(images, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
images = images.to(device)
labels = torch.tensor(digits.target).to(device)
print(f"{len(images)} digits, each {tuple(images.shape[1:])}, values in "
      f"[{images.min().item():.1f}, {images.max().item():.1f}]")


def split(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of `per_class` labelled images of each digit, and of every other image."""
    rng = np.random.default_rng(seed)
    train = np.concatenate([
        rng.choice(np.flatnonzero(digits.target == c), per_class, replace=False)
        for c in range(10)
    ])
    test = np.setdiff1d(np.arange(len(digits.target)), train)
    return torch.from_numpy(train).to(device), torch.from_numpy(test).to(device)


# %% [markdown]
# ## Augmentation with a fresh draw for every image
#
# The augmentation is a random affine transform, like
# `v2.RandomAffine(degrees=15, translate=(0.075, 0.075), scale=(0.9, 1.1))`: rotate by up to
# ±15°, scale by 0.9 to 1.1, shift by up to 7.5% of the width. Calling a v2 transform on a
# whole batch would draw **one** angle for all images (the example "One random draw per call:
# the batch-transform pitfall" shows this), and calling it on each image in turn costs a
# Python call per image. Instead, `random_affine` below draws one set of
# parameters per image and warps the whole batch with a single `affine_grid` + `grid_sample`,
# on whatever device the batch is on. With `flip=True` and `degrees=180` it also mirrors half
# of the images and turns them by any angle: transforms that can turn a 6 into a 9 and leave a
# 2 or a 7 unlike any digit, used below as the counter-example.

# %%
def random_affine(batch: torch.Tensor, generator: torch.Generator, degrees: float = 15.0,
                  translate: float = 0.075, scale: tuple[float, float] = (0.9, 1.1),
                  flip: bool = False) -> torch.Tensor:
    """Warp each image of an (N, C, H, W) batch by its own random rotation, scale and shift."""
    n = batch.shape[0]

    def uniform(low, high, *shape):  # drawn on the CPU generator: the same numbers on any device
        return (torch.rand(*shape, generator=generator) * (high - low) + low).to(batch.device)

    angle = torch.deg2rad(uniform(-degrees, degrees, n))
    factor = uniform(*scale, n)
    shift = uniform(-2 * translate, 2 * translate, n, 2)  # grid coordinates span [-1, 1]
    mirror = torch.ones(n, device=batch.device)
    if flip:
        mirror = torch.where(uniform(0, 1, n) < 0.5, -1.0, 1.0)
    # affine_grid wants the map from output to input coordinates: the inverse transform.
    cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor
    theta = torch.stack([
        torch.stack([cos * mirror, sin * mirror, shift[:, 0]], dim=1),
        torch.stack([-sin, cos, shift[:, 1]], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


preview_generator = torch.Generator().manual_seed(SEED)
originals = images[:8]
rows = [originals] + [random_affine(originals, preview_generator) for _ in range(3)]
rows.append(random_affine(originals, preview_generator, degrees=180, flip=True))
row_names = ["original", "augmented", "augmented", "augmented", "label-breaking"]
fig, axes = plt.subplots(len(rows), 8, figsize=(8, 5.4))
for r, (row, name) in enumerate(zip(rows, row_names)):
    for c in range(8):
        axes[r, c].imshow(row[c, 0].cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(name, fontsize=8)
fig.suptitle("Each image gets its own random transform (bottom row: mirror + any angle)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The model and the training run
#
# A two-layer CNN (about 3,800 weights) is trained for a fixed number of steps with AdamW and
# a one-cycle learning-rate schedule. Each step samples a batch of labelled images (with
# replacement, since there may be fewer than a batch of them) and, in the augmented runs,
# warps it. The runs with and without augmentation of one seed start from the same initial
# weights and see the same batches of images: the only difference is the warp. There is no
# early stopping, since with ten labelled images per class there is nothing to spare for a
# validation set.

# %%
def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * (SIZE // 4) ** 2, 10),
    )


def train_and_test(per_class: int, seed: int, augment: dict | None) -> float:
    """Train on `per_class` labelled digits per class; return the accuracy on all the rest.
    `augment` holds random_affine's keyword arguments, or is None for no augmentation."""
    train_idx, test_idx = split(per_class, seed)
    torch.manual_seed(seed)  # same initial weights with and without augmentation
    model = make_model().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=MAX_LR, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_LR, total_steps=STEPS)
    batches = torch.Generator().manual_seed(seed)  # same batches with and without augmentation
    warps = torch.Generator().manual_seed(seed + 1000)
    model.train()
    for _ in range(STEPS):
        pick = train_idx[torch.randint(len(train_idx), (BATCH_SIZE,), generator=batches).to(device)]
        x, y = images[pick], labels[pick]
        if augment is not None:
            x = random_affine(x, warps, **augment)  # training data only
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    with torch.inference_mode():  # the test images are never augmented
        return (model(images[test_idx]).argmax(dim=1) == labels[test_idx]).float().mean().item()


# %%
SETTINGS = {"without": None, "with": {}}  # {} = random_affine's label-preserving defaults
seeds = [SEED + i for i in range(N_SEEDS)]
accuracy = {name: np.zeros((len(BUDGETS), N_SEEDS)) for name in SETTINGS}
for i, per_class in enumerate(BUDGETS):
    for j, seed in enumerate(seeds):
        for name, augment in SETTINGS.items():
            accuracy[name][i, j] = train_and_test(per_class, seed, augment)
        if sys.stdout.isatty():
            print(f"  {per_class:>2}/class seed {seed}: without {accuracy['without'][i, j]:.3f}"
                  f"  with {accuracy['with'][i, j]:.3f}", flush=True)
gain = 100 * (accuracy["with"] - accuracy["without"])  # percentage points, (budget, seed)

print(f"test accuracy (on all unused digits), {STEPS} steps of {BATCH_SIZE}, seeds {seeds}")
print(f"{'per class':>9} {'train':>5} {'test':>5} {'without':>8} {'with':>8} "
      f"{'gain (points) per seed':>24} {'mean gain':>9}")
for i, per_class in enumerate(BUDGETS):
    n_train = 10 * per_class
    per_seed = " ".join(f"{g:+5.1f}" for g in gain[i])
    print(f"{per_class:>9} {n_train:>5} {len(digits.target) - n_train:>5} "
          f"{accuracy['without'][i].mean():8.3f} {accuracy['with'][i].mean():8.3f} "
          f"{per_seed:>24} {gain[i].mean():+9.1f}")

# %% [markdown]
# ## Transforms that change the label
#
# The same ten-per-class runs once more, with mirror images and rotations of up to 180°.
# Such an augmentation tells the network that a mirrored 2 is still a 2 and that a 6 upside
# down is still a 6, which is false for digits (and for text).

# %%
TEN = BUDGETS.index(10)
breaking = np.array([
    train_and_test(10, seed, {"degrees": 180.0, "flip": True}) for seed in seeds
])
print(f"10 labelled digits per class, mean over seeds {seeds}:")
for name, values in (("without", accuracy["without"][TEN]), ("label-preserving",
                     accuracy["with"][TEN]), ("label-breaking", breaking)):
    print(f"  {name:<17} {values.mean():.3f}   per seed " + " ".join(f"{v:.3f}" for v in values))

# %%
fig, (ax, ax_ten) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [1.6, 1]})
for name in SETTINGS:
    ax.plot(BUDGETS, accuracy[name].mean(axis=1), marker="o", color=COLORS[name],
            label=f"{name} augmentation (mean)")
    for j in range(N_SEEDS):
        ax.plot(BUDGETS, accuracy[name][:, j], ".", color=COLORS[name], alpha=0.5)
ax.set_xticks(BUDGETS)
ax.set_xlabel("labelled training images per class")
ax.set_ylabel("test accuracy (all other digits)")
ax.set_title(f"{N_SEEDS} random choices of labelled images (dots) and their mean")
ax.legend()

ten = {"without": accuracy["without"][TEN], "with": accuracy["with"][TEN],
       "label-breaking": breaking}
for k, (name, values) in enumerate(ten.items()):
    ax_ten.bar(k, values.mean(), color=COLORS[name], alpha=0.8)
    ax_ten.plot([k] * N_SEEDS, values, "o", color="0.3", ms=4)
ax_ten.set_xticks(range(len(ten)), ["none", "label-\npreserving", "label-\nbreaking"])
ax_ten.set_ylim(0, 1)
ax_ten.set_ylabel("test accuracy")
ax_ten.set_title("10 labelled images per class")
fig.tight_layout()
plt.show()

# %% [markdown]
# Augmentation helps at every budget (the table gives the gain for each seed). It does not add
# images to the training set: every step still draws from the same 50, 100 or 200 labelled
# digits, but the network rarely sees the same pixels twice, so it cannot simply memorise
# them. The gain comes from knowledge we put in, namely that a digit turned by a few degrees or
# moved by a pixel is still the same digit. Put in false knowledge (mirror images, any angle)
# and the result is far worse than no augmentation at all: the network is taught that a 6 and
# a 9 are the same digit seen upside down, and that mirrored strokes mean the same as the
# originals.

# %%
# Every claim made above, checked.
for i, per_class in enumerate(BUDGETS):
    assert gain[i].mean() > 0.5, (
        f"{per_class}/class: augmentation should help, mean gain {gain[i].mean():+.2f} points "
        f"(per seed {gain[i]})")
assert gain[TEN].mean() >= 1.5, (
    f"10/class: mean gain should be at least 1.5 points, got {gain[TEN].mean():+.2f} "
    f"(per seed {gain[TEN]})")
assert np.all(np.diff(accuracy["without"].mean(axis=1)) > 0), (
    f"more labels should give better accuracy: {accuracy['without'].mean(axis=1)}")
worse = 100 * (accuracy["with"][TEN] - breaking)
assert worse.mean() > 10.0, (
    f"label-breaking augmentation should be far worse than label-preserving: "
    f"{worse.mean():+.2f} points (per seed {worse})")
assert breaking.mean() < accuracy["without"][TEN].mean() - 0.05, (
    f"label-breaking augmentation should be worse than none: {breaking.mean():.3f} vs "
    f"{accuracy['without'][TEN].mean():.3f}")

print(f"wall time: {time.perf_counter() - start:.1f} s")

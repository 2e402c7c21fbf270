# %% [markdown]
# # From a folder of image files to a prediction
#
# This program follows the path a reader takes with their own photos. It writes a small tree of
# PNG files (generated shapes in three classes, at assorted sizes, standing in for your images),
# loads it with `torchvision.datasets.ImageFolder` and `torchvision.transforms.v2`, computes the
# normalisation from the training images, trains a small CNN briefly, saves a checkpoint, and
# classifies single image files read from disk with the reloaded model. To use your own images,
# put them in the same layout and point `data_root` at it. Run it with
# `python examples/image_classification/image_folder_pipeline.py`.

# %%
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import default_loader
from torchvision.transforms import v2

start = time.perf_counter()

SEED = 0  # the generated images, the initial weights and the batch order follow from it
CLASSES = ("circle", "square", "triangle")
PER_CLASS = {"train": 80, "val": 25}
IMAGE_SIZE = 32  # every image is resized and cropped to IMAGE_SIZE x IMAGE_SIZE
EPOCHS = 10


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
# ## A folder of images
#
# `ImageFolder` expects one sub-folder per class, named after the class, under a root folder;
# a separate root for the validation images is the usual layout:
#
# ```
# data_root/
#   train/circle/0000.png   train/square/0000.png   train/triangle/0000.png ...
#   val/circle/0000.png     val/square/0000.png     val/triangle/0000.png ...
# ```
#
# The images written here are coloured shapes on a noisy background, each between 24 and 64
# pixels wide and high, so that the pipeline has to cope with mixed sizes and proportions as it
# would with photos.

# %%
def draw_shape(kind: str, rng: np.random.Generator) -> np.ndarray:
    """An RGB image (height, width, 3) with values in [0, 1] showing one shape."""
    height, width = rng.integers(24, 65, 2)
    rows, cols = np.mgrid[0:height, 0:width] + 0.5
    side = min(height, width)
    # Near the middle, and within the central square: a center crop keeps the whole shape.
    center = np.array([height, width]) / 2 + rng.uniform(-0.1, 0.1, 2) * side
    radius = rng.uniform(0.22, 0.38) * side
    dy, dx = rows - center[0], cols - center[1]
    if kind == "circle":
        mask = dy**2 + dx**2 <= radius**2
    elif kind == "square":
        mask = (np.abs(dy) <= radius * 0.85) & (np.abs(dx) <= radius * 0.85)
    else:  # a triangle pointing up: below the two slanted sides, above the base
        mask = (dy <= radius * 0.7) & (2 * np.abs(dx) <= dy + radius)
    dark, light = rng.uniform(0.0, 0.45, 3), rng.uniform(0.55, 1.0, 3)
    background, foreground = (dark, light) if rng.random() < 0.5 else (light, dark)
    image = np.where(mask[..., None], foreground, background)
    return np.clip(image + rng.normal(0, 0.04, image.shape), 0, 1)


def save_png(image: np.ndarray, path: Path) -> None:
    # matplotlib writes RGBA PNGs: the loader below converts them to RGB, as it would any
    # photo with an alpha channel. (torchvision.io.write_png would do too, but torchvision 0.29
    # deprecates its image encoders and decoders in favour of TorchCodec.)
    path.parent.mkdir(parents=True, exist_ok=True)
    matplotlib.image.imsave(path, np.round(image * 255).astype(np.uint8))


rng = np.random.default_rng(SEED)
data_root = Path(tempfile.mkdtemp(prefix="shapes_"))  # replace with the folder of your images
for split, count in PER_CLASS.items():
    for kind in CLASSES:
        for i in range(count):
            save_png(draw_shape(kind, rng), data_root / split / kind / f"{i:04d}.png")

files = sorted(data_root.rglob("*.png"))
print(f"wrote {len(files)} PNG files under data_root, "
      f"{sum(f.stat().st_size for f in files) / 1024:.0f} KiB in all")
for split in PER_CLASS:
    counts = {kind: len(list((data_root / split / kind).glob("*.png"))) for kind in CLASSES}
    print(f"  {split}/: {counts}")

# %% [markdown]
# ## Loading it with ImageFolder and v2 transforms
#
# `ImageFolder` finds the classes from the folder names, sorted alphabetically, and numbers them
# in that order (`class_to_idx`). It opens each file with PIL and converts it to RGB. The
# transforms turn the PIL image into a `uint8` tensor image (`ToImage`), scale its shorter side
# to 32 pixels and cut the central 32x32 square (`Resize(32)`, `CenterCrop(32)`: unlike
# `Resize((32, 32))`, this keeps the proportions, so a circle stays round), and convert it to
# `float32` in $[0, 1]$ (`ToDtype` with `scale=True`). The training transform adds a random
# horizontal flip, which leaves the classes of these shapes unchanged; the validation transform
# has no randomness.
#
# The per-channel mean and standard deviation for `Normalize` are measured on the training images
# only, after resizing.

# %%
to_tensor = v2.Compose([
    v2.ToImage(),
    v2.Resize(IMAGE_SIZE, antialias=True),  # the shorter side becomes IMAGE_SIZE
    v2.CenterCrop(IMAGE_SIZE),
    v2.ToDtype(torch.float32, scale=True),
])
plain_train = ImageFolder(data_root / "train", transform=to_tensor)
pixels = torch.stack([image for image, _ in plain_train])  # (N, 3, 32, 32)
channel_mean = pixels.mean(dim=(0, 2, 3)).tolist()
channel_std = pixels.std(dim=(0, 2, 3)).tolist()

train_transform = v2.Compose([
    to_tensor,
    v2.RandomHorizontalFlip(),
    v2.Normalize(channel_mean, channel_std),
])
eval_transform = v2.Compose([to_tensor, v2.Normalize(channel_mean, channel_std)])

train_set = ImageFolder(data_root / "train", transform=train_transform)
val_set = ImageFolder(data_root / "val", transform=eval_transform)
assert train_set.class_to_idx == val_set.class_to_idx  # same folders, same numbering

print("classes:", train_set.classes, "->", train_set.class_to_idx)
print(f"train {len(train_set)} images, validation {len(val_set)} images")
print("channel mean", [round(m, 3) for m in channel_mean],
      "std", [round(s, 3) for s in channel_std])
image, label = train_set[0]
print(f"one sample: {tuple(image.shape)} {image.dtype}, label {label} "
      f"({train_set.classes[label]}), file {Path(train_set.samples[0][0]).name}")

# %%
fig, axes = plt.subplots(len(CLASSES), 6, figsize=(8, 4.2))
for row, kind in enumerate(CLASSES):
    for col in range(6):
        picture = default_loader(data_root / "train" / kind / f"{col:04d}.png")  # PIL, RGB
        axes[row, col].imshow(picture)
        axes[row, col].set_title(f"{picture.width}x{picture.height}", fontsize=8)
        axes[row, col].axis("off")
    axes[row, 0].text(-0.15, 0.5, kind, transform=axes[row, 0].transAxes, ha="right",
                      va="center", fontsize=10)
fig.suptitle("Training images as stored (width x height in pixels)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Training briefly
#
# The loaders read and transform the files on the fly. `num_workers=0` keeps the decoding in
# this process: with a few hundred small files, starting worker processes would cost more than
# it saves. With thousands of photos, set `num_workers` to a few per CPU core and
# `pin_memory=True` when training on a GPU.
#
# The model is three convolution blocks and a global average pool, which makes it independent
# of the input size, followed by one linear layer with one output per class.

# %%
def conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.MaxPool2d(2)]


def make_model(num_classes: int) -> nn.Module:
    return nn.Sequential(
        *conv_block(3, 16), *conv_block(16, 32), *conv_block(32, 64),  # 32 -> 16 -> 8 -> 4
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )


torch.manual_seed(SEED)
model = make_model(len(train_set.classes)).to(device)
train_loader = DataLoader(train_set, batch_size=32, shuffle=True, num_workers=0,
                          generator=torch.Generator().manual_seed(SEED))
val_loader = DataLoader(val_set, batch_size=128, shuffle=False, num_workers=0)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-2)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2,
                                                total_steps=EPOCHS * len(train_loader))
loss_fn = nn.CrossEntropyLoss()

val_accuracy = []
for epoch in range(EPOCHS):
    model.train()
    for images, labels in train_loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss_fn(model(images), labels).backward()
        optimizer.step()
        scheduler.step()
    model.eval()
    correct = 0
    with torch.inference_mode():
        for images, labels in val_loader:
            correct += (model(images.to(device)).argmax(1).cpu() == labels).sum().item()
    val_accuracy.append(correct / len(val_set))
    if sys.stdout.isatty():
        print(f"  epoch {epoch + 1}  val accuracy {val_accuracy[-1]:.3f}", flush=True)
print("validation accuracy per epoch:", [round(a, 3) for a in val_accuracy])

# %% [markdown]
# ## Saving what prediction needs, then predicting files from disk
#
# A checkpoint for later use holds the weights and everything that turns a file into the model's
# input and its output into a name: the class names in index order, the image size and the
# normalisation. The prediction side rebuilds the model from it, reads an image file with the
# loader `ImageFolder` uses (`default_loader`: PIL's `Image.open(path).convert("RGB")`, which
# drops an alpha channel and expands greyscale), applies the evaluation transform, adds a batch
# dimension, and reads the softmax.

# %%
checkpoint_path = data_root / "shapes_cnn.pt"
torch.save({
    "model": model.state_dict(),
    "classes": train_set.classes,
    "image_size": IMAGE_SIZE,
    "mean": channel_mean,
    "std": channel_std,
}, checkpoint_path)

checkpoint = torch.load(checkpoint_path, map_location=device, weights_only=True)
predictor = make_model(len(checkpoint["classes"])).to(device)
predictor.load_state_dict(checkpoint["model"])
predictor.eval()
predict_transform = v2.Compose([
    v2.ToImage(),
    v2.Resize(checkpoint["image_size"], antialias=True),
    v2.CenterCrop(checkpoint["image_size"]),
    v2.ToDtype(torch.float32, scale=True),
    v2.Normalize(checkpoint["mean"], checkpoint["std"]),
])


def predict(path: Path) -> tuple[str, float]:
    """The predicted class of one image file and its probability."""
    image = default_loader(path)  # a PIL image in RGB, read the way ImageFolder reads
    batch = predict_transform(image).unsqueeze(0).to(device)  # (1, 3, size, size)
    with torch.inference_mode():
        probabilities = predictor(batch).softmax(dim=1).squeeze(0)
    index = int(probabilities.argmax())
    return checkpoint["classes"][index], probabilities[index].item()


# New files that were in neither split, one per class, as a user would bring them.
new_rng = np.random.default_rng(SEED + 1000)
new_files = {}
for kind in CLASSES:
    new_files[kind] = data_root / "incoming" / f"new_{kind}.png"
    save_png(draw_shape(kind, new_rng), new_files[kind])

name, probability = predict(new_files["triangle"])
print(f"{new_files['triangle'].name}: predicted {name!r} with probability {probability:.3f}")
predictions = {kind: predict(path) for kind, path in new_files.items()}
for kind, (name, probability) in predictions.items():
    print(f"  true {kind:<8} predicted {name:<8} p = {probability:.3f}")

# %%
fig, axes = plt.subplots(1, len(CLASSES), figsize=(7.5, 2.8))
for ax, (kind, path) in zip(axes, new_files.items()):
    ax.imshow(default_loader(path))
    name, probability = predictions[kind]
    ax.set_title(f"{path.name}\npredicted {name} ({probability:.2f})", fontsize=9)
    ax.axis("off")
fig.tight_layout()
plt.show()

# %%
# Every claim made above, checked; then the generated files are removed.
assert train_set.classes == sorted(CLASSES), f"classes in alphabetical order: {train_set.classes}"
sizes = {default_loader(f).size for f in files}
assert len(sizes) > 10, f"the stored images should come in many sizes, found {len(sizes)}"
assert image.shape == (3, IMAGE_SIZE, IMAGE_SIZE) and image.dtype == torch.float32, image.shape
assert max(abs(m) for m in pixels.sub(torch.tensor(channel_mean)[:, None, None])
           .div(torch.tensor(channel_std)[:, None, None]).mean(dim=(0, 2, 3)).tolist()) < 1e-4, (
    "normalised training images should have mean 0 per channel")
assert val_accuracy[-1] >= 0.95, f"validation accuracy {val_accuracy[-1]:.3f} is below 0.95"
wrong = {kind: name for kind, (name, _) in predictions.items() if name != kind}
assert not wrong, f"new images misclassified: {wrong}"
shutil.rmtree(data_root)

print(f"wall time: {time.perf_counter() - start:.1f} s")

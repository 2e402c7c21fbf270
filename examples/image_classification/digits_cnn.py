# %% [markdown]
# # A CNN on the digits, end to end
#
# This program walks the whole image-classification workflow on real data that ships with
# scikit-learn: 1,797 handwritten digits of 8x8 pixels. It splits them into training,
# validation and test sets (stratified, so every digit keeps its share), normalises them with the
# training statistics, trains a small convolutional network, tracks the validation loss and
# accuracy per epoch, and measures the test accuracy, the accuracy per class and the confusion
# matrix. It then saves a checkpoint, loads it into a fresh model and checks that the predictions
# are unchanged, and finally classifies one image the way a deployed model would. Run it with
# `python examples/image_classification/digits_cnn.py`.

# %%
import os
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

start = time.perf_counter()

SEED = 0  # the split, the initial weights and the batch order all follow from it
EPOCHS = 10
BATCH_SIZE = 64
MAX_LR = 3e-3


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
# ## Data: a stratified split and normalisation
#
# A quarter of the images are held out as the test set, touched once at the end. Of the rest,
# 15% form the validation set, which is what one watches during training and uses to choose
# hyperparameters (epochs, learning rate, model size). Both splits are stratified on the label.
#
# The pixels (0 to 16) are scaled to $[0, 1]$ and then standardised with the mean and standard
# deviation of the *training* images only; the same two numbers are applied to the validation and
# test images, and later to any new image. They are saved in the checkpoint for that reason.

# %%
digits = load_digits()
images = digits.images.astype(np.float32) / 16.0  # (1797, 8, 8) in [0, 1]
labels = digits.target
class_names = [str(c) for c in digits.target_names]

x_rest, x_test, y_rest, y_test = train_test_split(
    images, labels, test_size=0.25, stratify=labels, random_state=SEED
)
x_train, x_val, y_train, y_val = train_test_split(
    x_rest, y_rest, test_size=0.15, stratify=y_rest, random_state=SEED
)
mean, std = float(x_train.mean()), float(x_train.std())


def to_dataset(x: np.ndarray, y: np.ndarray) -> TensorDataset:
    # (N, 8, 8) -> (N, 1, 8, 8): PyTorch's convolutions expect a channel dimension.
    return TensorDataset(torch.tensor((x - mean) / std).unsqueeze(1), torch.tensor(y))


train_set, val_set, test_set = (to_dataset(x, y) for x, y in
                                ((x_train, y_train), (x_val, y_val), (x_test, y_test)))
train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True,
                          generator=torch.Generator().manual_seed(SEED))
val_loader = DataLoader(val_set, batch_size=512)
test_loader = DataLoader(test_set, batch_size=512)

print(f"train {len(train_set)}, validation {len(val_set)}, test {len(test_set)} images")
print(f"normalisation from the training images: mean {mean:.4f}, std {std:.4f}")
print("test images per class:", np.bincount(y_test).tolist())

# %% [markdown]
# ## The model
#
# Three 3x3 convolutions, each followed by batch normalisation and a ReLU, with two 2x2
# max-pooling steps that take the 8x8 input down to 2x2; then dropout and one linear layer that
# produces ten raw scores (logits), one per digit. No softmax at the end: `CrossEntropyLoss`
# applies log-softmax itself.

# %%
class DigitsCNN(nn.Module):
    def __init__(self, num_classes: int = 10, dropout: float = 0.3):
        super().__init__()

        def conv_block(c_in: int, c_out: int) -> list[nn.Module]:
            # No bias in the convolution: the batch norm right after it has its own shift.
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                    nn.ReLU()]

        self.features = nn.Sequential(
            *conv_block(1, 16), *conv_block(16, 32), nn.MaxPool2d(2),  # 8x8 -> 4x4
            *conv_block(32, 32), nn.MaxPool2d(2),  # 4x4 -> 2x2
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                        nn.Linear(32 * 2 * 2, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


torch.manual_seed(SEED)
model = DigitsCNN().to(device)
print(model)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")

# %% [markdown]
# ## Training with a validation check every epoch
#
# `model.train()` switches dropout on and makes batch norm normalise with the statistics of the
# current batch (and update its running averages); `model.eval()` switches dropout off and makes
# batch norm use the running averages. `torch.inference_mode()` turns off gradient tracking for
# the evaluation, which saves memory and time. The optimizer is AdamW, with a one-cycle
# learning-rate schedule stepped after every batch.

# %%
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.AdamW(model.parameters(), lr=MAX_LR, weight_decay=1e-2)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_LR,
                                                total_steps=EPOCHS * len(train_loader))


def evaluate(model: nn.Module, loader: DataLoader) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Mean loss, the logits and the labels over a whole loader (in eval mode)."""
    model.eval()
    all_logits, all_labels = [], []
    with torch.inference_mode():
        for x, y in loader:
            all_logits.append(model(x.to(device)).float().cpu())
            all_labels.append(y)
    logits, targets = torch.cat(all_logits), torch.cat(all_labels)
    return loss_fn(logits, targets).item(), logits, targets


history = {"train_loss": [], "val_loss": [], "val_acc": []}
for epoch in range(EPOCHS):
    model.train()
    running, seen = 0.0, 0
    for x, y in train_loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        running += loss.item() * len(y)
        seen += len(y)
    val_loss, val_logits, val_targets = evaluate(model, val_loader)
    history["train_loss"].append(running / seen)
    history["val_loss"].append(val_loss)
    history["val_acc"].append((val_logits.argmax(1) == val_targets).float().mean().item())
    if sys.stdout.isatty():
        print(f"  epoch {epoch + 1:2d}  val accuracy {history['val_acc'][-1]:.4f}", flush=True)

print(f"{'epoch':>5} {'train loss':>10} {'val loss':>9} {'val acc':>8}")
for epoch in range(EPOCHS):
    print(f"{epoch + 1:>5} {history['train_loss'][epoch]:>10.4f} "
          f"{history['val_loss'][epoch]:>9.4f} {history['val_acc'][epoch]:>8.4f}")

# %%
epochs = np.arange(1, EPOCHS + 1)
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
ax_loss.plot(epochs, history["train_loss"], color="#e69f00", marker="o", label="training")
ax_loss.plot(epochs, history["val_loss"], color="#56b4e9", marker="o", label="validation")
ax_loss.set_yscale("log")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("cross-entropy loss")
ax_loss.set_title("Loss (training: mean over the epoch, in train mode)")
ax_loss.legend()
ax_acc.plot(epochs, history["val_acc"], color="#56b4e9", marker="o", label="validation")
ax_acc.set_xlabel("epoch")
ax_acc.set_ylabel("accuracy")
ax_acc.set_title("Validation accuracy")
ax_acc.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# In the first epochs the training loss lies *above* the validation loss: it is averaged over
# an epoch in which the model was still improving, and it is measured with dropout on. The two
# curves are not directly comparable, which is why the validation set is evaluated separately in
# eval mode.
#
# ## Test metrics: accuracy, accuracy per class, confusion matrix
#
# The confusion matrix counts, for each true class (row), how often the model predicted each
# class (column); its diagonal holds the correct predictions. Accuracy per class is the diagonal
# divided by the row sums (the recall of each class). Here it is computed with one
# `torch.bincount` and cross-checked against scikit-learn.

# %%
test_loss, test_logits, test_targets = evaluate(model, test_loader)
test_predictions = test_logits.argmax(dim=1)
num_classes = len(class_names)
confusion = torch.bincount(test_targets * num_classes + test_predictions,
                           minlength=num_classes**2).reshape(num_classes, num_classes)
per_class = confusion.diag() / confusion.sum(dim=1)
test_accuracy = (test_predictions == test_targets).float().mean().item()

print(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f} "
      f"({int(confusion.trace())}/{len(test_targets)})")
print("accuracy per class:")
print("  " + "  ".join(f"{name}: {acc:.3f}" for name, acc in zip(class_names, per_class.tolist())))

# %%
fig, ax = plt.subplots(figsize=(5.6, 4.8))
shown = ax.imshow(confusion.numpy(), cmap="Blues")
for i in range(num_classes):
    for j in range(num_classes):
        count = int(confusion[i, j])
        if count:
            ax.text(j, i, count, ha="center", va="center", fontsize=8,
                    color="white" if count > confusion.max() / 2 else "black")
ax.set_xticks(range(num_classes), class_names)
ax.set_yticks(range(num_classes), class_names)
ax.set_xlabel("predicted digit")
ax.set_ylabel("true digit")
ax.set_title(f"Confusion matrix on the test set ({len(test_targets)} images)")
fig.colorbar(shown, ax=ax, label="images")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Saving a checkpoint and loading it back
#
# The checkpoint holds `state_dict()`s (tensors in a dictionary, not the pickled model object),
# plus what a user of the model needs: the class names and the normalisation. The optimizer and
# scheduler states are there so that training could resume. `torch.load(..., weights_only=True)`
# (the default since PyTorch 2.6, written out here) only unpickles tensors and plain containers,
# so a checkpoint from an untrusted source cannot run code.

# %%
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "digits_cnn.pt"
    torch.save({
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": EPOCHS,
        "class_names": class_names,
        "normalisation": {"mean": mean, "std": std},
    }, path)
    size_kb = path.stat().st_size / 1024
    checkpoint = torch.load(path, map_location=device, weights_only=True)

restored = DigitsCNN(num_classes=len(checkpoint["class_names"])).to(device)
restored.load_state_dict(checkpoint["model"])
_, restored_logits, _ = evaluate(restored, test_loader)
logit_gap = (restored_logits - test_logits).abs().max().item()
same_predictions = torch.equal(restored_logits.argmax(1), test_predictions)
print(f"checkpoint: {size_kb:.0f} KiB, keys {sorted(checkpoint)}")
print(f"reloaded model: same predictions {same_predictions}, largest logit difference "
      f"{logit_gap:.1e}")

# %% [markdown]
# ## Predicting one new image
#
# A single image goes through the same steps as the training data (scale to $[0, 1]$, then
# the saved mean and standard deviation), gains a batch dimension of 1, and the logits become
# probabilities with a softmax, which is only needed here, for reading them. The image below is
# the first test image, treated as if it had just arrived.

# %%
raw_image = x_test[0] * 16.0  # back to the pixel values as stored (0 to 16)
normalisation = checkpoint["normalisation"]
x = (torch.tensor(raw_image / 16.0) - normalisation["mean"]) / normalisation["std"]
x = x.reshape(1, 1, 8, 8).to(device)  # (batch, channels, height, width)
restored.eval()
with torch.inference_mode():
    probabilities = restored(x).softmax(dim=1).squeeze(0).cpu()
top = probabilities.topk(3)
predicted = checkpoint["class_names"][top.indices[0]]
print(f"true digit {class_names[y_test[0]]}, predicted {predicted}")
print("top 3:", ", ".join(f"{checkpoint['class_names'][i]} ({p:.3f})"
                          for p, i in zip(top.values.tolist(), top.indices.tolist())))

fig, (ax_img, ax_prob) = plt.subplots(1, 2, figsize=(8, 3), gridspec_kw={"width_ratios": [1, 2]})
ax_img.imshow(raw_image, cmap="gray_r")
ax_img.set_title(f"input (true {class_names[y_test[0]]})")
ax_img.axis("off")
ax_prob.bar(class_names, probabilities.numpy(), color="#56b4e9")
ax_prob.set_xlabel("digit")
ax_prob.set_ylabel("probability")
ax_prob.set_title(f"predicted {predicted}")
fig.tight_layout()
plt.show()

# %%
# Every claim made above, checked.
assert test_accuracy >= 0.97, f"test accuracy {test_accuracy:.4f} is below 0.97"
assert history["val_acc"][-1] >= 0.95, f"final validation accuracy {history['val_acc'][-1]:.4f}"
assert history["val_loss"][-1] < history["val_loss"][0] / 5, (
    f"validation loss should fall at least 5x: {history['val_loss'][0]:.4f} -> "
    f"{history['val_loss'][-1]:.4f}")
assert all(history["train_loss"][i] > history["val_loss"][i] for i in (0, 1)), (
    f"in the first two epochs the training loss should lie above the validation loss: "
    f"{history['train_loss'][:2]} vs {history['val_loss'][:2]}")
assert per_class.min().item() >= 0.85, f"weakest class accuracy {per_class.min().item():.3f}"
assert np.array_equal(confusion.numpy(), confusion_matrix(test_targets, test_predictions)), (
    "the bincount confusion matrix should equal scikit-learn's")
assert int(confusion.sum()) == len(test_set) and np.isclose(
    confusion.trace().item() / len(test_set), test_accuracy), "confusion matrix totals"
assert same_predictions, "the reloaded model should predict exactly what the original did"
# Exactly 0 on the CPU; a GPU may pick different kernels for the new model (rounding only).
assert logit_gap <= (0.0 if device.type == "cpu" else 1e-4), f"logit difference {logit_gap:.2e}"
assert predicted == class_names[y_test[0]], f"the single image was classified as {predicted}"
assert abs(probabilities.sum().item() - 1) < 1e-5, "softmax probabilities should sum to 1"

print(f"wall time: {time.perf_counter() - start:.1f} s")

# %% [markdown]
# # Forgetting model.eval()
#
# This program trains one small CNN with dropout and batch normalisation on scikit-learn's
# bundled 8x8 digits, then scores the same trained weights on the same test images in two
# ways: in evaluation mode, as it should be, and in training mode, as happens when
# `model.eval()` is forgotten. It varies the batch size and the order of the test images
# (shuffled, or sorted by class as a folder-by-folder loader delivers them), separates the
# share of dropout from that of batch norm, and shows that a forward pass in training mode
# also rewrites the model's batch norm statistics. Run it with
# `python examples/image_classification/eval_mode_pitfall.py`.

# %%
import copy
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

start = time.perf_counter()

SEED = 0  # the split, the initial weights, the batch order and the dropout masks follow from it
EPOCHS = 8
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 450)  # 450 = the whole test set in one batch


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
# ## A model with dropout and batch norm, trained properly
#
# The data, split and model are those of the digits CNN example (`digits_cnn.py`): a stratified
# split, normalisation with the training statistics, three convolutions with batch norm, and
# dropout before the last layer. Training uses `model.train()`; nothing unusual happens here.

# %%
digits = load_digits()
images = digits.images.astype(np.float32) / 16.0
x_train, x_test, y_train, y_test = train_test_split(
    images, digits.target, test_size=0.25, stratify=digits.target, random_state=SEED
)
mean, std = x_train.mean(), x_train.std()
x_train = torch.tensor((x_train - mean) / std).unsqueeze(1)
x_test = torch.tensor((x_test - mean) / std).unsqueeze(1).to(device)
y_train, y_test = torch.tensor(y_train), torch.tensor(y_test).to(device)


def conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


torch.manual_seed(SEED)
model = nn.Sequential(
    *conv_block(1, 16), *conv_block(16, 32), nn.MaxPool2d(2),
    *conv_block(32, 32), nn.MaxPool2d(2),
    nn.Flatten(), nn.Dropout(0.3), nn.Linear(32 * 2 * 2, 10),
).to(device)

loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True,
                    generator=torch.Generator().manual_seed(SEED))
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3,
                                                total_steps=EPOCHS * len(loader))
model.train()
for epoch in range(EPOCHS):
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        scheduler.step()
print(f"trained for {EPOCHS} epochs on {len(x_train)} images; test set: {len(x_test)} images")

# %% [markdown]
# ## The same weights, scored in both modes
#
# `accuracy` runs the test set through a copy of the model in batches of a given size, in the
# requested mode. It works on a copy because, as the last section shows, a forward pass in
# training mode changes the model. Two orders of the test images are tried: shuffled, and sorted
# by class. The sorted order is not contrived: `ImageFolder` lists the images class by class,
# and a validation `DataLoader` is normally created with `shuffle=False`.

# %%
shuffled = torch.randperm(len(y_test), generator=torch.Generator().manual_seed(SEED))
by_class = torch.argsort(y_test.cpu(), stable=True)


def accuracy(model: nn.Module, batch_size: int, order: torch.Tensor, *, dropout_on: bool,
             batch_stats: bool) -> float:
    """Test accuracy of a copy of `model`, with dropout and batch norm set as requested."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if isinstance(module, nn.Dropout) and dropout_on:
            module.train()
        if isinstance(module, nn.BatchNorm2d) and batch_stats:
            module.train()  # normalise with the statistics of the batch itself
    torch.manual_seed(SEED)  # the same dropout masks on every call
    correct = 0
    with torch.inference_mode():
        for batch in order.to(device).split(batch_size):
            correct += (model(x_test[batch]).argmax(1) == y_test[batch]).sum().item()
    return correct / len(y_test)


results = {}  # (label, order name) -> accuracy per batch size
for order_name, order in (("shuffled", shuffled), ("sorted by class", by_class)):
    for label, dropout_on, batch_stats in (("model.eval()", False, False),
                                           ("train mode", True, True),
                                           ("dropout only", True, False),
                                           ("batch norm only", False, True)):
        if label == "dropout only" and order_name != "shuffled":
            continue  # dropout does not depend on the other images in the batch
        results[label, order_name] = np.array([
            accuracy(model, size, order, dropout_on=dropout_on, batch_stats=batch_stats)
            for size in BATCH_SIZES
        ])

print(f"test accuracy by batch size ({len(y_test)} test images)")
print(f"{'mode':<16} {'order':<16}" + "".join(f"{size:>7}" for size in BATCH_SIZES))
for (label, order_name), accs in results.items():
    print(f"{label:<16} {order_name:<16}" + "".join(f"{a:>7.3f}" for a in accs))

# %%
fig, ax = plt.subplots(figsize=(7.5, 4.4))
styles = {
    ("model.eval()", "shuffled"): ("#009e73", "-", "o"),
    ("train mode", "shuffled"): ("#e69f00", "-", "s"),
    ("train mode", "sorted by class"): ("#d55e00", "--", "^"),
    ("dropout only", "shuffled"): ("#56b4e9", ":", "."),
    ("batch norm only", "sorted by class"): ("#cc79a7", ":", "v"),
}
for key, (color, line, marker) in styles.items():
    ax.plot(BATCH_SIZES, 100 * results[key], color=color, ls=line, marker=marker,
            label=f"{key[0]}, {key[1]}")
ax.set_xscale("log", base=2)
ax.set_xticks(BATCH_SIZES, [str(size) for size in BATCH_SIZES])
ax.set_xlabel("evaluation batch size")
ax.set_ylabel("test accuracy (%)")
ax.set_title("One trained model, scored in eval mode and in train mode")
ax.legend(fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# In evaluation mode the batch size and order make no difference: every image is normalised
# with the running averages stored during training, so its prediction does not depend on which
# other images share its batch, and dropout is off. (Different batch sizes may run different
# kernels, so the scores can differ in the last bits; that could flip only an image whose top
# two scores tie to rounding, and the check at the end allows one such image.) In training mode
# two things go wrong:
#
# - **Dropout** zeroes 30% of the features at random (and scales the rest by $1/0.7$), so the
#   prediction is noisier; this costs some accuracy whatever the batch size (the "dropout
#   only" row).
# - **Batch norm** normalises each image with the mean and variance of its *batch*. With small
#   batches those statistics are noisy, and with a batch of one class they are the statistics
#   of that class: subtracting them removes exactly what the images of the class have in common.
#   The sorted order hurts most at batch sizes of a few to a few dozen images, the size of a
#   class here being about 45.
#
# ## Training mode also changes the model
#
# In training mode, every forward pass through a batch norm layer updates its running mean and
# variance, even inside `torch.inference_mode()`: they are buffers, not parameters, and no
# gradient is involved. Evaluating in training mode therefore overwrites statistics gathered
# over the whole training set with those of the test batches.

# %%
forgetful = copy.deepcopy(model)  # a model evaluated by someone who forgot model.eval()
first_bn = next(m for m in forgetful.modules() if isinstance(m, nn.BatchNorm2d))
mean_before, var_before = first_bn.running_mean.clone(), first_bn.running_var.clone()
forgetful.train()
with torch.inference_mode():
    for batch in by_class.to(device).split(16):
        forgetful(x_test[batch])
mean_shift = (first_bn.running_mean - mean_before).abs().max().item()
var_change = ((first_bn.running_var / var_before) - 1).abs().max().item()
after_eval = accuracy(forgetful, 450, shuffled, dropout_on=False, batch_stats=False)
print(f"first batch norm layer after one pass in train mode: running mean moved by up to "
      f"{mean_shift:.3f}, running variance changed by up to {100 * var_change:.0f}%")
print(f"eval-mode accuracy: original model {results['model.eval()', 'shuffled'][-1]:.4f}, "
      f"after the train-mode pass {after_eval:.4f}")

# %% [markdown]
# Here the damage is small, because the test images come from the same distribution as the
# training images and the pass averaged over all of them. A train-mode pass over a few unusual
# batches (one class, one camera, images of another size) would leave statistics that fit those
# batches instead. The fix is the habit: call `model.eval()` before every evaluation and
# `model.train()` before training resumes, and keep a checkpoint of the trained weights and
# buffers.

# %%
# Every claim made above, checked.
eval_shuffled = results["model.eval()", "shuffled"]
eval_sorted = results["model.eval()", "sorted by class"]
reference = eval_shuffled[-1]
assert reference >= 0.97, f"the trained model should score at least 0.97, got {reference:.4f}"
one_image = 1 / len(y_test)  # rounding could at most flip an image whose top two scores tie
assert np.all(np.abs(eval_shuffled - reference) <= one_image + 1e-9) and np.all(
    np.abs(eval_sorted - reference) <= one_image + 1e-9), (
    f"in eval mode the batch size and order should not matter: {eval_shuffled}, {eval_sorted}")
train_shuffled = results["train mode", "shuffled"]
train_sorted = results["train mode", "sorted by class"]
assert train_shuffled[0] <= reference - 0.015, (
    f"train mode one image at a time should lose at least 1.5 points: {train_shuffled[0]:.4f} "
    f"vs {reference:.4f}")
assert train_shuffled[0] < train_shuffled[-1], (
    f"train mode should do worst one image at a time: {train_shuffled}")
small = [BATCH_SIZES.index(size) for size in (4, 8, 16)]
assert np.all(train_sorted[small] <= reference - 0.03), (
    f"train mode with class-sorted batches of 4 to 16 should lose at least 3 points: "
    f"{train_sorted[small]} vs {reference:.4f}")
assert np.all(results["dropout only", "shuffled"] < reference), (
    f"dropout alone should cost accuracy: {results['dropout only', 'shuffled']}")
bn_sorted = results["batch norm only", "sorted by class"]
assert bn_sorted[small].max() <= reference - 0.025, (
    f"batch statistics alone, class-sorted, should cost at least 2.5 points: {bn_sorted[small]}")
assert bn_sorted[small].mean() < results["batch norm only", "shuffled"][small].mean(), (
    "with batch statistics, class-sorted batches should do worse than shuffled ones")
assert mean_shift > 1e-3 and var_change > 1e-3, (
    f"a train-mode pass should move the running statistics: {mean_shift:.2e}, {var_change:.2e}")
assert abs(after_eval - reference) <= 0.015, (
    f"after the pass, eval mode should still be within 1.5 points: {after_eval:.4f}")

print(f"wall time: {time.perf_counter() - start:.1f} s")

# %% [markdown]
# # Training torchvision's Inception-v3, auxiliary loss included
#
# `torchvision.models.inception_v3` behaves differently from most torchvision classifiers: in
# training mode it returns two sets of logits, the main ones and those of an auxiliary classifier
# attached in the middle of the network, and both should enter the loss. This program runs a few
# training steps on generated 299x299 images, checks which layers each loss term trains, shows the
# two errors people usually meet (a batch of one, and a smaller input), and confirms that
# evaluation mode returns plain logits. Run it with
# `python examples/inception/inception_v3_training_step.py`.

# %%
import os
import time

import matplotlib.pyplot as plt
import torch
from torch import nn
from torchvision.models import Inception_V3_Weights, inception_v3
from torchvision.models.inception import InceptionOutputs

start = time.perf_counter()

SEED = 0  # weights, images and labels follow from it
NUM_CLASSES = 10
BATCH_SIZE = 2
STEPS = 4
AUX_WEIGHT = 0.4  # weight of the auxiliary loss, as in Google's TF-Slim training script


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
    # One thread, as in the other examples: the run stays predictable on a machine shared
    # with other jobs, where more threads can make it several times slower.
    torch.set_num_threads(1)

# %% [markdown]
# ## The model
#
# `weights=None` builds the architecture with random weights (nothing is downloaded).
# `init_weights=True` asks for torchvision's truncated-normal initialisation explicitly; leaving
# it out gives the same result plus a `FutureWarning`. `aux_logits=True` is the default.

# %%
torch.manual_seed(SEED)
model = inception_v3(weights=None, aux_logits=True, init_weights=True,
                     num_classes=NUM_CLASSES).to(device)
parameters = sum(p.numel() for p in model.parameters())
aux_parameters = sum(p.numel() for p in model.AuxLogits.parameters())
print(f"parameters: {parameters:,} (auxiliary classifier: {aux_parameters:,})")
print(f"transform_input: {model.transform_input}")

# %% [markdown]
# To fine-tune the ImageNet weights instead, build it with
# `inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1)` (a download of about 100 MB), then
# replace both classifier layers, `model.fc` and `model.AuxLogits.fc`, with new
# `nn.Linear(..., NUM_CLASSES)` layers. With those weights `transform_input` is switched on: the
# model expects images normalised with the usual ImageNet mean and standard deviation and converts
# them internally to the $[-1, 1]$ scaling the original weights were trained with. The weights'
# own preprocessing is available offline:

# %%
print(Inception_V3_Weights.IMAGENET1K_V1.transforms())

# %% [markdown]
# ## A batch of generated data
#
# Random images at the required 299x299, with zero mean and unit variance per channel like
# normalised photos, and random labels. Two images at least: in training mode batch norm needs more
# than one value per channel.

# %%
generator = torch.Generator().manual_seed(SEED)
images = torch.randn(BATCH_SIZE, 3, 299, 299, generator=generator).to(device)
labels = torch.randint(0, NUM_CLASSES, (BATCH_SIZE,), generator=generator).to(device)
print(f"images {tuple(images.shape)}, labels {labels.tolist()}")

# %% [markdown]
# ## The training step
#
# The loss is the main loss plus 0.4 times the auxiliary one, the weight that Google's TensorFlow
# training code for Inception-v3 uses ([TF-Slim's train_image_classifier.py][slim-train]), both
# with label smoothing 0.1 as in the Inception-v3 paper. On the first step, `torch.autograd.grad`
# asks, before the update, which parameters the auxiliary loss alone reaches: its own classifier
# and the layers below the point where it branches off (after `Mixed_6e`), but not the top of the
# network (`Mixed_7c`).
#
# [slim-train]: https://github.com/tensorflow/models/blob/master/research/slim/train_image_classifier.py

# %%
criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
model.train()

history = {"main": [], "aux": [], "total": []}
probes = {"AuxLogits.fc": model.AuxLogits.fc.weight,
          "Mixed_6e (below the branch)": model.Mixed_6e.branch1x1.conv.weight,
          "Mixed_7c (above the branch)": model.Mixed_7c.branch1x1.conv.weight}
for step in range(STEPS):
    outputs = model(images)
    main_loss = criterion(outputs.logits, labels)
    aux_loss = criterion(outputs.aux_logits, labels)
    loss = main_loss + AUX_WEIGHT * aux_loss
    if step == 0:
        output_type = type(outputs)
        print(f"training mode returns {output_type.__name__}: logits "
              f"{tuple(outputs.logits.shape)}, aux_logits {tuple(outputs.aux_logits.shape)}")
        aux_grads = torch.autograd.grad(aux_loss, list(probes.values()), retain_graph=True,
                                        allow_unused=True)
        reached = {name: g is not None and g.abs().sum().item() > 0
                   for name, g in zip(probes, aux_grads)}
        for name, hit in reached.items():
            print(f"  auxiliary loss reaches {name}: {hit}")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    for key, value in (("main", main_loss), ("aux", aux_loss), ("total", loss)):
        history[key].append(value.item())
    print(f"step {step + 1}: loss {loss.item():.4f} (main {main_loss.item():.4f}, "
          f"aux {aux_loss.item():.4f})")

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.8))
steps = range(1, STEPS + 1)
for key, color in (("total", "#cc79a7"), ("main", "#56b4e9"), ("aux", "#e69f00")):
    ax.plot(steps, history[key], marker="o", color=color,
            label={"total": f"main + {AUX_WEIGHT} x aux", "main": "main", "aux": "auxiliary"}[key])
ax.set_xticks(list(steps))
ax.set_xlabel("training step (the same batch each time)")
ax.set_ylabel("cross-entropy (label smoothing 0.1)")
ax.set_title("Inception-v3 on one generated batch")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The same batch is used at every step, so falling losses only show that the step is wired
# correctly (gradients flow, the optimizer updates the weights): a sanity check, not learning. The
# auxiliary loss falls at every step; the main loss jumps around more, because the main head applies
# dropout with probability 0.5 to a batch of two images (the auxiliary head has no dropout).
#
# ## Two errors in training mode
#
# A batch of one fails because of the auxiliary classifier's shapes: it average-pools `Mixed_6e`'s
# 17x17x768 map with a 5x5 window at stride 3 to 5x5x768, a 1x1 convolution reduces that to
# 5x5x128, and a 5x5 convolution turns it into 1x1x768, so the batch norm after that convolution
# has a single value per channel. And 299x299 is the smallest input that works with the auxiliary
# classifier: one pixel less and `Mixed_6e`'s map is 16x16, which the pooling turns into 4x4, too
# small for the 5x5 convolution.

# %%
errors = {}
for label, shape in (("batch of one", (1, 3, 299, 299)), ("298x298 input", (2, 3, 298, 298))):
    try:
        model(torch.randn(shape, device=device))
        errors[label] = None
    except (ValueError, RuntimeError) as error:
        errors[label] = error
        print(f"{label}: {type(error).__name__}: {str(error).splitlines()[0][:90]}")

# %% [markdown]
# ## Evaluation: plain logits
#
# In evaluation mode the auxiliary classifier is skipped and the model returns a plain tensor of
# logits, so code written for other classifiers works unchanged; a batch of one is fine, because
# batch norm now uses its running statistics.

# %%
model.eval()
with torch.inference_mode():
    eval_logits = model(images)
    single = model(images[:1])
print(f"evaluation mode returns {type(eval_logits).__name__} {tuple(eval_logits.shape)}; "
      f"batch of one: {tuple(single.shape)}")

# %%
# Every claim made above, checked.
assert output_type is InceptionOutputs, (
    f"training mode should return InceptionOutputs: {output_type}")
assert reached == {"AuxLogits.fc": True, "Mixed_6e (below the branch)": True,
                   "Mixed_7c (above the branch)": False}, f"auxiliary gradient routing: {reached}"
assert min(history["total"][1:]) < history["total"][0], (
    f"the loss on a repeated batch should fall below its first value: {history['total']}")
assert all(b < a for a, b in zip(history["aux"], history["aux"][1:])), (
    f"the auxiliary loss should fall at every step: {history['aux']}")
assert isinstance(errors["batch of one"], ValueError), f"batch of one: {errors['batch of one']!r}"
assert isinstance(errors["298x298 input"], RuntimeError), f"298x298: {errors['298x298 input']!r}"
assert type(eval_logits) is torch.Tensor and eval_logits.shape == (BATCH_SIZE, NUM_CLASSES), (
    f"evaluation mode should return a tensor of logits: {type(eval_logits)}")
assert single.shape == (1, NUM_CLASSES)

print(f"wall time: {time.perf_counter() - start:.1f} s")

# %% [markdown]
# # Freeze, then replace: preparing a torchvision model for transfer
#
# The usual recipe for transfer learning with a torchvision model has three moves: freeze the
# pretrained layers, replace the classifier, and train. This program does them on
# `resnet18` in both orders and shows what each leaves trainable, then looks at two things
# that `requires_grad_(False)` does *not* freeze: the running statistics of batch
# normalisation, which still move in `train()` mode, and the optimizer, whose parameter groups
# decide how fast each part of the network learns. It builds the model with `weights=None`, so
# it runs offline; with `weights=ResNet18_Weights.DEFAULT` (a 45 MB download) everything below
# is the same. Run it with `python examples/transfer_learning/freeze_then_replace.py`.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torchvision.models import resnet18
from torchvision.ops.misc import FrozenBatchNorm2d

start = time.perf_counter()

SEED = 0
NUM_CLASSES = 2  # the original answer's example: a two-class problem
IMAGE_SIZE = 64  # ResNets accept any size from 32 up; small images keep this fast on a CPU


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
    # Small batches of small images: threads gain little, and on a busy machine they wait.
    torch.set_num_threads(1)

torch.manual_seed(SEED)
images = torch.randn(8, 3, IMAGE_SIZE, IMAGE_SIZE, device=device)  # stand-ins for a batch
targets = torch.randint(NUM_CLASSES, (8,), device=device)


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

# %% [markdown]
# ## Replace, then freeze: nothing left to train
#
# The original answer's code replaces `fc` first and then sets `requires_grad = False` on
# *every* parameter of the model, which by then includes the new layer. Nothing is trainable,
# the loss has no `grad_fn`, and `loss.backward()` raises. (Its optimizer is built on
# `model.fc.parameters()` without complaint: the error only comes at the first backward.)

# %%
model = resnet18(weights=None).to(device)  # the original: resnet18(pretrained=True)
model.fc = nn.Linear(model.fc.in_features, NUM_CLASSES).to(device)
for param in model.parameters():
    param.requires_grad = False
optimizer = torch.optim.Adam(model.fc.parameters(), lr=0.001)

loss = nn.functional.cross_entropy(model(images), targets)
print(f"trainable parameters: {count_trainable(model)}, loss.requires_grad: {loss.requires_grad}")
try:
    loss.backward()
    replace_then_freeze_error = None
except RuntimeError as error:
    replace_then_freeze_error = error
    print(f"loss.backward() raised {type(error).__name__}: {error}")

# %% [markdown]
# ## Freeze, then replace: exactly the head is trained
#
# Freeze first, then put the new layer in: a freshly created `nn.Linear` has
# `requires_grad=True`, so it is the only trainable part. `requires_grad_(False)` on a module
# does the loop in one call. A few steps of training then change the head and nothing else,
# and the frozen layers get no `.grad` at all: autograd does not even compute those gradients,
# which is what makes feature extraction cheap.

# %%
torch.manual_seed(SEED)
model = resnet18(weights=None).to(device)
model.requires_grad_(False)  # freeze everything pretrained ...
model.fc = nn.Linear(model.fc.in_features, NUM_CLASSES).to(device)  # ... then add the new head
head_size = model.fc.in_features * NUM_CLASSES + NUM_CLASSES
print(f"trainable parameters: {count_trainable(model):,} of "
      f"{sum(p.numel() for p in model.parameters()):,} (the head: {head_size:,})")

before = {name: p.detach().clone() for name, p in model.named_parameters()}
optimizer = torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=0.001)
model.train()
for _ in range(3):
    loss = nn.functional.cross_entropy(model(images), targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
changed = sorted(name for name, p in model.named_parameters() if not torch.equal(p, before[name]))
with_grad = sorted(name for name, p in model.named_parameters() if p.grad is not None)
print(f"parameters changed by training: {changed}")
print(f"parameters with a .grad: {with_grad}")

# %% [markdown]
# ## Frozen weights, moving statistics
#
# Batch normalisation keeps running estimates of the mean and variance of its inputs
# (buffers, not parameters). `requires_grad_(False)` does not touch them: in `train()` mode
# every forward pass updates them, with momentum 0.1, towards the statistics of the current
# batch. When the new data differ from the pretraining data, as they usually do, the "frozen"
# backbone drifts, although no weight changes. Below, batches whose statistics differ from the
# ones the model holds (brighter and more contrasted) go through four versions of the same
# frozen network:
#
# - `model.train()`: the statistics move;
# - `model.eval()`: they stay put (but dropout, where there is any, is off too);
# - `model.train()` and then `.eval()` on every batch-norm layer of the backbone: the usual
#   fix when the head (or a part being fine-tuned) needs training mode;
# - built with `norm_layer=FrozenBatchNorm2d` (from `torchvision.ops`), whose statistics are
#   constants, as in torchvision's detection models. It loads the same `state_dict`.

# %%
def frozen_resnet(norm_layer=None) -> nn.Module:
    torch.manual_seed(SEED)
    reference = resnet18(weights=None)  # stands for the pretrained weights
    model = resnet18(weights=None, norm_layer=norm_layer) if norm_layer else resnet18(weights=None)
    model.load_state_dict(reference.state_dict())
    model.requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, NUM_CLASSES)
    return model.to(device)


def bn_eval(model: nn.Module) -> nn.Module:
    """Training mode for the model, evaluation mode for its batch-norm layers."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    return model


variants = {
    "train()": lambda: frozen_resnet().train(),
    "eval()": lambda: frozen_resnet().eval(),
    "train(), batch norm in eval()": lambda: bn_eval(frozen_resnet()),
    "FrozenBatchNorm2d": lambda: frozen_resnet(FrozenBatchNorm2d).train(),
}
STEPS = 15
probe_batch = torch.randn(4, 3, IMAGE_SIZE, IMAGE_SIZE, device=device)  # a fixed test batch
with torch.no_grad():
    reference_output = frozen_resnet().eval()(probe_batch)  # the loaded model's predictions
drift, output_change = {}, {}
for name, build in variants.items():
    model = build()
    start_mean = model.bn1.running_mean.clone()  # the first batch norm, after the first conv
    shifted = torch.Generator().manual_seed(SEED + 1)  # the same batches for every variant
    distances = [0.0]
    with torch.no_grad():  # no gradients, no optimizer: only forward passes
        for _ in range(STEPS):
            batch = 0.5 + 2.0 * torch.randn(16, 3, IMAGE_SIZE, IMAGE_SIZE, generator=shifted)
            model(batch.to(device))
            distances.append((model.bn1.running_mean - start_mean).norm().item())
        after_output = model.eval()(probe_batch)
    drift[name] = np.array(distances)
    output_change[name] = (after_output - reference_output).abs().max().item()
    print(f"{name:<30} running_mean moved by {drift[name][-1]:.3f}; "
          f"eval() outputs on a fixed batch changed by up to {output_change[name]:.2g}")
output_scale = reference_output.abs().max().item()
print(f"(largest output of the loaded model on that batch: {output_scale:.2f})")

COLORS = ["#d55e00", "#0072b2", "#009e73", "#cc79a7"]  # Okabe-Ito
STYLES = ["-", "--", "-.", ":"]
fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=90)
for (name, values), color, style in zip(drift.items(), COLORS, STYLES):
    ax.plot(range(STEPS + 1), values, style, color=color, label=name, lw=2)
ax.set_xlabel("forward passes (no optimizer step, all weights frozen)")
ax.set_ylabel("distance of bn1.running_mean\nfrom its loaded value")
ax.set_title("A frozen backbone's batch-norm statistics in each mode", fontsize=10)
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# Only the plain `train()` variant drifts, and with it the predictions the model makes
# afterwards in `eval()` mode: no parameter changed, but the model did.
#
# ## Learning rates per parameter group
#
# Fine-tuning usually trains the pretrained layers more gently than the new head. An optimizer
# takes a list of *parameter groups*, each a dict with its own options; options not given in
# a group (here `weight_decay`) come from the keyword arguments. A learning-rate scheduler then
# scales every group's rate by the same factor. For plain SGD without momentum the update is
# exactly $-\text{lr} \cdot \text{grad}$, so the step each group takes can be checked.

# %%
torch.manual_seed(SEED)
model = resnet18(weights=None).to(device)
model.fc = nn.Linear(model.fc.in_features, NUM_CLASSES).to(device)
backbone = [p for name, p in model.named_parameters() if not name.startswith("fc.")]
optimizer = torch.optim.SGD(
    [{"params": backbone, "lr": 1e-4}, {"params": model.fc.parameters(), "lr": 1e-2}],
    weight_decay=0.0,
)
schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
for group in optimizer.param_groups:
    print(f"group: {len(group['params'])} tensors, "
          f"{sum(p.numel() for p in group['params']):,} values, lr {group['lr']:g}")

before = {name: p.detach().clone() for name, p in model.named_parameters()}
model.train()
loss = nn.functional.cross_entropy(model(images), targets)
optimizer.zero_grad()
loss.backward()
optimizer.step()
schedule.step()
step_error = {}
for name, p in model.named_parameters():
    lr = 1e-2 if name.startswith("fc.") else 1e-4
    expected = before[name] - lr * p.grad
    scale = before[name].abs().max() + 1e-12
    step_error[name] = ((p.detach() - expected).abs().max() / scale).item()
print(f"largest deviation from p - lr * grad (relative): {max(step_error.values()):.1e}")
print("after one StepLR step, lrs:", [f"{g['lr']:g}" for g in optimizer.param_groups])

# %% [markdown]
# ## Gradual unfreezing
#
# A middle way between a frozen backbone and fine-tuning everything: start with the head, then
# unfreeze the backbone from the top down, a stage at a time (ULMFiT's "gradual unfreezing").
# Each newly unfrozen stage can join the optimizer as a new parameter group with its own,
# smaller learning rate (`add_param_group`). Building the optimizer on all parameters from the
# start works too, since parameters without a gradient are skipped, but a stage that later
# becomes trainable then learns at whatever rate its group had.

# %%
torch.manual_seed(SEED)
model = resnet18(weights=None).to(device)
model.requires_grad_(False)
model.fc = nn.Linear(model.fc.in_features, NUM_CLASSES).to(device)
optimizer = torch.optim.AdamW(model.fc.parameters(), lr=1e-3)
trainable_per_phase = [count_trainable(model)]
print(f"phase 0: head only             {trainable_per_phase[-1]:>10,} trainable")
for phase, (stage, lr) in enumerate([("layer4", 3e-4), ("layer3", 1e-4), ("layer2", 3e-5)], 1):
    module = getattr(model, stage)
    module.requires_grad_(True)
    optimizer.add_param_group({"params": module.parameters(), "lr": lr})
    trainable_per_phase.append(count_trainable(model))
    print(f"phase {phase}: + {stage} at lr {lr:g} {trainable_per_phase[-1]:>10,} trainable")
print("optimizer groups:", [(len(g["params"]), f"{g['lr']:g}") for g in optimizer.param_groups])

# %%
# Every claim made above, checked.
assert replace_then_freeze_error is not None, "replace-then-freeze should make backward() raise"
assert "does not require grad" in str(replace_then_freeze_error), str(replace_then_freeze_error)

assert head_size == 512 * NUM_CLASSES + NUM_CLASSES
assert changed == ["fc.bias", "fc.weight"], f"only the head should change: {changed}"
assert with_grad == ["fc.bias", "fc.weight"], f"only the head should get gradients: {with_grad}"

assert drift["train()"][-1] > 0.5, f"train() should move the statistics: {drift['train()'][-1]:.3g}"
for name in ("eval()", "train(), batch norm in eval()", "FrozenBatchNorm2d"):
    assert drift[name][-1] == 0.0, f"{name}: statistics should not move: {drift[name][-1]:.3g}"
    assert output_change[name] < 1e-5 * output_scale, (
        f"{name}: outputs should not change: {output_change[name]:.3g} (scale {output_scale:.3g})")
assert output_change["train()"] > 0.1 * output_scale, (
    f"the drift in train() should change the eval() outputs: {output_change} "
    f"(scale {output_scale:.3g})")

lrs = [group["lr"] for group in optimizer.param_groups]
assert max(step_error.values()) < 1e-5, f"each group should step by its own lr: {step_error}"
assert trainable_per_phase == sorted(trainable_per_phase) and trainable_per_phase[0] == head_size, (
    f"unfreezing should add parameters phase by phase: {trainable_per_phase}")
assert lrs == [1e-3, 3e-4, 1e-4, 3e-5], f"one group per phase with its lr: {lrs}"

print(f"wall time: {time.perf_counter() - start:.1f} s")

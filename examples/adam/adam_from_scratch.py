# %% [markdown]
# # Adam and AdamW from scratch
#
# This program writes the Adam and AdamW update rules out with plain tensor operations and
# trains a small MLP on scikit-learn's bundled 8x8 digits with them, in lockstep with
# `torch.optim.Adam` and `torch.optim.AdamW`: same initial weights, same minibatches. After 200
# steps the from-scratch and library weights agree to rounding (the output gives the largest
# difference; the checks allow 1e-6). It then shows the one real difference between the two
# optimizers, where the weight decay enters, by training Adam with an L2 term and AdamW with the
# same `weight_decay` number and measuring how far apart they end.
# Run it with `python examples/adam/adam_from_scratch.py`.

# %%
import copy
import inspect
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

start = time.perf_counter()

SEED = 0  # initial weights, train/test split and minibatch order all follow from it
STEPS = 200
BATCH_SIZE = 128
LR = 3e-3
WD_ADAM = 1e-2  # Adam's weight_decay: an L2 term added to the gradient
WD_ADAMW = 1e-1  # AdamW's weight_decay: a decoupled shrink of the weights

# Okabe-Ito colours: readable on white and dark backgrounds.
COLORS = {"Adam": "#e69f00", "AdamW": "#56b4e9", "none": "#999999", "Adam+L2": "#cc79a7"}


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
# Everything below runs in float64 (see the next cells); Apple's MPS backend has no float64,
# so on a Mac this example runs on the CPU instead.
if device.type == "mps":
    device = torch.device("cpu")
if device.type == "cpu":
    # The model is tiny: extra CPU threads only add synchronisation overhead (and slow down a
    # lot when other programs share the cores).
    torch.set_num_threads(1)
print(f"device: {device}")

# %% [markdown]
# ## The update rule
#
# For a parameter $\theta$ with gradient $g_t$ at step $t$ (learning rate $\alpha$, betas
# $\beta_1, \beta_2$, small $\epsilon$, weight decay $\lambda$), Adam keeps two running averages
# and corrects them for starting at zero:
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1)\,g_t, \qquad
#   v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2,$$
#
# $$\hat m_t = \frac{m_t}{1-\beta_1^t}, \qquad \hat v_t = \frac{v_t}{1-\beta_2^t}, \qquad
#   \theta_t = \theta_{t-1} - \alpha\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}.$$
#
# The two optimizers differ only in the weight decay:
#
# - **Adam** (`torch.optim.Adam(weight_decay=λ)`) adds an L2 term to the gradient *before* the
#   averages, $g_t \leftarrow g_t + \lambda\,\theta_{t-1}$, so the decay is divided by
#   $\sqrt{\hat v_t}$ like everything else.
# - **AdamW** (`torch.optim.AdamW(weight_decay=λ)`) leaves the gradient alone and shrinks the
#   weights directly, $\theta_{t-1} \leftarrow (1 - \alpha\lambda)\,\theta_{t-1}$, before the
#   Adam step ("decoupled" weight decay, Loshchilov and Hutter).
#
# The class below is exactly this, one tensor operation per line.


# %%
class ScratchAdam:
    """Adam (L2 weight decay) or AdamW (decoupled weight decay) with plain tensor operations."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled=False):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.weight_decay, self.decoupled = weight_decay, decoupled
        self.state = [
            {"step": 0, "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
            for p in self.params
        ]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        beta1, beta2 = self.betas
        lr, eps, wd = self.lr, self.eps, self.weight_decay
        for p, state in zip(self.params, self.state):
            grad = p.grad
            state["step"] += 1
            t = state["step"]
            if wd != 0:
                if self.decoupled:
                    p.mul_(1 - lr * wd)  # AdamW: shrink the weights, the gradient is untouched
                else:
                    grad = grad + wd * p  # Adam: the L2 term joins the gradient
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m.mul_(beta1).add_((1 - beta1) * grad)
            v.mul_(beta2).add_((1 - beta2) * grad * grad)
            m_hat = m / (1 - beta1**t)
            v_hat = v / (1 - beta2**t)
            p.sub_(lr * m_hat / (v_hat.sqrt() + eps))


# %% [markdown]
# ## Data, model and the lockstep loop
#
# The digits are standardized with statistics from the training split only. Every run starts
# from a copy of one randomly initialised MLP and walks through one fixed list of minibatches,
# so any difference between two runs comes from the optimizer alone.
#
# The comparison is in float64. Our code and PyTorch's compute the same formula in a different
# order (for example $\sqrt{v}/\sqrt{1-\beta_2^t}$ against $\sqrt{v/(1-\beta_2^t)}$), so they
# round differently in the last bit, and training feeds those differences back in: Adam divides
# by $\sqrt{\hat v}$, so a last-bit difference in a tiny gradient can become a difference in a
# whole step. In float32 (last bit about 1e-7) that feedback can grow the gap over 200 steps
# far past the last bit, too close to a tolerance that would still catch a real bug; in float64
# (last bit about 1e-16) it stays many orders of magnitude below the 1e-6 the checks allow.

# %%
torch.manual_seed(SEED)
rng = np.random.default_rng(SEED)

digits = load_digits()
x_train, x_test, y_train, y_test = train_test_split(
    digits.data, digits.target, test_size=0.2, random_state=SEED, stratify=digits.target
)
scaler = StandardScaler().fit(x_train)
x_train = torch.tensor(scaler.transform(x_train), dtype=torch.float64, device=device)
x_test = torch.tensor(scaler.transform(x_test), dtype=torch.float64, device=device)
y_train = torch.tensor(y_train, device=device)
y_test = torch.tensor(y_test, device=device)

base_model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
base_model = base_model.to(device=device, dtype=torch.float64)

# One fixed list of minibatches (a fresh shuffle per epoch), shared by every run.
batches = []
while len(batches) < STEPS:
    order = rng.permutation(len(x_train))
    batches += [order[i:i + BATCH_SIZE] for i in range(0, len(order) - BATCH_SIZE + 1, BATCH_SIZE)]
batches = [torch.as_tensor(b, device=device) for b in batches[:STEPS]]
loss_fn = nn.CrossEntropyLoss()


def train_lockstep(make_optimizers):
    """Train one copy of base_model per optimizer on the same batches, returning the models
    and, per step, the largest parameter difference between the first two runs and the norm
    of the two weight matrices (biases left out) of each run."""
    models = [copy.deepcopy(base_model) for _ in make_optimizers]
    optimizers = [make(m.parameters()) for make, m in zip(make_optimizers, models)]
    max_diffs, weight_norms = [], []
    for idx in batches:
        for model, opt in zip(models, optimizers):
            opt.zero_grad()
            loss_fn(model(x_train[idx]), y_train[idx]).backward()
            opt.step()
        with torch.no_grad():
            pairs = zip(models[0].parameters(), models[1].parameters())
            max_diffs.append(max((p - q).abs().max().item() for p, q in pairs))
            weight_norms.append([
                torch.cat([m[0].weight.flatten(), m[2].weight.flatten()]).norm().item()
                for m in models
            ])
    return models, np.array(max_diffs), np.array(weight_norms)


@torch.inference_mode()
def test_accuracy(model):
    return (model(x_test).argmax(dim=1) == y_test).double().mean().item()


def max_param_diff(model_a, model_b):
    with torch.no_grad():
        pairs = zip(model_a.parameters(), model_b.parameters())
        return max((p - q).abs().max().item() for p, q in pairs)


# %% [markdown]
# ## From scratch against torch.optim
#
# Adam with an L2 weight decay of 0.01 and AdamW with a decoupled weight decay of 0.1, each
# trained twice side by side: once with `ScratchAdam`, once with the library class.

# %%
(adam_ours, adam_torch), adam_diffs, _ = train_lockstep([
    lambda ps: ScratchAdam(ps, lr=LR, weight_decay=WD_ADAM),
    lambda ps: torch.optim.Adam(ps, lr=LR, weight_decay=WD_ADAM),
])
(adamw_ours, adamw_torch), adamw_diffs, _ = train_lockstep([
    lambda ps: ScratchAdam(ps, lr=LR, weight_decay=WD_ADAMW, decoupled=True),
    lambda ps: torch.optim.AdamW(ps, lr=LR, weight_decay=WD_ADAMW),
])

print(f"{'pair':<34}{'max |diff| after 200 steps':>28}{'test acc (ours / torch)':>26}")
for name, ours, theirs, diffs in [
    (f"ScratchAdam vs Adam (wd={WD_ADAM})", adam_ours, adam_torch, adam_diffs),
    (f"ScratchAdamW vs AdamW (wd={WD_ADAMW})", adamw_ours, adamw_torch, adamw_diffs),
]:
    accs = f"{test_accuracy(ours):.3f} / {test_accuracy(theirs):.3f}"
    print(f"{name:<34}{diffs[-1]:>28.2e}{accs:>26}")

# %% [markdown]
# `torch.optim.Adam` also takes `decoupled_weight_decay=True` (the flag exists in recent
# PyTorch; the cell checks for it), which turns it into AdamW.

# %%
has_decoupled_flag = "decoupled_weight_decay" in inspect.signature(torch.optim.Adam).parameters
print(f"torch {torch.__version__}: Adam has decoupled_weight_decay: {has_decoupled_flag}")
if has_decoupled_flag:
    (adam_decoupled, adamw_again), flag_diffs, _ = train_lockstep([
        lambda ps: torch.optim.Adam(ps, lr=LR, weight_decay=WD_ADAMW, decoupled_weight_decay=True),
        lambda ps: torch.optim.AdamW(ps, lr=LR, weight_decay=WD_ADAMW),
    ])
    print(f"Adam(decoupled_weight_decay=True) vs AdamW: max |diff| = {flag_diffs[-1]:.2e}")

# %% [markdown]
# ## Same weight_decay, different optimizer
#
# Now Adam with L2 and AdamW with the *same* learning rate and the *same* `weight_decay`
# value (0.1), plus a run without any decay for reference. In Adam the L2 gradient
# $\lambda\theta$ is divided by $\sqrt{\hat v}$: for a weight whose loss gradient is tiny,
# that ratio is close to $\pm 1$ and the weight moves towards zero by about $\alpha$ per
# step, whatever its size. AdamW instead multiplies every weight by $1-\alpha\lambda$ per
# step, here $1 - 3\cdot 10^{-4}$, which over 200 steps is at most a 6 % shrink. So the same
# number means two different regularizers, and which one decays more depends on the
# gradients, the learning rate and the number of steps; here we just measure it.

# %%
(no_decay, adam_l2, adamw), _, norms = train_lockstep([
    lambda ps: torch.optim.Adam(ps, lr=LR),
    lambda ps: torch.optim.Adam(ps, lr=LR, weight_decay=WD_ADAMW),
    lambda ps: torch.optim.AdamW(ps, lr=LR, weight_decay=WD_ADAMW),
])
l2_vs_w = max_param_diff(adam_l2, adamw)
l2_vs_none = max_param_diff(adam_l2, no_decay)
w_vs_none = max_param_diff(adamw, no_decay)
final_norms = dict(zip(["no decay", "Adam+L2", "AdamW"], norms[-1]))
# The typical size of a first-layer weight (input pixel -> hidden unit).
median_w1 = {
    name: model[0].weight.detach().abs().median().item()
    for name, model in zip(final_norms, [no_decay, adam_l2, adamw])
}

print(f"{'run (lr=3e-3, wd=0.1)':<24}{'weight norm':>12}{'median |W1|':>13}{'test acc':>10}")
for (name, norm), model in zip(final_norms.items(), [no_decay, adam_l2, adamw]):
    print(f"{name:<24}{norm:>12.3f}{median_w1[name]:>13.4f}{test_accuracy(model):>10.3f}")
print(f"max |Adam+L2 - AdamW|     = {l2_vs_w:.3f}")
print(f"max |Adam+L2 - no decay|  = {l2_vs_none:.3f}")
print(f"max |AdamW - no decay|    = {w_vs_none:.3f}")

# %%
fig, (ax_diff, ax_norm) = plt.subplots(1, 2, figsize=(11, 4))
steps = np.arange(1, STEPS + 1)
# An exact 0 cannot be drawn on a log axis: show it at 1e-20.
ax_diff.semilogy(steps, np.maximum(adam_diffs, 1e-20), color=COLORS["Adam"],
                 label="ScratchAdam vs torch.optim.Adam")
ax_diff.semilogy(steps, np.maximum(adamw_diffs, 1e-20), color=COLORS["AdamW"],
                 label="ScratchAdam (decoupled) vs torch.optim.AdamW")
ax_diff.axhline(1e-6, color=COLORS["none"], linestyle="--", label="asserted tolerance 1e-6")
ax_diff.set_xlabel("step")
ax_diff.set_ylabel("max |parameter difference|")
ax_diff.set_title("From scratch vs torch.optim (float64)")
ax_diff.legend()

for (name, color), series in zip(
    [("no decay", COLORS["none"]), ("Adam + L2, wd=0.1", COLORS["Adam+L2"]),
     ("AdamW, wd=0.1", COLORS["AdamW"])],
    norms.T,
):
    ax_norm.plot(steps, series, color=color, label=name)
ax_norm.set_xlabel("step")
ax_norm.set_ylabel("norm of the weight matrices")
ax_norm.set_title("Same weight_decay value, different optimizer")
ax_norm.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# In this run the L2 version is by far the stronger regularizer (see the table): the norm of
# its weight matrices ends well below AdamW's (the checks ask for less than 0.6 times), and its
# typical first-layer weight (median $|W_1|$) below 0.4 times AdamW's, while AdamW's weights
# stay close to the undecayed run's. The same `weight_decay` number is two different
# regularizers, so a value tuned for one of the two optimizers is no guide for the other.

# %% [markdown]
# ## Checks
#
# Every claim above, asserted.

# %%
assert adam_diffs[-1] < 1e-6, f"ScratchAdam drifted from torch.optim.Adam: {adam_diffs[-1]:.3g}"
assert adamw_diffs[-1] < 1e-6, f"ScratchAdam drifted from torch.optim.AdamW: {adamw_diffs[-1]:.3g}"
assert test_accuracy(adam_torch) > 0.9, f"Adam test accuracy {test_accuracy(adam_torch):.3f}"
assert test_accuracy(adamw_torch) > 0.9, f"AdamW test accuracy {test_accuracy(adamw_torch):.3f}"
if has_decoupled_flag:
    assert flag_diffs[-1] < 1e-6, (
        f"Adam(decoupled_weight_decay=True) differs from AdamW: {flag_diffs[-1]:.3g}"
    )
# Adam+L2 and AdamW end far apart, much further apart than AdamW is from no decay at all,
# and here the L2 version shrinks the weights much more; AdamW still shrinks them a little.
l2_norm, w_norm, none_norm = final_norms["Adam+L2"], final_norms["AdamW"], final_norms["no decay"]
assert l2_norm < 0.6 * w_norm, f"Adam+L2 weight norm {l2_norm:.3f} vs AdamW {w_norm:.3f}"
assert w_norm < none_norm, f"AdamW weight norm {w_norm:.3f} vs no decay {none_norm:.3f}"
assert median_w1["Adam+L2"] < 0.4 * median_w1["AdamW"], (
    f"median |W1|: Adam+L2 {median_w1['Adam+L2']:.4f} vs AdamW {median_w1['AdamW']:.4f}"
)
assert l2_vs_w > 0.05, f"expected Adam+L2 and AdamW to differ, max |diff| = {l2_vs_w:.3g}"
assert l2_vs_w > 5 * w_vs_none, (
    f"Adam+L2 vs AdamW {l2_vs_w:.3g} is not well above AdamW vs no decay {w_vs_none:.3g}"
)
print(f"wall time: {time.perf_counter() - start:.1f} s")

# %% [markdown]
# # Attention from scratch, checked against PyTorch
#
# This program writes scaled dot-product attention and multi-head attention with plain tensor
# operations and checks them against `torch.nn.functional.scaled_dot_product_attention` and
# `torch.nn.MultiheadAttention` (with the module's own weights copied into the hand-written
# version): without a mask, with a causal mask, with a key-padding mask and with both, for
# self-attention and for cross-attention. They agree to float32 rounding. It then shows the
# boolean-mask trap (the two functions read `True` in opposite ways) changing the result, and
# draws what attention does as a heatmap. Run it with
# `python examples/transformer/attention_from_scratch.py`.

# %%
import math
import os
import time

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.nn import functional as F

start = time.perf_counter()

SEED = 0
BATCH, HEADS, EMBED = 3, 4, 32  # 4 heads of 8 dimensions each
TOL = 1e-5  # float32 rounding, relative to the size of the outputs


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
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead on a shared machine
# Plain float32 matrix products everywhere: TF32 on recent NVIDIA GPUs would round the
# hand-written products to about 1e-3 and hide what this program checks.
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(SEED)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference, relative to the largest value of the reference."""
    return ((a - b).abs().max() / b.abs().max()).item()

# %% [markdown]
# ## Scaled dot-product attention
#
# For queries $Q$ (shape $L \times d_k$), keys $K$ ($S \times d_k$) and values $V$
# ($S \times d_v$):
#
# $$\operatorname{Attention}(Q, K, V)
#   = \operatorname{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}} + M\right) V$$
#
# where the mask $M$ is $0$ where a query may look at a key and $-\infty$ where it may not.
# Row $i$ of the softmax is a probability distribution over the $S$ keys: output $i$ is the
# average of the values, weighted by how well query $i$ matches each key. Any leading
# dimensions (batch, heads) just come along. The hand-written version takes a boolean mask in
# the convention of `F.scaled_dot_product_attention`: `True` means *may attend*.

# %%
def attention(q, k, v, allowed=None):
    """softmax(q k^T / sqrt(d_k) + M) v, with M = -inf where `allowed` is False."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., L, S)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = scores.softmax(dim=-1)  # each row sums to 1 over the keys
    return weights @ v, weights  # (..., L, d_v), (..., L, S)


L = S = 7
q, k, v = (torch.randn(BATCH, HEADS, L, EMBED // HEADS, device=device) for _ in range(3))
causal = torch.ones(L, S, dtype=torch.bool, device=device).tril()  # query i sees keys 0..i
lengths = torch.tensor([7, 5, 3], device=device)  # real tokens per example; the rest is padding
not_pad = torch.arange(S, device=device) < lengths[:, None]  # (B, S), True for real tokens
padding = not_pad[:, None, None, :]  # (B, 1, 1, S): broadcast over heads and queries

checks = {}
for name, allowed, kwargs in [
    ("no mask", None, {}),
    ("causal (is_causal=True)", causal, {"is_causal": True}),
    ("causal (boolean mask)", causal, {"attn_mask": causal}),
    ("key padding", padding, {"attn_mask": padding}),
    ("causal + key padding", causal & padding, {"attn_mask": causal & padding}),
]:
    mine, _ = attention(q, k, v, allowed)
    torchs = F.scaled_dot_product_attention(q, k, v, **kwargs)
    checks[f"SDPA, {name}"] = rel_err(mine, torchs)

float_mask = torch.zeros(L, S, device=device).masked_fill(~causal, float("-inf"))
checks["SDPA, causal (additive float mask)"] = rel_err(
    attention(q, k, v, causal)[0], F.scaled_dot_product_attention(q, k, v, attn_mask=float_mask))

for name, err in checks.items():
    print(f"{name:<40} relative difference {err:.1e}")

# %% [markdown]
# The boolean mask, the additive float mask (`0` / `-inf`) and `is_causal=True` give the same
# result: they are three spellings of one mask.
#
# ## Multi-head attention
#
# `nn.MultiheadAttention(embed_dim, num_heads)` projects its inputs to queries, keys and values
# with one $3E \times E$ matrix (`in_proj_weight`, when query, key and value have the same
# size), splits each into `num_heads` heads of $E / h$ dimensions, runs attention in every
# head in parallel, concatenates the heads and mixes them with an output projection
# (`out_proj`):
#
# $$\operatorname{MultiHead}(X_q, X_{kv})
#   = \operatorname{Concat}(\text{head}_1, \dots, \text{head}_h)\, W^O, \qquad
#   \text{head}_j = \operatorname{Attention}(X_q W^Q_j, X_{kv} W^K_j, X_{kv} W^V_j).$$
#
# The function below does exactly that, printing the shapes at each step once.

# %%
def multi_head_attention(x_q, x_kv, mha: nn.MultiheadAttention, allowed=None, show=False):
    """Multi-head attention with the weights of `mha` (batch_first=True layout)."""
    E, h = mha.embed_dim, mha.num_heads
    w_q, w_k, w_v = mha.in_proj_weight.split(E)  # each (E, E)
    b_q, b_k, b_v = mha.in_proj_bias.split(E)
    B, L, S = x_q.shape[0], x_q.shape[1], x_kv.shape[1]

    def split_heads(x, n):  # (B, n, E) -> (B, h, n, E/h)
        return x.view(B, n, h, E // h).transpose(1, 2)

    q = split_heads(x_q @ w_q.T + b_q, L)
    k = split_heads(x_kv @ w_k.T + b_k, S)
    v = split_heads(x_kv @ w_v.T + b_v, S)
    out, weights = attention(q, k, v, allowed)  # (B, h, L, E/h), (B, h, L, S)
    merged = out.transpose(1, 2).reshape(B, L, E)  # heads side by side again
    result = merged @ mha.out_proj.weight.T + mha.out_proj.bias
    if show:
        for label, t in [("input x_q", x_q), ("input x_kv", x_kv), ("queries, split", q),
                         ("keys, split", k), ("values, split", v), ("weights", weights),
                         ("heads' outputs", out), ("heads merged", merged), ("output", result)]:
            print(f"  {label:<16} {tuple(t.shape)}")
    return result, weights


mha = nn.MultiheadAttention(EMBED, HEADS, batch_first=True, device=device).eval()
x = torch.randn(BATCH, L, EMBED, device=device)
memory = torch.randn(BATCH, 10, EMBED, device=device)  # a source sequence of another length
print("self-attention, shapes at each step (B=3, L=S=7, E=32, h=4):")
with torch.no_grad():
    multi_head_attention(x, x, mha, show=True)

# %% [markdown]
# Now the comparison, with the weights for every head (`average_attn_weights=False`) as well as
# the outputs. Note the masks handed to the module: **`nn.MultiheadAttention` takes `True` to
# mean "blocked"**, the opposite of the hand-written function and of
# `F.scaled_dot_product_attention`, so it gets `~causal` and `~not_pad`.

# %%
with torch.no_grad():
    cases = {
        "no mask": (x, x, None, {}),
        "causal": (x, x, causal, {"attn_mask": ~causal}),
        "causal, float mask + is_causal": (
            x, x, causal,
            {"attn_mask": nn.Transformer.generate_square_subsequent_mask(L, device=device),
             "is_causal": True}),
        "key padding": (x, x, padding, {"key_padding_mask": ~not_pad}),
        "causal + key padding": (x, x, causal & padding,
                                 {"attn_mask": ~causal, "key_padding_mask": ~not_pad}),
        "cross-attention + padding": (x, memory, (torch.arange(10, device=device) < 8),
                                      {"key_padding_mask": torch.arange(10, device=device) >= 8}),
    }
    for name, (x_q, x_kv, allowed, kwargs) in cases.items():
        if allowed is not None and allowed.dim() == 1:  # one padding pattern for every example
            kwargs["key_padding_mask"] = kwargs["key_padding_mask"].expand(BATCH, -1)
        mine, my_weights = multi_head_attention(x_q, x_kv, mha, allowed)
        theirs, their_weights = mha(x_q, x_kv, x_kv, average_attn_weights=False, **kwargs)
        checks[f"MHA, {name}"] = rel_err(mine, theirs)
        checks[f"MHA weights, {name}"] = rel_err(my_weights, their_weights)
        print(f"{name:<32} output {checks[f'MHA, {name}']:.1e}   "
              f"weights {checks[f'MHA weights, {name}']:.1e}")

# %% [markdown]
# ## The boolean-mask trap
#
# The same boolean tensor means opposite things to the two APIs. `torch.ones(L, L).tril()` is
# the causal mask for `F.scaled_dot_product_attention` (`True` = may attend). Handed to
# `nn.MultiheadAttention` unchanged, it blocks the past and the present and lets every query
# look only at *later* tokens; the last query then has no key left at all, and its softmax over
# nothing but $-\infty$ gives `nan`. No error, no warning.

# %%
with torch.no_grad():
    right, right_w = mha(x, x, x, attn_mask=~causal, average_attn_weights=False)
    wrong, wrong_w = mha(x, x, x, attn_mask=causal, average_attn_weights=False)  # the trap
future_weight = wrong_w[0, 0].triu(1).sum(dim=-1)  # weight each query puts on later keys
print("attention weights of head 0, example 0, with the SDPA-style mask given to MHA:")
print(wrong_w[0, 0].cpu().numpy().round(2))
print("weight on later tokens, per query:", future_weight.cpu().numpy().round(2))
print(f"rows that are all nan: {wrong_w[0, 0].isnan().all(dim=-1).sum().item()} of {L}")
finite = ~wrong.isnan()
trap_change = (wrong[finite] - right[finite]).abs().max().item() / right.abs().max().item()
print(f"largest change of a finite output: {trap_change:.2f} (relative to the largest output)")

# %% [markdown]
# Safer habits: give `nn.MultiheadAttention` and the `nn.Transformer*` modules *float* masks
# (`nn.Transformer.generate_square_subsequent_mask(n)`, `0` and `-inf`), which mean the same to
# every API; or call `F.scaled_dot_product_attention(..., is_causal=True)` and let it build the
# mask itself.
#
# ## What attention does: a picture
#
# Attention is a soft lookup: a query retrieves the values of the keys that look like it. To see
# that without training anything, give each *word* of a sentence a random vector and use it as
# query, key and value (no projections). A word's vector matches itself (a dot product of about
# $d$, divided by $\sqrt d$) much better than any other word's (about $\pm 1$), so each token
# attends to the occurrences of its own word. Left: every token sees the whole sentence, and the
# two padding positions at the end are masked out. Right: a causal mask, as in a language model:
# a token only finds the *earlier* occurrences of its word.

# %%
words = "the cat sat on the mat because the cat was tired <pad> <pad>".split()
d = 64
gen = torch.Generator().manual_seed(SEED)
vocab = sorted(set(words))
vectors = {w: torch.randn(d, generator=gen) for w in vocab}
e = torch.stack([vectors[w] for w in words]).to(device)  # (13, 64)
n = len(words)
real = torch.tensor([w != "<pad>" for w in words], device=device)
causal_n = torch.ones(n, n, dtype=torch.bool, device=device).tril()
_, w_full = attention(e, e, e, real.expand(n, n))
_, w_causal = attention(e, e, e, causal_n & real)

fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.4), dpi=90, layout="constrained")
for ax, w, title in [(axes[0], w_full, "padding mask: every real token is visible"),
                     (axes[1], w_causal, "causal + padding mask")]:
    image = ax.imshow(w.cpu().numpy(), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(n), words, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), words, fontsize=8)
    ax.set_xlabel("key")
    ax.set_title(title, fontsize=10)
axes[0].set_ylabel("query")
fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
plt.show()

# The second "cat" (position 8) and the third "the" (position 7), with a causal mask:
print("causal weights of query 'cat' (position 8):", w_causal[8].cpu().numpy().round(2))
print("causal weights of query 'the' (position 7):", w_causal[7].cpu().numpy().round(2))

# %% [markdown]
# A key-padding mask hides the padding *keys* (the last two columns are zero), not the padding
# *queries*: the last two rows still attend to the real tokens and produce outputs. Those outputs
# are meaningless, and the loss must ignore those positions (`ignore_index`).
#
# A real model learns its projections $W^Q, W^K, W^V$, so that what a query looks for is not
# just "the same word" but whatever helps predict the output.

# %%
# Every claim made above, checked.
for name, err in checks.items():
    assert err < TOL, f"{name}: hand-written and PyTorch differ by {err:.1e} (> {TOL:.0e})"
assert len(checks) == 18, f"expected 6 SDPA and 12 MHA checks, got {len(checks)}"

# The trap: the SDPA-style mask given to MHA attends to the future, and leaves a query with nothing.
assert (future_weight[:-1] > 0.99).all(), (
    f"with the wrong mask every query but the last should attend only to later tokens: "
    f"{future_weight}")
assert wrong[:, -1].isnan().all() and wrong_w[:, :, -1].isnan().all(), (
    "the last query should have no key left and give nan")
assert not right.isnan().any(), "the correct mask gives no nan"
assert trap_change > 0.1, f"the wrong mask should change the outputs: {trap_change:.3f}"
assert torch.equal(right_w[0, 0].triu(1), torch.zeros_like(right_w[0, 0])), (
    "with ~causal, no weight on later tokens")

# The picture: each token's largest weight is on an occurrence of its own word.
for i, w in enumerate(words):
    if w == "<pad>":
        assert torch.isfinite(w_full[i]).all() and w_full[i, real].sum() > 0.999, (
            "a key-padding mask hides padding keys, not padding queries")
        continue
    assert (w_full[i, ~real] == 0).all(), "padding keys get no weight"
    for weights in (w_full[i], w_causal[i]):
        assert words[weights.nan_to_num(0).argmax()] == w, f"token {i} ({w}) looks elsewhere"
    same_earlier = [j for j in range(i + 1) if words[j] == w]
    assert w_causal[i, same_earlier].sum() > 0.9, (
        f"causal: token {i} ({w}) should put most weight on its own earlier occurrences")
    assert (w_causal[i, i + 1:] == 0).all(), "causal: no weight on later tokens"

print(f"wall time: {time.perf_counter() - start:.1f} s")

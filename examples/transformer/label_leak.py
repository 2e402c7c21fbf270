# %% [markdown]
# # The original answer's label leak, exposed on random tokens
#
# The original answer's language model feeds its decoder the very tokens it is asked to predict,
# with no causal mask. A model trained like that learns to copy its input instead of predicting
# anything. This program makes the leak impossible to miss: it trains the original's model, in the
# original's way, on tokens drawn **uniformly at random** from a vocabulary of $V$ tokens. No
# honest model can predict such tokens: the best possible cross-entropy is $\ln V$, reached by
# predicting $1/V$ for every token. The leaky model's loss falls far below $\ln V$ anyway; a
# correct causal language model, trained the same way, stays at $\ln V$. A second check shows
# what the missing positional encoding means: permuting the input tokens permutes the outputs
# and changes nothing else. Run it with `python examples/transformer/label_leak.py`.

# %%
import math
import os
import sys
import time
import warnings

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.nn import functional as F

start = time.perf_counter()

SEED = 0
VOCAB = 32  # ln(32) = 3.47 nats: the loss of the best possible model on random tokens
SEQ_LEN = 33  # one sequence gives src = text[:-1] and tgt = text[1:], 32 tokens each
BATCH = 32
STEPS = 150
D_MODEL, NHEAD, FFN, LAYERS = 64, 4, 128, 2  # small versions of the original's 512, 8, 2048, 6
LN_V = math.log(VOCAB)

COLORS = {"original (leaky)": "#d55e00", "causal (corrected)": "#0072b2", "ln V": "#999999"}


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
    torch.set_num_threads(1)  # small model: threads only add overhead on a shared machine
torch.backends.cuda.matmul.allow_tf32 = False  # float32 products, for the tolerance checks


def random_text(generator: torch.Generator, batches: int = 1) -> torch.Tensor:
    """Uniformly random tokens, sequence-first (SEQ_LEN, BATCH), as torchtext's Field gave them."""
    return torch.randint(VOCAB, (SEQ_LEN, BATCH * batches), generator=generator).to(device)


# Training draws fresh tokens at every step, so nothing can be memorised; the held-out tokens
# are drawn once, from another generator.
held_out = random_text(torch.Generator().manual_seed(SEED + 1000), batches=8)
print(f"vocabulary {VOCAB}, ln V = {LN_V:.3f} nats; held-out tokens: {held_out.numel():,}")

# %% [markdown]
# ## The original's model, as the original writes it
#
# Only the sizes are smaller. Note three things, which the topic page discusses: `pos_encoder`
# and `pos_decoder` are a Transformer encoder layer and decoder layer, not positional encodings
# (the model has none); the layers are created with PyTorch's default `batch_first=False`, so they
# expect `(sequence, batch, features)`, yet `forward` permutes its sequence-first input to
# batch-first before handing it to them; and the decoder gets no mask of any kind. When the model
# is built below, PyTorch warns that `encoder_layer.self_attn.batch_first was not True` (printed
# under the next cell): the warning is about speed, but it points at the bug.

# %%
class TransformerModel(nn.Module):
    def __init__(self, vocab_size, d_model, nhead, num_encoder_layers, num_decoder_layers,
                 dim_feedforward, dropout=0.1):
        super(TransformerModel, self).__init__()
        self.encoder = nn.Embedding(vocab_size, d_model)
        self.decoder = nn.Linear(d_model, vocab_size)
        self.pos_encoder = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout)
        self.pos_decoder = nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout)
        self.transformer_encoder = nn.TransformerEncoder(self.pos_encoder, num_encoder_layers)
        self.transformer_decoder = nn.TransformerDecoder(self.pos_decoder, num_decoder_layers)

    def forward(self, src, tgt):
        src = self.encoder(src)
        tgt = self.encoder(tgt)
        src = src.permute(1, 0, 2)
        tgt = tgt.permute(1, 0, 2)
        memory = self.transformer_encoder(src)
        output = self.transformer_decoder(tgt, memory)
        output = output.permute(1, 0, 2)
        output = self.decoder(output)
        return output

# %% [markdown]
# ## The corrected model: a causal (decoder-only) language model
#
# The same embedding and output layer, sinusoidal positional encodings, and a stack of
# `2 * LAYERS` self-attention layers (`batch_first=True`) under a causal mask, so that the output
# at position $t$ depends only on tokens $0, \dots, t$. It reads `text[:-1]` and predicts
# `text[1:]`: the target at position $t$ is the *next* token, which it has not seen.

# %%
def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...), as in Vaswani et al."""
    position = torch.arange(length).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model)
    pe[:, 0::2] = torch.sin(position * frequency)
    pe[:, 1::2] = torch.cos(position * frequency)
    return pe


class CausalLM(nn.Module):
    def __init__(self, vocab_size, d_model, nhead, num_layers, dim_feedforward, dropout=0.1,
                 max_len=512):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.register_buffer("pe", sinusoidal_positions(max_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout,
                                           batch_first=True)
        self.layers = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):  # (batch, seq) -> (batch, seq, vocab)
        n = tokens.shape[1]
        x = self.embed(tokens) * math.sqrt(self.embed.embedding_dim) + self.pe[:n]
        mask = nn.Transformer.generate_square_subsequent_mask(n, device=tokens.device)
        return self.head(self.layers(x, mask=mask, is_causal=True))


torch.manual_seed(SEED)
# PyTorch's warning about the original's layers is caught, to print it without this machine's
# file paths and to check at the end that it is still given.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    models = {
        "original (leaky)": TransformerModel(VOCAB, D_MODEL, NHEAD, LAYERS, LAYERS, FFN).to(device),
        "causal (corrected)": CausalLM(VOCAB, D_MODEL, NHEAD, 2 * LAYERS, FFN).to(device),
    }
batch_first_warnings = [str(w.message) for w in caught
                        if "batch_first was not True" in str(w.message)]
for message in batch_first_warnings:
    print(f"PyTorch warns: {message}")
for name, model in models.items():
    print(f"{name:<20} {sum(p.numel() for p in model.parameters()):,} parameters")


def loss_of(name: str, model: nn.Module, text: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per token, each model fed the way it is meant to be."""
    if name.startswith("original"):
        # The original's training step, verbatim: src and tgt are the same text shifted by one,
        # and the decoder is handed tgt, the tokens it must predict.
        src = text[:-1, :]
        tgt = text[1:, :]
        output = model(src, tgt)
        return F.cross_entropy(output.view(-1, VOCAB), tgt.view(-1))
    tokens = text.T  # batch-first
    logits = model(tokens[:, :-1])
    return F.cross_entropy(logits.reshape(-1, VOCAB), tokens[:, 1:].reshape(-1))

# %% [markdown]
# ## Training, as the original trains
#
# `Adam` with its default settings and the mean cross-entropy, one fresh batch of random tokens
# per step, the same number of steps for both models. Losses on the held-out tokens are measured
# in `eval()` mode, for the leaky model exactly as the original's validation loop computes them.

# %%
def evaluate(name: str, model: nn.Module) -> float:
    model.eval()
    with torch.no_grad():
        return loss_of(name, model, held_out).item()


curves = {}
for name, model in models.items():
    torch.manual_seed(SEED)  # dropout
    data = torch.Generator().manual_seed(SEED)  # both models see the same random tokens
    optimizer = torch.optim.Adam(model.parameters())
    curves[name] = {"step": [0], "held-out": [evaluate(name, model)]}
    for step in range(1, STEPS + 1):
        model.train()
        loss = loss_of(name, model, random_text(data))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 15 == 0:
            curves[name]["step"].append(step)
            curves[name]["held-out"].append(evaluate(name, model))
            if sys.stdout.isatty():
                print(f"  {name}: step {step}, held-out loss {curves[name]['held-out'][-1]:.3f}",
                      flush=True)

final = {name: c["held-out"][-1] for name, c in curves.items()}
for name, loss in final.items():
    print(f"{name:<20} held-out loss {loss:.3f} nats  ({loss / LN_V:.2f} x ln V)")

fig, ax = plt.subplots(figsize=(7, 4), dpi=90)
for name, c in curves.items():
    ax.plot(c["step"], c["held-out"], marker="o", ms=3, color=COLORS[name], label=name)
ax.axhline(LN_V, color=COLORS["ln V"], ls="--", label=f"ln V = {LN_V:.2f}: the best honest loss")
ax.set_xlabel("training step")
ax.set_ylabel("held-out cross-entropy (nats per token)")
ax.set_title("Uniformly random tokens: only a leak can beat ln V")
ax.set_ylim(bottom=0)
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The leaky model "predicts" random tokens almost perfectly: the answer is in its input. The
# corrected model cannot do better than $\ln V$ and does not.
#
# ## The leaky model at generation time
#
# When the model has to generate text, the token at position $t + 1$ does not exist yet, so
# nothing can put it into `tgt`. Give the trained leaky model a `tgt` that does not contain the
# answers (here: other random tokens) and its loss is worse than chance, because it confidently
# predicts whatever token it was handed.

# %%
leaky = models["original (leaky)"].eval()
with torch.no_grad():
    src, answers = held_out[:-1], held_out[1:]
    not_the_answers = torch.randint(VOCAB, answers.shape,
                                    generator=torch.Generator().manual_seed(SEED + 2000))
    output = leaky(src, not_the_answers.to(device))
    blind_loss = F.cross_entropy(output.reshape(-1, VOCAB), answers.reshape(-1)).item()
    copied = (output.argmax(-1) == not_the_answers.to(device)).float().mean().item()
print(f"leaky model, answers not in its input: loss {blind_loss:.2f} nats ({blind_loss / LN_V:.1f}"
      f" x ln V); it predicts the token it was handed {copied:.0%} of the time")

# %% [markdown]
# ## Without positional encoding, order is invisible
#
# Self-attention treats its input as a *set*: permute the tokens and the outputs come out
# permuted the same way, with nothing else changed (permutation equivariance). Only a positional
# encoding (or a causal mask) breaks the symmetry. The check uses a fresh stack of two encoder
# layers (no mask, no dropout): once on token embeddings alone (equivariant to float32 rounding),
# once with sinusoidal positions added (not equivariant).
#
# The original's model has no positional encoding either; and because its permute hands the
# *batch* axis to the layers as the sequence axis, its positions never interact at all: the
# output at each position is computed from that position alone (and from the other examples of
# the batch). Permuting the positions of `src` and `tgt` together permutes its output the same
# way.

# %%
torch.manual_seed(SEED)
embed = nn.Embedding(VOCAB, D_MODEL).to(device)
stack = nn.TransformerEncoder(
    nn.TransformerEncoderLayer(D_MODEL, NHEAD, FFN, dropout=0.0, batch_first=True), 2,
    enable_nested_tensor=False).to(device).eval()
gen = torch.Generator().manual_seed(SEED + 3000)
tokens = torch.randint(VOCAB, (4, 24), generator=gen).to(device)
perm = torch.randperm(24, generator=gen).to(device)
pe = sinusoidal_positions(24, D_MODEL).to(device)


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


with torch.no_grad():
    no_pe = rel_diff(stack(embed(tokens[:, perm])), stack(embed(tokens))[:, perm])
    with_pe = rel_diff(stack(embed(tokens[:, perm]) + pe), stack(embed(tokens) + pe)[:, perm])
    text = held_out[:, :BATCH]
    time_perm = torch.randperm(SEQ_LEN - 1, generator=gen).to(device)
    original_out = leaky(text[:-1], text[1:])
    original_perm = rel_diff(leaky(text[:-1][time_perm], text[1:][time_perm]),
                             original_out[time_perm])
print(f"encoder layers, no positional encoding: permuted input -> permuted output, "
      f"relative difference {no_pe:.1e}")
print(f"the same layers with sinusoidal positions:  relative difference {with_pe:.2f}")
print(f"original's model, positions permuted:       relative difference {original_perm:.1e}")

# %%
# Every claim made above, checked.
leak, honest = final["original (leaky)"], final["causal (corrected)"]
assert leak < 0.25 * LN_V, (
    f"the leaky model should get far below ln V = {LN_V:.3f} on random tokens: {leak:.3f}")
assert honest > LN_V - 0.05, (
    f"no honest model beats ln V = {LN_V:.3f} on random tokens: causal model at {honest:.3f}")
assert honest < LN_V + 0.15, (
    f"the causal model should stay near ln V = {LN_V:.3f}: {honest:.3f}")
assert blind_loss > LN_V, (
    f"without the answers in its input, the leaky model should be worse than chance: "
    f"{blind_loss:.3f} vs ln V = {LN_V:.3f}")
assert copied > 0.5, f"the leaky model should mostly copy its decoder input: {copied:.2f}"
assert no_pe < 1e-5, f"without positions, attention layers are permutation-equivariant: {no_pe:.1e}"
assert with_pe > 0.2, f"with positional encodings, order should matter: {with_pe:.3f}"
assert batch_first_warnings, "PyTorch no longer warns about the original's batch_first=False"
assert original_perm < 1e-5, (
    f"the original's model should ignore token order: {original_perm:.1e}")

print(f"wall time: {time.perf_counter() - start:.1f} s")

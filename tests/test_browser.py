"""Real-browser test: JupyterLab + headless Chromium label digits with keys and clicks.

What a person does and sees is checked, never the widget's own tables: the digit pressed is the
digit the image shows, and the store must hold exactly the (item shown, digit pressed) pairs.
"""

import sqlite3
import time

import pytest

from conftest import skip_or_fail
from jupyter_harness import (browser_unavailable_reason, chromium_page, copy_notebook, jupyter_lab, open_and_run,
                             restart_and_run_all, shown_item, wait_item_change)

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
NOTEBOOK_CELL_TYPES = ["markdown", "code", "code", "markdown", "code", "code"]


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
            " const p = r.querySelector('.al-dashboard svg.al-chart path');"
            " return /Model v[0-9]+ trained on [0-9]+ labels/.test(s) && p && /^M[0-9.]+,[0-9.]+/.test(p.getAttribute('d'))"
            "  && r.querySelectorAll('.al-dashboard svg.al-chart circle').length >= 1; }", timeout=120_000)
        assert "Held-out test accuracy" in text(page, ".al-dashboard")
        assert text(page, ".al-error") == ""

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

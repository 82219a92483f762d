"""Real-browser test: the digits app (``notebooks/05_label_digits_marimo.py``) in ``marimo run``, driven by
headless Chromium.

marimo renders an anywidget inside the shadow root of a ``<marimo-anywidget>`` element, so the page is read
through that root (Playwright's CSS locators pierce open shadow roots; ``document.querySelector`` does not).
As in ``test_browser.py``, what a person does and sees is checked: the digit pressed is the digit the image
shows (sklearn's digits target for the item id on screen), and the store file must hold exactly those
(item shown, digit pressed) pairs.
"""

import os
import shutil
import sqlite3
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import skip_or_fail
from jupyter_harness import _free_port, browser_unavailable_reason, chromium_page, serve
from test_browser import colours_js, screenshot_folder, store_labels

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "notebooks" / "05_label_digits_marimo.py"
# The view's root, through the shadow root marimo gives each anywidget.
ROOT_JS = ("(() => { for (const h of document.querySelectorAll('marimo-anywidget')) {"
           " const r = h.shadowRoot && h.shadowRoot.querySelector('.al-root'); if (r) return r; } return null; })()")


def marimo_unavailable_reason():
    """Why ``marimo run`` cannot be started here, or None."""
    try:
        import marimo  # noqa: F401
    except ImportError:
        return "it is not installed"
    return None


@contextmanager
def marimo_run(root, app):
    """Run ``marimo run app`` (headless, no token) in ``root`` on a free port; yield its URL.

    marimo's config and caches stay in the test's folder; ``PYTHONPATH`` puts the activelearn under test
    first. The server is stopped by its process group id.
    """
    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", MARIMO_SKIP_UPDATE_CHECK="1",
               XDG_CONFIG_HOME=str(Path(root) / ".config"), XDG_CACHE_HOME=str(Path(root) / ".cache"),
               XDG_STATE_HOME=str(Path(root) / ".state"),
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    cmd = [sys.executable, "-m", "marimo", "run", str(app), "--headless", "--host", "127.0.0.1", "--port", str(port),
           "--no-token", "--no-sandbox"]
    with serve(cmd, root, env, port, "marimo.log", lambda url: urllib.request.urlopen(url + "/health", timeout=2),
               "marimo run", timeout=60, poll=0.3) as url:
        yield url


def shown_item(page):
    return page.evaluate(f"{ROOT_JS}.dataset.itemId")


def text(page, css):
    return page.evaluate(f"(css) => {{ const e = {ROOT_JS}.querySelector(css); return e ? e.textContent : null; }}", css)


def wait_for_widget(page, timeout=150_000):
    page.wait_for_function(f"() => {{ const r = {ROOT_JS}; return r && r.dataset.itemId; }}", timeout=timeout)
    return page.locator("marimo-anywidget .al-root")


def wait_item_change(page, old, timeout=30_000):
    page.wait_for_function(f"(old) => {{ const r = {ROOT_JS}; return r && r.dataset.itemId && r.dataset.itemId !== old; }}",
                           arg=old, timeout=timeout)
    return shown_item(page)


def assert_shows(page, item, n_labels):
    """What the person sees for ``item``: the decoded image, its title, the count stored, no error."""
    page.wait_for_function(
        f"([item, n]) => {{ const r = {ROOT_JS}; const i = r && r.querySelector('img.al-image');"
        " const p = r && r.querySelector('.al-progress');"
        " return r.dataset.itemId === item && i && i.complete && i.naturalWidth > 0"
        "  && p.textContent.startsWith(`Labeled: ${n} `); }", arg=[item, n_labels], timeout=15_000)
    assert text(page, ".al-title") == f"item {item}"
    assert text(page, ".al-error") == ""


def settle(page, seconds=0.6):
    """Let any message a stray key sent reach the kernel and the store before the store is read."""
    page.wait_for_timeout(seconds * 1000)


def colours(page):
    return page.evaluate(colours_js(ROOT_JS))


def annotators(db):
    con = sqlite3.connect(db)
    try:
        return {a for (a,) in con.execute("SELECT DISTINCT annotator FROM events WHERE kind='labeled'")}
    finally:
        con.close()


def test_label_digits_in_marimo_run_with_keys_clicks_and_undo(tmp_path):
    reason = browser_unavailable_reason()
    if reason:
        skip_or_fail("The real browser (Debian's Chromium and Python playwright)", reason)
    reason = marimo_unavailable_reason()
    if reason:
        skip_or_fail("marimo", reason, "pip install -r requirements-dev.txt")
    from sklearn.datasets import load_digits

    digits_y = load_digits().target
    app = shutil.copy(APP, tmp_path / APP.name)
    db = tmp_path / "labels.db"  # the app keeps its store beside itself (mo.notebook_dir())
    with marimo_run(tmp_path, app) as url, chromium_page() as page:
        page.emulate_media(color_scheme="light")
        page.goto(url + "/")
        root = wait_for_widget(page)

        def digit(item):  # the digit a person sees in the image
            return str(digits_y[int(item)])

        first = shown_item(page)
        assert_shows(page, first, 0)
        hints = page.evaluate(f"() => Array.from({ROOT_JS}.querySelectorAll('button.al-btn[data-label]'))"
                              ".map(b => [b.dataset.label, b.querySelector('kbd') ? b.querySelector('kbd').textContent : null])")
        assert [tuple(h) for h in hints] == [(str(d), str(d)) for d in range(10)]  # button "7" shows key 7

        root.locator(".al-item").click()  # give the widget the keyboard
        page.mouse.move(5, 5)  # the mouse leaves the widget: keys must still work
        expected = []  # (item shown, digit pressed or clicked), in order
        for n in range(8):
            item = shown_item(page)
            if n < 6:
                page.keyboard.press(digit(item))
            else:
                root.locator(f"button.al-btn[data-label='{digit(item)}']").click()
            nxt = wait_item_change(page, item)
            expected.append((item, digit(item)))
            assert_shows(page, nxt, len(expected))
            assert text(page, ".al-confirm") == f"\u2713 Stored: {item} \u2192 \u2018{digit(item)}\u2019"
        settle(page)
        assert store_labels(db) == expected  # key 7 stored "7", pair by pair, in order
        assert annotators(db) == {"me"}

        # Undo with u: the last label leaves the store and its item comes back.
        item = shown_item(page)
        page.keyboard.press("u")
        back = wait_item_change(page, item)
        assert back == expected.pop()[0]
        assert_shows(page, back, len(expected))
        settle(page)
        assert store_labels(db) == expected and "Undid" in text(page, ".al-status")

        # Skip with s: the item changes, nothing is stored for it.
        skipped = shown_item(page)
        page.keyboard.press("s")
        nxt = wait_item_change(page, skipped)
        assert_shows(page, nxt, len(expected))
        settle(page)
        assert store_labels(db) == expected

        # A retrain (the button), so that the dashboard's charts are drawn for the screenshots and colour checks.
        root.locator("button.al-retrain").click()
        page.wait_for_function(f"() => {{ const r = {ROOT_JS}; return r && r.querySelectorAll('.al-figure svg text').length > 0; }}",
                               timeout=90_000)

        # The view at 1024 px in the light theme: nothing sticks out of marimo's output area or the window.
        page.set_viewport_size({"width": 1024, "height": 900})
        page.wait_for_timeout(500)
        fits = page.evaluate(f"""() => {{
          const r = {ROOT_JS};
          const box = (e) => e.getBoundingClientRect();
          let area = r.getRootNode().host;  // <marimo-anywidget> has no box of its own: its nearest boxed ancestor
          while (area.parentElement && box(area).width === 0) area = area.parentElement;
          const limit = Math.min(box(area).right, document.documentElement.clientWidth);
          const out = [...r.querySelectorAll('.al-main, .al-side, .al-btn, .al-image, .al-figure svg')]
            .filter(e => box(e).width > 0 && (box(e).right > limit + 1 || box(e).left < box(area).left - 1))
            .map(e => `${{e.className.baseVal ?? e.className}} ${{box(e).left}}-${{box(e).right}} (limit ${{limit}})`);
          return {{out, width: box(r).width, area: `${{area.tagName}}.${{area.className}}`}};
        }}""")
        # The screenshot: the app's title and the whole view (stacked at this width), from the top of the page.
        page.set_viewport_size({"width": 1024, "height": 1180})
        page.mouse.move(500, 300)
        page.mouse.wheel(0, -5000)
        page.wait_for_timeout(500)
        folder = screenshot_folder(tmp_path)
        page.screenshot(path=str(folder / "marimo.png"))
        assert fits["out"] == [], fits
        assert text(page, ".al-error") == ""
        light = colours(page)
        assert light["card"] > 0.8 and all(c >= 4.5 for c in light["contrast"].values()), str(light)
        assert "chart text" in light["contrast"], str(light)

        # marimo's dark theme (its setting puts "dark dark-theme" on <body>, whose variables the view's CSS reads):
        # dark cards, and every text at least WCAG AA contrast on them.
        page.evaluate("() => { document.body.classList.remove('light', 'light-theme');"
                      " document.body.classList.add('dark', 'dark-theme'); document.body.dataset.theme = 'dark'; }")
        page.wait_for_timeout(500)
        page.screenshot(path=str(folder / "marimo-dark.png"))
        dark = colours(page)
        assert dark["card"] < 0.2 and all(c >= 4.5 for c in dark["contrast"].values()), str(dark)

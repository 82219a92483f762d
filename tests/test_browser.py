"""Real-browser test: JupyterLab + headless Chromium label digits with keys and clicks."""

import sqlite3
import time

import pytest

from jupyter_harness import (browser_unavailable_reason, chromium_page, copy_notebook, jupyter_lab, open_and_run,
                             restart_and_run_all, shown_item, wait_item_change)

pytestmark = [pytest.mark.browser, pytest.mark.slow]



@pytest.fixture(scope="module")
def digits_y():
    from sklearn.datasets import load_digits

    return load_digits().target


def store_labels(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT e.item_id, e.label FROM events e WHERE e.kind='labeled' AND e.id NOT IN "
                           "(SELECT ref_event_id FROM events WHERE kind='undone' AND ref_event_id IS NOT NULL)"
                           ).fetchall()
    finally:
        con.close()


def test_label_in_jupyterlab_with_keys_and_clicks_then_resume(tmp_path, digits_y):
    reason = browser_unavailable_reason()
    if reason:
        pytest.skip(reason)
    nb = copy_notebook("01_label_digits.ipynb", tmp_path)
    with jupyter_lab(tmp_path) as url, chromium_page() as page:
        root = open_and_run(page, url, nb)
        n_markdown = page.locator(".jp-MarkdownCell").count()
        root.locator(".al-item").click()  # give the widget the keyboard
        page.mouse.move(5, 5)  # the mouse leaves the widget: keys must still work
        labeled = []
        for _ in range(30):
            item = shown_item(page)
            page.keyboard.press(str(digits_y[int(item)]))  # the digit a person sees
            wait_item_change(page, item)
            labeled.append(item)
        for _ in range(5):
            item = shown_item(page)
            root.locator(f"button.al-btn[data-label='{digits_y[int(item)]}']").click()
            wait_item_change(page, item)
            labeled.append(item)
        page.mouse.move(5, 5)
        before_undo = shown_item(page)
        page.keyboard.press("u")
        assert wait_item_change(page, before_undo) == labeled[-1]  # the undone item is shown again
        # The number keys did not reach JupyterLab (1-6 would have turned cells into headings).
        assert page.locator(".jp-MarkdownCell").count() == n_markdown

        rows = store_labels(tmp_path / "labels.db")
        assert len(rows) == 34 and {r[0] for r in rows} == set(labeled[:-1])
        assert all(label == str(digits_y[int(i)]) for i, label in rows)

        restart_and_run_all(page)
        time.sleep(0.5)
        rows = store_labels(tmp_path / "labels.db")
        assert len(rows) == 34  # nothing lost, nothing duplicated by the restart
        nxt = shown_item(page)
        assert nxt not in {r[0] for r in rows}
        page.screenshot(path=str(tmp_path / "after_restart.png"))

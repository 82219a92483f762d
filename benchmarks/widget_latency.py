"""Widget latency on digits: kernel side and browser side, while retraining runs in the background.

Kernel side: from a key press reaching the widget's handler to the next item's
values being set (the durable label write included), with a retrain running in
a background thread throughout. Browser side: from the key press in headless
Chromium (JupyterLab) to the next image painted (decoded, next animation frame).

    python benchmarks/widget_latency.py --labels 200 --browser-labels 50
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def kernel_side(n_labels):
    import activelearn as al
    from activelearn.widgets import LabelingWidget

    digits = al.load_digits()
    with tempfile.TemporaryDirectory() as tmp:
        session = al.Session(digits, store=Path(tmp) / "labels.db")
        widget = LabelingWidget(session, retrain_every=10)
        busy = 0
        for _ in range(n_labels):
            item = widget.item["id"]
            widget.retrain_in_background()  # keep a retrain running whenever possible
            busy += widget.training
            widget.handle_key(str(digits.classes[digits.y[int(item)]]), item_id=item)  # the digit shown
        widget.wait_for_training()
        lat = np.array(widget.latencies[-n_labels:]) * 1000
        return {"n": len(lat), "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
                "max_ms": float(lat.max()), "share_with_retrain_running": busy / n_labels,
                "retrains": int(session.model_version)}


def browser_side(n_labels):
    from jupyter_harness import (browser_unavailable_reason, chromium_page, copy_notebook, jupyter_lab,
                                 open_and_run, shown_item, wait_item_change)
    from sklearn.datasets import load_digits

    reason = browser_unavailable_reason()
    if reason:
        return {"skipped": reason}
    y = load_digits().target
    with tempfile.TemporaryDirectory() as tmp:
        nb = copy_notebook("01_label_digits.ipynb", tmp)
        with jupyter_lab(tmp) as url, chromium_page() as page:
            root = open_and_run(page, url, nb)
            root.locator(".al-item").click()
            page.mouse.move(5, 5)
            page.evaluate("window.__activelearnLatencies = []")
            for _ in range(n_labels):
                item = shown_item(page)
                page.keyboard.press(str(y[int(item)]))  # the digit shown
                wait_item_change(page, item)
            time.sleep(0.3)
            lat = np.array(page.evaluate("window.__activelearnLatencies"))
    return {"n": len(lat), "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "max_ms": float(lat.max())}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--labels", type=int, default=200, help="labels for the kernel-side measurement")
    p.add_argument("--browser-labels", type=int, default=50, help="labels for the browser-side measurement")
    p.add_argument("--out", default="benchmarks/out/widget_latency.json")
    args = p.parse_args(argv)
    result = {"kernel": kernel_side(args.labels), "browser": browser_side(args.browser_labels)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    goals = {"kernel": 50.0, "browser": 150.0}
    print("| measurement | n | p50 ms | p95 ms | max ms | goal p95 ms | met |")
    print("|---|---|---|---|---|---|---|")
    for name, r in result.items():
        if "skipped" in r:
            print(f"| {name} | skipped: {r['skipped']} | | | | {goals[name]:.0f} | |")
            continue
        print(f"| {name} | {r['n']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['max_ms']:.1f} | "
              f"{goals[name]:.0f} | {'yes' if r['p95_ms'] < goals[name] else 'NO'} |")
    k = result["kernel"]
    print(f"\nkernel side: a retrain was running for {100 * k['share_with_retrain_running']:.0f}% of the key presses "
          f"({k['retrains']} retrains). Wrote {out}")


if __name__ == "__main__":
    main()

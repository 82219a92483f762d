"""Three noisy annotators: ask for another opinion (ActiveLab) or label every item twice, or once, at equal cost.

Per seed, digits with a stratified 25% held-out test set (never queried, trained on or used for a
choice). Three simulated annotators with 5%, 10% and 30% wrong answers (``Oracle(noise=..., seed=...)``,
uniformly to another class; independent mistakes: each oracle its own seed), each with its own
Session on one shared in-memory store: ``a05`` trains and publishes the ranking, ``a10`` and ``a30``
label from it (``trainer=False``). Each round every annotator takes ``--batch`` items from
``next_batch`` (which leases them) and labels them; then the trainer retrains. Every arm stops at the
same number of annotations (``--annotations``, default 300). Arms:

* ``activelab``: ``strategy="activelab", labels_per_item=3``: TypiClust during the cold start, then
  per slot another opinion on a labeled item or a new item, whichever has the lower ActiveLab score;
* ``twice``: ``strategy="auto", labels_per_item=2``: items waiting for a second label come first;
* ``once``: ``strategy="auto", labels_per_item=1``;
* ``once_random``: ``strategy="random", labels_per_item=1`` (the random baseline).

Reported per arm: held-out accuracy of the final model (retrained on every label); items labeled;
``wrong_trained``: labeled items whose resolved label (what the model trains on: the majority, ties to
the earliest label) is wrong; ``wrong_crowdlab``: items whose CROWDLAB consensus
(``Session.consensus()``) is wrong. Mean, standard deviation, min and max over seeds, and the paired
difference against ``once``.

All arms of a seed share the test split and the pool's t-SNE map (identical features; t-SNE runs once
per seed). Single process, one thread.

    nice -n 10 python benchmarks/annotators.py --seeds 10 --out benchmarks/out/annotators.json
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOISE = {"a05": 0.05, "a10": 0.10, "a30": 0.30}
ARMS = {"activelab": dict(strategy="activelab", labels_per_item=3),
        "twice": dict(strategy="auto", labels_per_item=2),
        "once": dict(strategy="auto", labels_per_item=1),
        "once_random": dict(strategy="random", labels_per_item=1)}


def run_arm(ds, seed, arm, annotations, batch, pool=None):
    """One team run; returns its measures and the pool (to share its t-SNE map with the seed's other arms)."""
    import activelearn as al
    from activelearn.simulate import Oracle

    store = al.LabelStore(":memory:")
    oracles = {name: Oracle(ds, noise=noise, seed=1000 * seed + k) for k, (name, noise) in enumerate(NOISE.items())}
    kw = dict(store=store, random_state=seed, test_size=0.25, batch_size=batch, **ARMS[arm])
    sessions = []
    for k, name in enumerate(NOISE):
        s = al.Session(ds, annotator=name, trainer=(k == 0), **kw)
        if pool is not None and hasattr(s.model_template, "_pool"):
            s.model_template._pool = pool  # same split and features: the seed's one t-SNE map
        sessions.append(s)
    trainer = sessions[0]
    start = time.perf_counter()
    done = 0
    while done < annotations:
        before = done
        for s in sessions:
            if done >= annotations:
                break
            for item_id in s.next_batch(min(batch, annotations - done)):
                s.label(item_id, oracles[s.holder](item_id), seconds=0.0)
                done += 1
        if done == before:
            break  # nothing left to offer anyone
        trainer.retrain()
    seconds = time.perf_counter() - start
    labels = trainer.labels()
    truth = {str(ds.item_id(p)): ds.classes[ds.y[p]] for p in range(len(ds))}
    labeled = np.flatnonzero(trainer.labeled_mask)
    wrong_trained = int((trainer.y_labeled[labeled] != ds.y[labeled]).sum())
    items, _ = trainer.consensus()
    wrong_crowdlab = int(sum(c != truth[str(i)] for i, c in zip(items["item_id"], items["consensus"])))
    per_item = labels.groupby("item_id").size()
    wrong_given = int(sum(lab != truth[str(i)] for i, lab in zip(labels["item_id"], labels["label"])))
    out = {"seed": seed, "arm": arm, "annotations": int(len(labels)), "items": int(len(per_item)),
           "items_2plus": int((per_item >= 2).sum()), "items_3": int((per_item >= 3).sum()),
           "wrong_given": wrong_given, "wrong_trained": wrong_trained, "wrong_crowdlab": wrong_crowdlab,
           "accuracy": float(trainer.history["accuracy"].iloc[-1]), "seconds": seconds}
    pool = getattr(trainer.model_template, "_pool", None)
    for s in sessions:
        s.close()
    store.close()
    return out, pool


def _table(df, arms):
    cols = ["accuracy", "wrong_trained", "wrong_crowdlab", "items", "items_2plus", "wrong_given"]
    lines = ["| arm | " + " | ".join(f"{c} (mean ± sd [min, max])" for c in cols) + " | Δacc vs once (paired) | "
             "Δwrong_trained vs once |", "|" + "---|" * (len(cols) + 3)]
    base = df[df["arm"] == "once"].set_index("seed")
    for arm in arms:
        g = df[df["arm"] == arm].set_index("seed")
        cells = []
        for c in cols:
            v = g[c]
            fmt = "{:.4f}" if c == "accuracy" else "{:.1f}"
            lo, hi = (f"{v.min():.3f}", f"{v.max():.3f}") if c == "accuracy" else (f"{v.min():.0f}", f"{v.max():.0f}")
            cells.append(f"{fmt.format(v.mean())} ± {fmt.format(v.std(ddof=0))} [{lo}, {hi}]")
        if arm == "once" or base.empty:
            cells += ["", ""]
        else:
            d = (g["accuracy"] - base["accuracy"]).dropna() * 100
            w = (g["wrong_trained"] - base["wrong_trained"]).dropna()
            cells += [f"{d.mean():+.2f} pts ± {d.std(ddof=0):.2f} (ahead on {int((d > 0).sum())}/{len(d)})",
                      f"{w.mean():+.1f} ± {w.std(ddof=0):.1f}"]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--annotations", type=int, default=300)
    p.add_argument("--batch", type=int, default=5, help="items each annotator takes per round")
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--minutes", type=float, default=None, help="stop starting new seeds after this long")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "annotators.json"))
    args = p.parse_args(argv)
    arms = [a for a in args.arms.split(",") if a]
    unknown = set(arms) - set(ARMS)
    if unknown:
        p.error(f"unknown arms {sorted(unknown)}; choose from {list(ARMS)}")

    from activelearn._threads import set_thread_limits

    set_thread_limits(1)
    import activelearn as al
    from tqdm.auto import tqdm

    ds = al.load_digits()
    start = time.perf_counter()
    rows = []
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    bar = tqdm(total=len(seeds) * len(arms), desc="annotators", unit="run")
    for seed in seeds:
        if args.minutes and rows and time.perf_counter() - start > 60 * args.minutes:
            break
        pool = None
        for arm in arms:
            row, pool = run_arm(ds, seed, arm, args.annotations, args.batch, pool)
            rows.append(row)
            bar.update(1)
            print(json.dumps(row), flush=True)
    bar.close()
    df = pd.DataFrame(rows)
    done_seeds = sorted(df["seed"].unique().tolist())
    summary = {arm: {c: {"mean": float(g[c].mean()), "sd": float(g[c].std(ddof=0)), "min": float(g[c].min()),
                         "max": float(g[c].max())}
                     for c in ("accuracy", "wrong_trained", "wrong_crowdlab", "items", "items_2plus", "wrong_given")}
               for arm, g in df.groupby("arm")}
    result = {"dataset": "digits", "annotators": NOISE, "annotations": args.annotations, "batch": args.batch,
              "arms": {a: ARMS[a] for a in arms}, "seeds": done_seeds, "per_run": rows, "summary": summary,
              "total_seconds": time.perf_counter() - start}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"\n## Three annotators (5%, 10%, 30% wrong), digits, {args.annotations} annotations each arm, "
          f"{len(done_seeds)} seeds\n")
    print(_table(df, arms))
    print(f"\n{result['total_seconds']:.0f} s in all; JSON: {args.out}")


if __name__ == "__main__":
    main()

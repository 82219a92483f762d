"""Label review on digits: do the suspects hold the flipped labels, and does reviewing them win the accuracy back?

Per seed: the default loop (default model, ``auto`` strategy, test split 25%) gathers 200 labels
from an oracle that flips 10% of its answers (``Oracle(noise=0.1, seed=seed)``, uniformly to another
class). Then ``activelearn.review.suspects`` (5-fold cross-fit of the session's own model template,
cleanlab's self-confidence score) ranks the given labels, and

* recall: the share of the flipped labels among the top 2 x (number of flipped labels) suspects
  (the issue's measure; it uses the oracle's count of errors to size the review);
* "reviewed issues": held-out accuracy after a person reviews the labels cleanlab's confident
  learning flags (``issue`` column; needs no knowledge of the number of errors): each gets its true
  label, as someone looking at the item would give, and the model retrains;
* "reviewed issues + top 2x": then the top 2x suspects as well (``wrong_left``: wrong labels still
  in the training set after that);
* "no noise": the same seed's run with a perfect oracle (its own queries, 200 labels);
* with ``--review-every N``, "reviewed during the run": the same noisy run, but every N labels a person
  reviews the suspects not reviewed yet (``Session.suspects()`` leaves reviewed labels out) the same way
  (confident learning's flags, then the top 2x the number of wrong labels among them), replacing wrong
  labels with ``Session.relabel`` and keeping right ones with ``Session.keep_label``; the loop retrains
  and continues from the corrected labels; at 200 labels a last review of the same kind. ``n_reviewed``
  counts every label a person looked at.

Then the time to compute suspects on 2,000 labels: all 1,797 digits labeled once by one noisy
annotator and 203 of them a second time by another (pool = every item, its t-SNE map already
computed, as in a running session), one thread: the first call (which builds the pool's spreading graphs,
kept per pool for later reviews) and the median of 3 calls.

Single process, one thread (activelearn's default). The noisy and the clean run of a seed share
one pool and its t-SNE map (identical features), so t-SNE runs once per seed.

    nice -n 10 python benchmarks/label_review.py --seeds 10 --out benchmarks/out/label_review.json
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


def review_round(s, truth):
    """One review by a person who knows the truth: flagged labels, then the top 2x the wrong ones; returns how many."""
    from activelearn.exceptions import ActiveLearnError

    try:
        out = s.suspects()  # reviewed labels are left out
    except ActiveLearnError:  # a class with a single label (a wrong one, often) cannot be cross-fitted yet
        return 0
    out["item_id"] = out["item_id"].astype(str)
    n_wrong = int(sum(lab != truth(i) for i, lab in zip(out["item_id"], out["label"])))
    look = list(dict.fromkeys(list(out.loc[out["issue"], "item_id"]) + list(out.head(2 * n_wrong)["item_id"])))
    given = dict(zip(out["item_id"], out["label"]))
    for i in look:
        item = s.dataset.item_id(s.dataset.position(i))
        if given[i] != truth(item):
            s.relabel(item, truth(item), seconds=0.0)
        else:
            s.keep_label(item, seconds=0.0)
    return len(look)


def reviewed_during_run(ds, seed, budget, noisy, truth, every, pool):
    """The noisy run with a review every ``every`` labels (and one at the end)."""
    import activelearn as al

    s = al.Session(ds, store=":memory:", random_state=seed)
    s.model_template._pool = pool
    reviewed, stop = 0, every
    while True:
        s.simulate(min(stop, budget), oracle=noisy)
        reviewed += review_round(s, truth)
        s.retrain()
        if s.n_labels >= budget:
            break
        stop += every
    now = s.labels()
    left = int(sum(lab != truth(i) for i, lab in zip(now["item_id"], now["label"])))
    acc = float(s.history["accuracy"].iloc[-1])
    s.close()
    return acc, reviewed, left


def one_seed(ds, seed, budget, noise, mode, every=None):
    import activelearn as al
    from activelearn.review import suspects
    from activelearn.simulate import SIMULATED, Oracle

    truth = Oracle(ds)
    noisy = Oracle(ds, noise=noise, seed=seed, mode=mode)
    t0 = time.perf_counter()
    s = al.Session(ds, store=":memory:", random_state=seed)
    s.simulate(budget, oracle=noisy)
    acc_noisy = float(s.history["accuracy"].iloc[-1])
    labels = s.labels()
    flipped = {i for i in labels["item_id"] if noisy.is_wrong(i)}
    n_err = len(flipped)
    t = time.perf_counter()
    out = suspects(ds, labels, s.model_template, exclude_positions=np.flatnonzero(s.test_mask),
                   random_state=s.random_state)
    suspects_seconds = time.perf_counter() - t
    out["item_id"] = out["item_id"].astype(str)
    top = out.head(2 * n_err)
    found = set(top["item_id"]) & flipped
    issues = out[out["issue"]]

    def reviewed(item_ids):
        for i in item_ids:
            s.label(i, truth(i), overwrite=True, annotator=SIMULATED, seconds=0.0)
        now = s.labels()
        left = int(sum(lab != truth(i) for i, lab in zip(now["item_id"], now["label"])))
        return float(s.retrain()["accuracy"]), left

    acc_issues, left_issues = reviewed(issues["item_id"])  # no knowledge of the number of errors
    acc_top, left_top = reviewed(top["item_id"])  # then the top 2x as well (the flags are mostly among them)
    pool = s.model_template._pool  # shared with the clean run: same split, same features, one t-SNE map
    s.close()
    c = al.Session(ds, store=":memory:", random_state=seed)
    c.model_template._pool = pool
    c.simulate(budget)
    acc_clean = float(c.history["accuracy"].iloc[-1])
    c.close()
    during = {}
    if every:
        acc, n_rev, left = reviewed_during_run(ds, seed, budget, noisy, truth, every, pool)
        during = {"acc_reviewed_during": acc, "n_reviewed_during": n_rev, "wrong_left_during": left}
    return {**during, "seed": seed, "n_labels": int(len(labels)), "n_flipped": n_err,
            "recall_top2x": len(found) / n_err if n_err else float("nan"), "n_reviewed_top2x": int(len(top)),
            "n_issues": int(len(issues)), "issues_hit": int(len(set(issues["item_id"]) & flipped)),
            "n_reviewed_both": int(len(set(issues["item_id"]) | set(top["item_id"]))),
            "acc_noisy": acc_noisy, "acc_reviewed_issues": acc_issues, "wrong_left_issues": left_issues,
            "acc_reviewed_issues_top2x": acc_top, "wrong_left_issues_top2x": left_top,
            "acc_clean": acc_clean, "suspects_seconds_200": suspects_seconds,
            "seed_seconds": time.perf_counter() - t0}


def timing_2000(ds, noise, repeats=3):
    from activelearn._training import default_model
    from activelearn.review import suspects
    from activelearn.simulate import Oracle

    a, b = Oracle(ds, noise=noise, seed=101), Oracle(ds, noise=noise, seed=102)
    second = np.sort(np.random.default_rng(0).choice(len(ds), 2000 - len(ds), replace=False))
    rows = ([(str(ds.item_id(p)), a(ds.item_id(p)), "ann") for p in range(len(ds))]
            + [(str(ds.item_id(p)), b(ds.item_id(p)), "bob") for p in second])
    labels = pd.DataFrame(rows, columns=["item_id", "label", "annotator"])
    labels["labeled_at"] = pd.Timestamp("2026-01-01", tz="UTC")
    model = default_model(ds, random_state=0).set_pool(ds.X)
    t = time.perf_counter()
    model.transform(ds.X[:1])  # the pool's t-SNE map: computed once per pool, before any review in a session
    tsne = time.perf_counter() - t
    times = []
    for _ in range(repeats + 1):  # the first call builds the pool's spreading graphs; later ones reuse them
        t = time.perf_counter()
        out = suspects(ds, labels, model)
        times.append(time.perf_counter() - t)
    wrong = {(str(ds.item_id(p)), "ann") for p in np.flatnonzero(a.wrong)} | {
        (str(ds.item_id(p)), "bob") for p in second if b.wrong[p]}
    keys = list(zip(out["item_id"].astype(str), out["annotator"]))
    hit = len(set(keys[:2 * len(wrong)]) & wrong) / len(wrong)
    return {"n_labels": int(len(labels)), "seconds_first": times[0], "seconds_median": float(np.median(times[1:])),
            "seconds": times,
            "tsne_seconds_once": tsne, "n_wrong": len(wrong), "recall_top2x": hit}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--budget", type=int, default=200)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--mode", default="uniform", choices=["uniform", "confusable"])
    p.add_argument("--minutes", type=float, default=None, help="stop starting new seeds after this long")
    p.add_argument("--skip-timing", action="store_true")
    p.add_argument("--review-every", type=int, default=None,
                   help="also run the noisy loop with a review every this many labels (and at the end)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "label_review.json"))
    args = p.parse_args(argv)

    from activelearn._threads import set_thread_limits

    set_thread_limits(1)
    import activelearn as al

    ds = al.load_digits()
    start = time.perf_counter()
    timing = None if args.skip_timing else timing_2000(ds, args.noise)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        if args.minutes and rows and time.perf_counter() - start > 60 * args.minutes:
            break
        rows.append(one_seed(ds, seed, args.budget, args.noise, args.mode, args.review_every))
        print(json.dumps(rows[-1]), flush=True)
    df = pd.DataFrame(rows)
    result = {"dataset": "digits", "budget": args.budget, "noise": args.noise, "mode": args.mode,
              "review_every": args.review_every,
              "seeds": df["seed"].tolist(), "per_seed": rows, "timing_2000": timing,
              "mean": df.drop(columns="seed").mean().to_dict(), "total_seconds": time.perf_counter() - start}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))

    cols = ["seed", "n_flipped", "recall_top2x", "n_issues", "issues_hit", "n_reviewed_both", "wrong_left_issues_top2x",
            "acc_noisy", "acc_reviewed_issues", "acc_reviewed_issues_top2x", "acc_clean", "suspects_seconds_200"]
    if args.review_every:
        cols[-1:-1] = ["n_reviewed_during", "wrong_left_during", "acc_reviewed_during"]
    show = df[cols].copy()
    mean = show.mean().to_frame().T.assign(seed="mean")
    show = pd.concat([show, mean], ignore_index=True)
    print(f"\n## Label review: digits, {args.budget} labels, {args.noise:.0%} flipped ({args.mode}), "
          f"{len(df)} seeds\n")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for _, r in show.iterrows():
        cells = [str(r["seed"]) if isinstance(r["seed"], str) else str(int(r["seed"]))]
        for c in cols[1:]:
            v = r[c]
            cells.append(f"{v:.3f}" if c.startswith(("acc", "recall", "suspects")) else f"{v:.1f}")
        print("| " + " | ".join(cells) + " |")
    print(f"\nrecall of flipped labels in the top 2x: mean {df['recall_top2x'].mean():.3f}, "
          f"min {df['recall_top2x'].min():.3f} (goal >= 0.80)")
    for col in ("acc_noisy", "acc_reviewed_issues", "acc_reviewed_issues_top2x") + (
            ("acc_reviewed_during",) if args.review_every else ()):
        gap = (df["acc_clean"] - df[col]) * 100
        print(f"accuracy gap clean - {col[4:]}: mean {gap.mean():.2f} points, max {gap.max():.2f}, "
              f"seeds within 1 point {int((gap <= 1).sum())}/{len(gap)} (goal <= 1)")
    if timing:
        print(f"suspects on {timing['n_labels']} labels: first call {timing['seconds_first']:.2f} s, then "
              f"{timing['seconds_median']:.2f} s median ({', '.join(f'{t:.2f}' for t in timing['seconds'][1:])}), "
              f"one thread (goal < 2 s); "
              f"t-SNE map once per pool {timing['tsne_seconds_once']:.1f} s; recall top 2x "
              f"{timing['recall_top2x']:.3f} of {timing['n_wrong']} wrong labels")
    print(f"\n{result['total_seconds']:.0f} s in all; JSON: {args.out}")


if __name__ == "__main__":
    main()

"""Are the live savings estimates honest? Their 90% intervals against the true values, in simulation.

    python benchmarks/savings.py --datasets digits,wine --seeds 10 --first-seed 100 --labels 200 [--jobs 2]

Per seed: a session (default model, strategy ``auto``, ``audit_share=0.5``,
held-out test set 30%) is driven like the widget drives it
(:func:`activelearn.simulate.run_offers`: one offer at a time, every second
one an audit item, a retrain every 10 labels) to ``--labels`` labels in all.
After each retrain ``session.savings(source="audit")`` gives the live
estimates *without looking at the test set*. The truth:

* strategy accuracy: that same model's accuracy on the held-out test set;
* random accuracy: a real random-sampling run on the same seed (same test
  set, batches of 5), its test accuracy at the same number of training labels;
* labels saved: the labels at which that random run (continued to
  ``--random-factor`` times the strategy's labels, at most the pool) first
  reaches the strategy's test accuracy, minus the strategy's labels
  ("censored" where it never does: the truth is above the run's end).

Both truths are measured on the held-out test set (``n_test`` items: 54 on
wine), so each has a binomial spread of its own that no estimate from the
audit items can (or should) contain. The estimates' intervals are for the
model's accuracy on the data (strategy) and for where a real random run lands
(random); the check that is fair to them widens each interval, *in the
validation only*, by the test set's noise (the two combined in quadrature:
``z * sqrt(p (1 - p) / n_test)`` with ``p`` the estimate). Both coverages are
reported: "raw" (interval against the test-set truth as it is) and "test
noise" (the fair one).

Reports, per dataset, over the rounds after 50 labels (given in all): how
often each 90% interval contains the truth, the mean interval width, the mean
signed error (bias), and for the strategy the "raw ceiling": the raw coverage
an exact, unbiased Wilson interval on the same number of audit items would
reach against a truth measured on ``n_test`` items (at the truth's accuracy).
Labels saved: on how many rounds a value is given (``labels_saved`` finite:
with an interval bounded on at least one side, or a point only, its interval
bounded on neither), a bound only (``labels_saved`` NaN, ``labels_saved_low``
or ``_high`` finite), or neither; and, on the rounds with a finite end (the
claims that can fail), how often the interval or bound contains the truth:
raw, and with the test set's noise (the truth's range when the strategy's test
accuracy moves by its own 90% binomial noise; a censored truth counts as
covered raw only when certainly covered: ``low`` below the run's end and no
upper bound). Writes
benchmarks/out/savings.json and prints a table. Goal: >= 80% coverage.
Develop on seeds 0-4 (``--first-seed 0 --seeds 5``); report on unseen seeds
(``--first-seed 100``).
"""

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing as mp
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's activelearn, not an installed one (spawned workers inherit it)


def one_seed(name, seed, labels, test_size=0.3, random_factor=3.0):
    import activelearn as al
    from activelearn.metrics import accuracy_at
    from activelearn.simulate import run_offers, run_one

    dataset = al.load_dataset(name)
    session = al.Session(dataset, store=":memory:", random_state=seed, test_size=test_size, audit_share=0.5)
    start = time.perf_counter()
    run_offers(session, labels, retrain_every=10)
    loop_seconds = time.perf_counter() - start
    start = time.perf_counter()
    live = session.savings(source="audit")
    savings_seconds = time.perf_counter() - start
    h = session.history
    n_test = int(session.test_mask.sum())
    # the real random run goes on to random_factor x the strategy's labels (at most the pool): labels saved's truth
    budget = int(min(random_factor * h["n_labels"].max(), len(dataset) - n_test))
    random_run = run_one(dataset, "random", seed, budget=budget, batch_size=5, initial_size=5, test_size=test_size)
    rows = []
    for (i, est), (_, hist) in zip(live.iterrows(), h.iterrows()):
        n = int(est["n_labels"])
        saved, censored = true_labels_saved(random_run["n_labels"], random_run["accuracy"], float(hist["accuracy"]),
                                            n)
        # the same, for the strategy's test accuracy moved by the test set's own 90% noise (the fair check)
        p = min(max(float(hist["accuracy"]), 0.5 / n_test), 1 - 0.5 / n_test)
        noise = 1.6449 * (p * (1 - p) / n_test) ** 0.5
        saved_lo, _ = true_labels_saved(random_run["n_labels"], random_run["accuracy"],
                                        float(hist["accuracy"]) - noise, n)
        saved_hi, censored_hi = true_labels_saved(random_run["n_labels"], random_run["accuracy"],
                                                  float(hist["accuracy"]) + noise, n)
        rows.append({"dataset": name, "seed": seed, "n_labels": n, "given": int(hist["n_labels"] + hist["audit_n"]),
                     "audit_n": int(hist["audit_n"]), "n_test": n_test, "true_strategy": float(hist["accuracy"]),
                     "true_random": accuracy_at(random_run["n_labels"], random_run["accuracy"], n),
                     "true_saved": saved, "true_saved_censored": censored, "true_saved_noise_low": saved_lo,
                     "true_saved_noise_high": float("inf") if censored_hi else saved_hi,
                     **{k: float(v) for k, v in est.items() if k != "n_labels"}})
    return rows, loop_seconds, savings_seconds


def true_labels_saved(random_n, random_accuracy, strategy_accuracy, n_labels):
    """Labels saved by the real random run: the labels at which it first reaches the strategy's test accuracy, minus
    ``n_labels``; ``(value, censored)``, censored (the truth is above the value) when the run never reaches it."""
    import numpy as np

    random_n, random_accuracy = np.asarray(random_n), np.asarray(random_accuracy, dtype=float)
    reached = np.flatnonzero(random_accuracy >= strategy_accuracy - 1e-12)
    if len(reached):
        return float(random_n[reached[0]] - n_labels), False
    return float(random_n[-1] - n_labels), True


def wilson_ceiling(n_audit, n_test, p, z):
    """Raw coverage an exact, unbiased Wilson interval on ``n_audit`` items can reach against a truth measured on
    ``n_test`` items, both binomial with success rate ``p``: the test set's noise, not the estimator's fault."""
    import numpy as np
    from scipy.stats import binom

    from activelearn.metrics import wilson_interval

    t = np.arange(n_test + 1) / n_test
    pt = binom.pmf(np.arange(n_test + 1), n_test, p)
    total = 0.0
    for k, pk in enumerate(binom.pmf(np.arange(n_audit + 1), n_audit, p)):
        lo, hi = wilson_interval(k, n_audit, z=z)
        total += pk * pt[(t >= lo - 1e-12) & (t <= hi + 1e-12)].sum()
    return float(total)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,wine")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--labels", type=int, default=200, help="labels given in all (audit included) per seed")
    parser.add_argument("--after", type=int, default=50, help="rounds scored once this many labels were given")
    parser.add_argument("--random-factor", type=float, default=3.0,
                        help="the real random run goes on to this many times the strategy's labels (truth of labels "
                             "saved; at most the pool)")
    parser.add_argument("--test-size", type=float, default=0.3,
                        help="share of each dataset held out as the test set the truths are measured on")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/out/savings.json")
    args = parser.parse_args(argv)

    import numpy as np
    import pandas as pd
    from scipy.stats import norm
    from tqdm.auto import tqdm

    from activelearn._threads import set_thread_limits

    seed_range = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(name, seed) for name in args.datasets.split(",") for seed in seed_range]
    rows, timings = [], []
    with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn"), initializer=set_thread_limits,
                             initargs=(1,)) as ex:
        futures = {ex.submit(one_seed, name, seed, args.labels, test_size=args.test_size,
                             random_factor=args.random_factor): (name, seed) for name, seed in jobs}
        for fut in tqdm(futures, desc="savings", unit="seed"):
            r, loop_s, sav_s = fut.result()
            rows.extend(r)
            name, seed = futures[fut]
            timings.append({"dataset": name, "seed": seed, "loop_seconds": loop_s, "savings_seconds": sav_s,
                            "rounds": len(r)})
    d = pd.DataFrame(rows)
    late = d[d["given"] > args.after]
    table = []
    for name, g in late.groupby("dataset", sort=False):
        t = pd.DataFrame(timings)
        t = t[t["dataset"] == name]
        row = {"dataset": name, "seeds": g["seed"].nunique(), "rounds": len(g),
               "savings_seconds_per_round": float(t["savings_seconds"].sum() / t["rounds"].sum())}
        for what, est, lo, hi in (("strategy", "strategy_accuracy", "strategy_low", "strategy_high"),
                                  ("random", "random_accuracy", "random_low", "random_high")):
            truth = g[f"true_{what}"]
            known = g[lo].notna() & g[hi].notna() & truth.notna()
            inside = (g[lo] <= truth + 1e-12) & (truth <= g[hi] + 1e-12)
            row[f"{what}_coverage_raw"] = float(inside[known].mean()) if known.any() else float("nan")
            c = g[est]
            p = c.clip(0.5 / g["n_test"], 1 - 0.5 / g["n_test"])
            noise = float(norm.ppf(0.95)) * np.sqrt(p * (1 - p) / g["n_test"])  # the truth's own 90% spread
            lo_t, hi_t = c - np.hypot(c - g[lo], noise), c + np.hypot(g[hi] - c, noise)
            inside = (lo_t <= truth + 1e-12) & (truth <= hi_t + 1e-12)
            row[f"{what}_coverage"] = float(inside[known].mean()) if known.any() else float("nan")
            row[f"{what}_rounds_known"] = int(known.sum())
            row[f"{what}_width"] = float((g[hi] - g[lo])[known].mean()) if known.any() else float("nan")
            row[f"{what}_mean_abs_error"] = float((g[est] - truth)[known].abs().mean()) if known.any() else float("nan")
        z = float(norm.ppf(0.95))
        p_true = g["true_strategy"].clip(0.5 / g["n_test"], 1 - 0.5 / g["n_test"])
        row["strategy_raw_ceiling"] = float(np.mean([wilson_ceiling(int(a), int(t), float(p), z) for a, t, p in
                                                     zip(g["audit_n"], g["n_test"], p_true)]))
        row["strategy_bias"] = float((g["strategy_accuracy"] - g["true_strategy"]).mean())
        value = g["labels_saved"].notna()
        lo, hi, truth = g["labels_saved_low"].fillna(-np.inf), g["labels_saved_high"].fillna(np.inf), g["true_saved"]
        checkable = np.isfinite(lo) | np.isfinite(hi)  # an interval or a one-sided bound: a claim that can fail
        point_only = value & ~checkable  # a value whose interval the data bound on neither side
        bound = ~value & checkable
        # censored truth (the real run never reached the strategy's accuracy): covered only if certainly covered
        inside = np.where(g["true_saved_censored"], (lo <= truth) & np.isinf(hi),
                          (lo <= truth + 1e-9) & (truth <= hi + 1e-9))
        # fair: the truth's range when the strategy's test accuracy moves by the test set's own 90% noise
        fair = (lo <= g["true_saved_noise_high"] + 1e-9) & (g["true_saved_noise_low"] <= hi + 1e-9)
        row["labels_saved_known"] = int(value.sum())
        row["labels_saved_checkable"] = int(checkable.sum())
        row["labels_saved_value_checkable"] = int((value & checkable).sum())
        row["labels_saved_point_only"] = int(point_only.sum())
        row["labels_saved_bound_only"] = int(bound.sum())
        row["labels_saved_none"] = int((~value & ~checkable).sum())
        # rounds where the interval or bound rules out "no saving" (all of it above 0 or below 0)
        row["labels_saved_excludes_zero"] = int((checkable & ((lo > 0) | (hi < 0))).sum())
        row["labels_saved_coverage"] = float(inside[checkable].mean()) if checkable.any() else float("nan")
        row["labels_saved_coverage_fair"] = float(fair[checkable].mean()) if checkable.any() else float("nan")
        row["labels_saved_bound_coverage"] = float(inside[bound].mean()) if bound.any() else float("nan")
        row["labels_saved_bound_coverage_fair"] = float(fair[bound].mean()) if bound.any() else float("nan")
        row["labels_saved_truth_censored"] = int(g["true_saved_censored"].sum())
        row["labels_saved_median"] = float(g["labels_saved"].median())
        row["labels_saved_low_median"] = float(g.loc[checkable, "labels_saved_low"].median())
        table.append(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "summary": table, "rounds": d.to_dict(orient="records"),
                               "timings": timings}, default=float, indent=1))
    seeds = f"{args.first_seed}-{args.first_seed + args.seeds - 1}"
    print(f"Seeds {seeds}; rounds after {args.after} labels given; 90% intervals; truth from the held-out test set "
          "and a real random-sampling run on the same seed. Covered: with the test set's own binomial noise "
          "(the fair check) / raw.\n")
    print("| dataset | seeds | rounds | strategy: covered / raw (known) | raw ceiling | width | bias | abs err | "
          "random: covered / raw (known) | width | abs err | savings() s/round |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in table:
        print(f"| {r['dataset']} | {seeds} | {r['rounds']} | {r['strategy_coverage']:.0%} / "
              f"{r['strategy_coverage_raw']:.0%} ({r['strategy_rounds_known']}) | {r['strategy_raw_ceiling']:.0%} | "
              f"{r['strategy_width']:.3f} | {r['strategy_bias']:+.3f} | {r['strategy_mean_abs_error']:.3f} | "
              f"{r['random_coverage']:.0%} / {r['random_coverage_raw']:.0%} ({r['random_rounds_known']}) | "
              f"{r['random_width']:.3f} | {r['random_mean_abs_error']:.3f} | {r['savings_seconds_per_round']:.2f} |")
    print("\nLabels saved. Truth: the labels at which the real random run first reaches the strategy's test "
          "accuracy, minus the strategy's labels (censored where it never does). Value: labels_saved finite "
          "(with an interval bounded on at least one side / point only); bound only: labels_saved NaN, "
          "labels_saved_low or _high finite. Checked on the rounds with a finite end (value with a bounded interval, "
          "or a bound): covered with the test set's noise (fair: the truth's range when the strategy's test "
          "accuracy moves by its 90% binomial noise) / raw (low <= truth <= high).\n")
    print("| dataset | rounds | value (bounded / point only) | bound only | neither | checked: covered / raw | "
          "bound only: covered / raw | excludes 0 | truth censored | median value | median low |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    pct = lambda v: "-" if v != v else f"{v:.0%}"  # noqa: E731
    for r in table:
        print(f"| {r['dataset']} | {r['rounds']} | {r['labels_saved_known']} ({r['labels_saved_value_checkable']} / "
              f"{r['labels_saved_point_only']}) | {r['labels_saved_bound_only']} | {r['labels_saved_none']} | "
              f"{pct(r['labels_saved_coverage_fair'])} / {pct(r['labels_saved_coverage'])} "
              f"({r['labels_saved_checkable']}) | {pct(r['labels_saved_bound_coverage_fair'])} / "
              f"{pct(r['labels_saved_bound_coverage'])} | {r['labels_saved_excludes_zero']} | "
              f"{r['labels_saved_truth_censored']} | {r['labels_saved_median']:.0f} | "
              f"{r['labels_saved_low_median']:.0f} |")
    print(f"\nWrote {out}")


if __name__ == "__main__":
    main()

"""Where the stopping advice would have stopped: digits, wine and iris, the default strategy, 10 seeds.

    python benchmarks/stopping.py --seeds 10 --budget 300 [--first-seed 100] [--jobs 2] [--out ...]

Runs ``activelearn.simulate(..., stopping=True)`` (the default model and
strategy ``auto``; held-out test set 30%; each seed its own split) to the
budget (or the end of the pool: wine and iris have fewer than 300 pool
items) and reports, per dataset and criterion: seeds where it said stop,
labels at the stop, accuracy at the stop and at the budget, the loss
(accuracy at the budget minus at the stop; worst seed too) and the labels
saved against the budget. Writes benchmarks/out/stopping.json and prints a
table. Goal for ``default``: stops on every seed, loss <= 1 point on every
seed, >= 40% fewer labels than the budget.
"""

import argparse
import json
import time
from pathlib import Path


def rule_table(curves):
    """Compare stopping rules offline from the recorded per-round values (kappa, uncertainty, projected gain).

    Each rule is evaluated on every seed's curve exactly as the session would have: the first round where it
    holds is the stop. This is how the default was chosen (on seeds 0-9), and how it is checked on other seeds.
    """
    import numpy as np
    import pandas as pd

    def K(t):
        return lambda g: (g["value_stabilizing_predictions"] >= t).to_numpy()

    def U(t, rounds=1):
        return lambda g: (g["value_pool_uncertainty"] <= t).astype(int).rolling(rounds).sum().to_numpy() >= rounds

    def F(t):
        return lambda g: (g["value_accuracy_flattening"] < t).to_numpy()

    def both(*fs):
        return lambda g: np.logical_and.reduce([f(g) for f in fs])

    rules = {"kappa>=0.99 (Bloodgood)": K(0.99), "kappa>=1.0": K(1.0), "uncertainty<=0.05": U(0.05),
             "uncertainty<=0.01": U(0.01), "uncertainty<=0.007 x2": U(0.007, 2), "uncertainty<=0.005": U(0.005),
             "gain<0.01 (flattening)": F(0.01), "gain<0.005": F(0.005),
             "kappa>=0.99 & gain<0.01": both(K(0.99), F(0.01)), "kappa>=1.0 & gain<0.01": both(K(1.0), F(0.01)),
             "kappa>=0.99 & uncertainty<=0.01 x2": both(K(0.99), U(0.01, 2)),
             "kappa>=0.99 & uncertainty<=0.007 x2 (default)": both(K(0.99), U(0.007, 2)),
             "kappa>=0.99 & uncertainty<=0.005 x2": both(K(0.99), U(0.005, 2))}
    rows = []
    for rule, f in rules.items():
        for name, r in curves.items():
            r = pd.DataFrame(r)
            per = []
            for _, g in r.groupby("seed"):
                g = g.sort_values("n_labels").reset_index(drop=True)
                hit = np.flatnonzero(f(g))
                i = hit[0] if len(hit) else len(g) - 1
                a, n = g["accuracy"].to_numpy(float), g["n_labels"].to_numpy(float)
                per.append((len(hit) > 0, n[i], a[-1] - a[i], 100 * (1 - n[i] / n[-1])))
            per = np.array(per, dtype=float)
            rows.append({"rule": rule, "dataset": name, "stopped": int(per[:, 0].sum()), "seeds": len(per),
                         "labels_median": float(np.median(per[:, 1])), "loss_mean": float(per[:, 2].mean()),
                         "loss_max": float(per[:, 2].max()), "saved_median": float(np.median(per[:, 3])),
                         "saved_min": float(per[:, 3].min())})
    return pd.DataFrame(rows)


def print_rule_table(table):
    print("\n| rule | " + " | ".join(table["dataset"].unique()) + " |")
    print("|---|" + "---|" * table["dataset"].nunique())
    for rule, g in table.groupby("rule", sort=False):
        cells = [f"{r.stopped}/{r.seeds}, {r.labels_median:.0f} labels, saved {r.saved_median:.0f}% "
                 f"(min {r.saved_min:.0f}%), loss {100 * r.loss_mean:+.2f} (worst {100 * r.loss_max:+.2f})"
                 for r in g.itertuples()]
        print(f"| {rule} | " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,wine,iris")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/out/stopping.json")
    parser.add_argument("--rules-from", default=None,
                        help="only compare the stopping rules on the curves of an earlier run's JSON")
    args = parser.parse_args(argv)
    if args.rules_from:
        print_rule_table(rule_table(json.loads(Path(args.rules_from).read_text())["curves"]))
        return

    import pandas as pd

    import activelearn as al
    from activelearn.simulate import simulate, summarize_stopping

    rows, curves = [], {}
    for name in args.datasets.split(","):
        dataset = al.load_dataset(name)
        start = time.perf_counter()
        seeds = list(range(args.first_seed, args.first_seed + args.seeds))
        results = simulate(dataset, ["auto"], seeds=seeds, budget=args.budget, n_jobs=args.jobs,
                           stopping=True, progress=True)
        seconds = time.perf_counter() - start
        table = summarize_stopping(results).assign(dataset=name, seconds=round(seconds, 1))
        rows.append(table)
        curves[name] = results.to_dict(orient="list")
    table = pd.concat(rows, ignore_index=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rules = rule_table(curves)
    out.write_text(json.dumps({"args": vars(args), "summary": table.to_dict(orient="records"),
                               "rules": rules.to_dict(orient="records"), "curves": curves}, default=float, indent=1))
    print("| dataset | criterion | stopped | labels at stop, median [IQR] | of budget | saved, median (min) | "
          "acc at stop | acc at budget | loss mean (worst) pts | seeds within 1 pt |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in table.itertuples():
        print(f"| {r.dataset} | {r.criterion} | {r.seeds_stopped}/{r.n_seeds} | {r.labels_at_stop_median:.0f} "
              f"[{r.labels_at_stop_q25:.0f}, {r.labels_at_stop_q75:.0f}] | {r.labels_at_budget_median:.0f} | "
              f"{r.labels_saved_pct_median:.0f}% ({r.labels_saved_pct_min:.0f}%) | {r.accuracy_at_stop_mean:.4f} | "
              f"{r.accuracy_at_budget_mean:.4f} | {100 * r.loss_mean:+.2f} ({100 * r.loss_max:+.2f}) | "
              f"{r.seeds_within_1pt}/{r.n_seeds} |")
    print_rule_table(rules)
    print(f"\nWrote {out}")


if __name__ == "__main__":
    main()

"""Where the stopping advice would have stopped: digits, wine and iris, the default strategy, 10 seeds.

    python benchmarks/stopping.py --seeds 10 --budget 300 [--jobs 2]

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,wine,iris")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/out/stopping.json")
    args = parser.parse_args(argv)

    import pandas as pd

    import activelearn as al
    from activelearn.simulate import simulate, summarize_stopping

    rows, curves = [], {}
    for name in args.datasets.split(","):
        dataset = al.load_dataset(name)
        start = time.perf_counter()
        results = simulate(dataset, ["auto"], seeds=args.seeds, budget=args.budget, n_jobs=args.jobs,
                           stopping=True, progress=True)
        seconds = time.perf_counter() - start
        table = summarize_stopping(results).assign(dataset=name, seconds=round(seconds, 1))
        rows.append(table)
        curves[name] = results.to_dict(orient="list")
    table = pd.concat(rows, ignore_index=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "summary": table.to_dict(orient="records"), "curves": curves},
                              default=float, indent=1))
    print("| dataset | criterion | stopped | labels at stop, median [IQR] | of budget | saved, median (min) | "
          "acc at stop | acc at budget | loss mean (worst) pts | seeds within 1 pt |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in table.itertuples():
        print(f"| {r.dataset} | {r.criterion} | {r.seeds_stopped}/{r.n_seeds} | {r.labels_at_stop_median:.0f} "
              f"[{r.labels_at_stop_q25:.0f}, {r.labels_at_stop_q75:.0f}] | {r.labels_at_budget_median:.0f} | "
              f"{r.labels_saved_pct_median:.0f}% ({r.labels_saved_pct_min:.0f}%) | {r.accuracy_at_stop_mean:.4f} | "
              f"{r.accuracy_at_budget_mean:.4f} | {100 * r.loss_mean:+.2f} ({100 * r.loss_max:+.2f}) | "
              f"{r.seeds_within_1pt}/{r.n_seeds} |")
    print(f"\nWrote {out}")


if __name__ == "__main__":
    main()

"""Label efficiency on digits: random sampling against margin sampling (and more), several seeds.

Protocol: per seed, a stratified 30% held-out test set and 10 random initial
labels shared by all strategies; batches of 10; the default activelearn model.
Writes JSON (per-seed curves and the summary) and prints a table.

    python benchmarks/label_efficiency.py --seeds 5 --budget 300 --out benchmarks/out/label_efficiency.json
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from activelearn import load_dataset
from activelearn.simulate import simulate, summarize


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--strategies", default="random,margin")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--initial-size", type=int, default=10)
    p.add_argument("--target", type=float, default=0.95)
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--out", default="benchmarks/out/label_efficiency.json")
    args = p.parse_args(argv)

    strategies = args.strategies.split(",")
    start = time.perf_counter()
    results = simulate(load_dataset(args.dataset), strategies, seeds=args.seeds, budget=args.budget,
                       batch_size=args.batch_size, initial_size=args.initial_size, test_size=0.3, n_jobs=args.jobs)
    wall = time.perf_counter() - start
    budgets = [b for b in (100, 200, 300) if b <= args.budget]
    summary = summarize(results, target=args.target, budgets=budgets, aulc_range=(args.initial_size, args.budget))

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"protocol": vars(args) | {"test_size": 0.3, "model": "activelearn default (MLP, skorch)"},
               "wall_seconds": wall,
               "summary": json.loads(summary.to_json(orient="records")),
               "curves": json.loads(results.to_json(orient="records"))}
    out.write_text(json.dumps(payload, indent=1))

    cols = ["labels to %.0f%% (median [IQR])" % (100 * args.target), "seeds reached"] + \
           [f"acc@{b} (mean ± sd)" for b in budgets]
    print(f"\n{args.dataset}: {args.seeds} seeds, budget {args.budget}, batch {args.batch_size}, "
          f"{wall:.0f} s on this machine")
    print(f"| strategy | {' | '.join(cols)} |")
    print("|" + "---|" * (len(cols) + 1))

    def fmt(v):
        return "not reached" if not np.isfinite(v) else f"{v:.0f}"

    for r in summary.to_dict("records"):
        cells = [f"{fmt(r['labels_to_target_median'])} [{fmt(r['labels_to_target_q25'])}, "
                 f"{fmt(r['labels_to_target_q75'])}]", f"{r['seeds_reached']}/{r['n_seeds']}"]
        cells += [f"{r[f'accuracy_at_{b}_mean']:.3f} ± {r[f'accuracy_at_{b}_std']:.3f}" for b in budgets]
        print(f"| {r['strategy']} | {' | '.join(cells)} |")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

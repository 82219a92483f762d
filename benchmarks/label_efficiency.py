"""Label efficiency on digits: activelearn's default setup, its ablation, random sampling and the peers, one run.

Protocol (the issue's reference): per seed, a stratified 30% held-out test set
(never queried, trained on or used for a choice), batches of 10, accuracy on
the test set after every batch. Setups that start from random labels share each
seed's 10 random initial labels; the default setup picks its first labels with
its own cold start (TypiClust). Every setup of a seed sees the same test split.

Setups
------
default            PoolSpreadingClassifier (label spreading over the pool's feature graph + t-SNE map, SVC on
                   pseudo-labels) with strategy "auto" (TypiClust to 5 labels/class, then margin): what
                   ``Session(dataset)`` does.
default+random     the same model and use of the pool, labels drawn at random: the baseline for savings.
ablation rows      torch MLP (no pool) + random / margin; spreading over the feature graph only + margin;
                   spreading + t-SNE + margin from 10 random labels (= default without the typicality start).
peers              scikit-activeml 1.0.1 strategies with scikit-learn models (see ``peers.py``); skipped with a
                   note if scikit-activeml is not installed.

Writes JSON (per-seed curves and the summary) and prints a table::

    python benchmarks/label_efficiency.py --seeds 10 --budget 300 --out benchmarks/out/label_efficiency.json
"""

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

OURS = {  # name: (model, strategy, initial)
    "default": ("default", "auto", "cold_start"),
    "default+random": ("default", "random", "cold_start"),
    "mlp+random": ("mlp", "random", "random"),
    "mlp+margin": ("mlp", "margin", "random"),
    "graph-spreading+margin": ("graph", "margin", "random"),
    "spreading+tsne+margin": ("default", "margin", "random"),
}
PEERS = ["lr+random", "lr+margin", "lr+badge", "mlp100+random", "mlp100+margin", "mlp100+badge",
         "spreading+random", "spreading+margin", "spreading+typiclust"]
BASELINE = "default+random"


def _model(kind, dataset, seed):
    from activelearn.models import default_model, default_torch_model
    from activelearn.semi import PoolSpreadingClassifier

    if kind == "default":
        return default_model(dataset, random_state=seed)
    if kind == "mlp":
        return default_torch_model(dataset, random_state=seed)
    return PoolSpreadingClassifier(n_classes=dataset.n_classes, embedding=None, scaling="global", random_state=seed)


def run_setup(dataset_name, setup, seed, budget, batch_size, initial_size):
    from activelearn import load_dataset
    from activelearn._threads import set_thread_limits
    from activelearn.simulate import run_one

    set_thread_limits(1)
    dataset = load_dataset(dataset_name)
    if setup in OURS:
        kind, strategy, initial = OURS[setup]
        out = run_one(dataset, strategy, seed, budget, batch_size=batch_size, initial_size=initial_size,
                      model=_model(kind, dataset, seed), test_size=0.3, initial=initial)
    else:
        from peers import run_peer

        model, strategy = setup.split("+")
        out = run_peer(dataset, model.replace("mlp100", "mlp"), strategy, seed, budget, batch_size=batch_size,
                       initial_size=initial_size, test_size=0.3)
    out["strategy"] = setup
    return out


def main(argv=None):
    from tqdm.auto import tqdm

    from activelearn.simulate import summarize

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--setups", default=",".join(list(OURS) + PEERS),
                   help="comma-separated; default: all (%(default)s)")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--budget", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--initial-size", type=int, default=10)
    p.add_argument("--target", type=float, default=0.95)
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--out", default="benchmarks/out/label_efficiency.json")
    args = p.parse_args(argv)

    setups = args.setups.split(",")
    notes = []
    if any(s not in OURS for s in setups):
        try:
            import skactiveml  # noqa: F401
        except ImportError:
            setups = [s for s in setups if s in OURS]
            notes.append("peers skipped: pip install scikit-activeml==1.0.1")
    jobs = [(s, seed) for seed in range(args.seeds) for s in setups]
    start = time.perf_counter()
    frames = []
    n_jobs = args.jobs or os.cpu_count() or 1
    with ProcessPoolExecutor(n_jobs, mp_context=mp.get_context("spawn")) as ex:
        futures = [ex.submit(run_setup, args.dataset, s, seed, args.budget, args.batch_size, args.initial_size)
                   for s, seed in jobs]
        for fut in tqdm(as_completed(futures), total=len(futures), desc="label efficiency", unit="run"):
            frames.append(fut.result())
    wall = time.perf_counter() - start
    results = pd.concat(frames, ignore_index=True)
    budgets = [b for b in (30, 50, 100, 150, 300) if b <= args.budget]
    summary = summarize(results, target=args.target, budgets=budgets, aulc_range=(args.initial_size, args.budget),
                        baseline=BASELINE if BASELINE in setups else setups[0])
    order = {s: i for i, s in enumerate(setups)}
    summary = summary.sort_values("strategy", key=lambda c: c.map(order)).reset_index(drop=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"protocol": vars(args) | {"test_size": 0.3, "baseline": BASELINE}, "notes": notes,
               "wall_seconds": wall, "summary": json.loads(summary.to_json(orient="records")),
               "curves": json.loads(results.to_json(orient="records"))}
    out.write_text(json.dumps(payload, indent=1))
    print(f"\n{args.dataset}: {args.seeds} seeds, budget {args.budget}, batch {args.batch_size}, "
          f"{wall:.0f} s on {os.cpu_count()} cores. {' '.join(notes)}")
    print(format_table(summary, args.target, budgets))
    print(f"\nwrote {out}")


def format_table(summary, target, budgets):
    """Markdown table: labels to target (median [IQR], seeds reached), AULC, accuracy at budgets, savings."""
    def fmt(v):
        return "not reached" if not np.isfinite(v) else f"{v:.0f}"

    cols = [f"labels to {100 * target:.0f}% median [IQR]", "seeds reached", "AULC mean ± sd"] + \
           [f"acc@{b}" for b in budgets] + ["labels saved vs default+random", "p (Wilcoxon, AULC)"]
    lines = [f"| setup | {' | '.join(cols)} |", "|" + "---|" * (len(cols) + 1)]
    for r in summary.to_dict("records"):
        cells = [f"{fmt(r['labels_to_target_median'])} [{fmt(r['labels_to_target_q25'])}, "
                 f"{fmt(r['labels_to_target_q75'])}]", f"{r['seeds_reached']}/{r['n_seeds']}",
                 f"{r['aulc_mean']:.4f} ± {r['aulc_std']:.4f}"]
        cells += [f"{r[f'accuracy_at_{b}_mean']:.3f} ± {r[f'accuracy_at_{b}_std']:.3f}" for b in budgets]
        saved = r.get("labels_saved_pct")
        cells.append("" if saved is None or not np.isfinite(saved) else f"{saved:.0f}%")
        pv = r.get("p_value")
        cells.append("" if pv is None or not np.isfinite(pv) else f"{pv:.3g}")
        lines.append(f"| {r['strategy']} | {' | '.join(cells)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

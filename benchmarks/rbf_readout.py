"""PoolRBFNetClassifier's read-outs against the SVC on development splits (issue 13): held-out accuracy, fit seconds.

Development only: seeds 0-9 (``--seeds``), never the reporting seeds 100-109. Per seed, a stratified 30%
held-out test set; the pool is the other 70%. Per seed and label count, the labels are one random item
per class plus random items (``numpy.random.default_rng(seed * 1000 + n_labels)``), the same for every
model; the models share the pool's spreading (the same t-SNE map and graph, ``random_state=seed``):

svc        PoolSpreadingClassifier: an RBF SVC on the arg-max pseudo-labels (today's default).
krr        PoolRBFNetClassifier(readout="ridge"): kernel ridge regression on the soft pseudo-labels.
klr...     PoolRBFNetClassifier(readout="logistic", ridge=..., logistic_steps=...): kernel logistic
           regression, L-BFGS from the kernel-ridge read-out.
blend...   PoolRBFNetClassifier(readout="blend", ridge=...): the mean of the two read-outs' probabilities.
..._int... the same with intercept=True: kernel ridge with an unpenalised per-class intercept.

``--variants krr,blend`` runs a subset (the SVC always runs).

``fit_s``: seconds of the model's whole ``fit`` (spreading on the cached pool + read-out), one thread.
Writes ``benchmarks/out/rbf_readout_<dataset>_seeds<a>-<b>[_<variants>].json`` and prints mean (std) accuracy::

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 19 python benchmarks/rbf_readout.py --dataset wine --labels 20,40,80
    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 19 python benchmarks/rbf_readout.py --dataset digits --labels 30,60,150
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

import activelearn as al
from activelearn._threads import set_thread_limits
from activelearn.pooled import PoolRBFNetClassifier
from activelearn.semi import PoolSpreadingClassifier

VARIANTS = {
    "krr": {"readout": "ridge"},
    "klr": {"readout": "logistic"},  # ridge 0.1, 20 steps: the option's defaults
    "klr_r0.3": {"readout": "logistic", "ridge": 0.3},
    "klr_r0.3_s5": {"readout": "logistic", "ridge": 0.3, "logistic_steps": 5},
    "blend": {"readout": "blend"},  # kernel ridge and kernel logistic (its warm start) averaged, ridge 0.1
    "blend_r0.3": {"readout": "blend", "ridge": 0.3},
    "krr_r1": {"readout": "ridge", "ridge": 1.0},
    "krr_r3": {"readout": "ridge", "ridge": 3.0},
    "krr_r10": {"readout": "ridge", "ridge": 10.0},
    "krr_r0.01": {"readout": "ridge", "ridge": 0.01},
    # kernel ridge with a fitted (unpenalised) intercept: shrinks towards the weighted class mean, not towards 0
    "krr_int": {"readout": "ridge", "intercept": True},
    "krr_int_r1": {"readout": "ridge", "intercept": True, "ridge": 1.0},
    "krr_int_r3": {"readout": "ridge", "intercept": True, "ridge": 3.0},
    "krr_int_r10": {"readout": "ridge", "intercept": True, "ridge": 10.0},
    "klr_int_r0.3": {"readout": "logistic", "intercept": True, "ridge": 0.3},
    "blend_int": {"readout": "blend", "intercept": True},
    "blend_int_r0.3": {"readout": "blend", "intercept": True, "ridge": 0.3},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--labels", default="30,60,150", help="label counts, comma-separated")
    parser.add_argument("--seed-start", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--cache-dir", default="auto", help="the pool preparation's cache (as the models' cache_dir)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="read-outs to run besides the SVC, comma-separated")
    parser.add_argument("--out-dir", default=str(Path(__file__).parent / "out"))
    args = parser.parse_args(argv)
    if args.seed_start + args.seeds > 100:
        parser.error("development seeds only (below 100); the reporting seeds 100-109 are for label_efficiency.py")
    chosen = [name for name in args.variants.split(",") if name]
    unknown = sorted(set(chosen) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    variants = {name: VARIANTS[name] for name in chosen}
    set_thread_limits(1)
    ds = al.load_dataset(args.dataset)
    scaling = "feature" if ds.kind == "table" else "global"
    n_labels = [int(v) for v in args.labels.split(",")]
    seeds = range(args.seed_start, args.seed_start + args.seeds)
    rows = []
    for seed, n in tqdm([(s, n) for s in seeds for n in n_labels], desc=f"{args.dataset} read-outs"):
        train, test = train_test_split(np.arange(len(ds.y)), test_size=0.3, stratify=ds.y, random_state=seed)
        X, y = ds.X[train].reshape(len(train), -1), ds.y[train]
        X_test, y_test = ds.X[test].reshape(len(test), -1), ds.y[test]
        rng = np.random.default_rng(seed * 1000 + n)
        lab = np.concatenate([rng.choice(np.flatnonzero(y == c), 1) for c in np.unique(y)]
                             + [rng.choice(len(y), n - len(np.unique(y)), replace=False)])
        common = {"n_classes": ds.n_classes, "scaling": scaling, "random_state": seed, "cache_dir": args.cache_dir}
        models = {"svc": PoolSpreadingClassifier(**common)}
        models.update({name: PoolRBFNetClassifier(**common, **kw) for name, kw in variants.items()})
        row = {"seed": seed, "n_labels": n, "n_distinct_labeled": int(len(np.unique(lab)))}
        for name, model in models.items():
            model.set_pool(X)
            start = time.perf_counter()
            model.fit(X[lab], y[lab])
            row[name + "_fit_s"] = time.perf_counter() - start
            proba = model.predict_proba_inductive(X_test)
            row[name] = float((proba.argmax(axis=1) == y_test).mean())
        rows.append(row)
    names = ["svc", *variants]
    summary = {}
    print(f"{args.dataset}, seeds {seeds.start}-{seeds.stop - 1}: held-out accuracy mean (std); median fit seconds")
    print(f"{'labels':>6} " + " ".join(f"{name:>16}" for name in names))
    for n in n_labels:
        sel = [r for r in rows if r["n_labels"] == n]
        summary[n] = {name: {"mean": float(np.mean([r[name] for r in sel])), "std": float(np.std([r[name] for r in sel])),
                             "median_fit_s": float(np.median([r[name + "_fit_s"] for r in sel]))} for name in names}
        print(f"{n:>6} " + " ".join(f"{summary[n][k]['mean']:.4f} ({summary[n][k]['std']:.3f})" for k in names))
        print(f"{'fit s':>6} " + " ".join(f"{summary[n][k]['median_fit_s']:>16.3f}" for k in names))
    subset = "" if list(variants) == list(VARIANTS) else "_" + "-".join(variants)
    out = Path(args.out_dir) / f"rbf_readout_{args.dataset}_seeds{seeds.start}-{seeds.stop - 1}{subset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dataset": args.dataset, "variants": variants, "rows": rows, "summary": summary}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

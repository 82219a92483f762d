"""Label efficiency: activelearn's default setup, its ablation, random sampling and the peers, one run per dataset.

Protocol (the issue's reference): per seed, a stratified 30% held-out test set
(never queried, trained on or used for a choice), batches of 10, accuracy on
the test set after every batch. Setups that start from random labels
(``default+random``, the ablation rows, the peers' ``random``/``margin``/``badge``)
share each seed's 10 random initial labels (``activelearn.simulate.initial_ids``);
the default setup and the cold-start peers (``typiclust``, ``auto``) pick their
first 10 labels themselves. Every setup of a seed sees the same test split.

Development and reporting seeds
-------------------------------
The default's design (model, ``auto`` switch at 5 labels per class, TypiClust
start) was chosen on digits seeds 0-9. Reported numbers use seeds 100-109
(``--seed-start 100``, the default), which were not looked at while designing
anything, with the settings frozen: nothing below was tuned per dataset except
the budget and the target, both fixed in ``DATASETS`` before any reporting-seed
run (targets from what a fully supervised model is known to reach on each
dataset, a few points under it; images use the 0.90 its notebook uses).

Setups
------
default            PoolSpreadingClassifier (label spreading over the pool's feature graph + t-SNE map, SVC on
                   pseudo-labels) with strategy "auto" (TypiClust to 5 labels/class, then margin): what
                   ``Session(dataset)`` does.
default+random     the same model and use of the pool, labels drawn at random (from the shared random initial
                   set on): the baseline for savings.
ablation rows      torch MLP (no pool) + random / margin; spreading over the feature graph only + margin;
                   spreading + t-SNE + margin from the random initial set (= default without the typicality start).
spreading+svc      PoolSpreadingClassifier (the same spreading, an RBF SVC on the arg-max pseudo-labels predicts)
                   with "auto", with ``default_model``'s settings: the default by name, whatever the default becomes.
pooled-torch       activelearn.pooled.PoolTorchClassifier with "auto": the same spreading and queries, a torch
                   MLP trained on the labels + confidence-weighted soft pseudo-labels predicts (issue 13's ablation;
                   ``ACTIVELEARN_POOLED_PARAMS='{"architecture": "rbf"}'`` runs a development variant).
pooled-rbf         activelearn.pooled.PoolRBFNetClassifier with "auto": the same spreading and queries, a torch
                   RBF network (Gaussian units on the training rows, read-out solved as kernel ridge regression on
                   the labels + confidence-weighted soft pseudo-labels) predicts (``ACTIVELEARN_RBF_PARAMS``:
                   development variants only).
pooled-rbf-int     the same with ``intercept=True``: kernel ridge with an unpenalised per-class intercept (the
                   least-squares SVM's system); far from the data the estimates shrink to a fitted constant.
peers              scikit-activeml 1.0.1 strategies with scikit-learn models (see ``peers.py``);
                   ``spreading+auto`` is the matched peer (TypiClust to 5 labels/class, then margin).

Statistics
----------
Labels to target twice: the first time the curve touches the target, and the
point from which it stays at or above it up to the budget
(``metrics.labels_to_stay_at_target``). Savings against ``default+random``:
``100 * (1 - median / baseline median)``, with a 95% percentile bootstrap
interval resampling seeds in pairs (10,000 resamples, seeded); the same for the
AULC difference. ``p``: paired Wilcoxon signed-rank test of per-seed AULC
against ``default+random``, one test per setup; the output says how many were
run.

Writes JSON per dataset (per-seed curves and the summary) and prints tables::

    nice -n 15 python benchmarks/label_efficiency.py --dataset digits --seed-start 100 --seeds 10
    nice -n 15 python benchmarks/label_efficiency.py --dataset wine,iris,texts,images --setups core
    python benchmarks/label_efficiency.py --from-json benchmarks/out/label_efficiency_*_seeds100-109.json
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

# Frozen before any reporting-seed run. budget: labels at the end; target: test accuracy for labels-to-target;
# budgets: where accuracy is reported. Pools (70% of the items): digits 1258, wine 125, iris 105, texts 336, images 350.
DATASETS = {
    "digits": {"budget": 300, "target": 0.95, "budgets": (30, 50, 100, 150, 300)},
    "wine": {"budget": 80, "target": 0.95, "budgets": (20, 30, 50, 80)},
    "iris": {"budget": 60, "target": 0.93, "budgets": (20, 30, 60)},
    "texts": {"budget": 150, "target": 0.95, "budgets": (30, 50, 100, 150)},
    "images": {"budget": 150, "target": 0.90, "budgets": (30, 50, 100, 150)},
}

OURS = {  # name: (model, strategy, initial)
    "default": ("default", "auto", "cold_start"),
    "default+random": ("default", "random", "random"),  # shares the seed's random initial labels
    "mlp+random": ("mlp", "random", "random"),
    "mlp+margin": ("mlp", "margin", "random"),
    "graph-spreading+margin": ("graph", "margin", "random"),
    "spreading+tsne+margin": ("default", "margin", "random"),
    # issue 13: the old default by name (label spreading + t-SNE map, RBF SVC predicts) and the torch network
    # trained on labels + confidence-weighted soft pseudo-labels (activelearn.pooled), both with "auto"
    "spreading+svc": ("spreading+svc", "auto", "cold_start"),
    "pooled-torch": ("pooled-torch", "auto", "cold_start"),
    "pooled-torch+random": ("pooled-torch", "random", "random"),
    # the same spreading and queries; a torch RBF network (kernel ridge read-out on confidence-weighted soft
    # pseudo-labels, activelearn.pooled.PoolRBFNetClassifier) predicts
    "pooled-rbf": ("pooled-rbf", "auto", "cold_start"),
    # the same network with a kernel logistic-regression read-out (warm-started from the kernel ridge one)
    "pooled-klr": ("pooled-klr", "auto", "cold_start"),
    # kernel ridge with an unpenalised per-class intercept (the least-squares SVM system)
    "pooled-rbf-int": ("pooled-rbf-int", "auto", "cold_start"),
}
PEERS = ["spreading+auto", "spreading+typiclust", "spreading+random", "spreading+margin", "lr+random", "lr+margin",
         "lr+badge", "mlp100+random", "mlp100+margin", "mlp100+badge"]
SETUP_GROUPS = {
    "all": list(OURS) + PEERS,
    # what every dataset gets (fits ~30 min on 2 shared cores for all five datasets): the default, its
    # baseline, the matched peer, the best peer on the development seeds and two plain peers
    "core": ["default", "default+random", "spreading+auto", "spreading+typiclust", "spreading+random", "lr+margin"],
}
BASELINE = "default+random"

# Digits, development seeds 0-9, budget 300 (closing note of issues 4-6): labels to 95% median, AULC 10-300 mean,
# acc@30, acc@150. There default+random drew its own first 10 random labels (not the shared set) and the peers saw
# raw (unscaled) pixels.
OLD_DIGITS_SEEDS_0_9 = {
    "default": (30, 0.9761, 0.955, 0.987),
    "default+random": (70, 0.9424, 0.873, 0.968),
    "mlp+random": (295, 0.8724, 0.705, 0.912),
    "mlp+margin": (125, 0.9147, 0.734, 0.967),
    "graph-spreading+margin": (55, 0.9532, 0.881, 0.986),
    "spreading+tsne+margin": (60, 0.9549, 0.902, 0.984),
    "lr+random": (np.inf, 0.8629, 0.677, 0.907),
    "lr+margin": (170, 0.8989, 0.743, 0.943),
    "lr+badge": (210, 0.8892, 0.728, 0.933),
    "mlp100+random": (np.inf, 0.8788, 0.735, 0.917),
    "mlp100+margin": (130, 0.9199, 0.788, 0.965),
    "mlp100+badge": (115, 0.9195, 0.790, 0.961),
    "spreading+random": (80, 0.9405, 0.874, 0.968),
    "spreading+margin": (80, 0.9406, 0.824, 0.979),
    "spreading+typiclust": (40, 0.9662, 0.944, 0.978),
}
N_BOOT = 10000


def load(name):
    """A benchmark dataset by name: the built-ins, or the project's text and image samples in ``data/``."""
    import activelearn as al

    if name == "texts":
        return al.from_text(ROOT / "data" / "short_texts.csv", text_column="text", label_column="topic",
                            id_column="id")
    if name == "images":
        return al.from_image_folder(ROOT / "data" / "digits_images")
    return al.load_dataset(name)


def _model(kind, dataset, seed):
    from activelearn.models import default_model, default_torch_model
    from activelearn.semi import PoolSpreadingClassifier

    if kind == "default":
        return default_model(dataset, random_state=seed)
    if kind == "mlp":
        return default_torch_model(dataset, random_state=seed)
    scaling = "feature" if dataset.kind == "table" else "global"
    if kind == "spreading+svc":  # PoolSpreadingClassifier by name, as default_model builds it today
        from activelearn.pooled import MAX_EMBEDDING_POOL

        return PoolSpreadingClassifier(n_classes=dataset.n_classes, scaling=scaling, random_state=seed,
                                       max_embedding_pool=MAX_EMBEDDING_POOL, cache_dir="auto")
    if kind == "pooled-torch":
        import json

        from activelearn.pooled import PoolTorchClassifier

        params = json.loads(os.environ.get("ACTIVELEARN_POOLED_PARAMS", "{}"))  # development variants only
        return PoolTorchClassifier(n_classes=dataset.n_classes, scaling=scaling, random_state=seed, **params)
    if kind == "pooled-rbf":
        import json

        from activelearn.pooled import PoolRBFNetClassifier

        params = json.loads(os.environ.get("ACTIVELEARN_RBF_PARAMS", "{}"))  # development variants only
        return PoolRBFNetClassifier(n_classes=dataset.n_classes, scaling=scaling, random_state=seed, **params)
    if kind == "pooled-rbf-int":
        from activelearn.pooled import MAX_EMBEDDING_POOL, PoolRBFNetClassifier

        return PoolRBFNetClassifier(n_classes=dataset.n_classes, scaling=scaling, random_state=seed, intercept=True,
                                    max_embedding_pool=MAX_EMBEDDING_POOL, cache_dir="auto")
    if kind == "pooled-klr":
        from activelearn.pooled import MAX_EMBEDDING_POOL, PoolRBFNetClassifier

        return PoolRBFNetClassifier(n_classes=dataset.n_classes, scaling=scaling, random_state=seed,
                                    readout="logistic", ridge=0.3, max_embedding_pool=MAX_EMBEDDING_POOL,
                                    cache_dir="auto")
    return PoolSpreadingClassifier(n_classes=dataset.n_classes, embedding=None,
                                   scaling="feature" if dataset.kind == "table" else "global", random_state=seed)


def run_setup(dataset_name, setup, seed, budget, batch_size, initial_size):
    from activelearn._threads import set_thread_limits
    from activelearn.simulate import run_one

    set_thread_limits(1)
    dataset = load(dataset_name)
    start = time.perf_counter()
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
    out["run_seconds"] = time.perf_counter() - start
    return out


def extra_stats(results, summary, target, baseline, n_boot=N_BOOT):
    """Add labels-to-stay-at-target and the paired bootstrap intervals of the savings and AULC gains."""
    from activelearn.metrics import labels_to_stay_at_target, labels_to_target, paired_bootstrap_interval, savings_pct

    per_seed = []
    for (setup, seed), g in results.groupby(["strategy", "seed"], sort=False):
        n, a = g["n_labels"].to_numpy(), g["accuracy"].to_numpy()
        per_seed.append({"strategy": setup, "seed": seed, "first": labels_to_target(n, a, target),
                         "stays": labels_to_stay_at_target(n, a, target)})
    per_seed = pd.DataFrame(per_seed)
    base = per_seed[per_seed["strategy"] == baseline].set_index("seed")

    def med_saving(v, b):
        return savings_pct(np.median(v), np.median(b))

    rows = []
    for setup, g in per_seed.groupby("strategy", sort=False):
        g = g.set_index("seed")
        stays = g["stays"].fillna(np.inf).to_numpy()
        row = {"strategy": setup, "stays_median": float(np.median(stays)),
               "stays_q25": float(np.quantile(stays, 0.25, method="lower")),
               "stays_q75": float(np.quantile(stays, 0.75, method="higher")),
               "seeds_stay": int(np.isfinite(stays).sum())}
        if len(base) and setup != baseline:
            seeds = g.index.intersection(base.index)
            for col in ("first", "stays"):
                v = g.loc[seeds, col].fillna(np.inf).to_numpy()
                b = base.loc[seeds, col].fillna(np.inf).to_numpy()
                est, low, high, undef = paired_bootstrap_interval(v, b, med_saving, n_boot=n_boot, random_state=0)
                row |= {f"saved_{col}_pct": est, f"saved_{col}_lo": low, f"saved_{col}_hi": high,
                        f"saved_{col}_undefined": undef}
        rows.append(row)
    return summary.merge(pd.DataFrame(rows), on="strategy", how="left"), per_seed


def aulc_gain(results, summary, baseline, aulc_range, n_boot=N_BOOT):
    """ΔAULC against the baseline (mean over seeds, paired bootstrap interval) and the paired Wilcoxon p."""
    from scipy import stats

    from activelearn.metrics import aulc, paired_bootstrap_interval

    lo, hi = aulc_range
    vals = {}
    for (setup, seed), g in results.groupby(["strategy", "seed"], sort=False):
        vals.setdefault(setup, {})[seed] = aulc(g["n_labels"], g["accuracy"], lo, min(hi, g["n_labels"].max()))
    gains = []
    for setup in summary["strategy"]:
        if setup == baseline or baseline not in vals:
            gains.append((np.nan, np.nan, np.nan, np.nan))
            continue
        seeds = sorted(set(vals[setup]) & set(vals[baseline]))
        v = np.array([vals[setup][s] for s in seeds])
        b = np.array([vals[baseline][s] for s in seeds])
        est, low, high, _ = paired_bootstrap_interval(v, b, lambda x, y: float(np.mean(x - y)), n_boot=n_boot,
                                                      random_state=0)
        # Wilcoxon on differences rounded to 1e-9: equal gains must tie exactly (float noise would break the ties
        # and switch scipy between its exact and approximate methods)
        d = np.round(v - b, 9)
        p = float(stats.wilcoxon(d).pvalue) if len(d) >= 2 and np.any(d != 0) else np.nan
        gains.append((est, low, high, p))
    summary = summary.copy()
    summary[["aulc_gain", "aulc_gain_lo", "aulc_gain_hi", "p_value"]] = gains
    return summary


def versus(results, setup, other, target, aulc_range, n_boot=N_BOOT):
    """``setup`` against ``other`` seed by seed: ΔAULC and labels saved to stay at the target, paired intervals."""
    from activelearn.metrics import aulc, labels_to_stay_at_target, paired_bootstrap_interval, savings_pct

    lo, hi = aulc_range
    vals = {}
    for (s, seed), g in results[results["strategy"].isin([setup, other])].groupby(["strategy", "seed"]):
        n, a = g["n_labels"].to_numpy(), g["accuracy"].to_numpy()
        vals.setdefault(s, {})[seed] = (aulc(n, a, lo, min(hi, n.max())), labels_to_stay_at_target(n, a, target))
    seeds = sorted(set(vals.get(setup, {})) & set(vals.get(other, {})))
    if not seeds:
        return None
    va, vb = (np.array([vals[s][k][0] for k in seeds]) for s in (setup, other))
    sa, sb = (np.nan_to_num(np.array([vals[s][k][1] for k in seeds]), nan=np.inf) for s in (setup, other))
    gain = paired_bootstrap_interval(va, vb, lambda x, y: float(np.mean(x - y)), n_boot=n_boot, random_state=0)
    saved = paired_bootstrap_interval(sa, sb, lambda x, y: savings_pct(np.median(x), np.median(y)), n_boot=n_boot,
                                      random_state=0)
    return {"setup": setup, "other": other, "n_seeds": len(seeds), "aulc_gain": gain[:3],
            "seeds_ahead_on_aulc": int((va > vb).sum()), "ties": int((va == vb).sum()), "saved_stays_pct": saved[:3]}


def format_versus(v):
    g, s = v["aulc_gain"], v["saved_stays_pct"]
    return (f"| {v['setup']} vs {v['other']} | {_fmt_ci(*g, pct=False, digits=4)} | {v['seeds_ahead_on_aulc']}/"
            f"{v['n_seeds']} ({v['ties']} ties) | {_fmt_ci(*s)} |")


VERSUS_HEADER = ("| comparison | ΔAULC [95% CI] | seeds ahead on AULC | labels saved to stay at target [95% CI] |\n"
                 "|---|---|---|---|")


def report(payload):
    """Print the tables of one dataset's JSON payload (also used by ``--from-json``)."""
    pr = payload["protocol"]
    seeds, target, budgets, baseline = pr["seeds"], pr["target"], pr["budgets"], pr["baseline"]
    summary = pd.DataFrame(payload["summary"])
    n_tests = pr["n_wilcoxon_tests"]
    print(f"\n### {payload['dataset']}: seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}), budget {pr['budget']}, target "
          f"{100 * target:.0f}%, batch {pr['batch_size']}, {payload['wall_seconds']:.0f} s wall with {pr['jobs']} "
          f"worker processes on {os.cpu_count()} cores\n")
    print(format_table(summary, target, budgets, baseline))
    print(f"\n{n_tests} paired Wilcoxon tests in this table (each setup's per-seed AULC against {baseline}); "
          f"read p against 0.05/{n_tests} = {0.05 / max(n_tests, 1):.4f} (Bonferroni), or against 0.05 / all tests "
          f"when several datasets are read together. With {len(seeds)} seeds the smallest possible two-sided p is "
          f"{2 / 2 ** len(seeds):.4f}. Intervals: 95% percentile bootstrap, {pr['bootstrap']['resamples']} paired "
          f"resamples of the seeds (seeded). 'stays' = at or above the target from then on up to the budget.")
    if payload.get("versus"):
        print("\nThe default against the matched peer (intervals only, no test):\n")
        print(VERSUS_HEADER)
        print(format_versus(payload["versus"]))
    if payload["dataset"] == "digits" and seeds[0] != 0:
        print("\n" + format_old_comparison(summary, seeds))


def run_dataset(name, args, setups):
    from tqdm.auto import tqdm

    from activelearn.simulate import summarize

    cfg = DATASETS[name]
    budget = args.budget or cfg["budget"]
    target = args.target or cfg["target"]
    budgets = [b for b in cfg["budgets"] if b <= budget]
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    load(name)  # computes and caches features/embeddings once, before the workers read them
    out = Path(args.out_dir) / f"label_efficiency_{name}_seeds{seeds[0]}-{seeds[-1]}.json"
    kept, kept_wall = [], 0.0
    if args.reuse and out.exists():  # keep the curves of setups not asked to re-run (same seeds, same settings)
        prev = json.loads(out.read_text())
        same = {k: prev["protocol"][k] for k in ("seeds", "budget", "target", "batch_size", "initial_size")} == \
               {"seeds": seeds, "budget": budget, "target": target, "batch_size": args.batch_size,
                "initial_size": args.initial_size}
        if same:
            curves = pd.DataFrame(prev["curves"])
            rerun = set(args.rerun.split(",")) if args.rerun else set()
            curves = curves[curves["strategy"].isin(setups) & ~curves["strategy"].isin(rerun)]
            kept = [curves] if len(curves) else []
            kept_wall = float(prev["wall_seconds"])
    have = set() if not kept else set(kept[0]["strategy"])
    jobs = [(s, seed) for seed in seeds for s in setups if s not in have]
    start = time.perf_counter()
    frames = []
    n_jobs = args.jobs or os.cpu_count() or 1
    with ProcessPoolExecutor(n_jobs, mp_context=mp.get_context("spawn")) as ex:
        futures = [ex.submit(run_setup, name, s, seed, budget, args.batch_size, args.initial_size)
                   for s, seed in jobs]
        for fut in tqdm(as_completed(futures), total=len(futures), desc=f"label efficiency {name}", unit="run"):
            frames.append(fut.result())
    wall = time.perf_counter() - start
    if kept:
        print(f"reused the curves of {sorted(have)} from {out}; ran {sorted({s for s, _ in jobs})}")
    results = pd.concat(kept + frames, ignore_index=True)
    baseline = BASELINE if BASELINE in setups else setups[0]
    aulc_range = (args.initial_size, budget)
    summary = summarize(results, target=target, budgets=budgets, aulc_range=aulc_range, baseline=baseline)
    summary, per_seed = extra_stats(results, summary, target, baseline)
    summary = aulc_gain(results, summary, baseline, aulc_range)
    order = {s: i for i, s in enumerate(setups)}
    summary = summary.sort_values("strategy", key=lambda c: c.map(order)).reset_index(drop=True)
    run_seconds = results.drop_duplicates(["strategy", "seed"]).groupby("strategy")["run_seconds"].sum()
    retrain = results.groupby("strategy")["train_seconds"]  # per round, over every round of every seed
    summary["retrain_median_s"] = summary["strategy"].map(retrain.median())
    summary["retrain_p90_s"] = summary["strategy"].map(retrain.quantile(0.9))
    n_tests = int(summary["p_value"].notna().sum())

    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"dataset": name, "protocol": {"seeds": seeds, "budget": budget, "target": target, "budgets": budgets,
                                             "batch_size": args.batch_size, "initial_size": args.initial_size,
                                             "test_size": 0.3, "baseline": baseline, "aulc_range": aulc_range,
                                             "bootstrap": {"resamples": N_BOOT, "interval": "95% percentile",
                                                           "paired_over": "seeds", "random_state": 0},
                                             "n_wilcoxon_tests": n_tests, "jobs": n_jobs},
               "wall_seconds": wall + kept_wall, "reused_setups": sorted(have),
               "run_seconds_per_setup": run_seconds.to_dict(),
               # not DataFrame.to_json: it writes -inf (a target never reached) as null
               "summary": json.loads(json.dumps(summary.to_dict("records"), default=lambda o: o.item())),
               "versus": versus(results, "default", "spreading+auto", target, aulc_range)
               if {"default", "spreading+auto"} <= set(setups) else None,
               "per_seed": json.loads(per_seed.to_json(orient="records")),
               "curves": json.loads(results.to_json(orient="records"))}
    out.write_text(json.dumps(payload, indent=1))
    report(payload)
    print(f"\nwrote {out}")
    return payload


def _fmt_n(v):
    return "n.r." if v is None or not np.isfinite(v) else f"{v:.0f}"


def _fmt_ci(est, lo, hi, pct=True, digits=0):
    if est is None or (isinstance(est, float) and np.isnan(est)):
        return ""
    unit = "%" if pct else ""

    def f(x):
        if x is None or np.isnan(x):
            return "?"
        if np.isinf(x):
            return "-inf" if x < 0 else "inf"
        return f"{x:+.{digits}f}" if not pct else f"{x:.{digits}f}"
    return f"{f(est)}{unit} [{f(lo)}, {f(hi)}]"


def format_table(summary, target, budgets, baseline):
    """Markdown table: labels to target (first touch and stays), AULC, accuracy at budgets, savings with intervals."""
    t = f"{100 * target:.0f}%"
    cols = [f"labels to {t}: first, median [IQR] (seeds)", f"labels to stay ≥ {t}: median [IQR] (seeds)",
            "AULC mean ± sd"] + [f"acc@{b}" for b in budgets] + \
           [f"labels saved vs {baseline}, stays [95% CI]", "saved, first [95% CI]",
            "ΔAULC [95% CI]", "p (Wilcoxon, AULC)", "retrain s per round: median (p90)"]
    lines = [f"| setup | {' | '.join(cols)} |", "|" + "---|" * (len(cols) + 1)]
    for r in summary.to_dict("records"):
        cells = [f"{_fmt_n(r['labels_to_target_median'])} [{_fmt_n(r['labels_to_target_q25'])}, "
                 f"{_fmt_n(r['labels_to_target_q75'])}] ({r['seeds_reached']}/{r['n_seeds']})",
                 f"{_fmt_n(r['stays_median'])} [{_fmt_n(r['stays_q25'])}, {_fmt_n(r['stays_q75'])}] "
                 f"({r['seeds_stay']}/{r['n_seeds']})",
                 f"{r['aulc_mean']:.4f} ± {r['aulc_std']:.4f}"]
        cells += [f"{r[f'accuracy_at_{b}_mean']:.3f}" for b in budgets]
        cells.append(_fmt_ci(r.get("saved_stays_pct"), r.get("saved_stays_lo"), r.get("saved_stays_hi")))
        cells.append(_fmt_ci(r.get("saved_first_pct"), r.get("saved_first_lo"), r.get("saved_first_hi")))
        cells.append(_fmt_ci(r.get("aulc_gain"), r.get("aulc_gain_lo"), r.get("aulc_gain_hi"), pct=False, digits=4))
        pv = r.get("p_value")
        cells.append("" if pv is None or not np.isfinite(pv) else f"{pv:.3g}")
        rt = r.get("retrain_median_s")  # absent in JSON written before it was recorded
        cells.append("" if rt is None or not np.isfinite(rt) else f"{rt:.3f} ({r['retrain_p90_s']:.3f})")
        name = f"**{r['strategy']}**" if r["strategy"] == "default" else r["strategy"]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines)


def format_old_comparison(summary, seeds):
    """Digits: the reporting seeds next to the development seeds 0-9 of the closing note."""
    lines = [f"Digits, development seeds 0-9 (closing note) -> reporting seeds {seeds[0]}-{seeds[-1]}:", "",
             "| setup | labels to 95% (first), seeds 0-9 | seeds " + f"{seeds[0]}-{seeds[-1]}"
             + " | AULC 0-9 | AULC new | acc@30 0-9 | acc@30 new | acc@150 0-9 | acc@150 new |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in summary.to_dict("records"):
        old = OLD_DIGITS_SEEDS_0_9.get(r["strategy"])
        o = old if old else (np.nan, np.nan, np.nan, np.nan)
        f = (lambda v, d: "" if v is None or np.isnan(v) else f"{v:.{d}f}")
        lines.append(f"| {r['strategy']} | {_fmt_n(o[0]) if old else '(new)'} | {_fmt_n(r['labels_to_target_median'])} | "
                     f"{f(o[1], 4)} | {r['aulc_mean']:.4f} | {f(o[2], 3)} | {r.get('accuracy_at_30_mean', np.nan):.3f} | "
                     f"{f(o[3], 3)} | {r.get('accuracy_at_150_mean', np.nan):.3f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits", help=f"comma-separated, of {', '.join(DATASETS)}")
    p.add_argument("--setups", default="all", help=f"comma-separated setups or a group ({', '.join(SETUP_GROUPS)}); "
                                                   f"all = {','.join(SETUP_GROUPS['all'])}")
    p.add_argument("--seed-start", type=int, default=100,
                   help="first seed (default 100: the reporting seeds; 0-9 were used to design the default)")
    p.add_argument("--seeds", type=int, default=10, help="number of seeds from --seed-start")
    p.add_argument("--budget", type=int, default=None, help="override the dataset's frozen budget")
    p.add_argument("--target", type=float, default=None, help="override the dataset's frozen target")
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--initial-size", type=int, default=10)
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--out-dir", default="benchmarks/out")
    p.add_argument("--reuse", action="store_true",
                   help="keep the curves already in the output JSON (same seeds and settings); run only the rest")
    p.add_argument("--rerun", default="", help="with --reuse: comma-separated setups to run again anyway")
    p.add_argument("--from-json", nargs="+", metavar="JSON", help="print the tables of earlier runs; runs nothing")
    args = p.parse_args(argv)
    if args.from_json:
        for path in args.from_json:
            payload = json.loads(Path(path).read_text())
            if payload.get("versus") is None and "curves" in payload:
                curves = pd.DataFrame(payload["curves"])
                pr = payload["protocol"]
                if {"default", "spreading+auto"} <= set(curves["strategy"]):
                    payload["versus"] = versus(curves, "default", "spreading+auto", pr["target"],
                                               tuple(pr["aulc_range"]))
            report(payload)
        return

    setups = SETUP_GROUPS.get(args.setups, args.setups.split(","))
    unknown = [s for s in setups if s not in OURS and s not in PEERS]
    if unknown:
        p.error(f"unknown setups {unknown}")
    if any(s not in OURS for s in setups):
        try:
            import skactiveml  # noqa: F401
        except ImportError:
            setups = [s for s in setups if s in OURS]
            print("peers skipped: pip install scikit-activeml==1.0.1")
    for name in args.dataset.split(","):
        if name not in DATASETS:
            p.error(f"unknown dataset {name!r}; one of {', '.join(DATASETS)}")
        run_dataset(name, args, setups)


if __name__ == "__main__":
    main()

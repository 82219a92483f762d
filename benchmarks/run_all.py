"""Every scale benchmark at a size that fits 10 minutes on 2 cores, in one table.

    python benchmarks/run_all.py [--out benchmarks/out/run_all.json] [--skip-label-efficiency] [--seed-start 100]

Each timing runs in its own process (peak memory is its own) and nothing else
runs beside it. The modAL baselines are measured in the same run.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scale  # noqa: E402


def _measure(name, pool, n_items=None):
    cmd = [sys.executable, str(HERE / "scale.py"), "--measure", name, "--pool", pool]
    if n_items:
        cmd += ["--n-items", str(n_items)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _label_efficiency(seeds, budget, seed_start=100):
    from activelearn import load_digits
    from activelearn.models import default_torch_model
    from activelearn.simulate import simulate, summarize

    digits = load_digits()  # the torch MLP: the model large pools get (digits alone would get the semi-supervised one)
    results = simulate(digits, ["ranked_batch", "diverse"], seeds=range(seed_start, seed_start + seeds), budget=budget, batch_size=10,
                       initial_size=10, test_size=0.3, progress=False, model=default_torch_model(digits))
    summary = summarize(results, target=0.95, budgets=(budget,), baseline="ranked_batch",
                        aulc_range=(10, budget)).set_index("strategy")
    return {s: {"labels_to_95_median": float(summary.loc[s, "labels_to_target_median"]),
                "seeds_reached": int(summary.loc[s, "seeds_reached"]),
                "aulc": float(summary.loc[s, "aulc_mean"])} for s in summary.index}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/out/run_all.json")
    p.add_argument("--seeds", type=int, default=5, help="seeds for the digits label-efficiency comparison")
    p.add_argument("--seed-start", type=int, default=100,
                   help="first seed of the digits comparison (default 100: reporting seeds; 0-9 were for development)")
    p.add_argument("--skip-label-efficiency", action="store_true")
    args = p.parse_args(argv)
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pool = str(Path(tmp) / "pool.npy")
        scale.make_pool(pool, 1_000_000)
        m = _measure("score_top100", pool)
        base = _measure("modal_margin_top100", pool)
        rows.append(("score + top 100, 1M x 64, default MLP", f"{m['seconds']:.2f} s", "< 2 s", m["seconds"] < 2,
                     f"{base['seconds'] / m['seconds']:.1f}x vs modAL margin_sampling ({base['seconds']:.2f} s)"))
        rows.append(("  peak memory / pool size", f"{m['memory_ratio_to_pool']:.2f}", "< 1.5",
                     m["memory_ratio_to_pool"] < 1.5, f"modAL: {base['memory_ratio_to_pool']:.2f}"))
        d = _measure("diverse100", pool)
        rows.append(("diverse batch of 100, 1M pool, 2,000 labeled", f"{d['seconds']:.2f} s", "< 5 s", d["seconds"] < 5,
                     "modAL ranked batch not run at 1M (see benchmarks/README.md)"))
        total_gb = (d["pool_mb"] + d["extra_peak_mb"]) / 1024
        rows.append(("  memory (pool + peak extra)", f"{total_gb:.2f} GB", "< 2 GB", total_gb < 2, ""))
        ours = _measure("diverse10_5000", pool, 200_000)
        theirs = _measure("modal_ranked10_5000", pool, 200_000)
        speedup = theirs["seconds"] / ours["seconds"]
        rows.append(("batch of 10, 200k pool, 5,000 labeled", f"{ours['seconds']:.2f} s", ">= 20x faster than modAL",
                     speedup >= 20, f"{speedup:.0f}x (modAL ranked batch {theirs['seconds']:.1f} s)"))
        r = _measure("retrain_2000", pool)
        rows.append(("retrain default model on 2,000 labels", f"{r['seconds']:.2f} s", "< 3 s", r["seconds"] < 3, ""))
        s = _measure("session_open", pool)
        rows.append(("open a Session on a 1M memory-mapped pool", f"{s['seconds']:.2f} s", "< 5 s",
                     s["seconds"] < 5 and s["memmap_kept"],
                     f"peak +{s['peak_mb_over_start']:.0f} MB for a {s['pool_mb']:.0f} MB pool"))
    le = None
    if not args.skip_label_efficiency:
        le = _label_efficiency(args.seeds, 300, args.seed_start)
        dv, rb = le["diverse"], le["ranked_batch"]
        rows.append((f"digits labels to 95% (median, seeds {args.seed_start}-{args.seed_start + args.seeds - 1}): diverse",
                     f"{dv['labels_to_95_median']:.0f} ({dv['seeds_reached']}/{args.seeds})",
                     "<= modAL ranked batch", dv["labels_to_95_median"] <= rb["labels_to_95_median"],
                     f"ranked batch {rb['labels_to_95_median']:.0f} ({rb['seeds_reached']}/{args.seeds}); "
                     f"AULC {dv['aulc']:.4f} vs {rb['aulc']:.4f}"))
    wall = time.perf_counter() - start
    print("| figure | measured | goal | met | against modAL / notes |")
    print("|---|---|---|---|---|")
    for name, value, goal, met, note in rows:
        print(f"| {name} | {value} | {goal} | {'yes' if met else 'NO'} | {note} |")
    print(f"\n{wall:.0f} s in all on this machine")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": [dict(zip(["figure", "measured", "goal", "met", "note"], r)) for r in rows],
                               "label_efficiency": le, "wall_seconds": wall}, indent=1, default=bool))


if __name__ == "__main__":
    main()

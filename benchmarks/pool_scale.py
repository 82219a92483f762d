"""The pool lever at every size: preparing the pool (neighbour graphs, t-SNE map) and retraining, per pool size.

Each size runs in a fresh process (peak memory is its own). Pools are the synthetic 64-feature, 10-class
Gaussian pools of ``scale.py``; 200 labels drawn at random (20 per class) as the labels of a round; accuracy
on 2,000 held-out items of the same distribution.

    nice -n 10 python benchmarks/pool_scale.py --sizes 2000,20000,200000 --threads 2

Per size it prints and writes (``benchmarks/out/pool_scale.json``): the time to build the feature graph
(exact up to 20,000 items, pynndescent above), the t-SNE map (scikit-learn up to 5,000 items, openTSNE
above, up to ``--max-embedding``) and its graph, the retrain of the spreading + torch RBF network
(``PoolRBFNetClassifier(intercept=True)``, the default), of the earlier default (spreading + SVC) and of the
spreading + torch MLP (``PoolTorchClassifier``) on the prepared pool, scoring the pool, and the peak resident memory.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scale import make_pool, peak_mb  # noqa: E402


def measure(pool_path, n_items, threads, max_embedding):
    from activelearn._threads import set_thread_limits
    from activelearn.pooled import PoolRBFNetClassifier, PoolTorchClassifier
    from activelearn.semi import PoolSpreadingClassifier

    set_thread_limits(threads)
    X_all = np.load(pool_path, mmap_mode="r")
    y_all = np.load(pool_path.replace(".npy", "_y.npy"), mmap_mode="r")
    X, y = np.array(X_all[:n_items]), np.array(y_all[:n_items])
    X_test, y_test = np.array(X_all[-2000:]), np.array(y_all[-2000:])
    out = {"n_items": n_items, "threads": threads, "max_embedding": max_embedding}
    start = time.perf_counter()
    torch_model = PoolTorchClassifier(n_classes=10, max_embedding_pool=max_embedding, cache_dir=None).set_pool(X)
    out["set_pool_s"] = time.perf_counter() - start
    start = time.perf_counter()
    timings = torch_model.prepare_pool()
    out["prepare_s"] = time.perf_counter() - start
    out["prepare_parts_s"] = {k: round(v["seconds"], 2) for k, v in timings.items()}
    out["has_map"] = any(k.startswith("tsne") for k in timings)
    svc_model = PoolSpreadingClassifier(n_classes=10, max_embedding_pool=max_embedding)
    svc_model._pool = torch_model._pool
    rbf_model = PoolRBFNetClassifier(n_classes=10, max_embedding_pool=max_embedding, cache_dir=None,
                                     intercept=True)  # as default_model builds it
    rbf_model._pool = torch_model._pool
    rng = np.random.default_rng(0)
    lab = np.concatenate([rng.choice(np.flatnonzero(y == c), 20, replace=False) for c in range(10)])
    for name, model in (("torch", torch_model), ("svc", svc_model), ("rbf", rbf_model)):
        times = []
        for _ in range(2):  # the second fit is what every later round costs (torch warmed up)
            t = time.perf_counter()
            model.fit(X[lab], y[lab])
            times.append(time.perf_counter() - t)
        out[f"retrain_{name}_s"] = times[-1]
        out[f"accuracy_{name}"] = float((model.predict(X_test) == y_test).mean())
        t = time.perf_counter()
        model.predict_proba(X)
        out[f"score_pool_{name}_s"] = time.perf_counter() - t
    out["peak_mb"] = peak_mb()
    out["pool_mb"] = X.nbytes / 2**20
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="2000,20000,200000")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-embedding", type=int, default=None,
                   help="largest pool that gets a t-SNE map (default: the default model's, 20,000)")
    p.add_argument("--pool", default="/tmp/activelearn_pool_scale.npy")
    p.add_argument("--out", default=str(HERE / "out" / "pool_scale.json"))
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # child process: one size
    args = p.parse_args(argv)
    if args.max_embedding is None:
        from activelearn.pooled import MAX_EMBEDDING_POOL

        args.max_embedding = MAX_EMBEDDING_POOL
    if args.one is not None:
        print(json.dumps(measure(args.pool, args.one, args.threads, args.max_embedding)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    if not Path(args.pool).exists() or len(np.load(args.pool, mmap_mode="r")) < max(sizes) + 2000:
        make_pool(args.pool, max(sizes) + 2000)
    rows = []
    for n in sizes:
        cmd = [sys.executable, __file__, "--one", str(n), "--threads", str(args.threads), "--pool", args.pool,
               "--max-embedding", str(args.max_embedding)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr[-2000:])
            continue
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    print("\n| items | feature graph s | t-SNE map s | map graph s | retrain rbf s | retrain svc s | "
          "retrain torch MLP s | score pool s (rbf) | accuracy rbf / svc / MLP | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        parts = r["prepare_parts_s"]
        graph = sum(v for k, v in parts.items() if k.startswith("knn-features"))
        tsne = sum(v for k, v in parts.items() if k.startswith("tsne"))
        mapg = sum(v for k, v in parts.items() if k.startswith("knn-map"))
        tsne_txt = f"{tsne:.1f}" if r["has_map"] else "no map (pool > --max-embedding)"
        print(f"| {r['n_items']:,} | {graph:.1f} | {tsne_txt} | {mapg:.1f} | "
              f"{r['retrain_rbf_s']:.2f} | {r['retrain_svc_s']:.2f} | {r['retrain_torch_s']:.2f} | "
              f"{r['score_pool_rbf_s']:.2f} | {r['accuracy_rbf']:.3f} / {r['accuracy_svc']:.3f} / "
              f"{r['accuracy_torch']:.3f} | {r['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()

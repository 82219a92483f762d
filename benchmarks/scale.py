"""Scale measurements, each in a fresh process so that peak memory (ru_maxrss) is its own.

    python benchmarks/scale.py --measure score_top100 --pool /tmp/pool.npy

Prints one JSON object. ``benchmarks/run_all.py`` runs them all and prints the table.
"""

import argparse
import json
import os
import resource
import time

import numpy as np

N_CLASSES = 10


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb():
    """Peak resident memory since the last :func:`reset_peak` (VmHWM), in MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak():
    """Reset the kernel's peak-RSS mark, so earlier work (model fitting) does not count."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return rss_mb()


def make_pool(path, n_items, n_features=64, seed=0):
    """A synthetic pool with learnable classes: 10 Gaussian clusters, written as .npy in blocks."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, size=(N_CLASSES, n_features)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_items, n_features))
    labels = np.lib.format.open_memmap(str(path).replace(".npy", "_y.npy"), mode="w+", dtype=np.int64,
                                       shape=(n_items,))
    for start in range(0, n_items, 100_000):
        stop = min(n_items, start + 100_000)
        y = rng.integers(0, N_CLASSES, stop - start)
        out[start:stop] = centres[y] + rng.normal(0, 1.0, size=(stop - start, n_features)).astype(np.float32)
        labels[start:stop] = y
    out.flush()
    labels.flush()


def _fitted_model(X, y, n_labeled=2000, seed=0):
    from activelearn import from_arrays
    from activelearn.models import default_torch_model

    ds = from_arrays(X[:1], classes=[str(c) for c in range(N_CLASSES)])  # shape only
    ds.X = X  # default standardisation from the pool itself (features only)
    model = default_torch_model(ds, random_state=seed)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(X), n_labeled, replace=False))
    start = time.perf_counter()
    model.fit(np.asarray(X[idx]), np.asarray(y[idx]))
    return model, idx, time.perf_counter() - start


def measure(name, pool_path, n_items=None):
    from activelearn._threads import set_thread_limits

    threads = set_thread_limits()
    X_all = np.load(pool_path, mmap_mode="r")
    y_all = np.load(pool_path.replace(".npy", "_y.npy"), mmap_mode="r")
    X_all = X_all[:n_items] if n_items else X_all
    result = {"name": name, "n_items": int(len(X_all)), "threads": threads}
    if name == "session_open":
        from activelearn import Session, from_arrays
        import tempfile

        base = reset_peak()
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            ds = from_arrays(X_all, classes=[str(c) for c in range(N_CLASSES)], name="big")
            session = Session(ds, store=os.path.join(tmp, "labels.db"))
            result["seconds"] = time.perf_counter() - start
            result["memmap_kept"] = isinstance(session.dataset.X, np.memmap)
        result["pool_mb"] = X_all.nbytes / 2**20
        result["peak_mb_over_start"] = peak_mb() - base
        return result
    X = np.array(X_all)  # the pool in memory, as a user would hold it
    y = np.array(y_all[:len(X)])
    del X_all, y_all  # unmap the file: only the in-memory pool counts from here on
    model, labeled, fit_seconds = _fitted_model(X, y)
    if name == "retrain_2000":
        model, labeled, fit_seconds = _fitted_model(X, y)  # second fit: torch warmed up, as in a session
        result["seconds"] = fit_seconds
        return result
    from activelearn import strategies as S

    pool_mb = X.nbytes / 2**20
    rss0 = reset_peak()
    start = time.perf_counter()
    if name == "score_top100":
        picks = S.margin(model, X, 100, random_state=0)
    elif name == "diverse100":
        picks = S.diverse(model, X, 100, random_state=0, X_labeled=X[labeled])
    elif name == "diverse10_5000":
        model, labeled, _ = _fitted_model(X, y, n_labeled=5000)
        rss0, start = reset_peak(), time.perf_counter()
        picks = S.diverse(model, X, 10, random_state=0, X_labeled=X[labeled])
    elif name == "modal_ranked10_5000":
        model, labeled, _ = _fitted_model(X, y, n_labeled=5000)
        rss0, start = reset_peak(), time.perf_counter()
        picks = S.ranked_batch(model, X, 10, random_state=0, X_labeled=X[labeled])
    elif name == "modal_margin_top100":
        from modAL.uncertainty import margin_sampling

        picks = margin_sampling(model, X, n_instances=100)
    else:
        raise ValueError(f"unknown measurement {name!r}")
    result["seconds"] = time.perf_counter() - start
    result["n_picked"] = int(len(picks))
    result["pool_mb"] = pool_mb
    result["extra_peak_mb"] = max(0.0, peak_mb() - rss0)
    result["memory_ratio_to_pool"] = (pool_mb + result["extra_peak_mb"]) / pool_mb
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--measure", required=True)
    p.add_argument("--pool", required=True)
    p.add_argument("--n-items", type=int, default=None)
    args = p.parse_args(argv)
    print(json.dumps(measure(args.measure, args.pool, args.n_items)))


if __name__ == "__main__":
    main()

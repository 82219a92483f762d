"""Team label throughput: labels per second acknowledged with 1, 4 and 16 concurrent annotators, SQLite and PostgreSQL.

Each annotator is its own process with its own Session on the shared store (one trainer, the others
followers; random strategy so that no model fitting is timed). After a common start, each labels as
fast as it can for ``--seconds``: next_batch (which leases items), then label() for each (which
commits the label and releases the lease). Afterwards the store is checked: every acknowledged label
present exactly once. PostgreSQL is started from Debian's package in a temporary folder (tests/pg_harness.py).

    python benchmarks/team.py --annotators 1,4,16 --seconds 10 --out benchmarks/out/team.json
"""

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _dataset(n=40_000):
    import activelearn as al

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return al.from_arrays(X, y=np.where(X[:, 0] > 0, "b", "a"), classes=["a", "b"],
                          ids=[f"i{k:06d}" for k in range(n)], name="team")


def _session(url, name, ds):
    import activelearn as al
    from sklearn.linear_model import LogisticRegression

    return al.Session(ds, model=LogisticRegression(), strategy="random", store=url, annotator=name, test_size=0,
                      batch_size=10, trainer=(name == "a00"), random_state=0)


def _worker(url, name, start_at, seconds, q):
    from activelearn._threads import set_thread_limits

    set_thread_limits(1)
    ds = _dataset()
    s = _session(url, name, ds)
    while time.time() < start_at:
        time.sleep(0.005)
    end = start_at + seconds
    done = []
    while time.time() < end:
        for i in s.next_batch():
            s.label(i, ds.classes[ds.y[ds.position(i)]], seconds=1.0)
            done.append(i)
            if time.time() >= end:
                break
    s.close()
    q.put(done)


def run(url, n, seconds):
    import activelearn as al

    ds = _dataset()
    _session(url, "setup", ds).close()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    start_at = time.time() + 8 + 2.5 * n  # every process has imported and opened its session by then
    procs = [ctx.Process(target=_worker, args=(url, f"a{k:02d}", start_at, seconds, q)) for k in range(n)]
    for p in procs:
        p.start()
    done = [q.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    acked = [i for d in done for i in d]
    store = al.LabelStore(url)
    pid = store.open_project("team", ds.fingerprint(), ds.class_names, {"test_size": 0.0, "random_state": 0})
    labels = store.labels(pid)
    ok = len(labels) == len(acked) and labels["item_id"].is_unique and set(labels["item_id"]) == set(acked)
    store.close()
    return {"annotators": n, "labels": len(acked), "seconds": seconds, "labels_per_second": len(acked) / seconds,
            "per_annotator_min": min(len(d) for d in done), "exactly_once": bool(ok)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--annotators", default="1,4,16")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--out", default="benchmarks/out/team.json")
    args = p.parse_args(argv)
    counts = [int(c) for c in args.annotators.split(",")]
    results = []
    work = Path(tempfile.mkdtemp(prefix="al-team-"))
    for backend in args.backends.split(","):
        server = None
        if backend == "postgresql":
            from pg_harness import PostgresServer

            try:
                server = PostgresServer().start()
            except Exception as exc:
                print(f"PostgreSQL skipped: {exc}")
                continue
        try:
            for n in counts:
                url = (f"sqlite:///{work / f'team-{n}.db'}" if backend == "sqlite"
                       else server.create_database(f"team_{n}"))
                row = run(url, n, args.seconds) | {"backend": backend}
                results.append(row)
                print(f"{backend:10s} {n:3d} annotators: {row['labels_per_second']:7.1f} labels/s "
                      f"({row['labels']} labels, exactly once: {row['exactly_once']})", flush=True)
        finally:
            if server is not None:
                server.stop()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cores": os.cpu_count(), "results": results}, indent=1))
    print("\n| store | annotators | labels/s acknowledged | labels | every label exactly once |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r['backend']} | {r['annotators']} | {r['labels_per_second']:.1f} | {r['labels']} | "
              f"{'yes' if r['exactly_once'] else 'NO'} |")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

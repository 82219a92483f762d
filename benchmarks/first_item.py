"""Time to the first item: ``Session(...)`` until the first ``next_offer()`` returns, in fresh processes.

    python benchmarks/first_item.py --runs 5
    python benchmarks/first_item.py --runs 3 --dataset digits

Writes benchmarks/out/first_item.json and prints a table. Every run is a fresh interpreter (run from this
checkout) on the default model and strategy:

- **new**: a new store file and an empty pool cache (a fresh ``ACTIVELEARN_CACHE_DIR``): nothing prepared yet;
- **reopened**: a store a previous session labeled 20 items in and retrained on (so the session rebuilds that
  model), with the pool cache it left behind (a kernel restart on an existing project).

Each scenario runs with ``prepare="background"`` (the default: the t-SNE map is prepared in a daemon thread and
the cold start ranks on cheap coordinates meanwhile) and ``prepare="wait"`` (every ranking waits for the map: the
behaviour before, and what simulations use). Reported per row (median, min, max over ``--runs``): seconds from
just before ``Session(...)`` to the first offer, seconds until the background map is ready (from the same
start), and the import (``import activelearn``, ``from activelearn import Session``, loading the data) timed
separately before it. The machine's load average is recorded before and after (this 2-core machine is shared).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
start = time.perf_counter()
import activelearn as al
from activelearn import Session
dataset = getattr(al, "load_" + sys.argv[1])()
imported = time.perf_counter()
session = Session(dataset, store=sys.argv[2], prepare=sys.argv[3])
offer = session.next_offer()
first = time.perf_counter()
ready_at_first = session.pool_ready
session.wait_pool()
ready = time.perf_counter()
session.close()
print(json.dumps({"import_s": imported - start, "first_item_s": first - imported, "map_ready_s": ready - imported,
                  "pool_ready_at_first_item": ready_at_first, "strategy": offer.strategy,
                  "model_version": offer.model_version}))
"""

SETUP = r"""
import sys
import activelearn as al
from activelearn import Session
dataset = getattr(al, "load_" + sys.argv[1])()
with Session(dataset, store=sys.argv[2], prepare="wait") as session:
    while session.n_labels < 20:
        for item_id in session.next_batch():
            session.label(item_id, dataset.class_names[dataset.y[dataset.position(item_id)]])
    session.retrain()
"""


def _python(code, args, cache):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "ACTIVELEARN_CACHE_DIR": str(cache),
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"child failed:\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def run_once(dataset, scenario, prepare):
    with tempfile.TemporaryDirectory(prefix="activelearn-first-item-") as tmp:
        cache, store = Path(tmp) / "cache", Path(tmp) / "labels.db"
        if scenario == "reopened":
            _python(SETUP, [dataset, str(store)], cache)
        return json.loads(_python(CHILD, [dataset, str(store), prepare], cache))


def _stats(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dataset", default="digits", help="a loader of activelearn: load_<name> (default digits)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "first_item.json"))
    args = ap.parse_args(argv)
    from tqdm.auto import tqdm

    load_before, rows = os.getloadavg(), []
    cases = [(s, p) for s in ("new", "reopened") for p in ("background", "wait")]
    with tqdm(total=len(cases) * args.runs, desc="first item") as bar:
        for scenario, prepare in cases:
            runs = []
            for _ in range(args.runs):
                runs.append(run_once(args.dataset, scenario, prepare))
                bar.update()
            rows.append({"scenario": scenario, "prepare": prepare, "runs": runs,
                         **{key: _stats([r[key] for r in runs]) for key in ("first_item_s", "map_ready_s",
                                                                             "import_s")},
                         "pool_ready_at_first_item": sum(r["pool_ready_at_first_item"] for r in runs),
                         "strategies": sorted({r["strategy"] for r in runs})})
    result = {"dataset": args.dataset, "runs": args.runs, "cpu_count": os.cpu_count(),
              "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "time": time.strftime("%Y-%m-%d %H:%M"),
              "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))

    print(f"\n{args.dataset}, {args.runs} fresh processes per row, {os.cpu_count()} cores, load average "
          f"{load_before[0]:.1f} before / {result['loadavg_after'][0]:.1f} after\n")
    print("| scenario | prepare | Session() -> first item, s (median [min-max]) | map ready, s | map ready at "
          "first item | first item by | import + load, s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        f, m, i = r["first_item_s"], r["map_ready_s"], r["import_s"]
        print(f"| {r['scenario']} | {r['prepare']} | {f['median']:.2f} [{f['min']:.2f}-{f['max']:.2f}] | "
              f"{m['median']:.2f} [{m['min']:.2f}-{m['max']:.2f}] | {r['pool_ready_at_first_item']}/{args.runs} | "
              f"{', '.join(r['strategies'])} | {i['median']:.2f} [{i['min']:.2f}-{i['max']:.2f}] |")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

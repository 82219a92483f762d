"""What importing activelearn costs, in fresh interpreters.

    python benchmarks/import_time.py --runs 5
    python benchmarks/import_time.py --runs 5 --src /tmp/activelearn-before   # another checkout, to compare

Writes benchmarks/out/import_time.json and prints a table. For each statement, ``--runs`` fresh
``python -X importtime -c STATEMENT`` processes (run from ``--src``, so that checkout's package is
the one imported): wall seconds of the whole process (median, min, max), CPU seconds of the
process (median; less sensitive to a busy machine than wall time), the package's own cumulative
import time as ``-X importtime`` reports it, and which heavy libraries were loaded.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

STATEMENTS = {
    "import activelearn": "import activelearn",
    "+ load_digits()": "import activelearn; activelearn.load_digits()",
    "+ activelearn.Session": "import activelearn; activelearn.Session",
}
HEAVY = ("numpy", "pandas", "scipy", "sklearn", "sqlalchemy", "torch", "skorch", "modAL")


def _cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(statement, src, runs):
    code = f"{statement}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    walls, cpus, own = [], [], []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for _ in range(runs):
        cpu0, start = _cpu(), time.perf_counter()
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=src, env=env,
                             capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu0)
        line = [ln for ln in out.stderr.splitlines() if ln.rstrip().endswith("| activelearn")][-1]
        own.append(int(line.split("|")[1]) / 1e6)  # cumulative microseconds of `import activelearn`
        loaded = out.stdout.strip()
    return {"statement": statement, "wall_median_s": statistics.median(walls), "wall_min_s": min(walls),
            "wall_max_s": max(walls), "cpu_median_s": statistics.median(cpus),
            "importtime_activelearn_median_s": statistics.median(own), "heavy_modules_loaded": loaded.split(",")
            if loaded else [], "runs": runs}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--src", default=str(Path(__file__).resolve().parents[1]),
                    help="folder holding the activelearn package to import (default: this checkout)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "import_time.json"))
    args = ap.parse_args(argv)
    rows = [dict(name=name, **measure(stmt, args.src, args.runs)) for name, stmt in STATEMENTS.items()]
    result = {"src": args.src, "python": sys.version.split()[0], "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"src: {args.src}, {args.runs} fresh processes each")
    print("| statement | wall median (min-max) | CPU median | -X importtime activelearn | heavy libraries loaded |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| `{r['statement']}` | {r['wall_median_s']:.2f} s ({r['wall_min_s']:.2f}-{r['wall_max_s']:.2f}) | "
              f"{r['cpu_median_s']:.2f} s | {r['importtime_activelearn_median_s']:.3f} s | "
              f"{', '.join(r['heavy_modules_loaded']) or 'none'} |")


if __name__ == "__main__":
    main()

"""What one round of the loop costs: store transactions per solo round, and a simulate run's time.

    python benchmarks/loop_overhead.py --seeds 5 --budget 100

Writes benchmarks/out/loop_overhead.json and prints a table. Counts every
transaction the store's engine begins (reads and writes) during one round of
``Session.simulate`` on an in-memory store (batch of 10), then times
``activelearn.simulate`` on digits (default model, ``auto``) over the seeds.
"""

import argparse
import json
import time
from pathlib import Path


def transactions_per_round(batch_size=10):
    import sqlalchemy as sa
    from sklearn.linear_model import LogisticRegression

    import activelearn as al

    s = al.Session(al.load_digits(), model=LogisticRegression(max_iter=300), store=":memory:",
                   batch_size=batch_size)
    s.simulate(2 * batch_size)
    count = {"n": 0}
    sa.event.listen(s.store.engine, "begin", lambda conn: count.__setitem__("n", count["n"] + 1))
    s.simulate(3 * batch_size)  # exactly one round: next_batch, batch_size labels, retrain
    return count["n"]


def simulate_seconds(seeds, budget):
    """Wall seconds and CPU seconds (this process and its workers) of one simulate run.

    CPU seconds say what the run costs even on a machine busy with other work, where wall time does not.
    """
    import resource

    import activelearn as al
    from activelearn.simulate import simulate

    def cpu():
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    start, cpu0 = time.perf_counter(), cpu()
    simulate(al.load_digits(), strategies=["auto"], seeds=seeds, budget=budget, progress=False)
    return time.perf_counter() - start, cpu() - cpu0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "loop_overhead.json"))
    args = ap.parse_args(argv)
    wall, cpu = simulate_seconds(args.seeds, args.budget)
    result = {"transactions_per_solo_round": transactions_per_round(), "simulate_seconds": wall,
              "simulate_cpu_seconds": cpu, "seeds": args.seeds, "budget": args.budget}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print("| measure | value |\n|---|---|")
    print(f"| store transactions per solo round (batch 10) | {result['transactions_per_solo_round']} |")
    print(f"| simulate digits, auto, {args.seeds} seeds, budget {args.budget}: wall | {wall:.1f} s |")
    print(f"| same: CPU, all processes | {cpu:.1f} s |")


if __name__ == "__main__":
    main()

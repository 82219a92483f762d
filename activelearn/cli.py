"""Command line: ``activelearn <command>`` or ``python -m activelearn <command>``."""

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _summary_markdown(summary, target):
    lines = [f"| strategy | labels to {target:.0%} (median [IQR]) | seeds reached | AULC (mean ± sd) | "
             "labels saved vs random | p (paired, AULC) |", "|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        def fmt(v):
            return "not reached" if v == float("inf") else f"{v:.0f}"
        saved = "" if r.labels_saved_pct != r.labels_saved_pct else f"{r.labels_saved_pct:.0f}%"
        p = "" if r.p_value != r.p_value else f"{r.p_value:.3g}"
        lines.append(f"| {r.strategy} | {fmt(r.labels_to_target_median)} [{fmt(r.labels_to_target_q25)}, "
                     f"{fmt(r.labels_to_target_q75)}] | {r.seeds_reached}/{r.n_seeds} | "
                     f"{r.aulc_mean:.4f} ± {r.aulc_std:.4f} | {saved} | {p} |")
    return "\n".join(lines) + "\n"


def cmd_demo(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import load_digits
    from .simulate import simulate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"Simulated labeling on digits: {args.strategy} against random sampling (same semi-supervised model), "
          f"seed {args.seed}, {args.budget} labels, batches of {args.batch_size}; accuracy on a held-out test "
          "set (30%).")
    results = simulate(load_digits(), ["random", args.strategy], seeds=[args.seed], budget=args.budget,
                       batch_size=args.batch_size, initial_size=args.batch_size, progress=True, n_jobs=args.jobs,
                       initial="cold_start")
    table = results.pivot_table(index="n_labels", columns="strategy", values="accuracy")[["random", args.strategy]]
    print("\nLearning curve (held-out test accuracy):")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    from .plots import plot_learning_curves

    ax = plot_learning_curves(results)
    ax.set_title(f"digits, seed {args.seed}: {args.strategy} vs random")
    path = out / "learning_curve.png"
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)
    results.to_csv(out / "demo_curve.csv", index=False)
    print(f"\nWrote {path} and {out / 'demo_curve.csv'}")
    return 0


def cmd_simulate(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .datasets import load_dataset
    from .plots import plot_cost_vs_accuracy, plot_learning_curves
    from .simulate import simulate, summarize
    from .strategies import get_strategy

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    for s in strategies:
        get_strategy(s)
    if args.successor != "none" and "random" not in strategies:
        strategies.append("random")  # the transfer check compares with random sets of the same size
    dataset = load_dataset(args.dataset)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = simulate(dataset, strategies, seeds=args.seeds, budget=args.budget, batch_size=args.batch_size,
                       initial_size=args.initial_size, test_size=args.test_size, n_jobs=args.jobs,
                       seconds_per_label=args.seconds_per_label, cost_per_hour=args.cost_per_hour,
                       initial=args.initial, model=_model(args.model, dataset),
                       successor_model=_successor(args.successor, dataset))
    results.to_csv(out / "curves.csv", index=False)
    summary = summarize(results, target=args.target, baseline="random" if "random" in strategies else strategies[0],
                        aulc_range=(args.initial_size, args.budget))
    summary.to_csv(out / "summary.csv", index=False)
    md = _summary_markdown(summary, args.target)
    if args.successor != "none":
        md += _transfer_markdown(summary, args.successor)
    (out / "summary.md").write_text(md)
    ax = plot_learning_curves(results, target=args.target)
    ax.figure.savefig(out / "learning_curves.png", dpi=120, bbox_inches="tight")
    plt.close(ax.figure)
    ax = plot_cost_vs_accuracy(results)
    ax.figure.savefig(out / "cost_vs_accuracy.png", dpi=120, bbox_inches="tight")
    plt.close(ax.figure)
    print(md)
    print(f"Wrote curves.csv, summary.csv, summary.md, learning_curves.png, cost_vs_accuracy.png to {out}/")
    return 0


def _transfer_markdown(summary, successor):
    lines = [f"\nTransfer check: a {successor} model trained on each strategy's labeled sets vs on random ones of the "
             "same size (Lowell et al. 2019)\n", "| strategy | ΔAULC, active model | ΔAULC, successor [95% CI] | "
             "gain transfers |", "|---|---|---|---|"]
    for r in summary.itertuples():
        if r.gain_transfers:
            lines.append(f"| {r.strategy} | {r.primary_delta_aulc:+.4f} | {r.successor_delta_aulc:+.4f} "
                         f"[{r.successor_delta_low:+.4f}, {r.successor_delta_high:+.4f}] | {r.gain_transfers} |")
    return "\n".join(lines) + "\n"


def _successor(name, dataset):
    """The transfer check's second model: none, a logistic regression, or the torch MLP/CNN."""
    if name == "none":
        return None
    if name == "lr":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    from .models import default_torch_model

    return default_torch_model(dataset)


def _model(name, dataset):
    if name == "default":
        return None  # each run builds its own (seeded) default model
    from .models import default_torch_model

    return default_torch_model(dataset)


def cmd_strategies(args):
    from .strategies import MODEL_FREE, STRATEGIES

    for name, func in sorted(STRATEGIES.items()):
        doc = (func.__doc__ or "").strip().splitlines()[0]
        print(f"{name:16s}{' (model-free)' if name in MODEL_FREE else '':14s} {doc}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="activelearn", description="Active-learning labeling, in-house.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="short simulated labeling run on the bundled digits; prints and plots the curve")
    p.add_argument("--strategy", default="auto", help="query strategy to compare with random (default: auto)")
    p.add_argument("--budget", type=int, default=150, help="labels to reach (default: 150)")
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPU count)")
    p.add_argument("--out", default="results/demo", help="output folder (default: results/demo)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("simulate", help="multi-seed label-efficiency experiment with plots and a summary")
    p.add_argument("--dataset", default="digits", help="digits, wine, iris, or a path saved by Dataset.save")
    p.add_argument("--strategies", default="random,margin", help="comma-separated strategy names")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds (0..N-1)")
    p.add_argument("--budget", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--initial-size", type=int, default=10, help="labels each run starts from")
    p.add_argument("--initial", choices=["random", "cold_start"], default="random",
                   help="random: each seed's first labels are random and shared by all strategies (default); "
                        "cold_start: each strategy picks them with its cold start (TypiClust; random stays random)")
    p.add_argument("--model", choices=["default", "mlp"], default="default",
                   help="default: label spreading over the pool, then a torch RBF network on the labels and the "
                        "pool's pseudo-labels (PoolRBFNetClassifier), up to 200,000 items, else a torch MLP/CNN; "
                        "mlp: the torch MLP/CNN, labels only")
    p.add_argument("--successor", choices=["none", "lr", "mlp"], default="none",
                   help="transfer check: also train this model (lr: logistic regression; mlp: the torch MLP/CNN) on "
                        "each labeled set and on the random one of the same size, and report whether the gain "
                        "transfers (adds random to the strategies)")
    p.add_argument("--test-size", type=float, default=0.3)
    p.add_argument("--target", type=float, default=0.95, help="test accuracy to reach")
    p.add_argument("--seconds-per-label", type=float, default=5.0, help="simulated seconds per label")
    p.add_argument("--cost-per-hour", type=float, default=30.0, help="annotator cost per hour")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPU count)")
    p.add_argument("--out", default="results", help="output folder")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("strategies", help="list the query strategies")
    p.set_defaults(func=cmd_strategies)
    return parser


def main(argv=None):
    from .exceptions import ActiveLearnError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ActiveLearnError as exc:
        print(f"activelearn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

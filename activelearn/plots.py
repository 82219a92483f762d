"""matplotlib figures of learning curves and cost; every figure shows the spread over seeds."""


__all__ = ["plot_learning_curves", "plot_cost_vs_accuracy", "plot_history"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 4.5))
    return ax


def _bands(results, x, ax, xlabel):
    for strategy, g in results.groupby("strategy", sort=False):
        wide = g.pivot_table(index=x, columns="seed", values="accuracy")
        wide = wide.sort_index().ffill()
        mean = wide.mean(axis=1)
        lo, hi = wide.quantile(0.25, axis=1), wide.quantile(0.75, axis=1)
        line, = ax.plot(wide.index, mean, label=f"{strategy} (n={wide.shape[1]} seeds)")
        ax.fill_between(wide.index, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("held-out test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return ax


def plot_learning_curves(results, ax=None, target=None):
    """Mean test accuracy against labels per strategy, with the interquartile band over seeds."""
    ax = _bands(results, "n_labels", _axes(ax), "labels")
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1)
    ax.set_title("Learning curves (mean, band = interquartile range over seeds)")
    return ax


def plot_cost_vs_accuracy(results, ax=None):
    """Mean test accuracy against labeling cost per strategy, with the band over seeds."""
    if results["cost"].isna().all():
        raise ValueError("results have no cost: run simulate with seconds_per_label and a cost rate.")
    data = results.assign(cost=results["cost"].astype(float).round(6))
    ax = _bands(data, "cost", _axes(ax), "labeling cost")
    ax.set_title("Accuracy bought per unit of cost")
    return ax


def plot_history(history, ax=None, x="n_labels"):
    """One session's test accuracy against labels (or ``labeling_seconds`` / ``cost``)."""
    ax = _axes(ax)
    h = history.dropna(subset=["accuracy"])
    ax.plot(h[x].astype(float), h["accuracy"], marker="o")
    ax.set_xlabel({"n_labels": "labels", "labeling_seconds": "seconds labeling", "cost": "cost"}.get(x, x))
    ax.set_ylabel("held-out test accuracy")
    ax.grid(alpha=0.3)
    return ax

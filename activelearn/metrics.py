"""Learning curves, cost accounting and label-efficiency summaries.

Pure functions of arrays and DataFrames: no model, no store.
"""

import numpy as np
import pandas as pd

__all__ = ["labels_to_target", "labels_to_stay_at_target", "accuracy_at", "aulc", "seconds_per_label",
           "projected_labels_to_target", "wilson_interval", "savings_pct", "paired_bootstrap_interval",
           "fleiss_kappa"]


def _curve(n_labels, accuracy):
    n = np.asarray(n_labels, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    order = np.argsort(n, kind="stable")
    return n[order], a[order]


def labels_to_target(n_labels, accuracy, target=0.95):
    """The fewest labels at which ``accuracy`` first reaches ``target``; NaN if never."""
    n, a = _curve(n_labels, accuracy)
    hit = np.flatnonzero(a >= target)
    return float(n[hit[0]]) if len(hit) else float("nan")


def labels_to_stay_at_target(n_labels, accuracy, target=0.95):
    """The fewest labels from which ``accuracy`` is at or above ``target`` at every later point of the curve.

    Stricter than :func:`labels_to_target`, which counts the first touch even
    when the curve falls back below the target afterwards. "Later" means up to
    the end of the measured curve (the budget); NaN when its last point is
    below the target.
    """
    n, a = _curve(n_labels, accuracy)
    below = np.flatnonzero(~(a >= target))  # NaN counts as below
    if len(n) == 0 or (len(below) and below[-1] == len(n) - 1):
        return float("nan")
    return float(n[below[-1] + 1]) if len(below) else float(n[0])


def savings_pct(labels, baseline_labels):
    """Percent of the baseline's labels saved: ``100 * (1 - labels / baseline_labels)``.

    ``inf`` stands for "target not reached within the budget": a finite count
    against an unreached baseline saves 100%, an unreached count against a
    finite baseline saves ``-inf``, both unreached give NaN.
    """
    s, b = float(labels), float(baseline_labels)
    if np.isnan(s) or np.isnan(b) or (np.isinf(s) and np.isinf(b)):
        return float("nan")
    if np.isinf(b):
        return 100.0
    if np.isinf(s):
        return float("-inf")
    return 100.0 * (1.0 - s / b)


def paired_bootstrap_interval(values, baseline, statistic, n_boot=10000, confidence=0.95, random_state=0):
    """Percentile bootstrap interval of ``statistic(values, baseline)`` resampling the pairs (seeds).

    ``values[i]`` and ``baseline[i]`` belong to the same seed and are drawn
    together. Returns ``(estimate, low, high, share_undefined)``: the
    statistic on the data, the percentile interval over the resamples where
    it is not NaN, and the share of resamples where it is NaN. The generator
    is seeded, so the same inputs give the same interval.
    """
    v, b = np.asarray(values, dtype=float), np.asarray(baseline, dtype=float)
    if v.shape != b.shape or v.ndim != 1 or len(v) == 0:
        raise ValueError(f"paired_bootstrap_interval needs two 1-D arrays of one length, got {v.shape} and {b.shape}.")
    rng = np.random.default_rng(random_state)
    idx = rng.integers(0, len(v), size=(int(n_boot), len(v)))
    stats = np.array([statistic(v[i], b[i]) for i in idx], dtype=float)
    ok = ~np.isnan(stats)
    alpha = (1.0 - confidence) / 2.0
    if not ok.any():
        return float(statistic(v, b)), float("nan"), float("nan"), 1.0
    # no interpolation between resamples, so infinite values (targets not reached) stay usable
    ordered = np.sort(stats[ok])
    lo = ordered[int(np.floor(alpha * (len(ordered) - 1)))]
    hi = ordered[int(np.ceil((1.0 - alpha) * (len(ordered) - 1)))]
    return float(statistic(v, b)), float(lo), float(hi), float(1.0 - ok.mean())


def accuracy_at(n_labels, accuracy, budget):
    """Accuracy of the last model trained on at most ``budget`` labels.

    NaN before the first model and past the end of the curve (not extrapolated).
    """
    n, a = _curve(n_labels, accuracy)
    if len(n) == 0 or budget > n[-1]:
        return float("nan")
    idx = np.searchsorted(n, budget, side="right") - 1
    return float(a[idx]) if idx >= 0 else float("nan")


def aulc(n_labels, accuracy, lo=None, hi=None):
    """Normalised area under the learning curve between ``lo`` and ``hi`` labels.

    The curve is a step function (a model is used until the next retrain), so
    the result is the mean accuracy a person would have had over that range;
    1.0 is perfect.
    """
    n, a = _curve(n_labels, accuracy)
    lo = n[0] if lo is None else float(lo)
    hi = n[-1] if hi is None else float(hi)
    if hi <= lo:
        raise ValueError(f"aulc needs hi > lo, got lo={lo}, hi={hi}.")
    grid = np.arange(lo, hi + 1.0)
    idx = np.searchsorted(n, grid, side="right") - 1
    vals = np.where(idx >= 0, a[np.clip(idx, 0, None)], 0.0)
    return float(vals.mean())


def seconds_per_label(seconds, last=20):
    """Median seconds per label overall and over the ``last`` labels (NaN without timings)."""
    s = pd.Series(seconds, dtype=float).dropna()
    if s.empty:
        return {"median": float("nan"), f"median_last_{last}": float("nan")}
    return {"median": float(s.median()), f"median_last_{last}": float(s.iloc[-last:].median())}


def projected_labels_to_target(n_labels, accuracy, target):
    """Labels expected to reach ``target``, by fitting ``err = a * n^-b`` to the curve.

    Returns the measured count when already reached, NaN with fewer than three
    distinct label counts (retrains after relabeling, e.g. a review, repeat one) or
    when the error is not falling.
    """
    n, a = _curve(n_labels, accuracy)
    reached = labels_to_target(n, a, target)
    if np.isfinite(reached):
        return reached
    err = 1.0 - a
    keep = (n > 0) & (err > 0)
    if len(np.unique(n[keep])) < 3:  # no trend over label counts to extrapolate
        return float("nan")
    slope, intercept = np.polyfit(np.log(n[keep]), np.log(err[keep]), 1)
    if slope >= 0:
        return float("nan")
    return float(np.ceil(np.exp((np.log(1.0 - target) - intercept) / slope)))


def wilson_interval(n_correct, n_total, z=1.96):
    """Wilson score interval of a proportion (for small audit samples)."""
    if n_total == 0:
        return float("nan"), float("nan")
    p = n_correct / n_total
    denom = 1 + z * z / n_total
    centre = (p + z * z / (2 * n_total)) / denom
    half = z * np.sqrt(p * (1 - p) / n_total + z * z / (4 * n_total * n_total)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def fleiss_kappa(counts):
    """Fleiss' kappa of a ``(n_items, n_classes)`` table of rater counts (the same raters per item).

    Returns
    -------
    kappa : float
    observed : float
        Mean share of agreeing rater pairs per item.
    """
    n = np.asarray(counts, dtype=float)
    raters = n.sum(axis=1)[0]
    p_item = ((n * (n - 1)).sum(axis=1)) / (raters * (raters - 1))
    p_class = n.sum(axis=0) / n.sum()
    p_bar, p_e = float(p_item.mean()), float((p_class ** 2).sum())
    kappa = 1.0 if p_e == 1 else (p_bar - p_e) / (1 - p_e)
    return float(kappa), p_bar

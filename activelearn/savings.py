"""Live savings against random sampling, from the audit labels of a real session.

The audit items (``audit_share`` of what a person is shown: drawn uniformly at
random from the pool, blind, never trained on) serve twice:

1. an unbiased test set for the strategy's model (when there is no held-out
   test set with true labels);
2. a random-sampling learning curve of its own: the same model class trained
   on random subsets of the audit items only, evaluated by cross-fitting
   (each audit item is predicted by models that never saw it).

Which accuracy. Every accuracy here is the model's accuracy on *new* data:
the audit items are pool items, but they are predicted by the model's
read-out for items it has not seen (``predict_proba_inductive`` of a
pool-aware model, e.g. the SVC of
:class:`~activelearn.semi.PoolSpreadingClassifier`; any other model's
``predict_proba``), never by the pool posterior the strategies rank with. That
is what the held-out set and ``Session.history["accuracy"]`` measure, and the
random curve's models are read the same way. (For the default model the two
read-outs agreed on every audit item of the development runs, its SVC being
trained on the pool's pseudo-labels; for other pool-aware models they need
not.)

Labels saved = how many random labels the random curve needs to reach the
strategy's accuracy, minus the labels the strategy used. The crossing is
read only from ``sizes.min() / 2`` to ``2 * sizes.max()`` (``floor`` to
``limit``; the random accuracy itself up to ``1.5 * sizes.max()``); a crossing outside that stretch is never given as a
number (``labels_saved`` NaN). The interval's ends still say what the data
support there: when the strategy's accuracy is above the whole readable curve
(the interval's lower end beyond ``limit``), ``labels_saved_low = limit -
n_labels`` ("at least that many saved", given only when positive) and
``labels_saved_high = inf`` (no upper bound from the data); when it is below
the curve's start, ``labels_saved_high = floor - n_labels`` and
``labels_saved_low = -n_labels`` (random sampling needs at least none). NaN
where the data support neither.

Intervals. The strategy's accuracy: a Wilson interval on the items that
score it (an interval for the model's accuracy on the data, not for what a
small test set would show: against a truth measured on ``n_test`` items its
coverage is capped by that set's own noise; see benchmarks/README.md). In the
labels-saved bootstrap the strategy's items carry one pseudo-item scored half
right (Poisson(1) copies per replicate), so a perfect audit score, which every
resample repeats, is not taken for a zero error rate and a certain saving.
The random curve: a two-level bootstrap, over the cross-fitting
folds (each fold's items are predicted by that fold's models, trained on one
random subset: resampling folds carries the subset-to-subset spread of the
curve) and over the items within them, paired with the strategy where the same
items score both. ``random_low``/``random_high`` answer "where would a *real*
random-sampling run with this many labels land?": the spread of a single run
(which items it happened to draw) is added, estimated from the fold-to-fold
spread of the models' accuracies less the binomial noise of the folds' items
(:func:`single_run_spread`). ``labels_saved`` compares against the *expected*
random curve (its interval has no single-run term). None of the intervals
contains the noise of whatever test set a user checks them against: a truth
measured on ``n`` test items has its own binomial spread on top.
"""

import numpy as np

from ._training import fit_model, proba_for_people
from .metrics import wilson_interval
from .stopping import fit_error_curve, fit_error_curves

__all__ = ["random_curve_correctness", "random_curve_sizes", "savings_row", "single_run_spread",
           "SAVINGS_COLUMNS"]

#: Columns of :meth:`Session.savings`, one row per retrain.
SAVINGS_COLUMNS = ["n_labels", "strategy_accuracy", "strategy_low", "strategy_high", "random_accuracy", "random_low",
                   "random_high", "labels_saved", "labels_saved_low", "labels_saved_high"]

#: Fewest audit items before a random curve is attempted.
MIN_AUDIT_FOR_CURVE = 20


def random_curve_sizes(n_audit, n_folds=5, n_sizes=4, min_size=5):
    """Training sizes of the cross-fitted random curve: geometric, up to ``(n_folds - 1) / n_folds`` of the audit."""
    top = int(np.floor(n_audit * (n_folds - 1) / n_folds))
    if top < max(min_size, 2):
        return np.zeros(0, dtype=int)
    sizes = np.unique(np.round(top * np.geomspace(0.25, 1.0, n_sizes)).astype(int))
    return sizes[sizes >= min_size]


def random_curve_correctness(model_template, X, y, n_classes, sizes, n_folds=5, random_state=0, return_folds=False,
                             inductive=True):
    """Cross-fitted correctness of random-sampling models on the audit items.

    For each of ``n_folds`` folds, models of the template are trained on random
    subsets (of each size in ``sizes``, nested) of the other folds' items and
    predict the fold's items: with their read-out for new data
    (``inductive=True``, the default: ``predict_proba_inductive`` where the
    model has one, as the strategy's model is scored), or with
    ``predict_proba`` (``inductive=False``: a pool-aware model's pool
    posterior for pool items).

    Returns
    -------
    ndarray of shape (n_items, len(sizes)), float
        1.0 / 0.0 where the item was predicted right / wrong by the model of that size, NaN where not evaluated.
    ndarray of shape (n_items,), int
        Only with ``return_folds``: the fold of each item (whose models predicted it).
    """
    y = np.asarray(y, dtype=np.int64)
    n = len(y)
    out = np.full((n, len(sizes)), np.nan)
    rng = np.random.default_rng([int(random_state), 0x5A7E])
    folds = np.array_split(rng.permutation(n), n_folds)
    fold_of = np.empty(n, dtype=np.int64)
    for k, held in enumerate(folds):
        fold_of[held] = k
        train = np.concatenate([f for j, f in enumerate(folds) if j != k])
        order = rng.permutation(train)
        for s, size in enumerate(sizes):
            if size > len(order):
                continue
            pick = order[:size]
            model, _ = fit_model(model_template, X[pick], y[pick], n_classes, 0)
            pred = proba_for_people(model, X[held], n_classes, inductive).argmax(axis=1)
            out[held, s] = (pred == y[held]).astype(float)
    return (out, fold_of) if return_folds else out


def single_run_spread(random_correct, folds):
    """Variance of a single random run's accuracy, as a share of ``p (1 - p)``.

    Each fold's models were trained on one random subset, so the spread of
    the folds' accuracies at a size is the spread of single runs plus the
    binomial noise of the fold's items. That noise (``p_k (1 - p_k) / (n_k - 1)``
    per fold, unbiased) is taken off, and what is left is pooled over the sizes
    as a share of ``p (1 - p)`` (the spread shrinks with the error): the variance
    of a run whose expected accuracy is ``p`` is ``share * p * (1 - p)``.
    Folds' training sets overlap, so this errs low rather than high.

    Parameters
    ----------
    random_correct : array of shape (n_items, n_sizes)
        From :func:`random_curve_correctness`.
    folds : array of shape (n_items,)
        Each item's fold.

    Returns
    -------
    float
        The share (>= 0); 0.0 with fewer than 2 folds of at least 2 items.
    """
    rc = np.asarray(random_correct, dtype=float)
    folds = np.asarray(folds)
    between, scale = 0.0, 0.0
    for s in range(rc.shape[1]):
        accs, noise, ns = [], [], []
        for k in np.unique(folds):
            c = rc[folds == k, s]
            c = c[~np.isnan(c)]
            if len(c) >= 2:
                p = c.mean()
                accs.append(p)
                noise.append(p * (1 - p) / (len(c) - 1))
                ns.append(len(c))
        if len(accs) < 2:
            continue
        p_all = np.average(accs, weights=ns)
        between += np.var(accs, ddof=1) - np.mean(noise)
        scale += p_all * (1 - p_all)
    return float(max(0.0, between / scale)) if scale > 0 else 0.0


def _crossing(curve, accuracy):
    """Labels at which ``error = a * n ** -b`` reaches ``accuracy`` (inf: never; 0: from the start)."""
    a, b = curve
    err = 1.0 - accuracy
    if err >= a:
        return 0.0
    if b <= 0 or err <= 0:
        return float("inf")
    log_m = np.log(err / a) / -b
    return float(np.exp(log_m)) if log_m < 700 else float("inf")


def savings_row(n_labels, strategy_correct, random_correct, sizes, paired=True, confidence=0.9, n_boot=400,
                stretch=1.5, random_state=0, folds=None, saved_stretch=2.0):
    """One row of :data:`SAVINGS_COLUMNS`.

    Parameters
    ----------
    n_labels : int
        Labels the strategy's model was trained on.
    strategy_correct : array of shape (n_eval,)
        Whether the strategy's model predicts each evaluation item right.
    random_correct : array of shape (n_audit, n_sizes)
        From :func:`random_curve_correctness` (empty: no random curve).
    sizes : array of shape (n_sizes,)
    paired : bool
        The strategy was scored on the audit items themselves (resampled together).
    confidence : float
        Interval level (0.9: the 5th and 95th percentiles).
    stretch : float
        How far beyond the largest measured size the random curve's accuracy
        may be read (``stretch * sizes.max()``); further out,
        ``random_*`` are NaN.
    saved_stretch : float
        The same for where the strategy's accuracy crosses the random curve
        (``labels_saved*``: from ``sizes.min() / saved_stretch`` to
        ``saved_stretch * sizes.max()``); outside, ``labels_saved`` is NaN and
        ``labels_saved_low``/``_high`` the one-sided bound the data support
        (see the module docstring). 2.0: on the development seeds the values
        read between 1.5x and 2x covered the truth as often as those within
        1.5x (benchmarks/README.md).
    folds : array of shape (n_audit,), optional
        Each audit item's cross-fitting fold (``return_folds`` of
        :func:`random_curve_correctness`). With it the bootstrap resamples
        folds too, and ``random_low``/``random_high`` include the spread of a
        single random run (:func:`single_run_spread`); without it they cover
        only the audit items' sampling of the expected curve.
    """
    strategy_correct = np.asarray(strategy_correct, dtype=float)
    row = dict.fromkeys(SAVINGS_COLUMNS, float("nan"))
    row["n_labels"] = int(n_labels)
    z = float(_z(confidence))
    if len(strategy_correct):
        k = int(strategy_correct.sum())
        row["strategy_accuracy"] = k / len(strategy_correct)
        row["strategy_low"], row["strategy_high"] = wilson_interval(k, len(strategy_correct), z=z)
    sizes = np.asarray(sizes, dtype=float)
    if random_correct is None or len(sizes) < 2 or len(random_correct) < MIN_AUDIT_FOR_CURVE:
        return row
    limit_random = stretch * sizes.max()
    limit, floor = saved_stretch * sizes.max(), sizes.min() / saved_stretch
    rc = np.asarray(random_correct, dtype=float)

    def curve_of(rows):
        acc = np.nanmean(rc[rows], axis=0)
        return fit_error_curve(sizes, acc, np.full(len(sizes), len(rows)))

    def read(curve, s_acc):
        r_acc = (float(np.clip(1.0 - curve[0] * float(n_labels) ** -curve[1], 0, 1)) if n_labels <= limit_random
                 else np.nan)
        m = _crossing(curve, s_acc) if np.isfinite(s_acc) else np.nan
        return r_acc, m

    all_rows = np.arange(len(rc))
    curve = curve_of(all_rows)
    if curve is None:
        return row
    r_acc, m = read(curve, row["strategy_accuracy"])
    row["random_accuracy"] = r_acc
    row["labels_saved"] = m - n_labels if np.isfinite(m) and floor <= m <= limit else float("nan")

    rng = np.random.default_rng([int(random_state), 0x5AFE])
    idx = rng.integers(0, len(rc), (int(n_boot), len(rc)))
    known = ~np.isnan(rc)
    counts = np.zeros((int(n_boot), len(rc)))
    use_folds = folds is not None and len(np.unique(folds)) >= 2
    if use_folds:  # two levels: folds (each one random training subset), then items within each drawn fold
        folds = np.asarray(folds)
        labels, fold_idx = np.unique(folds, return_inverse=True)
        weight = np.zeros((int(n_boot), len(labels)))
        np.add.at(weight, (np.repeat(np.arange(int(n_boot)), len(labels)),
                           rng.integers(0, len(labels), (int(n_boot), len(labels))).ravel()), 1.0)
        members = [np.flatnonzero(fold_idx == k) for k in range(len(labels))]
        idx = np.concatenate([m[rng.integers(0, len(m), (int(n_boot), len(m)))] for m in members], axis=1)
        item_weight = np.concatenate([np.repeat(weight[:, [k]], len(m), axis=1) for k, m in enumerate(members)],
                                     axis=1)
        np.add.at(counts, (np.repeat(np.arange(int(n_boot)), len(rc)), idx.ravel()), item_weight.ravel())
    else:
        np.add.at(counts, (np.repeat(np.arange(int(n_boot)), len(rc)), idx.ravel()), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = (counts @ np.where(known, rc, 0.0)) / (counts @ known)
    err = np.maximum(1.0 - acc, 0.5 / len(rc))
    ca, cb = fit_error_curves(np.broadcast_to(sizes, err.shape), err)
    # one pseudo-item scored half right, drawn like a resampled item (Poisson(1) copies): a perfect score on n
    # items is not a zero error rate, and without it every replicate of a perfect score would be perfect too
    half = rng.poisson(1.0, int(n_boot)).astype(float)
    if paired and len(strategy_correct) == len(rc):
        s_acc = (counts @ strategy_correct + 0.5 * half) / (counts.sum(axis=1) + half)
    elif len(strategy_correct):
        s_idx = rng.integers(0, len(strategy_correct), (int(n_boot), len(strategy_correct)))
        s_acc = (strategy_correct[s_idx].sum(axis=1) + 0.5 * half) / (len(strategy_correct) + half)
    else:
        s_acc = np.full(int(n_boot), np.nan)
    r_s = np.where(n_labels <= limit_random, np.clip(1.0 - ca * float(n_labels) ** -cb, 0, 1), np.nan)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m_s = np.where(1.0 - s_acc >= ca, 0.0, np.where((cb > 0) & (s_acc < 1), ((1.0 - s_acc) / ca) ** (-1.0 / cb),
                                                         np.inf))
    m_s = np.where(np.isnan(ca) | np.isnan(s_acc), np.nan, m_s)
    alpha = (1 - confidence) / 2
    r_s, m_s = np.array(r_s, dtype=float), np.array(m_s, dtype=float)
    if use_folds and np.isfinite(row["random_accuracy"]):  # where a single real run lands, not the mean of runs
        p = row["random_accuracy"]
        share = single_run_spread(rc, folds)
        r_s = np.clip(r_s + rng.standard_normal(len(r_s)) * np.sqrt(share * p * (1 - p)), 0.0, 1.0)
    if np.isfinite(r_s).any() and np.isfinite(row["random_accuracy"]):
        row["random_low"], row["random_high"] = (float(v) for v in np.nanquantile(r_s, [alpha, 1 - alpha]))
    if len(strategy_correct) and (~np.isnan(m_s)).any():
        ordered = np.sort(m_s[~np.isnan(m_s)])  # inf: never reached by the random curve
        lo = ordered[int(np.floor(alpha * (len(ordered) - 1)))]
        hi = ordered[int(np.ceil((1 - alpha) * (len(ordered) - 1)))]
        row["labels_saved_low"], row["labels_saved_high"] = _saved_bounds(lo, hi, n_labels, floor, limit)
    return row


def _saved_bounds(lo, hi, n_labels, floor, limit):
    """``labels_saved_low/high`` from the interval ``[lo, hi]`` of random labels needed, read only where measured.

    An end inside ``[floor, limit]`` (the stretch of the random curve that may be read) is read off it.
    Beyond the curve the data still bound the answer on one side: an ``lo`` above ``limit`` means the
    strategy's accuracy is above the whole readable random curve, so at least ``limit - n_labels`` labels
    were saved (``high``: inf, no upper bound from the data; NaN unless ``limit > n_labels``); an ``hi``
    below ``floor`` means random sampling needs at most ``floor`` labels (``low``: ``-n_labels``, since
    random sampling needs at least none). Never a number
    read from the curve outside its readable stretch.
    """
    n = float(n_labels)
    if lo < floor and hi > limit:  # nothing the data can say
        return float("nan"), float("nan")
    if lo > limit:  # a positive saving only: a curve shorter than the strategy's labels bounds nothing useful
        low = limit - n if limit > n else float("nan")
    elif lo < floor:
        low = -n
    else:
        low = lo - n
    if hi > limit:
        high = float("inf")
    elif hi < floor:
        high = floor - n
    else:
        high = hi - n
    if np.isnan(low) and np.isinf(high):
        return float("nan"), float("nan")
    return float(low), float(high)


def _z(confidence):
    from scipy.stats import norm

    return norm.ppf(0.5 + confidence / 2)

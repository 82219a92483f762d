"""The labeling loop answered by true labels: multi-seed, multi-strategy experiments.

Protocol, identical for every strategy: each seed draws its own stratified
held-out test split and its own random initial labeled set from the pool; all
strategies of that seed share both. The test set is never queried, never
trained on, never used to choose anything.
"""

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
import multiprocessing as mp

import numpy as np
import pandas as pd
from scipy import stats

from .datasets import MISSING
from .exceptions import ActiveLearnError
from .metrics import accuracy_at, aulc, labels_to_target

__all__ = ["simulate", "run_one", "run_loop", "run_offers", "summarize", "summarize_stopping", "initial_ids", "Oracle",
           "RESULT_COLUMNS", "SIMULATED", "stopping_candidates"]

#: The annotator simulated labels are recorded under: never a person's name.
SIMULATED = "simulated"

class Oracle:
    """Answers label requests from a dataset's true labels (for simulations and tests), optionally noisy.

    A noisy oracle models an annotator who makes mistakes: a share ``noise``
    of the items get a wrong answer. Which items, and which wrong class, is
    drawn once per item from ``seed``, so asking twice about one item gives
    the same answer. Several oracles with different seeds (and noise) model
    several annotators whose mistakes are independent; oracles sharing a seed
    make their mistakes on nested sets of items.

    Parameters
    ----------
    dataset : Dataset
    noise : float
        Probability in [0, 1] that an item's answer is wrong (each item is
        wrong or not independently, so the share of wrong answers is ``noise``
        on average). 0 (default): the true label, always.
    seed : int
        Seeds which items are wrong and their wrong class.
    mode : {"uniform", "confusable"}
        ``"uniform"``: a wrong answer is any other class, uniformly.
        ``"confusable"``: the other class that a nearest-class-centroid model
        (standardised features, fitted on every item with a true label)
        most often predicts for items of the true class; where it never
        confuses a class, the class whose centroid is nearest.

    Attributes
    ----------
    wrong : ndarray of bool, shape (n_items,)
        By dataset position, whether the oracle's answer is wrong (all False without noise).
    confusable : ndarray of int, shape (n_classes,) or None
        ``mode="confusable"``: the wrong class given for each true class.

    Raises
    ------
    ActiveLearnError
        If asked about an item whose true label is unknown.
    """

    def __init__(self, dataset, noise=0.0, seed=0, mode="uniform"):
        if isinstance(noise, bool) or not np.isfinite(noise) or not 0.0 <= float(noise) <= 1.0:
            raise ActiveLearnError(f"noise must be a probability in [0, 1], got {noise!r}.")
        if mode not in ("uniform", "confusable"):
            raise ActiveLearnError(f"mode must be 'uniform' or 'confusable', got {mode!r}.")
        self.dataset, self.noise, self.seed, self.mode = dataset, float(noise), int(seed), mode
        n, k = len(dataset), dataset.n_classes
        self.wrong = np.zeros(n, dtype=bool)
        self.confusable = None
        self._answer = None
        if self.noise == 0.0:
            return
        if k < 2:
            raise ActiveLearnError("a noisy oracle needs at least 2 classes to answer a wrong one.")
        rng = np.random.default_rng([self.seed, 0x0AC1E])  # one draw per item: the same answer every time
        draw, shift = rng.random(n), rng.integers(1, k, n)
        known = dataset.y != MISSING
        self.wrong = (draw < self.noise) & known
        if mode == "uniform":
            other = (dataset.y + shift) % k
        else:
            self.confusable = self._most_confusable(dataset)
            other = self.confusable[np.where(known, dataset.y, 0)]
        self._answer = np.where(self.wrong, other, dataset.y)

    def __call__(self, item_id):
        pos = self.dataset.position(item_id)
        y = self.dataset.y[pos]
        if y == MISSING:
            raise ActiveLearnError(f"the oracle has no true label for item {item_id!r}.")
        return self.dataset.classes[y if self._answer is None else self._answer[pos]]

    def is_wrong(self, item_id):
        """Whether this oracle's answer for ``item_id`` is wrong."""
        return bool(self.wrong[self.dataset.position(item_id)])

    @staticmethod
    def _most_confusable(dataset, max_items=20_000):
        """Per true class, the other class a nearest-centroid model confuses it with most (see :class:`Oracle`)."""
        import warnings

        from sklearn.metrics import confusion_matrix
        from sklearn.neighbors import NearestCentroid

        k = dataset.n_classes
        known = np.flatnonzero(dataset.y != MISSING)
        if len(known) > max_items:
            known = np.sort(np.random.default_rng(0).choice(known, max_items, replace=False))
        X = np.asarray(dataset.X[known], dtype=np.float64).reshape(len(known), -1)
        X = (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-9)
        y = dataset.y[known]
        present = np.unique(y)
        centroids = np.zeros((k, X.shape[1]))
        centroids[present] = np.stack([X[y == c].mean(axis=0) for c in present])
        if len(present) > 1:
            with warnings.catch_warnings():  # constant features (blank pixels) are expected
                warnings.simplefilter("ignore", UserWarning)
                pred = NearestCentroid().fit(X, y).predict(X)
            confusion = confusion_matrix(y, pred, labels=np.arange(k)).astype(float)
        else:
            confusion = np.zeros((k, k))
        dist = ((centroids[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
        dist[:, np.setdiff1d(np.arange(k), present)] = np.inf  # a class no item has is never the answer
        np.fill_diagonal(confusion, -1.0)
        np.fill_diagonal(dist, np.inf)
        # Most confusions first; ties (a class never confused) go to the nearest centroid.
        return np.array([np.lexsort((dist[c], -confusion[c]))[0] for c in range(k)], dtype=np.int64)


def _start(session, oracle):
    """The oracle to answer with, once the session's map is prepared (a simulation ranks on it only)."""
    session.wait_pool()  # the same run every time, whatever the timing of the background preparation
    return oracle or Oracle(session.dataset)


def _progress_bar(progress, budget, desc, initial=0):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=budget, initial=initial, desc=desc, unit="label")


def run_loop(session, budget, oracle=None, seconds_per_label=None, progress=False):
    """Drive ``session`` with ``oracle`` until it holds ``budget`` labels (or the pool runs out).

    Each round asks :meth:`Session.next_batch`, labels the batch with the
    oracle's answers (recorded as annotator :data:`SIMULATED`, never as the
    session's person) and retrains, exactly as a person and the widget would.

    Parameters
    ----------
    session : Session
    budget : int
        Total labels to reach (labels already in the store count).
    oracle : callable, optional
        ``oracle(item_id) -> class name``; defaults to :class:`Oracle` (true labels).
    seconds_per_label : float, optional
        Simulated time per label, for cost curves.
    progress : bool
        Show a ``tqdm.auto`` progress bar.

    Returns
    -------
    pandas.DataFrame
        The session's history.
    """
    oracle = _start(session, oracle)
    bar = _progress_bar(progress, budget, session.strategy_name, initial=min(session.n_labels, budget))
    try:
        while session.n_labels < budget:
            ids = session.next_batch(min(session.batch_size, budget - session.n_labels))
            if not ids:
                break
            for item_id in ids:
                # An oracle answers instantly: no human time unless simulated.
                session.label(item_id, oracle(item_id), seconds=seconds_per_label or 0.0, annotator=SIMULATED)
            record = session.retrain()
            if bar is not None:
                bar.update(min(session.n_labels, budget) - bar.n)
                bar.set_postfix(accuracy=record["accuracy"])
    finally:
        if bar is not None:
            bar.close()
    return session.history

def run_offers(session, budget, oracle=None, retrain_every=10, progress=False):
    """Drive ``session`` as the widget does: :meth:`Session.next_offer` one item at a time, audit items included.

    Unlike :func:`run_loop`, a share ``session.audit_share`` of the items are
    audit items (random, never trained on); ``budget`` counts every label,
    audit labels included. Retrains every ``retrain_every`` labels.

    Returns
    -------
    pandas.DataFrame
        The session's history.
    """
    oracle = _start(session, oracle)
    retrain_every = int(retrain_every)
    bar = _progress_bar(progress, budget, f"{session.strategy_name} (offers)")
    try:
        given = 0
        while given < budget:
            offer = session.next_offer()
            if offer is None:
                break
            session.label(offer.item_id, oracle(offer.item_id), seconds=0.0, annotator=SIMULATED)
            given += 1
            if bar is not None:
                bar.update(1)
            if given % retrain_every == 0 and len(session._snapshot().train_positions):
                session.retrain()
    finally:
        if bar is not None:
            bar.close()
    return session.history


def stopping_candidates(budget=None):
    """The criteria :func:`simulate` records with ``stopping=True``: the default, each criterion alone, two pairs."""
    from .stopping import (AccuracyFlattening, LabelBudget, PoolUncertainty, StabilizingPredictions,
                           default_criteria)

    out = {"default": default_criteria(), "stabilizing_predictions": StabilizingPredictions(),
           "pool_uncertainty": PoolUncertainty(), "accuracy_flattening": AccuracyFlattening(),
           "stabilizing_and_flattening": StabilizingPredictions() & AccuracyFlattening(),
           "stabilizing_or_uncertainty": StabilizingPredictions() | PoolUncertainty()}
    if budget is not None:
        out["label_budget"] = LabelBudget(budget)
    return out


class _RoundRecorder:
    """Session callback of a simulated run: per retrain, what each stopping criterion says and the successor's score."""

    def __init__(self, stopping, successor_model):
        self.stopping, self.successor_model, self.rows = stopping or {}, successor_model, {}

    def on_retrain_end(self, session, record):
        row = {}
        if self.stopping:
            state = session._stopping_state()
            for name, criterion in self.stopping.items():
                row[f"stop_{name}"] = criterion.is_met(state)
            # raw values, so that other thresholds can be compared offline (benchmarks/stopping.py)
            from .stopping import AccuracyFlattening, StabilizingPredictions

            row["value_stabilizing_predictions"] = StabilizingPredictions().check(state)[0]
            row["value_pool_uncertainty"] = float(state.uncertainty[-1])
            row["value_accuracy_flattening"] = AccuracyFlattening().check(state)[0]
            row["value_kappa"] = float(state.kappas()[-1])  # this round's kappa alone: other windows offline
            row["n_eval"] = float(state.n_eval[-1])
        if self.successor_model is not None:
            from ._training import evaluate, fit_model

            snap = session._snapshot()
            X = session.dataset.X
            model, _ = fit_model(self.successor_model, X[snap.train_positions], snap.y_train,
                                 session.dataset.n_classes, 0)
            row["successor_accuracy"] = evaluate(model, session.dataset, np.flatnonzero(session.test_mask))[0]
        self.rows[int(record["model_version"])] = row


def _normalise_stopping(stopping, budget):
    if stopping is None or stopping is False:
        return None
    from .stopping import Criterion

    if stopping is True:
        return stopping_candidates(budget)
    if isinstance(stopping, Criterion):
        return {"default": stopping}
    if isinstance(stopping, dict) and all(isinstance(c, Criterion) for c in stopping.values()):
        return dict(stopping)
    raise ActiveLearnError(f"stopping must be True, a Criterion or a dict of name -> Criterion, got {stopping!r}.")


RESULT_COLUMNS = ["strategy", "seed", "round", "n_labels", "accuracy", "macro_f1", "cost", "train_seconds",
                  "query_seconds"]


def initial_ids(session, initial_size, seed):
    """The random initial labeled set of a seed: ``initial_size`` pool items, shared by all strategies."""
    pool = np.flatnonzero(session.pool_mask())
    rng = np.random.default_rng([seed, 7919])
    picked = np.sort(rng.choice(pool, size=min(initial_size, len(pool)), replace=False))
    return [session.dataset.item_id(p) for p in picked]


def run_one(dataset, strategy, seed, budget, batch_size=10, initial_size=10, model=None, test_size=0.3,
            seconds_per_label=None, cost_per_hour=None, cost_per_label=None, strategy_params=None,
            initial="random", stopping=None, successor_model=None):
    """One learning curve: a fresh in-memory session, the initial set, then the loop to ``budget``.

    ``stopping`` (a dict name -> Criterion, or True) adds a boolean column
    ``stop_<name>`` per criterion (whether it says stop after that retrain)
    and ``value_<criterion>`` for the three measured criteria (``value_kappa``:
    this round's kappa alone; ``n_eval``: items the accuracy was measured on);
    ``successor_model`` adds ``successor_accuracy``: a clone of it trained on
    the same labeled set, scored on the same test set.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RESULT_COLUMNS` (and the above), one row per retrain.
    """
    from .loop import Session

    session = Session(dataset, model=model, strategy=strategy, store=":memory:", batch_size=batch_size,
                      test_size=test_size, random_state=seed, cost_per_hour=cost_per_hour,
                      cost_per_label=cost_per_label, strategy_params=strategy_params, prepare="wait")
    stopping = _normalise_stopping(stopping, budget)
    recorder = None
    if stopping or successor_model is not None:
        recorder = _RoundRecorder(stopping, successor_model)
        session.callbacks.append(recorder)
    oracle = Oracle(dataset)
    if initial not in ("random", "cold_start"):
        raise ValueError(f"initial must be 'random' or 'cold_start', got {initial!r}")
    if initial_size:
        first = (initial_ids(session, initial_size, seed) if initial == "random"
                 else session.next_batch(initial_size))
        for item_id in first:
            session.label(item_id, oracle(item_id), seconds=seconds_per_label, annotator=SIMULATED)
        session.retrain()
    history = session.simulate(budget, oracle=oracle, seconds_per_label=seconds_per_label)
    out = history.assign(strategy=strategy if isinstance(strategy, str) else session.strategy_name, seed=seed,
                         round=np.arange(len(history)))
    session.store.close()
    if recorder is None:
        return out[RESULT_COLUMNS]
    extra = pd.DataFrame([recorder.rows.get(int(v), {}) for v in history["model_version"]], index=out.index)
    return pd.concat([out[RESULT_COLUMNS], extra], axis=1)


def _worker_init(n_threads):
    from ._threads import set_thread_limits

    set_thread_limits(n_threads)


def simulate(dataset, strategies=("random", "margin"), seeds=5, budget=300, batch_size=10, initial_size=10,
             model=None, test_size=0.3, n_jobs=None, progress=True, seconds_per_label=None, cost_per_hour=None,
             cost_per_label=None, strategy_params=None, initial="random", stopping=None, successor_model=None):
    """Run every strategy on every seed, in parallel processes, with a progress bar.

    Parameters
    ----------
    dataset : Dataset
        Needs true labels (anything :func:`~activelearn.datasets.as_dataset` takes).
    strategies : sequence of str
    seeds : int or sequence of int
        ``5`` means seeds 0..4.
    budget, batch_size, initial_size : int
    initial : {"random", "cold_start"}
        ``"random"`` (the reference protocol): each seed's ``initial_size``
        first labels are drawn at random and shared by every strategy.
        ``"cold_start"``: each strategy picks them itself with its session's
        cold start (TypiClust; random sampling stays random).
    model : estimator, optional
        Default: :func:`~activelearn.models.default_model` per seed.
    test_size : float
    n_jobs : int, optional
        Worker processes (default: the CPU count); each uses one thread.
    progress : bool
        ``tqdm.auto`` bar over runs.
    seconds_per_label, cost_per_hour, cost_per_label : float, optional
        Simulated labeling time and rates, for the ``cost`` column.
    stopping : True, Criterion or dict of name -> Criterion, optional
        Record, per retrain, whether each criterion would stop there (columns
        ``stop_<name>``; True: :func:`stopping_candidates`); see :func:`summarize_stopping`.
    successor_model : estimator, optional
        Transfer check (Lowell et al. 2019): also train a clone of this model
        on every labeled set the loop reached and score it on the test set
        (column ``successor_accuracy``). ``"random"`` is added to the
        strategies when missing, so every actively acquired set has a random
        one of the same size to compare with.

    Returns
    -------
    pandas.DataFrame
        Tidy: :data:`RESULT_COLUMNS` (and the columns above), one row per strategy, seed and retrain.
    """
    from .datasets import as_dataset

    dataset = as_dataset(dataset)
    seeds = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else list(seeds)
    strategies = [strategies] if isinstance(strategies, str) else list(strategies)
    if successor_model is not None and "random" not in strategies:
        strategies.append("random")
    _normalise_stopping(stopping, budget)  # a bad argument fails here, not in a worker
    jobs = [(s, seed) for seed in seeds for s in strategies]
    kwargs = dict(budget=budget, batch_size=batch_size, initial_size=initial_size, model=model,
                  test_size=test_size, seconds_per_label=seconds_per_label, cost_per_hour=cost_per_hour,
                  cost_per_label=cost_per_label, strategy_params=strategy_params, initial=initial,
                  stopping=stopping, successor_model=successor_model)
    n_jobs = min(len(jobs), n_jobs or os.cpu_count() or 1)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(jobs), desc="simulate", unit="run")
    frames = []
    try:
        if n_jobs <= 1:
            for strategy, seed in jobs:
                frames.append(run_one(dataset, strategy, seed, **kwargs))
                if bar is not None:
                    bar.update(1)
        else:
            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(n_jobs, mp_context=ctx, initializer=_worker_init, initargs=(1,)) as ex:
                futures = [ex.submit(run_one, dataset, strategy, seed, **kwargs) for strategy, seed in jobs]
                for fut in as_completed(futures):
                    frames.append(fut.result())
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    order = {s: i for i, s in enumerate(strategies)}
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["strategy", "seed", "round"], key=lambda c: c.map(order) if c.name == "strategy" else c)
    return out.reset_index(drop=True)


def _per_seed(results, target, budgets, lo, hi):
    rows = []
    for (strategy, seed), g in results.groupby(["strategy", "seed"], sort=False):
        n, a = g["n_labels"].to_numpy(), g["accuracy"].to_numpy()
        row = {"strategy": strategy, "seed": seed, "labels_to_target": labels_to_target(n, a, target),
               "aulc": aulc(n, a, lo, min(hi, n.max())),
               "cost_to_target": float("nan")}
        hit = np.flatnonzero(a >= target)
        if len(hit) and g["cost"].notna().any():
            row["cost_to_target"] = float(g["cost"].to_numpy()[hit[0]])
        for b in budgets:
            row[f"accuracy_at_{b}"] = accuracy_at(n, a, b)
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(results, target=0.95, budgets=(50, 100, 200, 300), baseline="random", aulc_range=(10, 300)):
    """Label efficiency per strategy, with spread over seeds.

    Parameters
    ----------
    results : DataFrame
        From :func:`simulate`.
    target : float
        Test accuracy to reach.
    budgets : sequence of int
        Label counts at which accuracy is reported.
    baseline : str
        The strategy savings are measured against.
    aulc_range : (int, int)
        Label range of the normalised area under the learning curve.

    Returns
    -------
    pandas.DataFrame
        One row per strategy: ``labels_to_target_median``, ``_q25``, ``_q75``,
        ``seeds_reached``, ``n_seeds``, ``aulc_mean``, ``aulc_std``,
        ``accuracy_at_<b>_mean`` / ``_std``, ``labels_saved_pct`` and
        ``cost_saved_pct`` against ``baseline``, and ``p_value`` of a paired
        Wilcoxon signed-rank test of per-seed AULC against the baseline.
        With a stopping record (``simulate(..., stopping=...)``) also, for the
        ``default`` criterion: ``seeds_stopped``, ``labels_at_stop_median``,
        ``accuracy_at_stop_mean``, ``accuracy_at_budget_mean``, ``stop_loss_mean``,
        ``stop_loss_max``, ``stop_labels_saved_pct_median`` (see :func:`summarize_stopping`).
        With ``successor_accuracy``: the transfer check's columns (``successor_aulc_mean``,
        ``successor_delta_aulc`` / ``_low`` / ``_high``, ``primary_delta_aulc``, ``gain_transfers``).
        Unreached seeds count as ``inf`` labels in the median (so a median
        is ``inf`` when fewer than half the seeds reached the target).
    """
    per_seed = _per_seed(results, target, budgets, *aulc_range)
    base = per_seed[per_seed["strategy"] == baseline].set_index("seed")
    rows = []
    for strategy, g in per_seed.groupby("strategy", sort=False):
        ltt = g["labels_to_target"].fillna(np.inf).to_numpy()
        row = {"strategy": strategy, "n_seeds": len(g), "seeds_reached": int(np.isfinite(ltt).sum()),
               "labels_to_target_median": float(np.median(ltt)),
               "labels_to_target_q25": float(np.quantile(ltt, 0.25, method="lower")),
               "labels_to_target_q75": float(np.quantile(ltt, 0.75, method="higher")),
               "aulc_mean": float(g["aulc"].mean()), "aulc_std": float(g["aulc"].std(ddof=0))}
        for b in budgets:
            row[f"accuracy_at_{b}_mean"] = float(g[f"accuracy_at_{b}"].mean())
            row[f"accuracy_at_{b}_std"] = float(g[f"accuracy_at_{b}"].std(ddof=0))
        row["labels_saved_pct"] = float("nan")
        row["cost_saved_pct"] = float("nan")
        row["p_value"] = float("nan")
        if len(base) and strategy != baseline:
            b_ltt = np.median(base["labels_to_target"].fillna(np.inf))
            if np.isfinite(b_ltt) and np.isfinite(row["labels_to_target_median"]):
                row["labels_saved_pct"] = 100.0 * (b_ltt - row["labels_to_target_median"]) / b_ltt
            b_cost = base["cost_to_target"].median()
            s_cost = g["cost_to_target"].median()
            if np.isfinite(b_cost) and np.isfinite(s_cost) and b_cost > 0:
                row["cost_saved_pct"] = 100.0 * (b_cost - s_cost) / b_cost
            paired = g.set_index("seed")["aulc"].align(base["aulc"], join="inner")
            diff = paired[0] - paired[1]
            if len(diff) >= 2 and np.any(diff != 0):
                row["p_value"] = float(stats.wilcoxon(paired[0], paired[1]).pvalue)
        rows.append(row)
    out = pd.DataFrame(rows)
    if "stop_default" in results.columns:
        stop = summarize_stopping(results, criteria=["default"]).set_index("strategy")
        for col in ("seeds_stopped", "labels_at_stop_median", "accuracy_at_stop_mean", "accuracy_at_budget_mean",
                    "loss_mean", "loss_max", "labels_saved_pct_median"):
            out[col if col.startswith(("labels_at", "accuracy_at_s", "accuracy_at_b", "seeds")) else f"stop_{col}"] = (
                out["strategy"].map(stop[col]))
    if "successor_accuracy" in results.columns:
        out = out.merge(_transfer(results, baseline, aulc_range), on="strategy", how="left")
    return out


def _first_stop(g, column):
    hit = np.flatnonzero(g[column].fillna(False).to_numpy(bool))
    return (int(hit[0]), True) if len(hit) else (len(g) - 1, False)


def summarize_stopping(results, criteria=None):
    """Where each recorded stopping criterion would have stopped, per strategy: labels, accuracy, loss.

    Parameters
    ----------
    results : DataFrame
        From :func:`simulate` with ``stopping=...`` (columns ``stop_<name>``).
    criteria : list of str, optional
        Names to report (default: every recorded one).

    Returns
    -------
    pandas.DataFrame
        One row per strategy and criterion: ``n_seeds``, ``seeds_stopped``
        (seeds where it said stop before the budget ran out; on the others it
        "stops" at the budget), ``labels_at_stop_median`` / ``_q25`` / ``_q75``,
        ``labels_at_budget_median`` (the last round: the budget, or the pool's
        end), ``labels_saved_pct_median`` (against that), ``accuracy_at_stop_mean``,
        ``accuracy_at_budget_mean``, ``loss_mean`` / ``loss_max`` (accuracy at the
        budget minus at the stop, per seed) and ``seeds_within_1pt``.
    """
    names = [c[len("stop_"):] for c in results.columns if c.startswith("stop_")]
    if criteria is not None:
        missing = sorted(set(criteria) - set(names))
        if missing:
            raise ActiveLearnError(f"no stopping record for {missing}: run simulate(..., stopping=...) with them.")
        names = list(criteria)
    if not names:
        raise ActiveLearnError("these results have no stopping record: run simulate(..., stopping=True).")
    rows = []
    for strategy, by_strategy in results.groupby("strategy", sort=False):
        for name in names:
            per_seed = []
            for seed, g in by_strategy.groupby("seed"):
                g = g.sort_values("n_labels")
                i, stopped = _first_stop(g, f"stop_{name}")
                acc, n = g["accuracy"].to_numpy(float), g["n_labels"].to_numpy(float)
                per_seed.append((seed, stopped, n[i], acc[i], n[-1], acc[-1]))
            d = pd.DataFrame(per_seed, columns=["seed", "stopped", "n_stop", "acc_stop", "n_budget", "acc_budget"])
            loss = d["acc_budget"] - d["acc_stop"]
            saved = 100.0 * (1.0 - d["n_stop"] / d["n_budget"])
            rows.append({"strategy": strategy, "criterion": name, "n_seeds": len(d),
                         "seeds_stopped": int(d["stopped"].sum()),
                         "labels_at_stop_median": float(d["n_stop"].median()),
                         "labels_at_stop_q25": float(d["n_stop"].quantile(0.25)),
                         "labels_at_stop_q75": float(d["n_stop"].quantile(0.75)),
                         "labels_at_budget_median": float(d["n_budget"].median()),
                         "labels_saved_pct_median": float(saved.median()),
                         "labels_saved_pct_min": float(saved.min()),
                         "accuracy_at_stop_mean": float(d["acc_stop"].mean()),
                         "accuracy_at_budget_mean": float(d["acc_budget"].mean()),
                         "loss_mean": float(loss.mean()), "loss_max": float(loss.max()),
                         "seeds_within_1pt": int((loss <= 0.01 + 1e-12).sum())})
    return pd.DataFrame(rows)


def _transfer(results, baseline, aulc_range):
    """Does the gain transfer to the successor model? AULC of its curve on each strategy's labeled sets vs random's.

    Per strategy: the successor's mean AULC, its paired (by seed) difference to the baseline's with a 95%
    bootstrap interval, the active model's own difference (``primary_delta_aulc``), and ``gain_transfers``:
    ``"yes"`` (interval above 0), ``"no"`` (mean difference at or below 0), ``"unclear"`` (positive, interval spans 0).
    """
    lo, hi = aulc_range
    per = {}
    for (strategy, seed), g in results.groupby(["strategy", "seed"], sort=False):
        n = g["n_labels"].to_numpy()
        hi_ = min(hi, n.max())
        per[(strategy, seed)] = (aulc(n, g["accuracy"].to_numpy(), lo, hi_),
                                 aulc(n, g["successor_accuracy"].to_numpy(float), lo, hi_))
    rows = []
    from .metrics import paired_bootstrap_interval

    strategies = list(dict.fromkeys(results["strategy"]))
    for strategy in strategies:
        seeds = sorted(s for (st, s) in per if st == strategy)
        succ = np.array([per[(strategy, s)][1] for s in seeds])
        row = {"strategy": strategy, "successor_aulc_mean": float(succ.mean()),
               "successor_delta_aulc": float("nan"), "successor_delta_low": float("nan"),
               "successor_delta_high": float("nan"), "gain_transfers": ""}
        paired = [s for s in seeds if (baseline, s) in per]
        if strategy != baseline and paired:
            own = np.array([per[(strategy, s)][1] for s in paired])
            base = np.array([per[(baseline, s)][1] for s in paired])
            est, low, high, _ = paired_bootstrap_interval(own, base, lambda a, b: float(np.mean(a - b)), n_boot=2000)
            primary = float(np.mean([per[(strategy, s)][0] - per[(baseline, s)][0] for s in paired]))
            row.update(successor_delta_aulc=est, successor_delta_low=low, successor_delta_high=high,
                       primary_delta_aulc=primary,
                       gain_transfers="yes" if low > 0 else ("no" if high <= 0 or est <= 0 else "unclear"))
        rows.append(row)
    return pd.DataFrame(rows)

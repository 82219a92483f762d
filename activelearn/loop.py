"""The headless active-learning loop: query, label, retrain. No widget import.

:class:`Session` ties a :class:`~activelearn.datasets.Dataset`, a model, a
query strategy and a :class:`~activelearn.store.LabelStore` together. Every
label is committed to the store before :meth:`Session.label` returns;
reopening the same store resumes where the last session stopped.
"""

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from ._threads import set_thread_limits
from .datasets import MISSING
from .exceptions import (ActiveLearnError, InvalidDataError, StrategyError, TestItemError, TrainingError,
                         UnknownLabelError)
from .models import default_model, predict_proba_full
from .store import LabelStore
from .strategies import MODEL_FREE, get_strategy

__all__ = ["Session", "Oracle", "Query", "HISTORY_COLUMNS"]

HISTORY_COLUMNS = ["n_labels", "accuracy", "macro_f1", "labeling_seconds", "cost", "train_seconds",
                   "query_seconds", "model_version", "n_test", "audit_n", "audit_accuracy", "audit_low", "audit_high"]


class Oracle:
    """Answers label requests from a dataset's true labels (for simulations and tests).

    Raises
    ------
    ActiveLearnError
        If asked about an item whose true label is unknown.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __call__(self, item_id):
        y = self.dataset.y[self.dataset.position(item_id)]
        if y == MISSING:
            raise ActiveLearnError(f"the oracle has no true label for item {item_id!r}.")
        return self.dataset.classes[y]


@dataclass
class Query:
    """One ranking of the pool: item ids best first, and how they were chosen."""

    item_ids: list
    strategy: str
    model_version: int
    seconds: float
    scores: dict = field(default_factory=dict)


class _SingleClassModel:
    """What a model can know from labels of a single class: that class, with certainty."""

    def __init__(self, cls, n_classes):
        self.cls = cls
        self.classes_ = np.arange(n_classes)

    def predict_proba(self, X):
        proba = np.zeros((len(X), len(self.classes_)))
        proba[:, self.cls] = 1.0
        return proba

    def predict(self, X):
        return np.full(len(X), self.cls)


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidDataError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


class Session:
    """An active-learning labeling session backed by a durable store.

    Parameters
    ----------
    dataset : Dataset
    model : estimator, optional
        Any scikit-learn classifier with ``predict_proba`` that takes labels as
        class positions; defaults to :func:`~activelearn.models.default_model`.
    strategy : str or callable
        Default ``"auto"``: typical items (TypiClust) until 5 labels per class,
        then margin sampling. A name from :data:`~activelearn.strategies.STRATEGIES` or a function
        ``(classifier, X_pool, n_instances, random_state, **context) -> positions``.
    store : str, path-like or LabelStore
        SQLite file path or SQLAlchemy URL.
    batch_size : int
        Items per :meth:`next_batch`.
    test_size : float
        Share of the items with true labels held out for evaluation (stratified,
        drawn once from ``random_state``); never queried nor trained on.
    cost_per_hour, cost_per_label : float, optional
        What labeling costs, for the ``cost`` column of :attr:`history`.
    annotator : str, optional
        Who labels; recorded with every event.
    random_state : int
        Seeds the split, the model and every query.
    cold_start : str
        Model-free strategy used until two classes have labels. Default: ``"typiclust"``,
        or ``"random"`` when ``strategy="random"``.
    project : str, optional
        Project name in the store; defaults to ``dataset.name``.
    n_threads : int, optional
        Threads for torch and BLAS in this process (default 1; see ``_threads``).
    strategy_params : dict, optional
        Extra keyword arguments for the strategy (``n_samples`` for BALD ...).
    audit_share : float, optional
        Share of the items shown (by the widget) that are drawn uniformly at
        random from the pool instead of by the strategy. Their labels are
        never trained on; they give an honest accuracy estimate with a 95%
        Wilson interval when the data has no true labels. Default: 0.1
        without true labels, 0 with a held-out test set.
    labels_per_item : int
        Team labeling: how many different annotators label each item (1: no
        overlap). With more, the model trains on the resolved label (majority;
        an adjudicator's label wins) and :meth:`agreement` reports kappa.
    lease_seconds : float
        How long an item handed out by :meth:`next_batch` stays reserved for
        this annotator if not answered.
    trainer : bool
        Whether this session trains and publishes the ranking. In a team, one
        session trains; the others (``trainer=False``) label from its ranking.
    adjudicators : sequence of str
        Annotators whose label decides an item (over the majority).
    """

    def __init__(self, dataset, model=None, strategy="auto", store="labels.db", batch_size=10, test_size=0.25,
                 cost_per_hour=None, cost_per_label=None, annotator=None, random_state=0, cold_start=None,
                 project=None, n_threads=None, strategy_params=None, audit_share=None, labels_per_item=1,
                 lease_seconds=900.0, trainer=True, adjudicators=()):
        self.dataset = dataset
        self.batch_size = _check_positive_int("batch_size", batch_size)
        if not 0.0 <= float(test_size) < 1.0:
            raise InvalidDataError(f"test_size must be in [0, 1), got {test_size!r}.")
        for name, value in (("cost_per_hour", cost_per_hour), ("cost_per_label", cost_per_label)):
            if value is not None and (not np.isfinite(value) or value < 0):
                raise InvalidDataError(f"{name} must be a non-negative number, got {value!r}.")
        self.test_size = float(test_size)
        self.cost_per_hour = cost_per_hour
        self.cost_per_label = cost_per_label
        self.annotator = annotator
        self.labels_per_item = _check_positive_int("labels_per_item", labels_per_item)
        if not np.isfinite(lease_seconds) or lease_seconds <= 0:
            raise InvalidDataError(f"lease_seconds must be a positive number, got {lease_seconds!r}.")
        self.lease_seconds = float(lease_seconds)
        self.trainer = bool(trainer)
        self.adjudicators = {str(a) for a in adjudicators}
        # Who holds leases: the annotator's name. Sessions without one share the name "anonymous" (a restarted
        # notebook gets its items back); give every member of a team a name.
        self.holder = str(annotator) if annotator is not None else "anonymous"
        self.random_state = int(random_state)
        self.strategy_name = strategy if isinstance(strategy, str) else getattr(strategy, "__name__", "custom")
        self.strategy = get_strategy(strategy)
        if cold_start is None:  # random sampling stays random from the first label on
            cold_start = "random" if strategy == "random" else "typiclust"
        if cold_start not in MODEL_FREE:
            raise InvalidDataError(f"cold_start must be a model-free strategy ({sorted(MODEL_FREE)}), "
                                   f"got {cold_start!r}.")
        self.cold_start = cold_start
        self.strategy_params = dict(strategy_params or {})
        if audit_share is None:
            audit_share = 0.0 if dataset.has_labels and test_size > 0 else 0.1
        if not 0.0 <= float(audit_share) < 1.0:
            raise InvalidDataError(f"audit_share must be in [0, 1), got {audit_share!r}.")
        self.audit_share = float(audit_share)
        self._audit_pending = set()
        self.n_threads = set_thread_limits(n_threads)
        n = len(dataset)
        self.test_mask = np.zeros(n, dtype=bool)
        self.test_mask[self._draw_test_positions()] = True

        self.store = store if isinstance(store, LabelStore) else LabelStore(store)
        settings = {"test_size": self.test_size, "random_state": self.random_state}
        self.project = project or dataset.name
        self.project_id = self.store.open_project(self.project, dataset.fingerprint(), dataset.class_names, settings)

        self.model_template = model if model is not None else default_model(dataset, random_state=self.random_state)
        if hasattr(self.model_template, "set_pool"):  # semi-supervised models learn from the pool (never the test set)
            self.model_template.set_pool(dataset.X[~self.test_mask])
        self.model = None
        self.model_version = 0
        self.last_error = None
        self._lock = threading.RLock()
        self._train_lock = threading.Lock()
        self._class_index = {name: i for i, name in enumerate(dataset.class_names)}
        self._n_queries = 0
        self._shown_at = {}
        self._queue = None

        self.y_labeled = np.full(n, MISSING, dtype=np.int64)
        self.skipped = np.zeros(n, dtype=bool)
        self.audit_mask = np.zeros(n, dtype=bool)
        self._load_from_store()
        if not self.trainer:  # lets the trainer rank for one more annotator
            self.store.add_event(self.project_id, "", "joined", annotator=self.holder)

    # -- set-up ----------------------------------------------------------
    def _draw_test_positions(self):
        known = np.flatnonzero(self.dataset.y != MISSING)
        if self.test_size == 0 or len(known) < 2:
            return np.empty(0, dtype=np.int64)
        y_known = self.dataset.y[known]
        counts = np.bincount(y_known, minlength=self.dataset.n_classes)
        stratify = y_known if counts[counts > 0].min() >= 2 else None
        n_test = max(1, int(round(self.test_size * len(known))))
        if stratify is not None and n_test < (counts > 0).sum():
            stratify = None
        _, test = train_test_split(known, test_size=n_test, random_state=self.random_state, stratify=stratify)
        return np.sort(test)

    def _load_from_store(self):
        self._item_labels = {}  # item id -> {event id: (annotator, label, audit)}: live labels
        self._last_event = 0
        self._sync()
        rounds = self.store.rounds(self.project_id)
        if len(rounds):
            self.model_version = int(rounds["model_version"].max())
        # A reopened store had a model: rebuild it (deterministically) on first use, without a history row.
        self._restore_model = bool(len(rounds))

    def _sync(self):
        """Apply the store's new label, undo and skip events (this session's and everyone else's)."""
        new = self.store.events_since(self.project_id, self._last_event)
        if not new:
            return
        touched = set()
        for e in new:
            item = e["item_id"]
            if e["kind"] == "labeled":
                self._item_labels.setdefault(item, {})[e["id"]] = (e["annotator"], e["label"], bool(e["audit"]))
                touched.add(item)
            elif e["kind"] == "undone":
                self._item_labels.get(item, {}).pop(e["ref_event_id"], None)
                touched.add(item)
            elif e["kind"] == "skipped":
                self.skipped[self.dataset.position(item)] = True
        self._last_event = new[-1]["id"]
        for item in touched:
            self._resolve(item)

    def _apply_label_event(self, event_id, item, annotator, label, audit):
        self._item_labels.setdefault(str(item), {})[event_id] = (annotator, label, audit)
        self._resolve(str(item))

    def _resolve(self, item):
        """The label the model trains on: an adjudicator's, else the majority (ties: the earliest)."""
        pos = self.dataset.position(item)
        live = self._item_labels.get(item, {})
        if not live:
            self.y_labeled[pos] = MISSING
            self.audit_mask[pos] = False
            return
        ordered = [live[k] for k in sorted(live)]
        judged = [lab for who, lab, _ in ordered if who in self.adjudicators]
        if judged:
            label = judged[-1]
        else:
            votes = {}
            for _, lab, _ in ordered:
                votes[lab] = votes.get(lab, 0) + 1
            best = max(votes.values())
            label = next(lab for _, lab, _ in ordered if votes[lab] == best)
        self.y_labeled[pos] = self._class_index[label]
        self.audit_mask[pos] = any(a for _, _, a in ordered)

    def _labeled_by_me(self, item):
        return any(who == self.annotator for who, _, _ in self._item_labels.get(str(item), {}).values()) \
            if self.annotator is not None else False

    # -- state -----------------------------------------------------------
    @property
    def labeled_mask(self):
        return self.y_labeled != MISSING

    @property
    def n_labels(self):
        return int(self.labeled_mask.sum())

    @property
    def test_ids(self):
        """Ids of the held-out test items (never queried, never trained on)."""
        return [self.dataset.item_id(p) for p in np.flatnonzero(self.test_mask)]

    def pool_mask(self, include_skipped=False):
        """Items that may still be queried: not labeled, not in the test set (nor skipped)."""
        mask = ~self.labeled_mask & ~self.test_mask
        return mask if include_skipped else mask & ~self.skipped

    def labels(self):
        """Current labels: DataFrame with ``item_id, label, annotator, labeled_at, seconds``."""
        return self.store.labels(self.project_id)

    @property
    def history(self):
        """One row per retrain: test scores against labels, time and cost."""
        rounds = self.store.rounds(self.project_id)
        return rounds[HISTORY_COLUMNS].reset_index(drop=True)

    # -- querying --------------------------------------------------------
    def _store_ids(self):
        if getattr(self, "_id_strings", None) is None:
            self._id_strings = set(map(str, self.dataset.ids.tolist()))
        return self._id_strings

    def _labeled_classes(self):
        return np.unique(self.y_labeled[self.labeled_mask])

    def _query(self, n, exclude=(), model_free=False):
        mask = self.pool_mask()
        if not mask.any():
            mask = self.pool_mask(include_skipped=True)  # only skipped items remain
        if exclude:
            known = [i for i in exclude if i in self._store_ids()]
            if known:
                mask = mask.copy()
                mask[self.dataset.positions(known)] = False
        pool = np.flatnonzero(mask)
        if len(pool) == 0:
            return Query([], self.strategy_name, self.model_version, 0.0)
        model = self.model
        use_model = not model_free and model is not None and len(self._labeled_classes()) >= 2
        name = self.strategy_name if use_model else self.cold_start
        strategy = self.strategy if use_model else get_strategy(self.cold_start)
        self._n_queries += 1
        seed = np.random.SeedSequence([self.random_state, self._n_queries]).generate_state(1)[0]
        labeled = np.flatnonzero(self.labeled_mask)
        context = dict(X_labeled=self.dataset.X[labeled], y_labeled=self.y_labeled[labeled],
                       n_classes=self.dataset.n_classes, transform=getattr(self.model_template, "transform", None),
                       **(self.strategy_params if use_model else {}))
        n = min(n, len(pool))
        start = time.perf_counter()
        positions = strategy(model, self.dataset.X[pool], n, random_state=int(seed), **context)
        seconds = time.perf_counter() - start
        positions = self._check_positions(positions, len(pool), n, name)
        ids = [self.dataset.item_id(p) for p in pool[positions]]
        return Query(ids, name, self.model_version if use_model else 0, seconds)

    @staticmethod
    def _check_positions(positions, n_pool, n, name):
        arr = np.asarray(positions)
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise StrategyError(f"strategy {name!r} must return a 1-D array of integer positions, got "
                                f"{type(positions).__name__} of shape {arr.shape} and dtype {arr.dtype}.")
        if arr.size and (arr.min() < 0 or arr.max() >= n_pool):
            raise StrategyError(f"strategy {name!r} returned positions outside the pool of {n_pool} "
                                f"(min {arr.min()}, max {arr.max()}); return positions into X_pool.")
        if len(np.unique(arr)) != len(arr):
            raise StrategyError(f"strategy {name!r} returned duplicate positions; each item may be asked once.")
        if len(arr) > n:
            raise StrategyError(f"strategy {name!r} returned {len(arr)} positions for n_instances={n}.")
        return arr.astype(np.int64)

    def next_batch(self, n=None):
        """Item ids to label next, best first; ``[]`` when the pool is exhausted.

        Calling it again without labeling returns the same items (the ranking
        is kept until a label, a skip or a retrain changes it). The items are
        leased to this annotator in the store, so other sessions on the same
        store get other items (unless ``labels_per_item`` asks for overlap).
        """
        n = self.batch_size if n is None else _check_positive_int("n", n)
        with self._lock:
            self._sync()
            if self.trainer and self.model is None and self._restore_model:
                self._restore_model = False
                self._fit_silently()
            if self._queue is not None:
                ids = [i for i in self._queue.item_ids if self._still_open(i)]
                if len(ids) >= n:
                    self._queue.item_ids = ids
                    batch = ids[:n]
                    self._mark_shown(batch)
                    return batch
            # Rank a whole batch even when one item is asked for (the widget), so labeling part of a batch
            # does not force a re-query. Never more for one annotator: batch strategies (typiclust, kcenter,
            # diverse) pick a set for exactly that size, and its first n items are not the best n.
            self._queue = self._claim_batch(max(n, self.batch_size))
            batch = list(self._queue.item_ids[:n])
            self._mark_shown(batch)
            return batch

    def _claim_batch(self, want):
        """Rank (trainer) or read the published ranking (others), then lease ``want`` items in the store."""
        query = Query([], self.strategy_name, self.model_version, 0.0)
        for _ in range(3):  # others may claim the same candidates at the same moment: rank again
            busy = self.store.busy_items(self.project_id, self.holder, self.labels_per_item)
            extra = self._needing_more_labels(busy)
            if self.trainer:
                # Rank enough for everyone active (each gets a batch), not just for this annotator.
                team = len(self.store.active_annotators(self.project_id, self.lease_seconds) | {self.holder})
                query = self._query(want * team, exclude=busy)
                self.store.publish_ranking(self.project_id, query.item_ids, query.model_version, query.strategy)
            else:
                ranked, version = self.store.ranking(self.project_id)
                ranked = [i for i in ranked if i not in busy and self._still_open(i)]
                query = (Query(self._own_ids(ranked), "published", version or 0, 0.0) if ranked
                         else self._query(want, exclude=busy, model_free=True))
            candidates = extra + list(query.item_ids)
            got = self.store.claim(self.project_id, self.holder, candidates, want, self.lease_seconds,
                                   self.labels_per_item)
            if got or not candidates:
                break
        query.item_ids = self._own_ids(got)
        return query

    def _own_ids(self, ids):
        """Store ids (strings) as this dataset's ids (ints stay ints)."""
        return [self.dataset.item_id(p) for p in self.dataset.positions(list(ids))] if len(ids) else []

    def _needing_more_labels(self, busy):
        """With ``labels_per_item > 1``: items others labeled that still need labels, oldest first."""
        if self.labels_per_item == 1:
            return []
        out = []
        for item, live in self._item_labels.items():
            if 0 < len(live) < self.labels_per_item and item not in busy and not self._labeled_by_me(item):
                if not self.skipped[self.dataset.position(item)]:
                    out.append(item)
        return out

    def close(self):
        """Give back this session's leases and close the store connection."""
        try:
            self.store.release(self.project_id, self.holder)
        finally:
            self.store.close()

    @property
    def last_query(self):
        """The :class:`Query` behind the items :meth:`next_batch` returns."""
        return self._queue

    def _still_open(self, item_id):
        pos = self.dataset.position(item_id)
        if self.skipped[pos]:
            return False
        if self.labels_per_item == 1:
            return self.y_labeled[pos] == MISSING
        live = self._item_labels.get(str(self.dataset.item_id(pos)), {})
        return len(live) < self.labels_per_item and not self._labeled_by_me(self.dataset.item_id(pos))

    def _mark_shown(self, ids):
        now = time.monotonic()
        for item_id in ids:
            self._shown_at.setdefault(item_id, now)

    def next_audit_item(self):
        """An item drawn uniformly at random from the pool, for the accuracy audit; None if empty.

        Its label (given through :meth:`label`) is stored as an audit label:
        never trained on, used only to estimate accuracy.
        """
        with self._lock:
            pool = np.flatnonzero(self.pool_mask())
            pool = pool[~np.isin(pool, self.dataset.positions(sorted(self._audit_pending, key=str)))] \
                if self._audit_pending else pool
            if len(pool) == 0:
                return None
            self._n_queries += 1
            rng = np.random.default_rng([self.random_state, self._n_queries, 0xA0D1])
            item_id = self.dataset.item_id(int(rng.choice(pool)))
            self._audit_pending.add(item_id)
            self._mark_shown([item_id])
            return item_id

    def record_shown(self, item_id, model_version=None):
        """Record, durably, that ``item_id`` was shown to the annotator now (starts its timer)."""
        self._position_for_labeling(item_id)
        self._shown_at[item_id] = time.monotonic()
        self.store.add_event(self.project_id, item_id, "shown", annotator=self.annotator,
                             model_version=model_version)

    # -- labeling --------------------------------------------------------
    def _position_for_labeling(self, item_id):
        pos = self.dataset.position(item_id)
        if self.test_mask[pos]:
            raise TestItemError(
                f"item {item_id!r} belongs to the held-out test set, which is never labeled or trained on "
                "(that would flatter the accuracy). Label items from next_batch()."
            )
        return pos

    def _class_position(self, label):
        key = str(label)
        if key not in self._class_index:
            raise UnknownLabelError(
                f"label {label!r} is not one of the classes {self.dataset.class_names}; nothing was stored. "
                "Use one of those names."
            )
        return self._class_index[key]

    def label(self, item_id, label, seconds=None, overwrite=False):
        """Give ``item_id`` the class ``label``; committed to the store before returning.

        Parameters
        ----------
        item_id : str or int
        label : class name
            One of ``dataset.classes``.
        seconds : float, optional
            Time the person spent; by default the time since the item was
            handed out by :meth:`next_batch` or :meth:`record_shown`.
        overwrite : bool
            Replace an existing label instead of raising :class:`AlreadyLabeledError`.
        """
        pos = self._position_for_labeling(item_id)
        cls = self._class_position(label)
        if seconds is None and item_id in self._shown_at:
            seconds = time.monotonic() - self._shown_at[item_id]
        if seconds is not None and (not np.isfinite(seconds) or seconds < 0):
            raise InvalidDataError(f"seconds must be a non-negative number, got {seconds!r}.")
        audit = item_id in self._audit_pending or bool(self.audit_mask[pos])
        name = self.dataset.class_names[cls]
        event_id = self.store.add_label(self.project_id, self.dataset.item_id(pos), name,
                                        annotator=self.annotator, seconds=None if seconds is None else float(seconds),
                                        model_version=self.model_version, overwrite=overwrite, audit=audit,
                                        labels_per_item=self.labels_per_item, holder=self.holder)
        with self._lock:
            item = str(self.dataset.item_id(pos))
            if overwrite:  # the store undid this annotator's earlier label(s) of the item
                live = self._item_labels.get(item, {})
                for k in [k for k, (who, _, _) in live.items() if self.labels_per_item == 1 or who == self.annotator]:
                    live.pop(k)
            self._apply_label_event(event_id, item, self.annotator, name, audit)
            self._audit_pending.discard(item_id)
            self.skipped[pos] = False
            self._shown_at.pop(item_id, None)

    def skip(self, item_id):
        """Set ``item_id`` aside (asked again only once nothing else is left)."""
        pos = self._position_for_labeling(item_id)
        self.store.add_event(self.project_id, self.dataset.item_id(pos), "skipped", annotator=self.annotator,
                             model_version=self.model_version)
        self.store.release(self.project_id, self.holder, [self.dataset.item_id(pos)])
        with self._lock:
            self.skipped[pos] = True

    def undo(self):
        """Take back this annotator's most recent label, durably.

        Returns
        -------
        dict or None
            ``{"item_id": ..., "label": ...}`` of the label taken back, or None
            if there was nothing to undo. The item is the next one offered.
        """
        last = self.store.undo_last(self.project_id, annotator=self.annotator)
        if last is None:
            return None
        pos = self.dataset.position(last["item_id"])
        item_id = self.dataset.item_id(pos)
        self.store.claim(self.project_id, self.holder, [item_id], 1, self.lease_seconds, self.labels_per_item)
        with self._lock:
            self._item_labels.get(str(item_id), {}).pop(last["id"], None)
            self._resolve(str(item_id))
            if self._queue is not None:
                self._queue.item_ids = [item_id] + [i for i in self._queue.item_ids if i != item_id]
        return {"item_id": item_id, "label": last["label"]}

    # -- training --------------------------------------------------------
    def _training_snapshot(self):
        with self._lock:
            labeled = np.flatnonzero(self.labeled_mask & ~self.audit_mask)  # audit labels never train
            return labeled, self.y_labeled[labeled].copy()

    def _fit(self, labeled, y):
        if len(np.unique(y)) == 1:  # most classifiers cannot fit one class; predict it, honestly
            return _SingleClassModel(int(y[0]), self.dataset.n_classes), 0.0
        model = clone(self.model_template)
        start = time.perf_counter()
        try:
            model.fit(self.dataset.X[labeled], y)
        except Exception as exc:  # any failure of user or library code: keep the old model
            raise TrainingError(
                f"training {type(model).__name__} on {len(labeled)} labels failed: {exc!r}. The previous model "
                "(version {}) and every label are kept; fix the model and call retrain() again.".format(
                    self.model_version)
            ) from exc
        return model, time.perf_counter() - start

    def _fit_silently(self):
        """Rebuild the model of the current version after a restart (no history row)."""
        labeled, y = self._training_snapshot()
        try:
            self.model, _ = self._fit(labeled, y)
        except TrainingError as exc:
            self.last_error = exc

    def evaluate(self, model=None):
        """Accuracy and macro-F1 on the held-out test set; ``(None, None)`` without one."""
        model = self.model if model is None else model
        test = np.flatnonzero(self.test_mask)
        if model is None or len(test) == 0:
            return None, None
        y_true = self.dataset.y[test]
        y_pred = predict_proba_full(model, self.dataset.X[test], self.dataset.n_classes).argmax(axis=1)
        return (float(accuracy_score(y_true, y_pred)),
                float(f1_score(y_true, y_pred, average="macro", labels=np.unique(y_true), zero_division=0)))

    def audit(self, model=None):
        """Accuracy on the audit labels with a 95% Wilson interval: ``(n, accuracy, low, high)``."""
        from .metrics import wilson_interval

        model = self.model if model is None else model
        with self._lock:
            pos = np.flatnonzero(self.labeled_mask & self.audit_mask)
            y = self.y_labeled[pos].copy()
        if model is None or len(pos) == 0:
            return len(pos), None, None, None
        correct = int((predict_proba_full(model, self.dataset.X[pos], self.dataset.n_classes).argmax(1) == y).sum())
        low, high = wilson_interval(correct, len(pos))
        return len(pos), correct / len(pos), low, high

    def labeling_seconds(self):
        """Seconds people spent on the current labels (unknown times count as 0)."""
        return float(self.labels()["seconds"].fillna(0).sum())

    def cost(self, n_labels=None, seconds=None):
        """Money spent for ``n_labels`` labels taking ``seconds``; None without a rate."""
        if self.cost_per_hour is None and self.cost_per_label is None:
            return None
        n_labels = self.n_labels if n_labels is None else n_labels
        seconds = self.labeling_seconds() if seconds is None else seconds
        return (self.cost_per_label or 0.0) * n_labels + (self.cost_per_hour or 0.0) * seconds / 3600.0

    def retrain(self):
        """Fit a new model on every current label, score it, record a history row.

        Thread-safe: the labels are snapshotted, training runs without holding
        the session's lock (labeling continues), and the new model replaces the
        old one only if training succeeded.

        Returns
        -------
        dict
            The history row.

        Raises
        ------
        TrainingError
            If training failed; the previous model stays in use.
        """
        if not self.trainer:
            raise ActiveLearnError("this session was opened with trainer=False: the team's trainer session "
                                   "retrains and publishes the ranking; this one labels from it.")
        with self._train_lock:
            with self._lock:
                self._sync()
            labeled, y = self._training_snapshot()
            if len(labeled) == 0:
                raise ActiveLearnError("retrain() needs at least one (non-audit) label; label items from "
                                       "next_batch() first.")
            try:
                model, train_seconds = self._fit(labeled, y)
            except TrainingError as exc:
                self.last_error = exc
                raise
            accuracy, macro_f1 = self.evaluate(model)
            audit_n, audit_acc, audit_low, audit_high = self.audit(model)
            query_seconds = self._queue.seconds if self._queue is not None else None
            seconds = self.labeling_seconds()
            record = {"model_version": self.model_version + 1, "n_labels": int(len(labeled)),
                      "n_test": int(self.test_mask.sum()), "accuracy": accuracy, "macro_f1": macro_f1,
                      "labeling_seconds": seconds, "cost": self.cost(self.n_labels, seconds),
                      "train_seconds": train_seconds, "query_seconds": query_seconds, "audit_n": audit_n,
                      "audit_accuracy": audit_acc, "audit_low": audit_low, "audit_high": audit_high}
            self.store.add_round(self.project_id, record)
            with self._lock:
                self.model = model
                self.model_version += 1
                self.last_error = None
                self._queue = None
            return record

    def predict_proba(self, item_ids):
        """Current model's class probabilities for ``item_ids`` (rows follow the ids)."""
        if self.model is None:
            raise ActiveLearnError("no model yet: label a few items and call retrain().")
        pos = self.dataset.positions(item_ids)
        return predict_proba_full(self.model, self.dataset.X[pos], self.dataset.n_classes)

    # -- team agreement --------------------------------------------------
    def _multi_labels(self):
        labels = self.store.labels(self.project_id)
        labels = labels[~labels["audit"]]
        return labels[labels.duplicated("item_id", keep=False)].copy()

    def agreement(self):
        """Agreement between annotators on the items several of them labeled.

        Returns
        -------
        dict
            ``method`` ("cohen" for two annotators, "fleiss" for more),
            ``kappa`` (None without overlap), ``n_items``, ``annotators``,
            ``observed`` (share of agreeing pairs).
        """
        from sklearn.metrics import cohen_kappa_score

        multi = self._multi_labels()
        annotators = sorted(multi["annotator"].fillna("anonymous").unique().tolist())
        out = {"method": None, "kappa": None, "n_items": int(multi["item_id"].nunique()), "annotators": annotators,
               "observed": None}
        if out["n_items"] == 0:
            return out
        if len(annotators) == 2:
            wide = multi.assign(annotator=multi["annotator"].fillna("anonymous")).pivot_table(
                index="item_id", columns="annotator", values="label", aggfunc="last").dropna()
            a, b = wide[annotators[0]], wide[annotators[1]]
            out.update(method="cohen", n_items=len(wide), observed=float((a == b).mean()),
                       kappa=float(cohen_kappa_score(a, b, labels=self.dataset.class_names)))
            return out
        counts = multi.groupby("item_id")["label"].value_counts().unstack(fill_value=0)
        m = counts.sum(axis=1)
        counts = counts[m == m.max()]  # Fleiss' kappa: the same number of raters on every item
        n = counts.to_numpy(float)
        raters = n.sum(axis=1)[0]
        p_item = ((n * (n - 1)).sum(axis=1)) / (raters * (raters - 1))
        p_class = n.sum(axis=0) / n.sum()
        p_bar, p_e = p_item.mean(), float((p_class ** 2).sum())
        kappa = 1.0 if p_e == 1 else (p_bar - p_e) / (1 - p_e)
        out.update(method="fleiss", n_items=len(n), observed=float(p_bar), kappa=float(kappa))
        return out

    def disagreements(self):
        """Items whose annotators gave different labels: ``item_id``, ``labels`` (by annotator), ``resolved``."""
        multi = self._multi_labels()
        rows = []
        for item_id, g in multi.groupby("item_id", sort=False):
            if g["label"].nunique() > 1:
                pos = self.dataset.position(item_id)
                resolved = self.y_labeled[pos]
                rows.append({"item_id": self.dataset.item_id(pos),
                             "labels": dict(zip(g["annotator"].fillna("anonymous"), g["label"])),
                             "resolved": None if resolved == MISSING else self.dataset.class_names[resolved]})
        return pd.DataFrame(rows, columns=["item_id", "labels", "resolved"])

    # -- export ----------------------------------------------------------
    def export(self, path, include_predictions=False):
        """Write the labels to CSV, Parquet or JSON Lines (by the file's extension).

        Columns: ``item_id, label, annotator, labeled_at, seconds, audit``. With
        ``include_predictions=True`` every item gets the current model's
        ``prediction`` and ``confidence`` (its probability), and the unlabeled
        items are included too (``label`` empty), so the labels and the model's
        guesses can be used elsewhere.

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".parquet", ".pq", ".jsonl", ".ndjson"):
            raise InvalidDataError(f"export: unknown format {suffix!r} for {path.name}; use .csv, .parquet "
                                   "or .jsonl.")
        out = self.labels()[["item_id", "label", "annotator", "labeled_at", "seconds", "audit"]]
        if include_predictions:
            if self.model is None:
                raise ActiveLearnError("export(include_predictions=True) needs a model: call retrain() first.")
            labeled_pos = set(self.dataset.positions(out["item_id"].tolist()).tolist()) if len(out) else set()
            rest = [p for p in range(len(self.dataset)) if p not in labeled_pos]
            extra = pd.DataFrame({"item_id": [self.dataset.item_id(p) for p in rest]})
            out = pd.concat([out, extra], ignore_index=True) if len(out) else extra.reindex(columns=out.columns)
            pos = self.dataset.positions(out["item_id"].tolist())
            proba = np.empty((len(pos), self.dataset.n_classes), dtype=np.float32)
            for start in range(0, len(pos), 65536):
                chunk = pos[start:start + 65536]
                proba[start:start + len(chunk)] = predict_proba_full(self.model, self.dataset.X[chunk],
                                                                      self.dataset.n_classes)
            names = np.asarray(self.dataset.class_names, dtype=object)
            out["prediction"] = names[proba.argmax(axis=1)]
            out["confidence"] = proba.max(axis=1).astype(float)
            out["model_version"] = self.model_version
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            out.to_csv(path, index=False)
        elif suffix in (".parquet", ".pq"):
            out.to_parquet(path, index=False)
        else:
            out.to_json(path, orient="records", lines=True, date_format="iso")
        return path

    # -- simulation ------------------------------------------------------
    def simulate(self, budget, oracle=None, seconds_per_label=None, progress=False):
        """Run the loop with an oracle until ``budget`` labels (or the pool runs out).

        Parameters
        ----------
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
            :attr:`history`.
        """
        budget = _check_positive_int("budget", budget)
        oracle = oracle or Oracle(self.dataset)
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=budget, initial=min(self.n_labels, budget), desc=f"{self.strategy_name}", unit="label")
        try:
            while self.n_labels < budget:
                ids = self.next_batch(min(self.batch_size, budget - self.n_labels))
                if not ids:
                    break
                for item_id in ids:
                    # An oracle answers instantly: no human time unless simulated.
                    self.label(item_id, oracle(item_id), seconds=seconds_per_label or 0.0)
                self.retrain()
                if bar is not None:
                    bar.update(min(self.n_labels, budget) - bar.n)
                    bar.set_postfix(accuracy=self.history["accuracy"].iloc[-1])
        finally:
            if bar is not None:
                bar.close()
        return self.history

    def widget(self, **kwargs):
        """A :class:`~activelearn.widgets.LabelingWidget` over this session (imports ipywidgets)."""
        from .widgets import LabelingWidget

        return LabelingWidget(self, **kwargs)

    def __repr__(self):
        return (f"Session(dataset={self.dataset.name!r}, strategy={self.strategy_name!r}, "
                f"n_labels={self.n_labels}, model_version={self.model_version}, store={self.store.url!r})")

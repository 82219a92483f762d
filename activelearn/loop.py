"""The headless active-learning loop: query, label, retrain. No widget import.

:class:`Session` is the one object users hold: a facade over parts that each
own one concern (:mod:`~activelearn._labelstate` the labels,
:mod:`~activelearn._queue` what to offer next, :mod:`~activelearn._training`
the model, and the project-bound store's domain verbs). Every label is
committed to the store before :meth:`Session.label` returns; reopening the
same store resumes where the last session stopped.

Locks, one rule each: ``_lock`` guards the label state (applying events,
reading a consistent snapshot) and is never held across store I/O, ranking or
a fit; ``_queue_lock`` lets one ranking or claim run at a time (store I/O and
ranking, never a fit); ``_train_lock`` lets one fit run at a time. The model
in use is an immutable ``Fitted`` replaced by assignment.
"""

import threading
import time

import numpy as np
import pandas as pd

from ._coerce import as_classifier
from ._labelstate import LabelState
from ._proba import predict_proba_full
from ._queue import Offer, OfferCache, Query, Ranker, SoloQueue, TeamQueue, guesses_from, make_offer
from ._threads import set_thread_limits
from ._training import (HISTORY_COLUMNS, MIN_CALIBRATION_ITEMS, BackgroundTrainer, Fitted, Snapshot, audit_accuracy,
                        default_model, evaluate, fit_model, fit_temperature, proba_for_people, round_record)
from .datasets import MISSING, as_dataset, draw_test_positions
from .exceptions import ActiveLearnError, InvalidDataError, TestItemError, UnknownLabelError
from .simulate import Oracle, run_loop
from .store import LabelStore, annotator_name
from .strategies import MODEL_FREE, get_strategy

__all__ = ["Session", "Oracle", "Query", "Offer", "HISTORY_COLUMNS"]


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidDataError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


#: Seconds the warm-up waits for the first item to be handed out before it runs anyway.
WARM_UP_WAIT = 10.0


def _warm_up_after_first_item(warm_up, handed_out):
    """Run a model's ``warm_up`` (e.g. torch's import) once the first item is out, or after :data:`WARM_UP_WAIT`."""
    handed_out.wait(WARM_UP_WAIT)
    try:
        warm_up()
    except Exception:  # noqa: BLE001 - the first fit does the same work and reports any error
        pass


class Session:
    """An active-learning labeling session backed by a durable store.

    Parameters
    ----------
    dataset : Dataset
        Or a scikit-learn ``Bunch`` (``sklearn.datasets.load_digits()``), an ``(X, y)`` pair, a bundled
        dataset's name: see :func:`~activelearn.datasets.as_dataset`.
    model : torch.nn.Module, skorch net or scikit-learn classifier, optional
        A plain torch module that outputs one logit per class (wrapped in
        :class:`~activelearn.models.ModuleClassifier`), a skorch
        ``NeuralNetClassifier``, or any scikit-learn classifier with
        ``predict_proba``; see :func:`~activelearn.models.as_classifier`.
        Labels reach it as class positions. Default:
        :func:`~activelearn.models.default_model`.
    strategy : str or callable
        Default ``"auto"``: typical items (TypiClust) first, then margin
        sampling. A name from :data:`~activelearn.strategies.STRATEGIES` or a function
        ``(classifier, X_pool, n_instances, random_state, **context) -> positions``.
        ``"activelab"`` with ``labels_per_item > 1``: each offer is either
        another opinion on a labeled item or a new item, whichever cleanlab's
        ActiveLab scores as worth more; ``labels_per_item`` is then the most
        distinct annotators an item may get, not the number every item gets.
    store : str, path-like or LabelStore
        SQLite file path or SQLAlchemy URL (``":memory:"``: private, nothing kept).
    batch_size : int
        Items per :meth:`next_batch`.
    test_size : float
        Share of the items with true labels held out for evaluation (stratified,
        drawn once from ``random_state``); never queried nor trained on.
    cost_per_hour, cost_per_label : float, optional
        What labeling costs, for the ``cost`` column of :attr:`history`.
    annotator : str, optional
        Who labels; recorded with every label and lease (unnamed: ``"anonymous"``).
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
        Share of the offers (:meth:`next_offer`) drawn uniformly at random from
        the pool instead of by the strategy. Their labels are never trained
        on; they give an honest accuracy estimate with a 95% Wilson interval
        when the data has no true labels. Default: 0.1 without true labels, 0
        with a held-out test set.
    labels_per_item, lease_seconds : optional
        The project's team policy: distinct annotators per item, and how long
        a handed-out item stays reserved. Stored with the project; ``None``
        uses the stored policy (new projects: 1 and 900 s), another value than
        the stored one raises :class:`~activelearn.StoreMismatchError`.
    trainer : bool
        Whether this session trains and publishes the ranking. In a team, one
        session trains; the others (``trainer=False``) label from its ranking.
    adjudicators : sequence of str
        Annotators whose label decides an item (over the majority).
    prepare : {"background", "wait"}
        How a pool-aware model's expensive pool preparation (``prepare_pool()``: the t-SNE map and
        neighbour graphs, or their disk cache) runs. ``"background"`` (default, for people): in a daemon
        thread started here; until it is done the cold start ranks on cheap coordinates
        (``quick_transform``), so the first item needs no map; a model with a ``warm_up()`` method (the
        default torch network: loading torch) gets it called in another daemon thread once the first item
        is handed out, so that neither the first item nor the first retrain waits for it. ``"wait"``: on
        first use, every ranking waits for the map (repeatable to the item: what
        :func:`~activelearn.simulate.simulate` uses).
    """

    def __init__(self, dataset, model=None, strategy="auto", store="labels.db", batch_size=10, test_size=0.25,
                 cost_per_hour=None, cost_per_label=None, annotator=None, random_state=0, cold_start=None,
                 project=None, n_threads=None, strategy_params=None, audit_share=None, labels_per_item=None,
                 lease_seconds=None, trainer=True, adjudicators=(), prepare="background"):
        if prepare not in ("background", "wait"):
            raise InvalidDataError(f"prepare must be 'background' or 'wait', got {prepare!r}.")
        self.dataset = dataset = as_dataset(dataset)
        self.batch_size = _check_positive_int("batch_size", batch_size)
        if not 0.0 <= float(test_size) < 1.0:
            raise InvalidDataError(f"test_size must be in [0, 1), got {test_size!r}.")
        for name, value in (("cost_per_hour", cost_per_hour), ("cost_per_label", cost_per_label)):
            if value is not None and (not np.isfinite(value) or value < 0):
                raise InvalidDataError(f"{name} must be a non-negative number, got {value!r}.")
        if labels_per_item is not None:
            _check_positive_int("labels_per_item", labels_per_item)
        if lease_seconds is not None and (not np.isfinite(lease_seconds) or lease_seconds <= 0):
            raise InvalidDataError(f"lease_seconds must be a positive number, got {lease_seconds!r}.")
        self.test_size, self.cost_per_hour, self.cost_per_label = float(test_size), cost_per_hour, cost_per_label
        self.annotator, self.holder = annotator, annotator_name(annotator)  # one identity, labels and leases
        self.trainer = bool(trainer)
        self.adjudicators = {str(a) for a in adjudicators}
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
        self.n_threads = set_thread_limits(n_threads)
        self.test_mask = np.zeros(len(dataset), dtype=bool)
        self.test_mask[draw_test_positions(dataset, self.test_size, self.random_state)] = True

        self._owns_store = not isinstance(store, LabelStore)
        self.store = LabelStore(store) if self._owns_store else store
        self.project = project or dataset.name
        self.project_store = self.store.project(
            self.project, dataset.fingerprint(), dataset.class_names,
            {"test_size": self.test_size, "random_state": self.random_state}, labels_per_item, lease_seconds)
        self.project_id = self.project_store.id
        self.labels_per_item = self.project_store.policy.labels_per_item
        self.lease_seconds = self.project_store.policy.lease_seconds

        self.model_template = (as_classifier(model, dataset, self.random_state) if model is not None
                               else default_model(dataset, random_state=self.random_state))
        if hasattr(self.model_template, "set_pool"):  # semi-supervised models learn from the pool (never the test set)
            self.model_template.set_pool(dataset.X[~self.test_mask])
        self.prepare, self.prepare_error, self._preparing = prepare, None, None
        background = prepare == "background" and hasattr(self.model_template, "prepare_pool")
        if background:
            self._preparing = threading.Thread(target=self._prepare_pool, daemon=True,
                                               name="activelearn-prepare-pool")
            self._preparing.start()
        self._handed_out = threading.Event()  # set once the first item is handed out (next_batch / next_offer)
        warm_up = getattr(self.model_template, "warm_up", None)
        if background and callable(warm_up):  # e.g. torch's import: while the person reads the first item
            threading.Thread(target=_warm_up_after_first_item, args=(warm_up, self._handed_out), daemon=True,
                             name="activelearn-warm-up").start()
        self._fitted, self.last_error, self.callbacks = None, None, []
        self._lock, self._queue_lock, self._train_lock = threading.RLock(), threading.Lock(), threading.Lock()
        self._class_index = {name: i for i, name in enumerate(dataset.class_names)}
        self._shown_at, self._audit_pending, self._n_offered, self._id_strings = {}, set(), 0, None
        self._state = LabelState(dataset, self.labels_per_item, self.adjudicators)
        self._ranker = Ranker(dataset, self.strategy, self.strategy_name, cold_start, self.strategy_params,
                              self.random_state, getattr(self.model_template, "transform", None),
                              ready=getattr(self.model_template, "pool_ready", None) if background else None,
                              quick_transform=getattr(self.model_template, "quick_transform", None))
        self._private = self._owns_store and self.store.url == "sqlite://"  # no other session can see this store
        self._queue = SoloQueue(self) if self._private else TeamQueue(self, self.project_store)
        self._background = BackgroundTrainer(self.retrain)
        #: Whether :meth:`retrain` also ranks the pool with the new model (the widget sets it; see rank_ahead).
        self.rank_on_retrain = False
        self._offer_cache = OfferCache()  # the model's outputs for the next offers, computed by rank_ahead()
        # per model version, what the stopping criteria and the savings need (see _record_round_extras)
        self._round_extras, self._stop_positions, self._savings_cache = {}, None, {}
        self._savings_lock = threading.Lock()
        self._sync(force=True)
        rounds = self.project_store.rounds()
        self._history = rounds[HISTORY_COLUMNS].reset_index(drop=True)
        self._version = int(rounds["model_version"].max()) if len(rounds) else 0
        self._restore_model = bool(len(rounds))  # a reopened store had a model: rebuild it on first use
        if not self.trainer:  # lets the trainer rank for one more annotator
            self.project_store.join(self.holder)

    def _prepare_pool(self):
        try:
            self.model_template.prepare_pool()
        except Exception as exc:  # noqa: BLE001 - the first fit computes it again and raises there
            self.prepare_error = exc

    @property
    def pool_ready(self):
        """Whether the model's pool preparation (``prepare="background"``) has finished (True without one)."""
        return self._preparing is None or not self._preparing.is_alive()

    def wait_pool(self, timeout=None):
        """Block until the background pool preparation has finished; returns :attr:`pool_ready`."""
        if self._preparing is not None:
            self._preparing.join(timeout)
        return self.pool_ready

    def _sync(self, force=False):
        """Apply the store's new label, undo and skip events (this session's and everyone else's)."""
        if self._private and not force:  # only this session writes there, and it applies its own events
            return
        self._apply(self.project_store.events_since(self._state.last_event_id), from_log=True)

    def refresh(self):
        """Read what other sessions wrote to the store since the last look (callbacks are told)."""
        self._sync()

    def _apply(self, events, from_log=False):
        with self._lock:
            changed = self._state.apply(events, from_log=from_log)
        if changed:
            self.notify("on_labels_changed", item_ids=[self.dataset.item_id(p) for p in sorted(changed)])
        return changed

    # -- state -----------------------------------------------------------
    model = property(lambda self: None if self._fitted is None else self._fitted.model,
                     doc="The model in use (None before the first retrain).")
    model_version = property(lambda self: self._version, doc="Retrains recorded so far (the history's last version).")
    y_labeled = property(lambda self: self._state.y, doc="Resolved class position per item, MISSING if unlabeled.")
    skipped = property(lambda self: self._state.skipped, doc="Items set aside.")
    audit_mask = property(lambda self: self._state.audit, doc="Items whose labels are audit labels.")
    labeled_mask = property(lambda self: self._state.labeled, doc="Items with a resolved label.")
    n_labels = property(lambda self: int(self._state.labeled.sum()), doc="Labeled items.")
    last_query = property(lambda self: self._queue.served, doc="The Query behind next_batch's last items.")
    training = property(lambda self: self._background.running, doc="Whether a background retrain runs.")

    @property
    def test_ids(self):
        """Ids of the held-out test items (never queried, never trained on)."""
        return [self.dataset.item_id(p) for p in np.flatnonzero(self.test_mask)]

    def pool_mask(self, include_skipped=False):
        """Items that may still be queried: not labeled, not in the test set (nor skipped)."""
        mask = ~self._state.labeled & ~self.test_mask
        return mask if include_skipped else mask & ~self._state.skipped

    def labels(self):
        """Current labels: DataFrame with ``item_id, label, annotator, labeled_at, seconds, audit``."""
        return self.project_store.labels()

    @property
    def history(self):
        """One row per retrain: test scores against labels, time and cost."""
        if not self.trainer:  # the trainer session writes the rounds
            return self.project_store.rounds()[HISTORY_COLUMNS].reset_index(drop=True)
        return self._history.copy()

    # -- what to offer ---------------------------------------------------
    def _own_ids(self, ids):
        """Store ids (strings) as this dataset's ids (ints stay ints)."""
        return [self.dataset.item_id(p) for p in self.dataset.positions(list(ids))] if len(ids) else []

    def is_open(self, item_id):
        """Whether this session's person may still be asked to label ``item_id`` (not labeled by them, not full)."""
        with self._lock:
            return self._state.is_open_for(self.dataset.position(item_id), self.holder)

    def examples_of(self, label, last=200):
        """Ids of items whose resolved label is ``label``, most recently labeled last (at most ``last``)."""
        with self._lock:
            positions = self._state.examples_of(self._class_index[str(label)], last)
        return [self.dataset.item_id(p) for p in positions]

    def _open_pool(self, exclude=()):
        with self._lock:
            mask = self.pool_mask()
            if not mask.any():
                mask = self.pool_mask(include_skipped=True)  # only skipped items remain
        if exclude:
            if self._id_strings is None:
                self._id_strings = set(map(str, self.dataset.ids.tolist()))
            known = [i for i in exclude if str(i) in self._id_strings]
            if known:
                mask = mask.copy()
                mask[self.dataset.positions(known)] = False
        return np.flatnonzero(mask)

    def next_batch(self, n=None):
        """Item ids to label next, best first; ``[]`` when the pool is exhausted.

        Calling it again without labeling returns the same items (the ranking
        is kept until a label, a skip or a retrain changes it). On a shared
        store the items are leased to this annotator, so other sessions get
        other items (unless the team policy asks for overlap).
        """
        n = self.batch_size if n is None else _check_positive_int("n", n)
        self._sync()
        # While the pool is prepared in the background the rebuild would wait for it: the cold start ranks meanwhile.
        if self.trainer and self._fitted is None and self._restore_model and self.pool_ready:
            with self._train_lock:  # rebuild the model of the current version after a restart (no history row)
                if self._fitted is None:
                    self._restore_model = False
                    snap = self._snapshot()
                    try:
                        model = self._fit(snap.train_positions, snap.y_train)[0]
                        self._fitted = Fitted(model, self._version, *self._calibrate(model, snap))
                    except ActiveLearnError as exc:
                        self.last_error = exc
        with self._queue_lock:
            # Rank a whole batch even when one item is asked for (the widget), never more for one annotator:
            # batch strategies (typiclust, kcenter, diverse) pick a set for exactly that size.
            batch = self._queue.next(n, max(n, self.batch_size))
        now = time.monotonic()
        for item_id in batch:
            self._shown_at.setdefault(item_id, now)
        self._handed_out.set()
        return batch

    def rank_ahead(self):
        """Rank the next batch now once less than a whole batch is queued, so the next offers need no ranking.

        For a background thread (the widget calls it after each label); a
        ranking made here is handed out after the current one. Set
        :attr:`rank_on_retrain` to also rank with each new model inside the
        retrain, before it is put in use.

        Returns
        -------
        bool
            Whether a ranking was made.
        """
        if self.trainer and self._fitted is None and self._restore_model:
            return False  # the first next_batch() rebuilds the model first
        made = self._queue.rank_ahead(self.batch_size, self._queue_lock, low=self.batch_size)
        # the model's guesses for the next offers too (the first queued is on screen), so next_offer() looks them up
        self._offer_cache.warm(self._fitted, self._queue.queued()[:3], self.dataset)
        return made

    def next_audit_item(self):
        """An item drawn uniformly at random from the pool, for the accuracy audit; None if empty.

        Its label (given through :meth:`label`) is stored as an audit label:
        never trained on, used only to estimate accuracy.
        """
        with self._queue_lock:
            pool = np.flatnonzero(self.pool_mask())
            if self._audit_pending:
                pool = pool[~np.isin(pool, self.dataset.positions(sorted(self._audit_pending, key=str)))]
            if len(pool) == 0:
                return None
            rng = np.random.default_rng(self._ranker.next_seed(salt=(0xA0D1,)))
            item_id = self.dataset.item_id(int(rng.choice(pool)))
            self._audit_pending.add(item_id)
            self._shown_at.setdefault(item_id, time.monotonic())
            return item_id

    def next_offer(self):
        """The next item to show a person, with why: an :class:`Offer`, or None when nothing is left.

        Every ``round(1 / audit_share)``-th offer is an audit item (drawn at
        random, never trained on); the others come from :meth:`next_batch`.
        """
        self._n_offered += 1
        every = int(round(1.0 / self.audit_share)) if self.audit_share > 0 else 0
        item_id = self.next_audit_item() if every and self._n_offered % every == 0 else None
        if item_id is not None:
            why = dict(source="audit", strategy="audit: drawn uniformly at random to estimate accuracy "
                                                "(never trained on)", model_version=self.model_version)
        else:
            ids = self.next_batch(1)
            if not ids:
                return None
            item_id, q = ids[0], self.last_query
            why = dict(source="published" if q.strategy == "published" else "strategy", strategy=q.strategy,
                       model_version=q.model_version, queue=len(q.item_ids),
                       rank=q.item_ids.index(item_id) + 1 if item_id in q.item_ids else None)
        offer = make_offer(item_id, why, self._fitted, self.dataset, cache=self._offer_cache)
        self._handed_out.set()
        return offer

    def record_shown(self, item_id, model_version=None):
        """Note that ``item_id`` is shown to the annotator now (starts the timer of its label)."""
        self._position_for_labeling(item_id)
        self._shown_at[item_id] = time.monotonic()

    # -- labeling --------------------------------------------------------
    def _position_for_labeling(self, item_id):
        pos = self.dataset.position(item_id)
        if self.test_mask[pos]:
            raise TestItemError(
                f"item {item_id!r} belongs to the held-out test set, which is never labeled or trained on "
                "(that would flatter the accuracy). Label items from next_batch()."
            )
        return pos

    def label(self, item_id, label, seconds=None, overwrite=False, annotator=None):
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
            Replace this annotator's label instead of raising :class:`AlreadyLabeledError`.
        annotator : str, optional
            Who gives the label, when not this session's person: simulations
            record ``"simulated"``, so no simulated label is stored under a
            person's name (nor undone by their ``undo()``).
        """
        pos = self._position_for_labeling(item_id)
        if str(label) not in self._class_index:
            raise UnknownLabelError(f"label {label!r} is not one of the classes {self.dataset.class_names}; "
                                    "nothing was stored. Use one of those names.")
        if seconds is None and item_id in self._shown_at:
            seconds = time.monotonic() - self._shown_at[item_id]
        if seconds is not None and (not np.isfinite(seconds) or seconds < 0):
            raise InvalidDataError(f"seconds must be a non-negative number, got {seconds!r}.")
        who = self.holder if annotator is None else annotator_name(annotator)
        events = self.project_store.record_label(
            self.dataset.item_id(pos), str(label), annotator=who, overwrite=overwrite, holder=self.holder,
            seconds=None if seconds is None else float(seconds), model_version=self.model_version,
            audit=item_id in self._audit_pending or bool(self._state.audit[pos]), adjudicator=who in self.adjudicators)
        self._apply(events)
        self._audit_pending.discard(item_id)
        self._shown_at.pop(item_id, None)

    def skip(self, item_id):
        """Set ``item_id`` aside (asked again only once nothing else is left)."""
        pos = self._position_for_labeling(item_id)
        self._apply(self.project_store.record_skip(self.dataset.item_id(pos), annotator=self.holder,
                                                   model_version=self.model_version))

    def undo(self):
        """Take back this annotator's most recent label, durably.

        Undoing a replacement (:meth:`relabel`, ``label(..., overwrite=True)``)
        restores the label(s) it replaced; undoing a :meth:`keep_label` makes
        the label a suspect again. Whichever of these this annotator did last is
        taken back.

        Returns
        -------
        dict or None
            ``{"item_id": ..., "label": ..., "kind": "labeled" | "kept", "restored": [labels]}``
            of what was taken back, or None if there was nothing to undo. A
            label's item is the next one offered (unless a restored label holds it).
        """
        events, undone = self.project_store.undo_last(annotator=self.holder)
        if undone is None:
            return None
        self._apply(events)
        item_id = self.dataset.item_id(self.dataset.position(undone["item_id"]))
        if undone["kind"] == "labeled":
            with self._queue_lock:
                self._queue.put_first(item_id)
        restored = [e["label"] for e in events if e["kind"] == "labeled"]
        return {"item_id": item_id, "label": undone["label"], "kind": undone["kind"], "restored": restored}

    # -- review ------------------------------------------------------------
    def relabel(self, item_id, label, seconds=None, replaces=None):
        """Replace an item's label after a review; committed to the store before returning.

        The new label is this session's person's (attributed to them), the
        labels it replaces are undone in the same transaction, :meth:`undo`
        restores them, and the next :meth:`retrain` trains on the new label.
        The item counts as reviewed (:meth:`suspects` leaves it out).

        Parameters
        ----------
        item_id : str or int
            A labeled item (e.g. from :meth:`suspects`).
        label : class name
        seconds : float, optional
            Time the review took (default: since the item was shown, if it was).
        replaces : str, optional
            With several labels per item: whose label to replace (this person's
            own is replaced too). Default: every label of the item, so the
            item holds the reviewer's label alone.

        Raises
        ------
        UnknownLabelError, TestItemError, InvalidDataError
            An unknown class, a held-out item, or an item without a label (use :meth:`label`).
        """
        pos = self._position_for_labeling(item_id)
        if str(label) not in self._class_index:
            raise UnknownLabelError(f"label {label!r} is not one of the classes {self.dataset.class_names}; "
                                    "nothing was changed. Use one of those names.")
        seconds = self._seconds(item_id, seconds)
        events = self.project_store.record_replacement(self.dataset.item_id(pos), str(label), annotator=self.holder,
                                                       seconds=seconds, model_version=self.model_version,
                                                       replaces=replaces)
        self._apply(events)
        self._shown_at.pop(item_id, None)

    def keep_label(self, item_id, seconds=None):
        """Record that a person reviewed ``item_id``'s label and kept it (durably; :meth:`undo` takes it back).

        :meth:`suspects` then leaves the item out until its label changes.
        """
        pos = self._position_for_labeling(item_id)
        seconds = self._seconds(item_id, seconds)
        self._apply(self.project_store.record_keep(self.dataset.item_id(pos), annotator=self.holder, seconds=seconds,
                                                   model_version=self.model_version))
        self._shown_at.pop(item_id, None)

    def is_reviewed(self, item_id):
        """Whether a person reviewed ``item_id``'s current label (kept it with :meth:`keep_label`, or replaced it)."""
        with self._lock:
            return self._state.is_reviewed(self.dataset.position(item_id))

    def _seconds(self, item_id, seconds):
        if seconds is None and item_id in self._shown_at:
            seconds = time.monotonic() - self._shown_at[item_id]
        if seconds is not None and (not np.isfinite(seconds) or seconds < 0):
            raise InvalidDataError(f"seconds must be a non-negative number, got {seconds!r}.")
        return None if seconds is None else float(seconds)

    # -- training --------------------------------------------------------
    def _snapshot(self):
        with self._lock:
            train, y = self._state.training_set()
            audit, y_audit = self._state.audit_set()
            return Snapshot(train, y, audit, y_audit, self._state.n_live, self._state.labeling_seconds())

    def _calibrate(self, model, snap):
        """A temperature from items the model never trained on: the held-out set, else the audit labels.

        Returns ``(temperature or None, inductive)``: held-out items are not in the pool, so a pool-aware
        model predicts them with its inductive predictor, and that is what a calibrated number shown to
        a person then comes from; audit items are pool items, predicted like every pool item.
        """
        pos, inductive = np.flatnonzero(self.test_mask), True
        y = self.dataset.y[pos] if len(pos) else np.zeros(0, dtype=np.int64)
        if len(pos) < MIN_CALIBRATION_ITEMS:
            pos, y, inductive = snap.audit_positions, snap.y_audit, False
        if len(pos) < MIN_CALIBRATION_ITEMS:
            return None, False
        proba = proba_for_people(model, self.dataset.X[pos], self.dataset.n_classes, inductive)
        return fit_temperature(proba, y), inductive

    def _fit(self, labeled, y):
        return fit_model(self.model_template, self.dataset.X[labeled], y, self.dataset.n_classes, self._version)

    def evaluate(self, model=None):
        """Accuracy and macro-F1 on the held-out test set; ``(None, None)`` without one."""
        return evaluate(self.model if model is None else model, self.dataset, np.flatnonzero(self.test_mask))

    def audit(self, model=None):
        """Accuracy on the audit labels with a 95% Wilson interval: ``(n, accuracy, low, high)``."""
        snap = self._snapshot()
        return audit_accuracy(self.model if model is None else model, self.dataset, snap.audit_positions,
                              snap.y_audit)

    def labeling_seconds(self):
        """Seconds people spent on the current labels (unknown times count as 0)."""
        return self._state.labeling_seconds()

    def cost(self, n_labels=None, seconds=None):
        """Money spent for ``n_labels`` labels taking ``seconds``; None without a rate."""
        if self.cost_per_hour is None and self.cost_per_label is None:
            return None
        n_labels = self._state.n_live if n_labels is None else n_labels
        seconds = self.labeling_seconds() if seconds is None else seconds
        return (self.cost_per_label or 0.0) * n_labels + (self.cost_per_hour or 0.0) * seconds / 3600.0

    def retrain(self):
        """Fit a new model on every current label, score it, record a history row.

        Thread-safe: the labels are snapshotted, training runs without holding
        the session's lock (labeling continues), and the new model replaces the
        old one only if training succeeded. Callbacks get ``on_retrain_end(session, record=...)``.

        Returns
        -------
        dict
            The history row (every count and time from one snapshot).

        Raises
        ------
        TrainingError
            If training failed; the previous model stays in use.
        """
        if not self.trainer:
            raise ActiveLearnError("this session was opened with trainer=False: the team's trainer session "
                                   "retrains and publishes the ranking; this one labels from it.")
        with self._train_lock:
            self._sync()
            snap = self._snapshot()
            if len(snap.train_positions) == 0:
                raise ActiveLearnError("retrain() needs at least one (non-audit) label; label items from "
                                       "next_batch() first.")
            try:
                model, train_seconds = self._fit(snap.train_positions, snap.y_train)
            except ActiveLearnError as exc:
                self.last_error = exc
                raise
            query = self._queue.query
            record = round_record(model, self.dataset, snap, np.flatnonzero(self.test_mask), self._version + 1,
                                  train_seconds, None if query is None else query.seconds,
                                  self.cost(snap.n_labels, snap.labeling_seconds))
            self.project_store.add_round(record)
            fitted = Fitted(model, self._version + 1, *self._calibrate(model, snap))
            ahead = None
            if self.rank_on_retrain:  # the new model's ranking, made here: the next offer needs none
                try:
                    ahead = self._queue.ranked_with(fitted, self.batch_size)
                    self._offer_cache.warm(fitted, ahead.item_ids[:2], self.dataset)
                except ActiveLearnError:  # e.g. the store is away: the next offer ranks instead
                    ahead = None
            self._record_round_extras(model, self._version + 1, snap)
            row = pd.DataFrame([[record[c] for c in HISTORY_COLUMNS]], columns=HISTORY_COLUMNS)
            row = row.astype(self._history.dtypes.to_dict())
            with self._queue_lock:  # model and ranking change together
                self._fitted, self._version, self.last_error = fitted, self._version + 1, None
                # a new frame, swapped in: readers in other threads (the widget) never see one half-grown
                self._history = row if self._history.empty else pd.concat([self._history, row], ignore_index=True)
                self._queue.replace(ahead)
        self.notify("on_retrain_end", record=record)
        return record

    # -- stopping and savings ------------------------------------------------
    @property
    def stop_ids(self):
        """Ids of the stop set: unlabeled items whose predictions the stopping criteria compare.

        Drawn once from the non-test items with ``random_state`` (see
        :func:`activelearn.stopping.draw_stop_set`). The items stay in the pool; what
        the criteria measure never uses a stop-set item a compared model trained on.
        """
        return [self.dataset.item_id(p) for p in self._stop_set()]

    def _stop_set(self):
        if self._stop_positions is None:
            from .stopping import draw_stop_set

            self._stop_positions = draw_stop_set(np.flatnonzero(~self.test_mask), random_state=self.random_state)
        return self._stop_positions

    def _record_round_extras(self, model, version, snap):
        """Keep, per model version, the few arrays stopping() and savings() need (no model is kept)."""
        n_classes = self.dataset.n_classes
        stop = self._stop_set()
        trained = np.isin(stop, snap.train_positions)
        proba = predict_proba_full(model, self.dataset.X[stop], n_classes) if len(stop) else np.zeros((0, n_classes))
        free = ~trained
        uncertainty = float((1.0 - proba[free].max(axis=1)).mean()) if free.any() else float("nan")
        audit = np.asarray(snap.audit_positions, dtype=np.int64)
        # the model's read-out for new data (a pool-aware model's inductive predictor): what the held-out set measures
        audit_correct = (proba_for_people(model, self.dataset.X[audit], n_classes, True).argmax(axis=1)
                         == snap.y_audit if len(audit) else np.zeros(0, dtype=bool))
        test = np.flatnonzero(self.test_mask)
        test_correct = np.zeros(0, dtype=bool)
        if len(test) and self.dataset.has_labels:
            predicted = predict_proba_full(model, self.dataset.X[test], n_classes).argmax(axis=1)
            test_correct = predicted == self.dataset.y[test]
        self._round_extras[int(version)] = {
            "n_labels": int(len(snap.train_positions)), "stop_predictions": proba.argmax(axis=1).astype(np.int32),
            "stop_trained": trained, "uncertainty": uncertainty, "audit_positions": audit,
            "y_audit": np.asarray(snap.y_audit, dtype=np.int64), "audit_correct": np.asarray(audit_correct, bool),
            "test_correct": np.asarray(test_correct, bool)}

    def _stopping_state(self):
        from .stopping import StoppingState

        h = self.history
        extras = [self._round_extras.get(int(v)) for v in h["model_version"]]
        use_test = (h["n_test"] > 0).to_numpy()
        accuracy = np.where(use_test, h["accuracy"].astype(float), h["audit_accuracy"].astype(float))
        n_eval = np.where(use_test, h["n_test"].astype(float), h["audit_n"].astype(float))
        return StoppingState(
            h["n_labels"].to_numpy(float), accuracy, n_eval,
            [None if e is None else e["stop_predictions"] for e in extras],
            [None if e is None else e["stop_trained"] for e in extras],
            np.array([np.nan if e is None else e["uncertainty"] for e in extras], dtype=float))

    def stopping(self, criteria=None, target=None):
        """Whether to keep labeling: a :class:`~activelearn.stopping.StoppingAdvice`.

        Parameters
        ----------
        criteria : Criterion, optional
            Default :func:`activelearn.stopping.default_criteria`: predictions on
            the stop set have stabilized and the pool's uncertainty is low.
        target : float, optional
            Accuracy to reach: gives ``labels_to_target`` and ``minutes_to_target``
            (from the median seconds of the last 20 labels).

        The accuracy is the held-out test set's, else the audit labels'.
        Rounds before a reopened session's first retrain have no stop-set
        predictions (they are kept in memory only).
        """
        from .metrics import seconds_per_label
        from .stopping import advise

        seconds = float("nan")
        if target is not None:
            labels = self.labels()
            if len(labels) and labels["seconds"].notna().any():
                seconds = seconds_per_label(labels["seconds"], last=20)["median_last_20"]
        return advise(self._stopping_state(), criteria, target=target, seconds_per_label=seconds)

    def savings(self, source="auto", confidence=0.9, n_folds=5):
        """Live savings against random sampling, one row per retrain (see :mod:`activelearn.savings`).

        Parameters
        ----------
        source : {"auto", "test", "audit"}
            What scores the strategy's model: the held-out test set (``"auto"``
            when there is one) or the audit labels.
        confidence : float
            Interval level (default 0.9).
        n_folds : int
            Cross-fitting folds of the random curve over the audit labels.

        Returns
        -------
        pandas.DataFrame
            :data:`~activelearn.savings.SAVINGS_COLUMNS`. Every accuracy is the
            model's accuracy on new data (its inductive read-out, what the
            held-out set and ``history["accuracy"]`` measure; a pool-aware
            model's pool posterior is not used). The random curve is the
            model class trained on random audit items only; ``random_*`` are
            NaN where there are too few audit labels or the curve would have
            to be read beyond 1.5x its largest measured size. ``labels_saved``
            is NaN where the strategy's accuracy crosses the random curve
            outside half its smallest to twice its largest measured size;
            ``labels_saved_low`` / ``_high`` then still give the bound the
            data support (``labels_saved_high`` inf: at least
            ``labels_saved_low`` saved, no upper bound; see
            :mod:`activelearn.savings`), NaN when they support none. Rows are
            computed once per model version and cached (the
            random curve once per audit set), so calling this after every
            retrain, from a background thread, costs one row's work.
        """
        from .savings import SAVINGS_COLUMNS, random_curve_correctness, random_curve_sizes, savings_row

        if source not in ("auto", "test", "audit"):
            raise InvalidDataError(f"source must be 'auto', 'test' or 'audit', got {source!r}.")
        h = self.history
        rows = []
        with self._savings_lock:
            for version, n_labels in zip(h["model_version"].astype(int), h["n_labels"].astype(int)):
                e = self._round_extras.get(int(version))
                if e is None:
                    rows.append({**dict.fromkeys(SAVINGS_COLUMNS, float("nan")), "n_labels": n_labels})
                    continue
                use_test = source == "test" or (source == "auto" and len(e["test_correct"]) > 0)
                key = ("row", int(version), use_test, float(confidence), int(n_folds))
                if key not in self._savings_cache:
                    audit, y_audit = e["audit_positions"], e["y_audit"]
                    curve_key = ("curve", audit.tobytes(), y_audit.tobytes(), int(n_folds))
                    if curve_key not in self._savings_cache:
                        sizes = random_curve_sizes(len(audit), n_folds=n_folds)
                        correct, folds = (random_curve_correctness(
                            self.model_template, self.dataset.X[audit], y_audit, self.dataset.n_classes, sizes,
                            n_folds, self.random_state, return_folds=True) if len(sizes) >= 2 else (None, None))
                        self._savings_cache[curve_key] = (sizes, correct, folds)
                    sizes, correct, folds = self._savings_cache[curve_key]
                    strategy_correct = e["test_correct"] if use_test else e["audit_correct"]
                    self._savings_cache[key] = savings_row(e["n_labels"], strategy_correct, correct, sizes,
                                                           paired=not use_test, confidence=confidence,
                                                           random_state=self.random_state, folds=folds)
                rows.append(self._savings_cache[key])
        return pd.DataFrame(rows, columns=SAVINGS_COLUMNS)

    def retrain_in_background(self, on_done=None):
        """Start :meth:`retrain` in the session's one worker thread unless one runs.

        ``on_done(record, error)`` is called from the worker when it ends.
        Returns the thread, or None when a retrain already runs.
        """
        return self._background.start(on_done)

    def wait_for_training(self, timeout=None):
        """Block until the background retrain (if any) has finished."""
        self._background.wait(timeout)

    def notify(self, name, **kwargs):
        """Call ``name(session, **kwargs)`` on every object in :attr:`callbacks` that has it (skorch style)."""
        for cb in list(self.callbacks):
            hook = getattr(cb, name, None)
            if hook is not None:
                hook(self, **kwargs)

    def guesses(self, item_id, with_version=False):
        """The current model's guesses for ``item_id``, as an :class:`Offer` shows them.

        Parameters
        ----------
        item_id : str or int
        with_version : bool
            Also return the version of the model that made them (one model, even if a retrain puts a new
            one in use meanwhile).

        Returns
        -------
        tuple
            Up to three ``(class, probability)`` pairs, best first; the probability is calibrated on data the
            model did not train on, or None where there is no calibration yet (then show the class alone).
            Empty before the first model. With ``with_version``: ``(model_version, pairs)`` (0 before the first).
        """
        fitted = self._fitted  # one read: a retrain may put a new model in use meanwhile
        self.dataset.position(item_id)  # an unknown id raises here, with its name
        if fitted is None:
            return (0, ()) if with_version else ()
        proba, shown = self._offer_cache.get(fitted, item_id, self.dataset)
        pairs = guesses_from(proba, shown, self.dataset)
        return (int(fitted.version), pairs) if with_version else pairs

    def predict_proba(self, item_ids):
        """Current model's class probabilities for ``item_ids`` (rows follow the ids)."""
        if self._fitted is None:
            raise ActiveLearnError("no model yet: label a few items and call retrain().")
        pos = self.dataset.positions(item_ids)
        return predict_proba_full(self._fitted.model, self.dataset.X[pos], self.dataset.n_classes)

    # -- team, export, simulation: pure functions of the session's outputs --
    def agreement(self):
        """Agreement between annotators on the items several labeled (see :func:`activelearn.team.agreement`)."""
        from .team import agreement

        return agreement(self.labels(), self.dataset.class_names)

    def disagreements(self):
        """Items whose annotators gave different labels: ``item_id``, ``labels`` (by annotator), ``resolved``."""
        from .team import disagreements

        def resolve(item_id):
            pos = self.dataset.position(item_id)
            y = self._state.y[pos]
            return self.dataset.item_id(pos), None if y == MISSING else self.dataset.class_names[y]

        return disagreements(self.labels(), resolve)

    def suspects(self, n=None, cv=5, include_reviewed=False):
        """Given labels, most doubtful first (:data:`~activelearn.review.SUSPECT_COLUMNS` and ``reviewed``).

        Out-of-sample probabilities by cross-fitting over the labeled items (no
        label reaches its own probability, pool-aware models included), then
        cleanlab's label-quality scores; see :func:`activelearn.review.suspects`.
        Items whose current label a person reviewed (:meth:`keep_label`,
        :meth:`relabel`) are left out, or with ``include_reviewed=True`` listed
        with ``reviewed=True``; every label still trains the cross-fitted models.
        """
        from .review import suspects

        if n is not None:
            _check_positive_int("n", n)
        self._sync()
        out = suspects(self.dataset, self.labels(), self.model_template, cv=cv, random_state=self.random_state,
                       exclude_positions=np.flatnonzero(self.test_mask), adjudicators=self.adjudicators)
        with self._lock:
            reviewed = set(self._state.reviewed())
        out["reviewed"] = np.isin(self.dataset.positions(out["item_id"].tolist()), list(reviewed)) if len(out) else []
        out["reviewed"] = out["reviewed"].astype(bool)
        if not include_reviewed:
            out = out[~out["reviewed"]].reset_index(drop=True)
        return out if n is None else out.head(int(n))

    def consensus(self, cv=5):
        """Consensus label per item and quality per annotator (cleanlab CROWDLAB): ``(items, annotators)``."""
        from .review import consensus, out_of_sample_proba

        self._sync()
        labels = self.labels()
        proba = out_of_sample_proba(self.dataset, labels, self.model_template, cv=cv, random_state=self.random_state,
                                    exclude_positions=np.flatnonzero(self.test_mask), adjudicators=self.adjudicators)
        return consensus(labels, self.dataset.class_names, proba)

    def export(self, path, include_predictions=False):
        """Write the labels to CSV, Parquet or JSON Lines (see :func:`activelearn.export.export_labels`)."""
        from .export import export_labels, require_model

        return export_labels(self.labels(), self.dataset, path,
                             require_model(self._fitted) if include_predictions else None)

    def simulate(self, budget, oracle=None, seconds_per_label=None, progress=False):
        """Run the loop with an oracle until ``budget`` labels (see :func:`activelearn.simulate.run_loop`)."""
        return run_loop(self, _check_positive_int("budget", budget), oracle, seconds_per_label, progress)

    def widget(self, **kwargs):
        """A :class:`~activelearn.widgets.LabelingWidget` over this session (imports ipywidgets).

        It shows at once and prepares the first item in the background (``background=True``).
        """
        from .widgets import LabelingWidget

        return LabelingWidget(self, **{"background": True, **kwargs})

    def close(self):
        """Give back this session's leases; close the store connection if this session opened it."""
        try:
            self._queue.release_all()
        finally:
            if self._owns_store:
                self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"Session(dataset={self.dataset.name!r}, strategy={self.strategy_name!r}, "
                f"n_labels={self.n_labels}, model_version={self.model_version}, store={self.store.url!r})")

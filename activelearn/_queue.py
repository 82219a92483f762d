"""Which items to offer next: the ranking, and the work queue that hands it out.

:class:`Ranker` ranks the open pool with the cold-start or the main strategy
(pure: model, pool and labels in, a :class:`Query` out). A work queue keeps
the current ranking and hands out its items while they stay open; it has two
forms: :class:`SoloQueue` for a store only this session can see (no leases, no
published ranking) and :class:`TeamQueue`, which leases items in the store so
that annotators on one store never get the same item (unless the team policy
asks for overlap), and through which the trainer publishes its ranking.

With ``strategy="activelab"`` and ``labels_per_item > 1`` (the most distinct
annotators an item may get), a ranking holds both kinds of work on one scale,
cleanlab's ActiveLab scores: another opinion on a labeled item whose labels are
doubtful (annotators disagree, or the model disagrees with them) and a first
label on a new item. Each slot goes to the lower score. The leases and the
store's claim rules are the same as for any ranking: an item is never handed to
an annotator who labeled it, nor to more annotators than the policy allows; and
under ActiveLab an item is leased to one annotator at a time, so each offer asks
for one more label and the next decision sees it.
"""

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._proba import predict_proba_full
from .exceptions import StrategyError
from .strategies import auto_phase, display_score, get_strategy

__all__ = ["Query", "Offer", "Ranker", "SoloQueue", "TeamQueue", "check_positions", "make_offer", "offer_outputs",
           "guesses_from", "OfferCache", "ACTIVELAB_AGAIN"]

#: What a published ActiveLab row ranked for another label on a labeled item says (rows for new items: "activelab").
ACTIVELAB_AGAIN = "activelab:again"


@dataclass
class Query:
    """One ranking of the pool: item ids best first, and how they were chosen."""

    item_ids: list
    strategy: str
    model_version: int
    seconds: float
    scores: dict = field(default_factory=dict)
    again: frozenset = frozenset()  # items ranked for another label (ActiveLab); the others for a first one


@dataclass(frozen=True)
class Offer:
    """The item to show a person next, and why (what :meth:`Session.next_offer` returns)."""

    item_id: object
    source: str  # "strategy", "published" (the team trainer's ranking) or "audit"
    strategy: str
    model_version: int
    rank: int = None
    queue: int = None
    guesses: tuple = ()  # ((class name, calibrated probability or None), ...) best first, with a model
    score: float = None
    score_name: str = None


def offer_outputs(fitted, item_id, dataset):
    """The model's outputs an offer shows for ``item_id``: ``(proba, calibrated proba or None)``."""
    X = dataset.X[[dataset.position(item_id)]]
    proba = predict_proba_full(fitted.model, X, dataset.n_classes)[0]
    return proba, fitted.calibrated_proba(X, dataset.n_classes)  # None: the guess is shown without a number


class OfferCache:
    """:func:`offer_outputs` for the items about to be offered, computed ahead by a background thread.

    The outputs of one model (a :class:`Fitted`, by identity) are kept; an
    item is computed the same way here as on the spot, so an offer is the
    same whether or not its outputs were computed ahead.
    """

    def __init__(self, limit=32):
        self.limit = int(limit)
        self._fitted, self._rows = None, {}
        self._lock = threading.Lock()

    def get(self, fitted, item_id, dataset):
        """The outputs for ``item_id`` under ``fitted``: computed ahead if they were, else now."""
        with self._lock:
            hit = self._rows.get(item_id) if self._fitted is fitted else None
        return hit if hit is not None else offer_outputs(fitted, item_id, dataset)

    def warm(self, fitted, item_ids, dataset):
        """Compute the outputs of ``item_ids`` under ``fitted`` now (those of another model are dropped)."""
        if fitted is None:
            return
        with self._lock:
            if self._fitted is not fitted:
                self._fitted, self._rows = fitted, {}
            todo = [i for i in item_ids if i not in self._rows]
        for item_id in todo:
            out = offer_outputs(fitted, item_id, dataset)
            with self._lock:
                if self._fitted is fitted:
                    self._rows[item_id] = out
                    while len(self._rows) > self.limit:  # the oldest go (offered long ago)
                        del self._rows[next(iter(self._rows))]


def guesses_from(proba, shown, dataset):
    """The model's three best classes, best first: ``(class, calibrated probability or None)`` pairs."""
    order = np.argsort(-proba if shown is None else -shown[0], kind="stable")[:3]
    return tuple((dataset.class_names[i], None if shown is None else float(shown[0, i])) for i in order)


def make_offer(item_id, why, fitted, dataset, cache=None):
    """An :class:`Offer` for ``item_id``: ``why`` (source, strategy, rank ...) plus the model's guesses and score.

    ``cache``: an :class:`OfferCache` that may hold the model's outputs for the item already.
    """
    if fitted is not None:
        proba, shown = (offer_outputs(fitted, item_id, dataset) if cache is None
                        else cache.get(fitted, item_id, dataset))
        why["guesses"] = guesses_from(proba, shown, dataset)
        if why["source"] == "strategy":
            why["score_name"], why["score"] = display_score(why["strategy"], proba)
    return Offer(item_id, **why)


def check_positions(positions, n_pool, n, name):
    """Validate what a strategy returned: distinct integer positions into the pool, at most ``n``."""
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


class Ranker:
    """Ranks pool positions with a strategy; the cold start until the model knows two classes.

    Parameters
    ----------
    dataset : Dataset
    strategy : callable
    strategy_name : str
    cold_start : str
        A model-free strategy name.
    strategy_params : dict
    random_state : int
        Each ranking is seeded from it and a running query count.
    transform : callable, optional
        The model's feature map (pool-aware models), handed to strategies as context.
    ready, quick_transform : callable, optional
        While ``ready()`` is False (the map is still prepared in the background), strategies get
        ``quick_transform`` instead of ``transform``, so that no ranking waits for the map.
    """

    def __init__(self, dataset, strategy, strategy_name, cold_start, strategy_params, random_state, transform=None,
                 ready=None, quick_transform=None):
        self.dataset = dataset
        self.strategy = strategy
        self.strategy_name = strategy_name
        self.cold_start = cold_start
        self.strategy_params = dict(strategy_params or {})
        self.random_state = int(random_state)
        self.transform = transform
        self.ready, self.quick_transform = ready, quick_transform
        self.n_queries = 0

    def next_seed(self, salt=()):
        """A fresh seed for one ranking (or one audit draw), reproducible from ``random_state``."""
        self.n_queries += 1
        return int(np.random.SeedSequence([self.random_state, self.n_queries, *salt]).generate_state(1)[0])

    def rank(self, fitted, pool, labeled, y_labeled, n, model_free=False):
        """Rank ``n`` of the ``pool`` positions.

        Parameters
        ----------
        fitted : Fitted or None
            The model to rank with (None: cold start).
        pool : ndarray of int
            Candidate positions.
        labeled, y_labeled : ndarray
            The training labels (context for strategies).
        n : int
        model_free : bool
            Use the cold start even with a model (followers without a ranking).

        Returns
        -------
        Query
        """
        if len(pool) == 0:
            return Query([], self.strategy_name, 0 if fitted is None else fitted.version, 0.0)
        use_model = not model_free and fitted is not None and len(np.unique(y_labeled)) >= 2
        name = self.strategy_name if use_model else self.cold_start
        strategy = self.strategy if use_model else get_strategy(self.cold_start)
        seed = self.next_seed()
        transform = self.transform
        if self.ready is not None and self.quick_transform is not None and not self.ready():
            transform = self.quick_transform  # the map is still being prepared: cheap coordinates, no waiting
        context = dict(X_labeled=self.dataset.X[labeled], y_labeled=y_labeled, n_classes=self.dataset.n_classes,
                       transform=transform, **(self.strategy_params if use_model else {}))
        n = min(n, len(pool))
        start = time.perf_counter()
        positions = strategy(fitted.model if use_model else None, self.dataset.X[pool], n, random_state=seed,
                             **context)
        seconds = time.perf_counter() - start
        positions = check_positions(positions, len(pool), n, name)
        ids = [self.dataset.item_id(p) for p in pool[positions]]
        if name == "auto":  # say which strategy actually picked: typicality during the cold start, then margin
            name = auto_phase(**context)
        elif name == "activelab" and auto_phase(**context) == "typiclust":
            name = "typiclust"
        return Query(ids, name, fitted.version if use_model else 0, seconds)


class _WorkQueue:
    """The current ranking and the items it still offers (subclasses decide how items are taken).

    Parameters
    ----------
    session : Session
        Read for its label state, pool, model and annotator; the queue writes nothing to it.
    """

    def __init__(self, session):
        self.session = session
        self.query = None
        self.served = None  # the Query behind the last next() call's items (kept when replaced)
        self._ahead = None  # a ranking made ahead (rank_ahead), handed out after the current one
        self._generation = 0  # bumped by replace(): a ranking begun before it is not kept
        self._first = []  # undone items, offered before any ranking (kept across a retrain)

    def replace(self, query):
        """Make ``query`` (a retrain's ranking with its new model, or None: rank anew) the current one.

        Any ranking ahead is dropped; undone items stay first. Runs in the
        retrain's thread, maybe while :meth:`next` ranks in another: that
        ranking still serves its call but is not kept for the next ones.
        """
        self._generation += 1
        self.query, self._ahead = query, None

    def put_first(self, item_id):
        """Offer ``item_id`` next (an undone label's item), whatever ranking comes next."""
        self._first = [item_id] + [i for i in self._first if i != item_id]

    def queued(self):
        """The open items the current ranking and the one ranked ahead still hold, in order."""
        s = self.session
        ids = [i for q in (self.query, self._ahead) if q is not None for i in q.item_ids]
        return [i for i in dict.fromkeys(ids) if s.is_open(i)]

    def next(self, n, want):
        """The next ``n`` open items; ranks (and takes) ``want`` more when the current ranking runs short."""
        s = self.session
        first = self._first = [i for i in self._first if s.is_open(i)]
        query = self.query  # one read: a retrain finishing in another thread may replace it meanwhile
        if query is not None:
            ids = first + [i for i in query.item_ids if i not in first and s.is_open(i)]
            if len(ids) < n and self._ahead is not None:  # the ranking made ahead takes over
                query, self._ahead = self._ahead, None
                ids = ids + [i for i in query.item_ids if i not in ids and s.is_open(i)]
                self.query = query
            if len(ids) >= n:
                query.item_ids = ids
                self.served = query
                return ids[:n]
        generation = self._generation
        query = self._take(want)  # a fresh ranking (only set-aside items may be left in it)
        query.item_ids = first + [i for i in query.item_ids if i not in first]
        if generation == self._generation:
            self.query, self._ahead = query, None
        self.served = query
        return list(query.item_ids[:n])

    def rank_ahead(self, want, lock, low):
        """Rank (and, for a team, take) the next ``want`` items now, so that :meth:`next` need not.

        For a background thread, when fewer than ``low`` open items are
        queued: nothing is ranked while ``lock`` (the session's queue lock) is
        held; it is taken only to queue the result after the current ranking.

        Returns
        -------
        bool
            Whether a ranking was made and kept.
        """
        queued = self.queued()
        if self._ahead is not None or len(queued) >= low:
            return False
        generation = self._generation
        query = self._take(want, exclude=queued)
        with lock:
            if generation != self._generation or not query.item_ids:
                return False  # a retrain replaced the ranking meanwhile (or nothing was left to rank)
            if self.query is None:
                self.query = query
            else:
                self._ahead = query
        return True

    def ranked_with(self, fitted, want):
        """A ranking (for a team: taken) with ``fitted``, a retrain's model not yet in use; see :meth:`replace`."""
        return self._take(want, fitted=fitted)

    def _rank(self, n, exclude=(), model_free=False, fitted=None, for_team=False):
        s = self.session
        pool = s._open_pool(exclude)
        labeled, y = s._state.training_set()
        fitted = s._fitted if fitted is None else fitted
        query = s._ranker.rank(fitted, pool, labeled, y, n, model_free=model_free)
        if query.strategy == "activelab" and s.labels_per_item > 1:
            query = self._with_second_opinions(query, pool, n, for_team, fitted) or query
        return query

    def _with_second_opinions(self, query, pool, n, for_team, fitted):
        """ActiveLab over labeled and new items together: a :class:`Query` of ``n`` items, lowest score first.

        Labeled candidates: non-audit items with fewer than ``labels_per_item``
        labels, not set aside, and (``for_team`` false) open for this
        annotator; the team's trainer ranks for everyone, so the store's claim
        keeps each item from those who labeled it. None when the labeled items
        cannot be cross-fitted yet (the pool-only ranking stands).
        """
        from .exceptions import ActiveLearnError
        from .review import activelab_scores, out_of_sample_proba

        s = self.session
        start = time.perf_counter()
        labels = s.labels()
        labels = labels[~labels["audit"].astype(bool)]
        if labels.empty:
            return None
        test = np.flatnonzero(s.test_mask)
        try:
            proba = out_of_sample_proba(s.dataset, labels, s.model_template, random_state=s.random_state,
                                        exclude_positions=test, adjudicators=s.adjudicators)
        except ActiveLearnError:
            return None
        model = fitted.model
        pool_ids = [s.dataset.item_id(p) for p in pool]
        unlabeled = pd.DataFrame(predict_proba_full(model, s.dataset.X[pool], s.dataset.n_classes),
                                 index=pool_ids, columns=s.dataset.class_names)
        scores = activelab_scores(labels, s.dataset.class_names, proba, unlabeled)
        with s._lock:
            state = s._state

            def wanted(item_id, is_labeled):
                if not is_labeled:
                    return True
                pos = s.dataset.position(item_id)
                if state.audit[pos] or state.skipped[pos]:
                    return False
                return (len(state.annotators_of(pos)) < state.labels_per_item if for_team
                        else state.is_open_for(pos, s.holder))

            keep = [wanted(i, lab) for i, lab in zip(scores["item_id"], scores["labeled"])]
        top = scores[keep].head(n)
        return Query(list(top["item_id"]), "activelab", query.model_version, time.perf_counter() - start,
                     scores=dict(zip(top["item_id"], top["score"].astype(float))),
                     again=frozenset(top.loc[top["labeled"].astype(bool), "item_id"]))

    def release_all(self):
        """Give back what this queue holds in the store (nothing for a solo queue)."""


class SoloQueue(_WorkQueue):
    """A private store: rank exactly the items wanted; nothing to lease or publish."""

    def _take(self, want, exclude=(), fitted=None):
        return self._rank(want, exclude=exclude, fitted=fitted)


class TeamQueue(_WorkQueue):
    """A shared store: lease items in the store; the trainer ranks for the whole team and publishes."""

    def __init__(self, session, project_store):
        super().__init__(session)
        self.project = project_store

    def _take(self, want, exclude=(), fitted=None):
        s = self.session
        me = s.holder
        query = Query([], s.strategy_name, s.model_version, 0.0)
        got = []
        # A claim renews this annotator's own leases first; items queued already (exclude) come back and are
        # dropped below, so claim that many more.
        queued = {str(i) for i in exclude}
        n_claim = want + len(queued)
        for _ in range(3):  # others may claim the same candidates at the same moment: rank again
            busy, team = self.project.team_view(me)
            busy = set(busy) | queued
            extra = [s.dataset.item_id(p) for p in s._state.needing_more(me)
                     if str(s.dataset.item_id(p)) not in busy]
            if s.trainer:
                # Rank enough for everyone active (each gets a batch), not just for this annotator.
                if s.strategy_name == "activelab":
                    # ActiveLab weighs other opinions against new items itself; its ranking is longer, as the
                    # annotators who labeled an item skip it.
                    extra = []
                    query = self._rank(want * len(team) * s.labels_per_item, exclude=busy, fitted=fitted,
                                       for_team=True)
                else:
                    query = self._rank(want * len(team), exclude=busy, fitted=fitted)
                # ActiveLab rows say what they were ranked for: another label ("activelab:again") or a first one.
                published = ([ACTIVELAB_AGAIN if i in query.again else "activelab" for i in query.item_ids]
                             if s.strategy_name == "activelab" else query.strategy)
                got = self.project.publish_and_claim(me, query.item_ids, n_claim, query.model_version, published,
                                                     first=extra, one_at_a_time=s.strategy_name == "activelab")
            else:
                ranked, version, kinds = self.project.published()
                activelab = bool(kinds) and str(kinds[0]).startswith("activelab")
                if activelab:
                    # The ranking already weighs other opinions against new items; an item ranked for a first
                    # label and labeled since (by the trainer, say) waits for a ranking that weighs it again.
                    extra = []
                    ranked = [i for i, kind in zip(ranked, kinds) if kind == ACTIVELAB_AGAIN
                              or not s._state.annotators_of(s.dataset.position(s._own_ids([i])[0]))]
                ranked = [i for i in ranked if i not in busy]
                ranked = s._own_ids(ranked)
                ranked = [i for i in ranked if s.is_open(i)]
                query = (Query(ranked, "published", version or 0, 0.0) if ranked
                         else self._rank(want, exclude=busy, model_free=True))
                got = self.project.claim(me, extra + list(query.item_ids), n_claim, one_at_a_time=activelab)
            got = [i for i in got if str(i) not in queued]
            if got or not (extra or query.item_ids):
                break
        query.item_ids = s._own_ids(got)
        return query

    def release_all(self):
        self.project.release(self.session.holder)

"""Label review: find the given labels most likely to be wrong, and weigh annotators against each other.

Pure functions of a labels table (what :meth:`Session.labels` returns:
``item_id, label, annotator, labeled_at`` ...) and the dataset; cleanlab does
the scoring (confident learning, CROWDLAB, ActiveLab), this module only feeds
it honest probabilities and returns tables in the session's terms.

Honest means *out of sample*: the probability for a labeled item comes from a
model that never saw that item's label. :func:`cross_fitted_proba` splits the
labeled items into folds; each fold is predicted by a model fitted on the other
folds' labels only. A pool-aware model (the default
:class:`~activelearn.semi.PoolSpreadingClassifier`) keeps every pool item in
its graph, but in each fit only the labels it is given are clamped: the
held-out fold's items are unlabeled nodes like the rest of the pool, and their
probabilities are the spreading posterior from the other folds' labels (the
graph and its t-SNE map are built from features alone). So an item's own label
never reaches its probability, neither directly nor through pseudo-labels.

Every given label counts, audit labels included. With several labels on an
item (``labels_per_item > 1``), the item's resolved label (an adjudicator's,
else the majority) is what the fold models train on, and each annotator's
label is scored against its item's out-of-sample probabilities.

cleanlab is an optional dependency (``pip install "activelearn[review]"`` or
``pip install cleanlab``), imported only when a function here needs it.
"""

import warnings
import weakref

import numpy as np
import pandas as pd

from ._proba import predict_proba_full
from .exceptions import ActiveLearnError, InvalidDataError

__all__ = ["suspects", "out_of_sample_proba", "cross_fitted_proba", "fold_ids", "consensus", "activelab_scores",
           "SUSPECT_COLUMNS", "MIN_LABELS_PER_CLASS"]

#: The columns of :func:`suspects`, most doubtful label first.
SUSPECT_COLUMNS = ["item_id", "label", "suggested", "score", "annotator", "labeled_at", "issue"]

#: Labeled items each labeled class needs before its labels can be cross-fitted (one to hold out, one to learn from).
MIN_LABELS_PER_CLASS = 2


def _cleanlab():
    try:
        import cleanlab  # noqa: F401
        import cleanlab.filter
        import cleanlab.multiannotator
        import cleanlab.rank
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ActiveLearnError(
            "label review needs cleanlab, which is not installed. Install it with: "
            "pip install \"activelearn[review]\" (or pip install cleanlab)."
        ) from exc
    return cleanlab


# -- labels table -> arrays ------------------------------------------------------
def _check_labels_table(labels, class_names):
    missing = {"item_id", "label", "annotator"} - set(labels.columns)
    if missing:
        raise InvalidDataError(f"the labels table lacks the columns {sorted(missing)}; pass session.labels().")
    unknown = sorted(set(labels["label"].astype(str)) - set(class_names))
    if unknown:
        raise InvalidDataError(f"labels {unknown[:5]} are not among the classes {list(class_names)}.")


def _resolve(labels, class_index, adjudicators=()):
    """Per item (first-labeled first): the label a model trains on, as a class position.

    The same rule as the session's label state: the latest adjudicator's label,
    else the majority, ties going to the label given first.
    """
    adjudicators = {str(a) for a in adjudicators}
    given = {}  # str(item id) -> [(annotator, label), ...] in table order (oldest first)
    for item, who, lab in zip(labels["item_id"].astype(str), labels["annotator"].astype(str),
                              labels["label"].astype(str)):
        given.setdefault(item, []).append((who, lab))
    out = {}
    for item, pairs in given.items():
        judged = [lab for who, lab in pairs if who in adjudicators]
        if judged:
            out[item] = class_index[judged[-1]]
            continue
        votes = {}
        for _, lab in pairs:
            votes[lab] = votes.get(lab, 0) + 1
        best = max(votes.values())
        out[item] = class_index[next(lab for _, lab in pairs if votes[lab] == best)]
    return out


def _needed_message(counts, class_names, what):
    """How many more labels cross-fitting needs, or None when there are enough."""
    present = {c: k for c, k in counts.items() if k > 0}
    short = {c: MIN_LABELS_PER_CLASS - k for c, k in present.items() if k < MIN_LABELS_PER_CLASS}
    parts = [f"{n} more '{class_names[c]}' item{'s' if n > 1 else ''}" for c, n in short.items()]
    n_more = sum(short.values())
    if len(present) < 2:
        extra = MIN_LABELS_PER_CLASS * (2 - len(present))
        parts.append(f"{MIN_LABELS_PER_CLASS} items of {'another class' if present else 'each of 2 classes'}")
        n_more += extra
    if not parts:
        return None
    have = ", ".join(f"'{class_names[c]}': {k}" for c, k in present.items()) or "none"
    return (f"{what} cross-fits a model on the labels, so every labeled class needs at least "
            f"{MIN_LABELS_PER_CLASS} labeled items and at least 2 classes need labels (labeled items per class: "
            f"{have}). Label {n_more} more: " + ", ".join(parts) + ".")


# -- out-of-sample probabilities ---------------------------------------------
def fold_ids(y, cv=5, random_state=0):
    """Stratified fold of each labeled item: ``ndarray of shape (n_items,)`` with values ``0..k-1``.

    ``k = min(cv, size of the largest class)``; every class with at least 2
    items is spread over at least 2 folds, so its held-out items always have
    labels of their class to learn from.
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y, dtype=np.int64)
    k = int(min(cv, np.bincount(y).max()))
    folds = np.empty(len(y), dtype=np.int64)
    with warnings.catch_warnings():  # "least populated class has fewer members than n_splits": expected, handled
        warnings.simplefilter("ignore", UserWarning)
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state)
        for f, (_, held) in enumerate(splitter.split(np.zeros(len(y)), y)):
            folds[held] = f
    return folds


def cross_fitted_proba(model, X, y, folds, n_classes):
    """Out-of-sample class probabilities: each fold predicted by a clone of ``model`` fitted on the other folds.

    Parameters
    ----------
    model : estimator
        A template, cloned for each fold (a pool-aware model keeps its pool;
        the held-out rows stay unlabeled pool items).
    X : array-like of shape (n_items, ...)
    y : array-like of shape (n_items,)
        Class positions the fold models train on.
    folds : array-like of shape (n_items,)
        Fold of each row (:func:`fold_ids`).
    n_classes : int

    Returns
    -------
    ndarray of shape (n_items, n_classes)
        Row ``i`` never depends on ``y[i]`` (nor on any label of its fold).
    """
    X, y, folds = np.asarray(X), np.asarray(y, dtype=np.int64), np.asarray(folds)
    proba = _spreading_folds(model, X, y, folds, int(n_classes))
    if proba is None:
        proba = _cross_fit_generic(model, X, y, folds, int(n_classes))
    total = proba.sum(axis=1, keepdims=True)
    return np.where(total > 0, proba / np.where(total > 0, total, 1.0), 1.0 / n_classes)


def _cross_fit_generic(model, X, y, folds, n_classes):
    """Any model: a clone fitted per fold, its ``predict_proba`` on the held-out rows."""
    from ._training import fit_model

    proba = np.zeros((len(y), n_classes), dtype=np.float64)
    for f in np.unique(folds):
        held = folds == f
        fitted, _ = fit_model(model, X[~held], y[~held], n_classes, previous_version=0)
        proba[held] = predict_proba_full(fitted, X[held], n_classes)
    return proba


# Spreading graphs per pool (the pool object is shared by a template and its clones): built once, reused by
# every fold and every later review of the same pool.
_GRAPHS = weakref.WeakKeyDictionary()


def _spreading_graph(pool, key, Z, n_neighbors):
    from sklearn.semi_supervised import LabelSpreading

    graphs = _GRAPHS.setdefault(pool, {})
    if key not in graphs:
        ls = LabelSpreading(kernel="knn", n_neighbors=n_neighbors)
        ls.X_ = Z
        graphs[key] = ls._build_graph()  # the normalised kNN graph LabelSpreading builds in every fit
    return graphs[key]


def _spreading_folds(model, X, y, folds, n_classes):
    """The fold posteriors of :class:`~activelearn.semi.PoolSpreadingClassifier` (and of
    :class:`~activelearn.pooled.PoolRBFNetClassifier`, the same spreading), without refitting what folds share.

    For held-out rows that are pool items, the fold model's probability is its
    label-spreading posterior; its kNN graphs (features, t-SNE map) depend on
    the pool alone, so they are built once per pool, and the SVC (which only
    predicts rows outside the pool) is not trained. The result equals
    :func:`_cross_fit_generic`'s (``tests/test_review.py`` checks it). None when
    this shortcut does not apply (another model, or rows outside the pool).
    """
    from sklearn.semi_supervised import LabelSpreading

    from .pooled import PoolRBFNetClassifier
    from .semi import PoolSpreadingClassifier

    pool = getattr(model, "_pool", None)
    # models whose pool rows read the spreading posterior unchanged (their read-outs differ on other rows only)
    if type(model) not in (PoolSpreadingClassifier, PoolRBFNetClassifier) or pool is None or len(pool) < 2:
        return None
    pos = pool.lookup(X)
    if (pos < 0).any():
        return None
    k = max(int(min(model.n_neighbors, len(pool) - 1)), 1)
    spaces = [(("features", k), pool.Z)]
    emb = model._map(pool)
    if emb is not None:
        spaces.append((("tsne", int(model.random_state), int(model.max_embedding_pool), k), emb))
    graphs = [(Z, _spreading_graph(pool, key, Z, k)) for key, Z in spaces]
    proba = np.zeros((len(y), n_classes), dtype=np.float64)
    for f in np.unique(folds):
        held = folds == f
        y_nodes = np.full(len(pool), -1, dtype=np.int64)
        y_nodes[pos[~held]] = y[~held]
        present = np.unique(y_nodes[y_nodes >= 0])
        P = np.zeros((len(pool), n_classes))
        if len(present) < 2:
            P[:, present[0]] = 1.0
        else:
            for Z, graph in graphs:
                ls = LabelSpreading(kernel="knn", n_neighbors=k, alpha=model.alpha, max_iter=100)
                ls._build_graph = lambda graph=graph: graph  # the pool's graph, built once
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # convergence warnings, as in the model's own fit
                    ls.fit(Z, y_nodes)
                P[:, ls.classes_.astype(np.int64)] += ls.label_distributions_
        proba[held] = P[pos[held]]
    return proba


def _template(dataset, model, exclude_positions, random_state):
    if model is None:
        from ._training import default_model

        model = default_model(dataset, random_state=random_state)
    if hasattr(model, "set_pool") and getattr(model, "_pool", None) is None:
        from sklearn.base import clone

        keep = np.ones(len(dataset), dtype=bool)
        if exclude_positions is not None:
            keep[np.asarray(exclude_positions, dtype=np.int64)] = False
        model = clone(model).set_pool(dataset.X[keep])  # a pool-aware model spreads over the pool, never the test set
    return model


def out_of_sample_proba(dataset, labels, model=None, cv=5, random_state=0, exclude_positions=None, adjudicators=()):
    """Cross-fitted class probabilities of every labeled item (see :func:`cross_fitted_proba`).

    Parameters
    ----------
    dataset : Dataset
    labels : pandas.DataFrame
        ``item_id, label, annotator`` (:meth:`Session.labels`); every label
        counts, audit labels included.
    model : estimator, optional
        The template to cross-fit (a session passes its ``model_template``, pool
        already set). Default: :func:`~activelearn.models.default_model`, its
        pool every item but ``exclude_positions``.
    cv : int
        Folds (fewer when the largest class has fewer items).
    random_state : int
        Seeds the folds.
    exclude_positions : array-like of int, optional
        Items never shown to a pool-aware model (the held-out test set).
    adjudicators : sequence of str
        Annotators whose label decides an item (else the majority).

    Returns
    -------
    pandas.DataFrame
        One row per labeled item (index ``item_id`` as the dataset has it,
        items in the order they were first labeled), one column per class name.

    Raises
    ------
    ActiveLearnError
        When there are too few labels to cross-fit; the message says how many more.
    """
    proba, _, _ = _out_of_sample(dataset, labels, model, cv, random_state, exclude_positions, adjudicators,
                                 "out_of_sample_proba()")
    return proba


def _out_of_sample(dataset, labels, model, cv, random_state, exclude_positions, adjudicators, what):
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
        raise InvalidDataError(f"cv must be an integer of at least 2, got {cv!r}.")
    names = dataset.class_names
    _check_labels_table(labels, names)
    class_index = {c: i for i, c in enumerate(names)}
    resolved = _resolve(labels, class_index, adjudicators)
    y = np.fromiter(resolved.values(), dtype=np.int64, count=len(resolved))
    counts = {c: int(k) for c, k in enumerate(np.bincount(y, minlength=len(names)))}
    message = _needed_message(counts, names, what)
    if message:
        raise ActiveLearnError(message)
    positions = dataset.positions(list(resolved.keys()))
    if exclude_positions is not None and np.isin(positions, np.asarray(exclude_positions)).any():
        raise InvalidDataError(f"{what}: some labeled items are among exclude_positions (the held-out test set).")
    folds = fold_ids(y, cv, random_state)
    template = _template(dataset, model, exclude_positions, random_state)
    P = cross_fitted_proba(template, dataset.X[positions], y, folds, len(names))
    index = pd.Index([dataset.item_id(p) for p in positions], name="item_id")
    return pd.DataFrame(P, index=index, columns=names), positions, resolved


# -- suspects ------------------------------------------------------------------
def suspects(dataset, labels, model=None, n=None, cv=5, random_state=0, exclude_positions=None, adjudicators=(),
             method="self_confidence"):
    """Given labels, most doubtful first: cleanlab's label-quality score on out-of-sample probabilities.

    Parameters
    ----------
    dataset : Dataset
    labels : pandas.DataFrame
        ``item_id, label, annotator, labeled_at`` (:meth:`Session.labels`).
    model : estimator, optional
        The model template to cross-fit (see :func:`out_of_sample_proba`).
    n : int, optional
        Return the ``n`` most doubtful labels; all of them by default.
    cv, random_state, exclude_positions, adjudicators
        See :func:`out_of_sample_proba`.
    method : str
        cleanlab's scoring method (``"self_confidence"``: the out-of-sample
        probability of the given label; ``"normalized_margin"``,
        ``"confidence_weighted_entropy"``).

    Returns
    -------
    pandas.DataFrame
        :data:`SUSPECT_COLUMNS`, one row per given label (each annotator's),
        lowest ``score`` first (ties: the most confident ``suggested`` first): ``label`` the given class, ``suggested`` the
        class the out-of-sample model prefers, ``score`` in [0, 1] (lower =
        more doubtful), ``issue`` whether cleanlab's confident learning
        (``cleanlab.filter.find_label_issues``) flags it as a label error.

    Raises
    ------
    ActiveLearnError
        Too few labels to cross-fit (the message says how many more), or cleanlab missing.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise InvalidDataError(f"n must be a positive integer or None, got {n!r}.")
    cleanlab = _cleanlab()
    proba, positions, resolved = _out_of_sample(dataset, labels, model, cv, random_state, exclude_positions,
                                                adjudicators, "suspects()")
    names = dataset.class_names
    class_index = {c: i for i, c in enumerate(names)}
    row_of = {item: i for i, item in enumerate(resolved)}
    rows = np.array([row_of[str(i)] for i in labels["item_id"].astype(str)], dtype=np.int64)
    P = proba.to_numpy()[rows]  # each given label against its item's out-of-sample probabilities
    given = np.array([class_index[str(c)] for c in labels["label"]], dtype=np.int64)
    score = cleanlab.rank.get_label_quality_scores(given, P, method=method)
    issue = _label_issues(cleanlab, given, P)
    out = pd.DataFrame({
        "item_id": [dataset.item_id(p) for p in positions[rows]],
        "label": labels["label"].astype(str).to_numpy(),
        "suggested": np.asarray(names, dtype=object)[P.argmax(axis=1)],
        "score": score.astype(float),
        "annotator": labels["annotator"].to_numpy(),
        "labeled_at": labels["labeled_at"].to_numpy() if "labeled_at" in labels else pd.NaT,
        "issue": issue,
    }, columns=SUSPECT_COLUMNS)
    # Ties (the spreading posterior is often one-hot: many scores of exactly 0) go to the surer suggestion.
    out = out.iloc[np.lexsort((-P.max(axis=1), score))].reset_index(drop=True)
    return out if n is None else out.head(int(n))


def _label_issues(cleanlab, given, P):
    """Confident learning's flags; classes never given are left out (cleanlab needs a label of each class)."""
    present = np.unique(given)
    if len(present) < 2:
        return np.zeros(len(given), dtype=bool)
    remap = np.full(P.shape[1], -1)
    remap[present] = np.arange(len(present))
    sub = P[:, present]
    sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(cleanlab.filter.find_label_issues(remap[given], sub, n_jobs=1), dtype=bool)


# -- several annotators ---------------------------------------------------------
def _wide(labels, class_names):
    """``(items, annotators, matrix)``: items in first-labeled order, NaN where an annotator gave no label."""
    _check_labels_table(labels, class_names)
    class_index = {c: i for i, c in enumerate(class_names)}
    ids = labels["item_id"].astype(str)
    items = list(dict.fromkeys(ids))
    annotators = list(dict.fromkeys(labels["annotator"].astype(str)))
    wide = np.full((len(items), len(annotators)), np.nan)
    r = {i: k for k, i in enumerate(items)}
    a = {i: k for k, i in enumerate(annotators)}
    for item, who, lab in zip(ids, labels["annotator"].astype(str), labels["label"].astype(str)):
        wide[r[item], a[who]] = class_index[lab]  # one live label per (item, annotator); the latest wins
    first_id = dict(zip(ids, labels["item_id"]))
    return [first_id[i] for i in items], items, annotators, wide


def _rows_for(pred_probs, keys, class_names, what):
    """Rows of ``pred_probs`` (DataFrame indexed by item id, or array in ``keys`` order) for ``keys`` (str ids)."""
    if isinstance(pred_probs, pd.DataFrame):
        by_id = {str(i): k for k, i in enumerate(pred_probs.index)}
        missing = [k for k in keys if k not in by_id]
        if missing:
            raise InvalidDataError(f"{what} has no row for items {missing[:5]}; give one row per labeled item.")
        cols = [c for c in class_names if c in pred_probs.columns]
        P = pred_probs[cols if len(cols) == len(class_names) else pred_probs.columns].to_numpy(float)
        P = P[[by_id[k] for k in keys]]
    else:
        P = np.asarray(pred_probs, dtype=float)
        if len(P) != len(keys):
            raise InvalidDataError(f"{what} has {len(P)} rows for {len(keys)} labeled items.")
    if P.shape[1] != len(class_names):
        raise InvalidDataError(f"{what} has {P.shape[1]} columns for {len(class_names)} classes.")
    return P / np.clip(P.sum(axis=1, keepdims=True), 1e-12, None)


def consensus(labels, class_names, pred_probs=None):
    """Consensus label per item and quality per annotator, with cleanlab's CROWDLAB.

    Parameters
    ----------
    labels : pandas.DataFrame
        ``item_id, label, annotator`` (:meth:`Session.labels`; audit labels count like any other).
    class_names : list of str
    pred_probs : pandas.DataFrame or array-like of shape (n_items, n_classes), optional
        Out-of-sample probabilities of the labeled items
        (:func:`out_of_sample_proba`: indexed by item id), or an array in the
        order items were first labeled. Without them: majority vote (ties
        broken by cleanlab) and each annotator's agreement with it.

    Returns
    -------
    items : pandas.DataFrame
        ``item_id`` (as in ``labels``), ``consensus`` (class name),
        ``quality`` (cleanlab's consensus quality score in [0, 1]; NaN without
        ``pred_probs``), ``agreement`` (share of the item's annotators who gave
        the consensus), ``n_labels``; items in first-labeled order.
    annotators : pandas.DataFrame
        ``annotator``, ``quality`` (CROWDLAB's annotator quality: their
        labels' agreement with the consensus, weighted with their labels'
        quality under the model; without ``pred_probs``, the agreement alone),
        ``agreement`` (share of their labels equal to the consensus, on items
        someone else labeled too; NaN if none), ``worst_class``, ``n_labels``;
        best first.
    """
    cleanlab = _cleanlab()
    from cleanlab.multiannotator import get_label_quality_multiannotator, get_majority_vote_label

    ids, keys, annotators, wide = _wide(labels, class_names)
    if not len(keys):
        raise ActiveLearnError("consensus() needs labels; the labels table is empty.")
    P = None if pred_probs is None else _rows_for(pred_probs, keys, class_names, "pred_probs")
    n_per_item = (~np.isnan(wide)).sum(axis=1)
    names = np.asarray(class_names, dtype=object)
    if P is not None and len(annotators) > 1 and (n_per_item > 1).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = get_label_quality_multiannotator(wide, P, verbose=False)
        lq, stats = info["label_quality"], info["annotator_stats"]
        cons = lq["consensus_label"].to_numpy(np.int64)
        quality = lq["consensus_quality_score"].to_numpy(float)
        a_quality = stats["annotator_quality"].reindex(range(len(annotators))).to_numpy(float)
        worst = stats["worst_class"].reindex(range(len(annotators))).to_numpy()
    else:  # one label per item, or no model: CROWDLAB's weights are undefined; majority vote
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cons = np.asarray(get_majority_vote_label(wide, P, verbose=False), dtype=np.int64)
        quality = (np.full(len(keys), np.nan) if P is None
                   else cleanlab.rank.get_label_quality_scores(cons, P).astype(float))
        a_quality, worst = None, np.full(len(annotators), None)
    agree_item = np.array([(wide[i][~np.isnan(wide[i])] == cons[i]).mean() for i in range(len(keys))])
    shared = n_per_item > 1
    a_agree = np.array([np.nanmean(np.where(wide[shared, j] == cons[shared], 1.0,
                                            np.where(np.isnan(wide[shared, j]), np.nan, 0.0)))
                        if (~np.isnan(wide[shared, j])).any() else np.nan for j in range(len(annotators))])
    if a_quality is None:
        a_quality = a_agree
    if worst[0] is not None:
        worst = np.array([None if pd.isna(w) else names[int(w)] for w in worst], dtype=object)
    items = pd.DataFrame({"item_id": ids, "consensus": names[cons], "quality": quality, "agreement": agree_item,
                          "n_labels": n_per_item.astype(int)})
    people = pd.DataFrame({"annotator": annotators, "quality": a_quality, "agreement": a_agree,
                           "worst_class": worst, "n_labels": (~np.isnan(wide)).sum(axis=0).astype(int)})
    people = people.sort_values("quality", ascending=False, kind="stable", na_position="last")
    return items, people.reset_index(drop=True)


def activelab_scores(labels, class_names, pred_probs=None, pred_probs_unlabeled=None):
    """ActiveLab: the value of one more label on each item, labeled or not (cleanlab's multi-annotator scores).

    Lower is more valuable. For a labeled item the score is its consensus
    quality blended toward ``1 / n_classes`` by how much its labels weigh
    (doubtful, thinly labeled items score low: ask another annotator); for an
    unlabeled item it is its label-quality under the model (uncertain items
    score low: label it anew). Both are on one scale, so a queue can fill each
    slot with the lowest score of either kind.

    Parameters
    ----------
    labels : pandas.DataFrame
        ``item_id, label, annotator``.
    class_names : list of str
    pred_probs : pandas.DataFrame, optional
        Out-of-sample probabilities of the labeled items (:func:`out_of_sample_proba`).
    pred_probs_unlabeled : pandas.DataFrame, optional
        The model's probabilities of unlabeled pool items (index: item ids,
        one column per class).

    Returns
    -------
    pandas.DataFrame
        ``item_id``, ``score``, ``labeled`` (True: ask for another label,
        False: a first label), ``n_labels``; lowest score first. Labeled
        items take their ids from ``pred_probs``' index (in
        :func:`out_of_sample_proba`'s form), unlabeled ones from
        ``pred_probs_unlabeled``'s.
    """
    _cleanlab()
    from cleanlab.multiannotator import get_active_learning_scores

    if pred_probs is None and pred_probs_unlabeled is None:
        raise InvalidDataError("activelab_scores() needs pred_probs (labeled items), pred_probs_unlabeled, or both.")
    frames = []
    wide = P = P_un = None
    if pred_probs is not None:
        _, keys, _, wide = _wide(labels, class_names)
        P = _rows_for(pred_probs, keys, class_names, "pred_probs")
        ids = {str(i): i for i in pred_probs.index} if isinstance(pred_probs, pd.DataFrame) else None
        labeled_ids = [ids[k] for k in keys] if ids else keys
    if pred_probs_unlabeled is not None:
        P_un = np.asarray(pred_probs_unlabeled, dtype=float)
        if P_un.shape[1] != len(class_names):
            raise InvalidDataError(f"pred_probs_unlabeled has {P_un.shape[1]} columns for {len(class_names)} classes.")
        P_un = P_un / np.clip(P_un.sum(axis=1, keepdims=True), 1e-12, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores, scores_un = get_active_learning_scores(wide, P, P_un)
    if P is not None:
        frames.append(pd.DataFrame({"item_id": labeled_ids, "score": scores, "labeled": True,
                                    "n_labels": (~np.isnan(wide)).sum(axis=1).astype(int)}))
    if P_un is not None:
        un_ids = (list(pred_probs_unlabeled.index) if isinstance(pred_probs_unlabeled, pd.DataFrame)
                  else list(range(len(P_un))))
        frames.append(pd.DataFrame({"item_id": un_ids, "score": scores_un, "labeled": False, "n_labels": 0}))
    out = pd.concat(frames, ignore_index=True)
    order = np.argsort(out["score"].to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)

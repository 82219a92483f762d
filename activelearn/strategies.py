"""Query strategies as pure functions, and a registry by name.

Every strategy has one signature::

    strategy(classifier, X_pool, n_instances, random_state=None, **context) -> positions

and returns distinct integer positions into ``X_pool``, best first. ``context``
carries what some strategies need beyond the pool (``X_labeled``,
``y_labeled``, ``n_classes``); strategies ignore what they do not use. The
loop maps positions back to stable item ids.

Scoring is modAL's (``modAL.uncertainty``, ``modAL.density``,
``modAL.disagreement``, ``modAL.batch``); selection is done here with a
partial sort and a seeded tie-break, never the global ``np.random``.
"""

import numpy as np
from sklearn.base import clone
from sklearn.metrics import pairwise_distances_argmin_min
from sklearn.utils import check_random_state

from ._compat import patch_modal
from .exceptions import UnknownStrategyError
from ._proba import predict_proba_full, predict_proba_mc

patch_modal()
from modAL.uncertainty import _proba_entropy, _proba_margin, _proba_uncertainty  # noqa: E402

__all__ = ["STRATEGIES", "register", "get_strategy", "select_top", "random_sampling", "least_confident",
           "margin", "entropy", "ranked_batch", "diverse", "pool_uncertainty", "is_dask_array", "committee",
           "density", "bald", "kcenter", "kmeans",
           "uncertainty_scores", "typiclust", "auto", "auto_phase", "display_score", "activelab"]

STRATEGIES = {}
_SCORE_CHUNK = 65536
#: Strategies that need no fitted model (usable for a cold start).
MODEL_FREE = set()


def register(name, model_free=False):
    """Decorator that adds a strategy to :data:`STRATEGIES` under ``name``."""
    def deco(func):
        STRATEGIES[name] = func
        if model_free:
            MODEL_FREE.add(name)
        func.strategy_name = name
        return func
    return deco


def get_strategy(name_or_func):
    """The strategy function for a registered name (or the callable itself).

    Raises
    ------
    UnknownStrategyError
        If ``name_or_func`` is a name that is not registered.
    """
    if callable(name_or_func):
        return name_or_func
    try:
        return STRATEGIES[name_or_func]
    except KeyError:
        raise UnknownStrategyError(
            f"unknown query strategy {name_or_func!r}; choose one of {sorted(STRATEGIES)} "
            "or pass a function (classifier, X_pool, n_instances, random_state) -> positions."
        ) from None


def select_top(scores, n_instances, random_state=None):
    """Positions of the ``n_instances`` largest scores, best first; ties broken at random.

    A partial sort (``argpartition``) keeps this linear in the pool size.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = min(int(n_instances), len(scores))
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    rng = check_random_state(random_state)
    # Negated scores plus a tiny random jitter, built in one buffer (pools can hold millions of items).
    noisy = rng.random(len(scores))
    noisy *= -1e-12 * (1.0 + max(abs(scores.max()), abs(scores.min())))
    noisy -= scores
    top = np.argpartition(noisy, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    return top[np.argsort(noisy[top], kind="stable")].astype(np.int64)


def _negative_margin(proba):
    return -_proba_margin(proba)


_SCORERS = {"least_confident": _proba_uncertainty, "margin": _negative_margin, "entropy": _proba_entropy}


def uncertainty_scores(proba, kind="margin"):
    """Higher = more uncertain, from modAL's scoring of a probability matrix."""
    return np.asarray(_SCORERS[kind](proba), dtype=np.float64)


def is_dask_array(X):
    """Whether ``X`` is a ``dask.array.Array`` (scored block by block on a Dask cluster)."""
    return type(X).__module__.startswith("dask.array")


def _score_block(block, classifier, n_classes, kind):
    proba = predict_proba_full(classifier, block, n_classes) if n_classes else classifier.predict_proba(block)
    return uncertainty_scores(np.asarray(proba), kind)


def pool_uncertainty(classifier, X_pool, kind="margin", n_classes=None, **_):
    """Uncertainty of every pool item (higher = more uncertain), one float64 per item.

    ``X_pool`` may be an array, a ``np.memmap`` (read in chunks by the model)
    or a ``dask.array.Array``: then each block is scored where it lives
    (``map_blocks`` with the fitted model) and only the scores, 8 bytes per
    item, come back.
    """
    n_classes = n_classes or len(getattr(classifier, "classes_", [])) or None
    if is_dask_array(X_pool):
        X_pool = X_pool.rechunk({i: -1 for i in range(1, X_pool.ndim)})
        scores = X_pool.map_blocks(_score_block, classifier, n_classes, kind, drop_axis=list(range(1, X_pool.ndim)),
                                   dtype=np.float64)
        return np.asarray(scores.compute())
    # Score in chunks: memory beyond the pool is one float64 per item plus one chunk's probabilities.
    scores = np.empty(len(X_pool), dtype=np.float64)
    for start in range(0, len(X_pool), _SCORE_CHUNK):
        scores[start:start + _SCORE_CHUNK] = _score_block(X_pool[start:start + _SCORE_CHUNK], classifier, n_classes,
                                                          kind)
    return scores


@register("random", model_free=True)
def random_sampling(classifier, X_pool, n_instances, random_state=None, **context):
    """Uniform random positions: the baseline every other strategy is measured against."""
    rng = check_random_state(random_state)
    n = min(int(n_instances), len(X_pool))
    return rng.choice(len(X_pool), size=n, replace=False).astype(np.int64)


@register("least_confident")
def least_confident(classifier, X_pool, n_instances, random_state=None, **context):
    """Lowest top-class probability (modAL ``classifier_uncertainty``)."""
    return select_top(pool_uncertainty(classifier, X_pool, "least_confident", **context), n_instances, random_state)


@register("margin")
def margin(classifier, X_pool, n_instances, random_state=None, **context):
    """Smallest gap between the two most probable classes (modAL ``classifier_margin``)."""
    return select_top(pool_uncertainty(classifier, X_pool, "margin", **context), n_instances, random_state)


@register("entropy")
def entropy(classifier, X_pool, n_instances, random_state=None, **context):
    """Highest entropy of the predicted class distribution (modAL ``classifier_entropy``)."""
    return select_top(pool_uncertainty(classifier, X_pool, "entropy", **context), n_instances, random_state)


class _LearnerView:
    """The two attributes modAL's ranked batch reads from a learner."""

    on_transformed = False

    def __init__(self, X_training):
        self.X_training = X_training


@register("ranked_batch")
def ranked_batch(classifier, X_pool, n_instances, random_state=None, X_labeled=None, **context):
    """modAL's ranked batch mode (Cardoso et al. 2017): uncertain and far from labeled items.

    Uses ``modAL.batch.ranked_batch`` unchanged; it is quadratic in the pool on
    a cold start and slow on large pools (see ``diverse_batch`` for scale).
    """
    from modAL.batch import ranked_batch as modal_ranked_batch

    unc = pool_uncertainty(classifier, X_pool, "least_confident", **context)
    X_pool = np.asarray(X_pool).reshape(len(X_pool), -1)
    X_lab = None if X_labeled is None or len(X_labeled) == 0 else np.asarray(X_labeled).reshape(len(X_labeled), -1)
    n = min(int(n_instances), len(X_pool))
    return np.asarray(modal_ranked_batch(_LearnerView(X_lab), X_pool, unc, n, metric="euclidean", n_jobs=None),
                      dtype=np.int64)


@register("committee")
def committee(classifier, X_pool, n_instances, random_state=None, X_labeled=None, y_labeled=None,
              n_members=3, **context):
    """Query by committee with vote entropy (modAL ``Committee`` + ``vote_entropy``).

    The committee is ``n_members`` clones of ``classifier``, each trained on a
    bootstrap sample of the labeled items with its own seed.
    """
    from modAL.disagreement import vote_entropy
    from modAL.models import ActiveLearner, Committee

    if X_labeled is None or y_labeled is None or len(X_labeled) == 0:
        raise ValueError("committee needs the labeled items (X_labeled, y_labeled) in its context.")
    rng = check_random_state(random_state)
    X_labeled = np.asarray(X_labeled)
    y_labeled = np.asarray(y_labeled)
    learners = []
    for m in range(n_members):
        est = clone(classifier)
        if "random_state" in est.get_params():
            est.set_params(random_state=int(rng.randint(2**31 - 1)))
        boot = rng.randint(0, len(X_labeled), len(X_labeled))
        learners.append(ActiveLearner(estimator=est, X_training=X_labeled[boot], y_training=y_labeled[boot]))
    comm = Committee(learner_list=learners)
    return select_top(vote_entropy(comm, X_pool), n_instances, random_state=rng)


def _density_scores(X_pool, random_state=None, max_exact=4096, n_reference=2048, chunk=8192):
    """modAL's information density; estimated against a random reference sample for large pools."""
    from modAL.density import information_density
    from sklearn.metrics import pairwise_distances

    X = np.asarray(X_pool).reshape(len(X_pool), -1)
    if len(X) <= max_exact:
        return information_density(X, metric="euclidean")
    rng = check_random_state(random_state)
    ref = X[rng.choice(len(X), n_reference, replace=False)]
    return np.concatenate([(1.0 / (1.0 + pairwise_distances(X[i:i + chunk], ref))).mean(axis=1)
                           for i in range(0, len(X), chunk)])


@register("density")
def density(classifier, X_pool, n_instances, random_state=None, beta=1.0, **context):
    """Information density (Settles & Craven 2008): entropy x (mean similarity to the pool)^beta."""
    unc = pool_uncertainty(classifier, X_pool, "entropy", **context)
    return select_top(unc * _density_scores(X_pool, random_state) ** beta, n_instances, random_state)


def bald_scores(proba_mc):
    """Mutual information between prediction and weights from MC samples (n_samples, n, C)."""
    eps = 1e-12
    mean = proba_mc.mean(axis=0)
    h_mean = -(mean * np.log(mean + eps)).sum(axis=1)
    mean_h = -(proba_mc * np.log(proba_mc + eps)).sum(axis=2).mean(axis=0)
    return h_mean - mean_h


@register("bald")
def bald(classifier, X_pool, n_instances, random_state=None, n_samples=20, **context):
    """BALD (Houlsby et al. 2011) with Monte-Carlo dropout (Gal et al. 2017)."""
    rng = check_random_state(random_state)
    proba_mc = predict_proba_mc(classifier, X_pool, n_samples=n_samples,
                                random_state=int(rng.randint(2**31 - 1)))
    return select_top(bald_scores(proba_mc), n_instances, rng)


@register("diverse")
def diverse(classifier, X_pool, n_instances, random_state=None, X_labeled=None, candidates_per_item=10,
            min_candidates=1000, **context):
    """Uncertain and spread out, linear in the pool: the role of ranked batch at any pool size.

    The ``max(min_candidates, candidates_per_item * n_instances)`` items with the
    smallest margin are candidates; from them, each pick maximises
    ``uncertainty x distance`` to everything labeled or already picked
    (greedy k-center weighted by uncertainty). Cost: one scoring pass over
    the pool plus O(candidates x (labeled + n_instances)) distances — never
    quadratic in the pool. Works on arrays, memmaps and Dask arrays.
    """
    rng = check_random_state(random_state)
    n = min(int(n_instances), len(X_pool))
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    unc = pool_uncertainty(classifier, X_pool, "margin", **context)
    m = min(len(unc), max(int(min_candidates), int(candidates_per_item) * n))
    cand = select_top(unc, m, rng)
    order = np.argsort(cand)  # read candidate rows in pool order (memmap / dask friendly)
    rows = X_pool[cand[order]]
    rows = np.asarray(rows.compute() if is_dask_array(rows) else rows, dtype=np.float32)
    Xc = np.empty_like(rows.reshape(m, -1))
    Xc[order] = rows.reshape(m, -1)
    u = unc[cand]
    weight = (u - u.min()) / (u.max() - u.min()) if u.max() > u.min() else np.ones(m)
    weight = 0.5 + 0.5 * weight  # the least uncertain candidate still counts half
    if X_labeled is not None and len(X_labeled):
        lab = np.asarray(X_labeled, dtype=np.float32).reshape(len(X_labeled), -1)
        _, min_dist = pairwise_distances_argmin_min(Xc, lab)
        min_dist = min_dist.astype(np.float64)
    else:
        min_dist = np.full(m, np.inf)
    chosen = []
    for _ in range(n):
        score = weight * (min_dist if np.isfinite(min_dist).all() else np.where(np.isinf(min_dist), 1.0, 0.0))
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        min_dist = np.minimum(min_dist, np.sqrt(((Xc - Xc[best]) ** 2).sum(axis=1)))
    return cand[np.asarray(chosen)].astype(np.int64)


@register("kcenter", model_free=True)
def kcenter(classifier, X_pool, n_instances, random_state=None, X_labeled=None, **context):
    """k-center greedy (Sener & Savarese 2018): each pick is the item farthest from all chosen and labeled.

    With nothing labeled, the first pick is the item nearest the pool mean. Linear
    in the pool per pick; needs no model, so it serves for a cold start.
    """
    X = np.asarray(X_pool, dtype=np.float32).reshape(len(X_pool), -1)
    n = min(int(n_instances), len(X))
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    if X_labeled is not None and len(X_labeled):
        lab = np.asarray(X_labeled, dtype=np.float32).reshape(len(X_labeled), -1)
        _, min_dist = pairwise_distances_argmin_min(X, lab)
        chosen = []
    else:
        first = int(np.argmin(((X - X.mean(axis=0)) ** 2).sum(axis=1)))
        min_dist = np.sqrt(((X - X[first]) ** 2).sum(axis=1))
        chosen = [first]
    min_dist = min_dist.astype(np.float64)
    rng = check_random_state(random_state)
    while len(chosen) < n:
        nxt = int(select_top(min_dist, 1, rng)[0])
        chosen.append(nxt)
        min_dist = np.minimum(min_dist, np.sqrt(((X - X[nxt]) ** 2).sum(axis=1)))
    return np.asarray(chosen, dtype=np.int64)


@register("kmeans", model_free=True)
def kmeans(classifier, X_pool, n_instances, random_state=None, **context):
    """The item nearest each of ``n_instances`` k-means centres: representative, spread out."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    X = np.asarray(X_pool, dtype=np.float32).reshape(len(X_pool), -1)
    n = min(int(n_instances), len(X))
    rs = check_random_state(random_state).randint(2**31 - 1)
    km = (KMeans(n, n_init=3, random_state=rs) if len(X) <= 20000
          else MiniBatchKMeans(n, n_init=3, random_state=rs, batch_size=4096)).fit(X)
    nearest, _ = pairwise_distances_argmin_min(km.cluster_centers_, X)
    # Two centres can share a nearest item; fill up with the next-nearest distinct ones.
    picked = list(dict.fromkeys(nearest.tolist()))
    if len(picked) < n:
        rest = np.setdiff1d(np.arange(len(X)), picked)
        picked += rest[select_top(-km.transform(X[rest]).min(axis=1), n - len(picked), rs)].tolist()
    return np.asarray(picked[:n], dtype=np.int64)


def _typicality_coordinates(X, transform):
    if transform is not None:
        return np.asarray(transform(X), dtype=np.float32)
    X = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    return X


@register("typiclust", model_free=True)
def typiclust(classifier, X_pool, n_instances, random_state=None, X_labeled=None, transform=None, k_typical=20,
              **context):
    """TypiClust (Hacohen et al. 2022): the most typical item of each of the largest uncovered clusters.

    The pool and the labeled items are clustered into ``labeled + n_instances``
    k-means clusters; clusters that hold no labeled item are visited largest
    first, and each gives its most typical item (highest inverse mean distance
    to its ``k_typical`` nearest neighbours). It needs no model, so it serves as
    the cold start; ``transform`` (given by the :class:`~activelearn.Session`
    from its model, e.g. the t-SNE map of
    :class:`~activelearn.semi.PoolSpreadingClassifier`) sets the space it
    clusters in, else the raw features.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.neighbors import NearestNeighbors

    transform = transform if transform is not None else getattr(classifier, "transform", None)
    n = min(int(n_instances), len(X_pool))
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    rng = check_random_state(random_state)
    E = _typicality_coordinates(X_pool, transform)
    E_lab = (_typicality_coordinates(X_labeled, transform) if X_labeled is not None and len(X_labeled)
             else np.empty((0, E.shape[1]), dtype=np.float32))
    n_clusters = min(len(E) + len(E_lab), n + len(E_lab))
    seed = rng.randint(2**31 - 1)
    both = np.vstack([E, E_lab])
    km = (KMeans(n_clusters, n_init=10 if both.shape[1] <= 8 else 1, random_state=seed) if len(both) <= 20000
          else MiniBatchKMeans(n_clusters, n_init=1, random_state=seed, batch_size=4096)).fit(both)
    cluster, covered = km.labels_[:len(E)], set(km.labels_[len(E):].tolist())
    if len(E) == 1:
        typicality = np.zeros(1)
    elif len(E) <= 20000:
        k = max(1, min(int(k_typical), len(E) - 1))
        dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(E).kneighbors(E)
        typicality = 1.0 / (dist[:, 1:].mean(axis=1) + 1e-12)
    else:  # kNN over millions is too slow: closeness to the own centre stands in
        typicality = -np.sqrt(((E - km.cluster_centers_[cluster]) ** 2).sum(axis=1))
    typicality = typicality + rng.random(len(E)) * 1e-9 * np.abs(typicality).max()  # seeded tie-break
    sizes = np.bincount(cluster, minlength=n_clusters)
    picked = []
    for c in np.argsort(-sizes, kind="stable"):
        if len(picked) == n:
            break
        if c in covered or sizes[c] == 0:
            continue
        members = np.flatnonzero(cluster == c)
        picked.append(int(members[np.argmax(typicality[members])]))
    if len(picked) < n:  # every cluster already covered: the most typical of the rest
        rest = np.setdiff1d(np.arange(len(E)), picked)
        picked += rest[select_top(typicality[rest], n - len(picked), rng)].tolist()
    return np.asarray(picked, dtype=np.int64)


#: ``auto`` leaves the cold start at the latest after this many times ``typical_per_class * n_classes`` labels,
#: so a class that is rare in the pool (or absent from it) cannot hold it there for good.
AUTO_COLD_START_CAP = 5


def auto_phase(n_classes=None, typical_per_class=5, X_labeled=None, y_labeled=None, **_):
    """Which strategy :func:`auto` ranks with for these labels: ``"typiclust"`` or ``"margin"``.

    TypiClust until every class has ``typical_per_class`` labels (counted from
    ``y_labeled``, class positions ``0..n_classes-1``; without it, from the
    total: ``typical_per_class * n_classes`` labels), and never beyond
    :data:`AUTO_COLD_START_CAP` times that total. Without ``n_classes``: margin.
    """
    if n_classes is None or int(n_classes) == 0:
        return "margin"
    need, n_classes = int(typical_per_class), int(n_classes)
    n_labeled = 0 if X_labeled is None else len(X_labeled)
    if y_labeled is None:
        return "typiclust" if n_labeled < need * n_classes else "margin"
    y = np.asarray(y_labeled, dtype=np.int64).ravel()
    n_labeled = len(y)
    y = y[(y >= 0) & (y < n_classes)]
    cold = np.bincount(y, minlength=n_classes).min() < need and n_labeled < AUTO_COLD_START_CAP * need * n_classes
    return "typiclust" if cold else "margin"


@register("auto")
def auto(classifier, X_pool, n_instances, random_state=None, X_labeled=None, n_classes=None, typical_per_class=5,
         **context):
    """The default: :func:`typiclust` until every class has ``typical_per_class`` labels, then :func:`margin`.

    Early on, the model's uncertainty is unreliable and typical, spread-out
    items teach more; once every class has labels, the items the model is
    least sure about do. The rule counts labels per class, so 40 labels all
    of one class are still a cold start; :func:`auto_phase` holds it (and its
    cap for classes that are rare in the pool) and says which one ranks.
    """
    if auto_phase(n_classes, typical_per_class, X_labeled, context.get("y_labeled")) == "typiclust":
        return typiclust(classifier, X_pool, n_instances, random_state, X_labeled=X_labeled, **context)
    return margin(classifier, X_pool, n_instances, random_state, n_classes=n_classes, **context)


@register("activelab")
def activelab(classifier, X_pool, n_instances, random_state=None, X_labeled=None, n_classes=None,
              typical_per_class=5, **context):
    """ActiveLab (cleanlab) on the unlabeled pool: new items whose label the model is least sure of.

    Like :func:`auto`, :func:`typiclust` ranks until every class has
    ``typical_per_class`` labels. Then each pool item's score is cleanlab's
    ``get_active_learning_scores`` for unlabeled data (lower: a label is worth
    more). This function sees the pool only; with several labels per item
    (``labels_per_item > 1``) the session's work queue puts the labeled items
    on the same scale, so that each slot goes to another opinion on a doubtful
    label or to a new item, whichever scores lower (see :mod:`activelearn._queue`).
    """
    if auto_phase(n_classes, typical_per_class, X_labeled, context.get("y_labeled")) == "typiclust":
        return typiclust(classifier, X_pool, n_instances, random_state, X_labeled=X_labeled, **context)
    import warnings

    from cleanlab.multiannotator import get_active_learning_scores

    proba = predict_proba_full(classifier, X_pool, n_classes or len(classifier.classes_))
    proba = np.clip(proba, 0.0, None) / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, scores = get_active_learning_scores(pred_probs_unlabeled=proba)
    return select_top(-scores, n_instances, random_state)


def display_score(strategy_name, proba):
    """What a person is told about an item's score: ``(score name, value)``, or ``(None, None)``.

    Views call this instead of knowing strategy names. ``proba`` is one row
    (or a 1-row matrix) of class probabilities; margin is shown as the gap
    between the two top classes (small = uncertain), the others as their
    uncertainty score. Strategies that do not rank by uncertainty (typiclust,
    random, ...) have no such score.
    """
    kind = strategy_name
    if kind not in _SCORERS:
        return None, None
    score = float(uncertainty_scores(np.atleast_2d(proba), kind)[0])
    return ("top-2 gap", -score) if kind == "margin" else (kind, score)

"""Peers on activelearn's protocol: scikit-activeml 1.0.1 query strategies with scikit-learn models.

Each run uses exactly the test split and the random initial labels that
activelearn's ``simulate`` draws for the same seed (taken from a Session), so
peers and activelearn are compared item for item. Needs ``pip install
scikit-activeml==1.0.1`` (it installs beside this stack without downgrades).

Fairness rules, the same for every peer:

* classes follow the dataset (``0 .. n_classes-1``), never a fixed 10;
* features are standardised the way activelearn's default model does it,
  from the pool's features only (no label looked at): per feature for tables
  (wine, iris), one scale for pixels and embeddings (digits, images, texts);
* ``random``, ``margin`` and ``badge`` start from the seed's shared random
  initial labels; ``typiclust`` and ``auto`` pick their first labels
  themselves (cold start), as activelearn's default does.

``auto`` is the matched peer of activelearn's default strategy: scikit-activeml's
``TypiClust`` until every class has 5 labels, then ``UncertaintySampling``
(margin): the switch rule of ``activelearn.strategies.auto`` (labels counted
per class).
"""

import time

import numpy as np

PEER_MODELS = ("lr", "mlp", "spreading")
PEER_STRATEGIES = ("random", "margin", "badge", "typiclust", "auto")
COLD_START = ("typiclust", "auto")  # pick their own first labels
TYPICAL_PER_CLASS = 5  # as activelearn.strategies.auto


def _model(name, seed, n_classes):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.semi_supervised import LabelSpreading
    from skactiveml.classifier import SklearnClassifier

    classes = np.arange(n_classes)
    if name == "lr":
        return SklearnClassifier(LogisticRegression(max_iter=1000), classes=classes, random_state=seed, missing_label=-1)
    if name == "mlp":
        return SklearnClassifier(MLPClassifier(hidden_layer_sizes=(100,), max_iter=500, random_state=seed),
                                 classes=classes, random_state=seed, missing_label=-1)
    if name == "spreading":  # uses the unlabeled pool, like activelearn's default
        return SklearnClassifier(LabelSpreading(kernel="knn", n_neighbors=7), classes=classes, random_state=seed,
                                 include_unlabeled_samples=True, missing_label=-1)
    raise ValueError(name)


def _strategy(name, seed):
    from skactiveml.pool import Badge, RandomSampling, TypiClust, UncertaintySampling

    if name == "random":
        return RandomSampling(random_state=seed, missing_label=-1)
    if name == "margin":
        return UncertaintySampling(method="margin_sampling", random_state=seed, missing_label=-1)
    if name == "badge":
        return Badge(random_state=seed, missing_label=-1)
    if name == "typiclust":
        return TypiClust(random_state=seed, missing_label=-1)
    if name == "auto":
        return {"typiclust": _strategy("typiclust", seed), "margin": _strategy("margin", seed)}
    raise ValueError(name)


def standardise(dataset, X, pool):
    """The default model's feature scaling (``PoolSpreadingClassifier``'s ``scaling``), from pool features only."""
    Xp = X[pool]
    mean = Xp.mean(axis=0)
    if dataset.kind == "table":
        scale = Xp.std(axis=0)
        scale = np.maximum(scale, max(float(np.median(scale)) * 0.1, 1e-6))
    else:
        scale = max(float(Xp.std()), 1e-6)
    return (X - mean) / scale


def run_peer(dataset, model_name, strategy_name, seed, budget, batch_size=10, initial_size=10, test_size=0.3):
    """One peer learning curve; rows like activelearn's ``simulate`` (strategy = ``model+strategy``)."""
    import pandas as pd

    from activelearn import Session
    from activelearn.simulate import initial_ids

    from sklearn.linear_model import LogisticRegression

    session = Session(dataset, model=LogisticRegression(), strategy="random", store=":memory:", test_size=test_size,
                      random_state=seed)
    test = np.flatnonzero(session.test_mask)
    pool = np.flatnonzero(~session.test_mask)
    first = [] if strategy_name in COLD_START else dataset.positions(initial_ids(session, initial_size, seed))
    session.store.close()

    X = standardise(dataset, np.asarray(dataset.X, dtype=np.float64).reshape(len(dataset), -1), pool)
    Xp, Xt, yt = X[pool], X[test], dataset.y[test]
    y = np.full(len(pool), -1, dtype=np.int64)
    y[np.searchsorted(pool, first)] = dataset.y[first]
    clf, qs = _model(model_name, seed, dataset.n_classes), _strategy(strategy_name, seed)
    rows = []
    while True:
        n = int((y >= 0).sum())
        if n:
            t = time.perf_counter()
            clf.fit(Xp, y)
            train_s = time.perf_counter() - t
            acc = float((clf.predict(Xt) == yt).mean())
            rows.append({"n_labels": n, "accuracy": acc, "train_seconds": train_s})
        if n >= budget:
            break
        # the first batch of a cold-start strategy is the initial set's size, as for activelearn's default
        k = min(initial_size if (n == 0 and initial_size) else batch_size, budget - n)
        t = time.perf_counter()
        name, q = strategy_name, qs
        if strategy_name == "auto":  # as activelearn.strategies.auto: until every class has 5 labels
            per_class = np.bincount(y[y >= 0], minlength=dataset.n_classes)
            name = "typiclust" if per_class.min() < TYPICAL_PER_CLASS else "margin"
            q = qs[name]
        if name in ("random", "typiclust"):
            idx = q.query(Xp, y, batch_size=k)
        else:
            idx = q.query(Xp, y, clf=clf, fit_clf=False, batch_size=k)
        if rows:
            rows[-1]["query_seconds"] = time.perf_counter() - t
        y[idx] = dataset.y[pool[idx]]
    out = pd.DataFrame(rows)
    out["strategy"] = f"{model_name}+{strategy_name}"
    out["seed"] = seed
    out["round"] = np.arange(len(out))
    return out

"""Peers on activelearn's protocol: scikit-activeml 1.0.1 query strategies with scikit-learn models.

Each run uses exactly the test split and the random initial labels that
activelearn's ``simulate`` draws for the same seed (taken from a Session), so
peers and activelearn are compared item for item. Needs ``pip install
scikit-activeml==1.0.1`` (it installs beside this stack without downgrades).
"""

import time

import numpy as np

PEER_MODELS = ("lr", "mlp", "spreading")
PEER_STRATEGIES = ("random", "margin", "badge", "typiclust")


def _model(name, seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.semi_supervised import LabelSpreading
    from skactiveml.classifier import SklearnClassifier

    classes = np.arange(10)
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
    raise ValueError(name)


def run_peer(dataset, model_name, strategy_name, seed, budget, batch_size=10, initial_size=10, test_size=0.3):
    """One peer learning curve; rows like activelearn's ``simulate`` (strategy = ``model+strategy``).

    ``typiclust`` is a cold-start method: as in scikit-activeml's own benchmark it
    picks every label (no random initial set).
    """
    import pandas as pd

    from activelearn import Session
    from activelearn.simulate import initial_ids

    session = Session(dataset, model=_model("lr", seed), strategy="random", store=":memory:",
                      test_size=test_size, random_state=seed)
    test = np.flatnonzero(session.test_mask)
    pool = np.flatnonzero(~session.test_mask)
    first = [] if strategy_name == "typiclust" else dataset.positions(initial_ids(session, initial_size, seed))
    session.store.close()

    X = np.asarray(dataset.X, dtype=np.float64).reshape(len(dataset), -1)
    Xp, Xt, yt = X[pool], X[test], dataset.y[test]
    y = np.full(len(pool), -1, dtype=np.int64)
    where = np.searchsorted(pool, first)
    y[where] = dataset.y[first]
    clf, qs = _model(model_name, seed), _strategy(strategy_name, seed)
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
        k = min(batch_size, budget - n)
        t = time.perf_counter()
        if strategy_name == "random" or (strategy_name == "typiclust"):
            idx = qs.query(Xp, y, batch_size=k)
        else:
            idx = qs.query(Xp, y, clf=clf, fit_clf=False, batch_size=k)
        if rows:
            rows[-1]["query_seconds"] = time.perf_counter() - t
        y[idx] = dataset.y[pool[idx]]
    out = pd.DataFrame(rows)
    out["strategy"] = f"{model_name}+{strategy_name}"
    out["seed"] = seed
    out["round"] = np.arange(len(out))
    return out

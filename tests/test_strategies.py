import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import activelearn as al
from activelearn import strategies as S


class FixedProba:
    """A 'classifier' whose predict_proba returns rows chosen by the test."""

    def __init__(self, proba):
        self.proba = np.asarray(proba, dtype=float)
        self.classes_ = np.arange(self.proba.shape[1])

    def predict_proba(self, X):
        return self.proba[np.asarray(X, dtype=int).ravel()]

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)


# rows: item 0 certain, 1 two-way tie, 2 three-way spread, 3 close top-2 with a third
PROBA = [[0.98, 0.01, 0.01],
         [0.50, 0.50, 0.00],
         [0.34, 0.33, 0.33],
         [0.45, 0.40, 0.15]]
X_IDX = np.arange(4).reshape(-1, 1)


def test_least_confident_hand_computed():
    # 1 - max p: [0.02, 0.50, 0.66, 0.55]
    assert S.least_confident(FixedProba(PROBA), X_IDX, 4, random_state=0).tolist() == [2, 3, 1, 0]


def test_margin_hand_computed():
    # top1 - top2: [0.97, 0.00, 0.01, 0.05] -> smallest first
    assert S.margin(FixedProba(PROBA), X_IDX, 4, random_state=0).tolist() == [1, 2, 3, 0]


def test_entropy_hand_computed():
    # entropies: item 2 (~ln 3) > item 3 > item 1 (ln 2) > item 0
    h = [-sum(p * np.log(p) for p in row if p > 0) for row in PROBA]
    assert np.argsort(h)[::-1].tolist() == [2, 3, 1, 0]
    assert S.entropy(FixedProba(PROBA), X_IDX, 4, random_state=0).tolist() == [2, 3, 1, 0]


def test_select_top_breaks_ties_with_random_state():
    scores = np.zeros(50)
    a = S.select_top(scores, 5, random_state=1)
    assert a.tolist() == S.select_top(scores, 5, random_state=1).tolist()
    draws = {tuple(S.select_top(scores, 5, random_state=s)) for s in range(10)}
    assert len(draws) > 1  # ties are not always resolved to the first positions


def test_select_top_is_partial_sort_best_first():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    assert S.select_top(scores, 3, random_state=0).tolist() == [1, 3, 2]
    assert S.select_top(scores, 10, random_state=0).tolist() == [1, 3, 2, 4, 0]


def test_bald_scores_hand_computed():
    # Two MC samples that disagree confidently -> high BALD; agree -> zero.
    agree = np.array([[[0.5, 0.5]], [[0.5, 0.5]]])
    disagree = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert S.bald_scores(agree)[0] == pytest.approx(0.0, abs=1e-9)
    assert S.bald_scores(disagree)[0] == pytest.approx(np.log(2), abs=1e-6)


def test_kcenter_picks_the_far_point_first_with_labeled():
    X = np.array([[0.0], [0.1], [10.0], [5.0]])
    picks = S.kcenter(None, X, 2, random_state=0, X_labeled=np.array([[0.0]]))
    assert picks.tolist() == [2, 3]


def test_kcenter_cold_start_starts_near_the_mean():
    X = np.array([[-10.0], [0.2], [10.0]])
    assert S.kcenter(None, X, 1, random_state=0).tolist() == [1]


def test_kmeans_picks_one_per_cluster():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 0.1, size=(20, 2)) for c in (0, 5, 10)])
    picks = S.kmeans(None, X, 3, random_state=0)
    assert sorted(p // 20 for p in picks) == [0, 1, 2]


def test_density_prefers_uncertain_items_in_dense_regions():
    # items 1 and 2 are equally uncertain; 1 sits in the dense cluster
    proba = np.array([[0.9, 0.1]] * 8 + [[0.5, 0.5], [0.5, 0.5]])
    X = np.concatenate([np.zeros((8, 1)), [[0.0]], [[50.0]]])

    class Clf(FixedProba):
        def predict_proba(self, X_):
            return proba[: len(X_)]

    assert S.density(Clf(proba), X, 1, random_state=0).tolist() == [8]


@pytest.mark.parametrize("name", sorted(S.STRATEGIES))
def test_every_strategy_returns_distinct_in_range_positions(name, digits):
    rng = np.random.default_rng(0)
    lab = rng.choice(len(digits), 40, replace=False)
    pool = np.setdiff1d(np.arange(len(digits)), lab)[:300]
    model = al.models.default_torch_model(digits).set_params(train_steps=50)
    model.fit(digits.X[lab], digits.y[lab])
    ctx = dict(X_labeled=digits.X[lab], y_labeled=digits.y[lab], n_classes=10)
    out = S.get_strategy(name)(model, digits.X[pool], 7, random_state=3, **ctx)
    assert out.dtype.kind == "i" and len(out) == 7 and len(set(out.tolist())) == 7
    assert out.min() >= 0 and out.max() < len(pool)
    again = S.get_strategy(name)(model, digits.X[pool], 7, random_state=3, **ctx)
    assert out.tolist() == again.tolist()  # random_state makes it repeatable


def test_ranked_batch_is_modals_algorithm():
    from modAL.batch import ranked_batch as modal_ranked_batch
    from modAL.uncertainty import classifier_uncertainty

    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = LogisticRegression().fit(X[:20], y[:20])

    class View:
        on_transformed = False
        X_training = X[:20]

    ours = S.ranked_batch(clf, X[20:], 5, random_state=0, X_labeled=X[:20])
    theirs = modal_ranked_batch(View(), X[20:], classifier_uncertainty(clf, X[20:]), 5, "euclidean", None)
    assert ours.tolist() == list(theirs)


def test_committee_uses_vote_entropy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    picks = S.committee(LogisticRegression(), X[50:], 10, random_state=0, X_labeled=X[:50], y_labeled=y[:50])
    # Members disagree only near the decision boundary x0 = 0.
    assert np.abs(X[50:][picks, 0]).mean() < np.abs(X[50:, 0]).mean() / 3


def test_unknown_strategy_lists_the_choices():
    with pytest.raises(al.UnknownStrategyError, match="margin"):
        S.get_strategy("magic")


@pytest.fixture(scope="module")
def fitted(digits):
    """A fitted torch model on 40 digits, a pool of 300 and the context a session would pass."""
    rng = np.random.default_rng(0)
    lab = rng.choice(len(digits), 40, replace=False)
    pool = np.setdiff1d(np.arange(len(digits)), lab)[:300]
    model = al.models.default_torch_model(digits).set_params(train_steps=50)
    model.fit(digits.X[lab], digits.y[lab])
    return model, digits.X[pool], dict(X_labeled=digits.X[lab], y_labeled=digits.y[lab], n_classes=10)


def _global_rng_states():
    import random

    import torch

    return np.random.get_state(), random.getstate(), torch.random.get_rng_state()


def _same_states(a, b):
    (np_a, py_a, torch_a), (np_b, py_b, torch_b) = a, b
    return (np_a[0] == np_b[0] and np.array_equal(np_a[1], np_b[1]) and np_a[2:] == np_b[2:] and py_a == py_b
            and bool((torch_a == torch_b).all()))


@pytest.mark.parametrize("name", sorted(S.STRATEGIES))
def test_strategy_neither_reads_nor_moves_the_global_random_generators(name, fitted):
    model, X_pool, ctx = fitted
    picks = []
    for global_seed in (1, 2):  # a strategy that draws from np.random would pick differently
        np.random.seed(global_seed)
        before = _global_rng_states()
        picks.append(S.get_strategy(name)(model, X_pool, 7, random_state=3, **ctx).tolist())
        assert _same_states(before, _global_rng_states()), f"{name} moved a global random generator"
    assert picks[0] == picks[1]
    assert S.get_strategy(name)(model, X_pool, 7, random_state=3, **ctx).tolist() == picks[0]


def test_the_global_rng_check_catches_a_strategy_that_uses_np_random(fitted, monkeypatch):
    model, X_pool, ctx = fitted

    def sloppy(classifier, X_pool, n_instances, random_state=None, **context):
        return np.random.permutation(len(X_pool))[:n_instances]

    monkeypatch.setitem(S.STRATEGIES, "sloppy", sloppy)
    with pytest.raises(AssertionError, match="moved a global random generator"):
        test_strategy_neither_reads_nor_moves_the_global_random_generators("sloppy", fitted)


# Entropy, least confidence and margin disagree here: each ranks another item first.
#   item 0: margin 0.01 (smallest)        1 - max 0.51   entropy 0.807
#   item 1: margin 0.04                   1 - max 0.60 (largest)   entropy 1.0768
#   item 2: margin 0.13                   1 - max 0.58   entropy 1.0823 (largest)
#   item 3: certain
DISAGREE = [[0.49, 0.48, 0.03],
            [0.40, 0.36, 0.24],
            [0.42, 0.29, 0.29],
            [0.96, 0.02, 0.02]]


def test_entropy_least_confident_and_margin_each_pick_their_own_item():
    p = np.array(DISAGREE)
    h = -(p * np.log(p)).sum(axis=1)
    lc = 1 - p.max(axis=1)
    top2 = np.sort(p, axis=1)[:, ::-1]
    margin = top2[:, 0] - top2[:, 1]
    # The fixture is what it claims: three different most-uncertain items.
    assert (h.argmax(), lc.argmax(), margin.argmin()) == (2, 1, 0)
    X = np.arange(4).reshape(-1, 1)
    clf = FixedProba(DISAGREE)
    assert S.entropy(clf, X, 4, random_state=0).tolist() == np.argsort(-h).tolist() == [2, 1, 0, 3]
    assert S.least_confident(clf, X, 4, random_state=0).tolist() == np.argsort(-lc).tolist() == [1, 2, 0, 3]
    assert S.margin(clf, X, 4, random_state=0).tolist() == np.argsort(margin).tolist() == [0, 1, 2, 3]
    for seed in range(5):  # the tie-break never changes a strict ranking
        assert S.entropy(clf, X, 1, random_state=seed).tolist() == [2]
        assert S.least_confident(clf, X, 1, random_state=seed).tolist() == [1]


def _two_blobs():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-3, 1, size=(150, 2)), rng.normal(3, 1, size=(150, 2))])
    y = np.repeat([0, 1], 150)
    clf = LogisticRegression().fit(X[[0, 1, 150, 151]], y[[0, 1, 150, 151]])
    return X, y, clf


def _auto_and_parts(X_lab, y_lab, X_pool, clf, **kw):
    ctx = dict(X_labeled=X_lab, y_labeled=y_lab, n_classes=2)
    picks = S.auto(clf, X_pool, 10, random_state=0, **ctx, **kw).tolist()
    typ = S.typiclust(clf, X_pool, 10, random_state=0, X_labeled=X_lab, y_labeled=y_lab).tolist()
    mar = S.margin(clf, X_pool, 10, random_state=0, n_classes=2).tolist()
    assert typ != mar  # the two halves of auto pick differently here, so the switch is visible
    return picks, typ, mar


def test_auto_counts_labels_per_class_not_in_total():
    X, y, clf = _two_blobs()
    one_class = np.arange(40)  # 40 labels, all of class 0: more than 5 x 2 in total
    pool = np.setdiff1d(np.arange(len(X)), one_class)
    picks, typ, mar = _auto_and_parts(X[one_class], y[one_class], X[pool], clf)
    assert picks == typ  # still the cold start: class 1 has no label

    skewed = np.r_[np.arange(36), 150 + np.arange(4)]  # 36 + 4: one class short of 5
    pool = np.setdiff1d(np.arange(len(X)), skewed)
    picks, typ, mar = _auto_and_parts(X[skewed], y[skewed], X[pool], clf)
    assert picks == typ

    five_each = np.r_[np.arange(5), 150 + np.arange(5)]  # 5 per class: margin
    pool = np.setdiff1d(np.arange(len(X)), five_each)
    picks, typ, mar = _auto_and_parts(X[five_each], y[five_each], X[pool], clf)
    assert picks == mar
    picks, typ, mar = _auto_and_parts(X[five_each], y[five_each], X[pool], clf, typical_per_class=6)
    assert picks == typ  # the threshold is typical_per_class


def test_auto_without_labels_per_class_falls_back_to_the_total():
    X, y, clf = _two_blobs()
    lab = np.arange(10)  # one class only, but without y_labeled auto cannot know
    pool = np.setdiff1d(np.arange(len(X)), lab)
    assert S.auto(clf, X[pool], 10, random_state=0, X_labeled=X[lab], n_classes=2).tolist() == \
        S.margin(clf, X[pool], 10, random_state=0, n_classes=2).tolist()
    assert S.auto(clf, X[pool], 10, random_state=0, X_labeled=X[lab[:9]], n_classes=2).tolist() == \
        S.typiclust(clf, X[pool], 10, random_state=0, X_labeled=X[lab[:9]]).tolist()


def test_diverse_prefers_uncertain_items_and_spreads_them():
    rng = np.random.default_rng(0)
    # two tight blobs on the decision boundary (x0 ~ 0), far apart in x1; plus certain items
    boundary_a = np.c_[rng.normal(0, 0.05, 50), rng.normal(-10, 0.1, 50)]
    boundary_b = np.c_[rng.normal(0, 0.05, 50), rng.normal(10, 0.1, 50)]
    certain = np.c_[rng.normal(8, 0.5, 200), rng.normal(0, 3, 200)]
    X = np.concatenate([boundary_a, boundary_b, certain])
    clf = LogisticRegression().fit(np.array([[-5, 0], [5, 0], [-6, 1], [6, 1]]), [0, 1, 0, 1])
    picks = S.diverse(clf, X, 2, random_state=0, min_candidates=100)
    assert sorted(p // 50 for p in picks) == [0, 1]  # one from each uncertain blob, none certain


def test_diverse_avoids_what_is_already_labeled():
    rng = np.random.default_rng(1)
    X = np.concatenate([np.c_[rng.normal(0, 0.05, 50), rng.normal(-10, 0.1, 50)],
                        np.c_[rng.normal(0, 0.05, 50), rng.normal(10, 0.1, 50)]])
    clf = LogisticRegression().fit(np.array([[-5, 0], [5, 0], [-6, 1], [6, 1]]), [0, 1, 0, 1])
    picks = S.diverse(clf, X, 1, random_state=0, X_labeled=np.array([[0.0, -10.0]]), min_candidates=100)
    assert picks[0] >= 50  # the blob near the labeled item is covered already


def test_dask_pool_scores_match_numpy_on_a_two_worker_cluster():
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 5)).astype(np.float32)
    clf = LogisticRegression().fit(X[:200], (X[:200, 0] + X[:200, 1] > 0).astype(int))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        X_dask = da.from_array(X, chunks=(500, 5))
        for name in ["margin", "entropy", "least_confident", "diverse", "random"]:
            strategy = S.get_strategy(name)
            ours = strategy(clf, X_dask, 20, random_state=3)
            local = strategy(clf, X, 20, random_state=3)
            assert ours.tolist() == local.tolist(), name


def test_auto_leaves_the_cold_start_when_a_class_stays_rare():
    X, y, clf = _two_blobs()
    # 49 labels of class 0 and 1 of class 1: class 1 is short of 5, but 50 = cap x 5 x 2 labels end the cold start
    lab = np.r_[np.arange(49), 150]
    pool = np.setdiff1d(np.arange(len(X)), lab)
    assert S.auto_phase(2, 5, X[lab], y[lab]) == "margin"
    assert S.auto_phase(2, 5, X[lab[1:]], y[lab[1:]]) == "typiclust"  # 49 labels: still short of the cap
    picks, typ, mar = _auto_and_parts(X[lab], y[lab], X[pool], clf)
    assert picks == mar

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


def test_strategies_do_not_touch_global_numpy_random():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    S.random_sampling(None, np.zeros((100, 2)), 5, random_state=0)
    S.select_top(np.zeros(100), 5, random_state=0)
    assert np.array_equal(before, np.random.get_state()[1])


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

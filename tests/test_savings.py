"""Live savings against random sampling (activelearn.savings and Session.savings)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

import activelearn as al
from activelearn.savings import SAVINGS_COLUMNS, random_curve_sizes, savings_row, single_run_spread
from activelearn.simulate import run_offers


def synthetic_curve(n_items, sizes, curve, rng):
    """Correctness of random-sampling models whose accuracy at m labels is curve(m)."""
    return np.stack([(rng.random(n_items) < curve(m)).astype(float) for m in sizes], axis=1)


def test_savings_intervals_contain_the_known_answer():
    curve = lambda m: 1 - 2.0 * m ** -0.7  # noqa: E731
    n_items = 1500
    sizes = random_curve_sizes(n_items)  # 300 .. 1200
    n_labels = 400
    # the strategy at 400 labels is as good as random at 800: 400 labels saved
    covered_saved, covered_random, widths = 0, 0, []
    for seed in range(20):
        r = np.random.default_rng(seed)
        random_correct = synthetic_curve(n_items, sizes, curve, r)
        strategy_correct = (r.random(n_items) < curve(800)).astype(float)
        row = savings_row(n_labels, strategy_correct, random_correct, sizes, paired=True, random_state=seed)
        # an infinite upper end says "beyond what the random curve measured" (past 2 x 1200 labels): above 400
        covered_saved += row["labels_saved_low"] <= 400 <= row["labels_saved_high"]
        covered_random += row["random_low"] <= curve(n_labels) <= row["random_high"]
        widths.append(row["labels_saved_high"] - row["labels_saved_low"])
        assert row["strategy_low"] <= row["strategy_accuracy"] <= row["strategy_high"]
    assert covered_saved >= 15 and covered_random >= 15  # 90% intervals, 20 draws
    widths = np.array(widths)
    assert np.median(widths[np.isfinite(widths)]) < 1000  # informative, not just wide


def lucky_folds(n_items, sizes, curve, share, rng, n_folds=5):
    """Correctness of cross-fitted random models whose single-run accuracy spreads with variance share * p (1 - p)."""
    folds = np.arange(n_items) % n_folds
    out = np.empty((n_items, len(sizes)))
    for s, m in enumerate(sizes):
        p = curve(m)
        luck = rng.normal(0, np.sqrt(share * p * (1 - p)), n_folds)  # each fold's model: one random training subset
        out[:, s] = rng.random(n_items) < np.clip(p + luck[folds], 0, 1)
    return out, folds


def test_single_run_spread_is_measured_from_the_folds():
    curve = lambda m: 1 - 2.0 * m ** -0.7  # noqa: E731
    sizes = random_curve_sizes(250)  # folds of 50 items: their binomial noise alone is a share of 1 / 50
    rng = np.random.default_rng(0)
    calm = [single_run_spread(*lucky_folds(250, sizes, curve, 0.0, rng)) for _ in range(30)]
    lucky = [single_run_spread(*lucky_folds(250, sizes, curve, 0.05, rng)) for _ in range(30)]
    assert np.mean(calm) < 0.008  # the binomial noise of the folds' items is taken off
    assert 0.03 < np.mean(lucky) < 0.07
    assert single_run_spread(np.ones((10, 2)), np.zeros(10)) == 0.0  # one fold: nothing to say


def test_random_interval_covers_a_single_real_run():
    curve = lambda m: 1 - 3.0 * m ** -0.5  # noqa: E731  (0.85 at 400 labels: the runs' luck is not clipped at 1)
    n_items, n_labels, share = 600, 400, 0.03
    sizes = random_curve_sizes(n_items)  # 120 .. 480
    with_runs, without = 0, 0
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        random_correct, folds = lucky_folds(n_items, sizes, curve, share, rng)
        p = curve(n_labels)
        one_run = p + rng.normal(0, np.sqrt(share * p * (1 - p)))  # what a real random run scored
        strategy_correct = (rng.random(n_items) < curve(800)).astype(float)
        row = savings_row(n_labels, strategy_correct, random_correct, sizes, random_state=seed, folds=folds)
        old = savings_row(n_labels, strategy_correct, random_correct, sizes, random_state=seed)
        with_runs += row["random_low"] <= one_run <= row["random_high"]
        without += old["random_low"] <= one_run <= old["random_high"]
        assert row["random_accuracy"] == old["random_accuracy"]  # only the interval changes
    assert with_runs >= 24 and with_runs >= without + 8  # 90% intervals, 30 runs; the item bootstrap alone: ~25%


def test_savings_are_nan_when_the_random_curve_is_too_short():
    rng = np.random.default_rng(1)
    curve = lambda m: 1 - 0.6 * m ** -0.5  # noqa: E731
    few = random_curve_sizes(15)
    row = savings_row(10, np.ones(15), synthetic_curve(15, few, curve, rng) if len(few) else None, few)
    assert np.isnan(row["random_accuracy"]) and np.isnan(row["labels_saved"])
    assert row["strategy_accuracy"] == 1.0  # what the data can say is still said
    sizes = random_curve_sizes(100)  # largest measured size: 80
    random_correct = synthetic_curve(100, sizes, curve, rng)
    # 400 strategy labels: beyond 1.5 x 80, the curve is not read there
    far = savings_row(400, (rng.random(100) < curve(2000)).astype(float), random_correct, sizes)
    assert np.isnan(far["random_accuracy"]) and np.isnan(far["labels_saved"])
    # not even a bound: the readable curve ends (160 labels) before the strategy's 400, so it bounds no saving
    assert np.isnan(far["labels_saved_low"]) and np.isnan(far["labels_saved_high"])


def test_session_savings_rows_cached_and_nan_early(blobs):
    s = al.Session(blobs, model=LogisticRegression(max_iter=200), store=":memory:", test_size=0.25, audit_share=0.5,
                   random_state=0)
    run_offers(s, 70, retrain_every=10)
    out = s.savings(source="audit")
    assert list(out.columns) == SAVINGS_COLUMNS and len(out) == len(s.history)
    assert out["n_labels"].tolist() == s.history["n_labels"].tolist()
    early = out[s.history["audit_n"] < 20]
    assert early["random_accuracy"].isna().all()  # too few audit items: NaN, not a number
    late = out.iloc[-1]
    assert np.isfinite(late["random_accuracy"]) and late["random_low"] <= late["random_high"]
    np.testing.assert_allclose(out["strategy_accuracy"], s.history["audit_accuracy"])
    with_test = s.savings()  # true labels: the held-out set scores the strategy
    np.testing.assert_allclose(with_test["strategy_accuracy"], s.history["accuracy"])
    pd.testing.assert_frame_equal(out, s.savings(source="audit"))
    with pytest.raises(al.InvalidDataError):
        s.savings(source="nope")


def test_savings_far_beyond_a_shallow_random_curve_is_nan_not_an_overflow():
    from activelearn.savings import _crossing

    # error 0.2 * n ** -0.0001: it halves after 2 ** 10000 labels, far beyond any float
    assert _crossing((0.2, 1e-4), 0.9) == float("inf")
    assert _crossing((0.2, 0.5), 0.9) == pytest.approx(4.0)
    assert _crossing((0.2, 0.5), 0.7) == 0.0  # random is there from the start
    rng = np.random.default_rng(2)
    sizes = random_curve_sizes(100)
    shallow = lambda m: 0.6 + 0.0001 * np.log(m)  # noqa: E731
    row = savings_row(40, (np.arange(100) < 90).astype(float), synthetic_curve(100, sizes, shallow, rng), sizes)
    assert np.isnan(row["labels_saved"]) and row["labels_saved_high"] == float("inf")
    assert row["labels_saved_low"] == 2 * sizes.max() - 40  # at least: the whole readable curve is below
    assert np.isfinite(row["random_accuracy"])


def test_saved_bounds_are_read_only_where_the_curve_was_measured():
    from activelearn.savings import _saved_bounds

    # [floor, limit] = [10, 120] labels of the random curve may be read; the strategy used 60
    assert _saved_bounds(80, 100, 60, 10, 120) == (20.0, 40.0)  # inside: read off
    assert _saved_bounds(80, np.inf, 60, 10, 120) == (20.0, np.inf)  # no upper end from the data
    assert _saved_bounds(130, np.inf, 60, 10, 120) == (60.0, np.inf)  # above the whole curve: at least 120 - 60
    assert _saved_bounds(2, 8, 60, 10, 120) == (-60.0, -50.0)  # below it: random needs at most 10 labels
    assert np.isnan(_saved_bounds(2, np.inf, 60, 10, 120)).all()  # nothing to say
    assert np.isnan(_saved_bounds(130, np.inf, 200, 10, 120)).all()  # the curve ends before the strategy's labels


def test_labels_saved_lower_bound_when_the_strategy_beats_the_whole_random_curve():
    curve = lambda m: 1 - 2.0 * m ** -0.7  # noqa: E731
    n_items, n_labels = 300, 150
    sizes = random_curve_sizes(n_items)  # 60 .. 240: the crossing may be read up to 480 labels
    for seed in range(5):
        rng = np.random.default_rng(seed)
        # the strategy at 150 labels is as good as random at 5,000: 4,850 labels saved, far beyond the curve
        strategy_correct = (rng.random(n_items) < curve(5000)).astype(float)
        row = savings_row(n_labels, strategy_correct, synthetic_curve(n_items, sizes, curve, rng), sizes,
                          random_state=seed)
        assert np.isnan(row["labels_saved"])  # no point value beyond the curve
        # a saving is established, never claimed beyond the readable curve (2 x 240 labels), and true
        assert 0 < row["labels_saved_low"] <= 2 * sizes.max() - n_labels <= 5000 - n_labels
        assert row["labels_saved_high"] == float("inf")


def test_a_perfect_audit_score_is_not_a_certain_saving():
    curve = lambda m: 1 - 0.2 * m ** -0.6  # noqa: E731  (0.974 at 30 labels: 30 of 30 right in 45% of draws)
    n_items, n_labels = 30, 30
    sizes = random_curve_sizes(n_items)
    claims, perfect = 0, 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        strategy_correct = (rng.random(n_items) < curve(n_labels)).astype(float)  # no better than random: 0 saved
        perfect += strategy_correct.all()
        row = savings_row(n_labels, strategy_correct, synthetic_curve(n_items, sizes, curve, rng), sizes,
                          random_state=seed)
        claims += row["labels_saved_low"] > 0  # "at least some labels saved": false here
    assert perfect >= 10  # the case is exercised
    assert claims <= 4  # a 90% interval's lower end: wrong on at most ~5% of draws (+ slack for 40 draws)


class PoolPosteriorThatLies(ClassifierMixin, BaseEstimator):
    """A pool-aware model whose pool posterior is always wrong and whose inductive read-out is a logistic regression."""

    def __init__(self, n_classes=3):
        self.n_classes = n_classes

    def fit(self, X, y):
        self.lr_ = LogisticRegression(max_iter=200).fit(X, y)
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict_proba_inductive(self, X):
        out = np.zeros((len(X), self.n_classes))
        out[:, self.lr_.classes_] = self.lr_.predict_proba(X)
        return out

    def predict_proba(self, X):  # what the strategies rank: shifted by one class, never right
        return np.roll(self.predict_proba_inductive(X), 1, axis=1)


def test_audit_scores_the_models_read_out_for_new_data(blobs):
    s = al.Session(blobs, model=PoolPosteriorThatLies(), store=":memory:", test_size=0.25, audit_share=0.5,
                   random_state=0)
    run_offers(s, 50, retrain_every=10)
    out = s.savings(source="audit")
    late = out.iloc[-1]
    # the blobs are separable: the read-out for new data is right; the pool posterior never is
    assert late["strategy_accuracy"] > 0.9 and late["random_accuracy"] > 0.9
    np.testing.assert_allclose(out["strategy_accuracy"], s.history["audit_accuracy"])  # one quantity, both places

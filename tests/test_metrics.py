import numpy as np
import pytest

from activelearn import metrics as M

N = [10, 20, 30, 40]
A = [0.5, 0.8, 0.96, 0.97]


def test_labels_to_target():
    assert M.labels_to_target(N, A, 0.95) == 30
    assert np.isnan(M.labels_to_target(N, A, 0.99))


def test_labels_to_stay_at_target_ignores_a_touch_that_falls_back():
    n = [10, 20, 30, 40, 50, 60]
    a = [0.5, 0.96, 0.90, 0.95, 0.97, 0.96]
    assert M.labels_to_target(n, a, 0.95) == 20  # first touch
    assert M.labels_to_stay_at_target(n, a, 0.95) == 40  # at or above from 40 on (0.95 counts)
    assert M.labels_to_stay_at_target(n[::-1], a[::-1], 0.95) == 40  # order of the points does not matter
    assert M.labels_to_stay_at_target(N, A, 0.95) == 30
    assert M.labels_to_stay_at_target([10, 20], [0.99, 0.99], 0.95) == 10
    assert np.isnan(M.labels_to_stay_at_target([10, 20, 30], [0.96, 0.97, 0.94], 0.95))  # ends below
    assert np.isnan(M.labels_to_stay_at_target([10, 20], [0.96, np.nan], 0.95))
    assert np.isnan(M.labels_to_stay_at_target([], [], 0.95))


def test_savings_pct_conventions():
    assert M.savings_pct(30, 60) == 50.0
    assert M.savings_pct(90, 60) == -50.0
    assert M.savings_pct(30, np.inf) == 100.0
    assert M.savings_pct(np.inf, 60) == -np.inf
    assert np.isnan(M.savings_pct(np.inf, np.inf))


def test_paired_bootstrap_interval_is_paired_seeded_and_covers():
    rng = np.random.default_rng(1)
    base = rng.normal(100, 30, size=10)  # seeds differ a lot ...
    ours = base - 20 + rng.normal(0, 1, size=10)  # ... but ours is 20 lower on every seed
    diff = lambda v, b: float(np.mean(b - v))  # noqa: E731
    est, lo, hi, undefined = M.paired_bootstrap_interval(ours, base, diff, n_boot=2000, random_state=3)
    assert lo <= est <= hi and undefined == 0.0
    assert 18 < lo and hi < 22  # paired: the seed-to-seed spread of 30 does not widen it
    assert M.paired_bootstrap_interval(ours, base, diff, n_boot=2000, random_state=3) == (est, lo, hi, undefined)
    # an unpaired resampling would be far wider: check the pairing is what narrows it
    unpaired = [np.mean(rng.choice(base, 10)) - np.mean(rng.choice(ours, 10)) for _ in range(2000)]
    assert np.quantile(unpaired, 0.975) - np.quantile(unpaired, 0.025) > 5 * (hi - lo)
    nan_half = lambda v, b: float("nan") if v[0] > np.median(ours) else 1.0  # noqa: E731
    _, lo, hi, undefined = M.paired_bootstrap_interval(ours, base, nan_half, n_boot=1000)
    assert (lo, hi) == (1.0, 1.0) and 0.2 < undefined < 0.8
    # infinite values (a target never reached) stay usable in the interval
    never = np.array([np.inf] * 5 + [30.0] * 5)
    _, lo, hi, _ = M.paired_bootstrap_interval(never, np.full(10, 60.0), lambda v, b: M.savings_pct(np.median(v),
                                                                                                    np.median(b)))
    assert lo == -np.inf and hi == 50.0
    with pytest.raises(ValueError):
        M.paired_bootstrap_interval([1, 2], [1], diff)


def test_accuracy_at_is_a_step_function():
    assert M.accuracy_at(N, A, 25) == 0.8
    assert M.accuracy_at(N, A, 40) == 0.97
    assert np.isnan(M.accuracy_at(N, A, 5)) and np.isnan(M.accuracy_at(N, A, 50))


def test_aulc_hand_computed():
    # over 10..40 inclusive (31 label counts): 10 at 0.5, 10 at 0.8, 10 at 0.96, 1 at 0.97
    expected = (10 * 0.5 + 10 * 0.8 + 10 * 0.96 + 0.97) / 31
    assert M.aulc(N, A, 10, 40) == pytest.approx(expected)
    assert M.aulc([0, 100], [1.0, 1.0], 0, 100) == 1.0


def test_projected_labels_to_target_follows_a_power_law():
    n = np.array([10, 20, 40, 80])
    err = 0.5 * n ** -0.5
    proj = M.projected_labels_to_target(n, 1 - err, 0.98)
    assert proj == pytest.approx((0.5 / 0.02) ** 2, rel=0.01)  # 625
    assert M.projected_labels_to_target(N, A, 0.95) == 30  # already reached


def test_projection_needs_three_label_counts_not_three_rounds():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's RankWarning included: no ill-posed fit is attempted
        # four retrains at the same 30 labels (relabels in a review), then one more count: still no trend
        assert np.isnan(M.projected_labels_to_target([30, 30, 30, 30], [0.80, 0.82, 0.81, 0.83], 0.95))
        assert np.isnan(M.projected_labels_to_target([20, 30, 30, 30], [0.70, 0.80, 0.82, 0.81], 0.95))
        assert M.projected_labels_to_target([20, 30, 30, 40], [0.70, 0.80, 0.82, 0.85], 0.95) > 40


def test_seconds_per_label():
    s = M.seconds_per_label([1, 2, 3, None, 100] + [4] * 20, last=20)
    assert s["median"] == 4 and s["median_last_20"] == 4


def test_wilson_interval_contains_p_and_narrows():
    lo, hi = M.wilson_interval(8, 10)
    assert lo < 0.8 < hi
    lo2, hi2 = M.wilson_interval(80, 100)
    assert hi2 - lo2 < hi - lo

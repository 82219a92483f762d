import numpy as np
import pytest

from activelearn import metrics as M

N = [10, 20, 30, 40]
A = [0.5, 0.8, 0.96, 0.97]


def test_labels_to_target():
    assert M.labels_to_target(N, A, 0.95) == 30
    assert np.isnan(M.labels_to_target(N, A, 0.99))


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


def test_seconds_per_label():
    s = M.seconds_per_label([1, 2, 3, None, 100] + [4] * 20, last=20)
    assert s["median"] == 4 and s["median_last_20"] == 4


def test_wilson_interval_contains_p_and_narrows():
    lo, hi = M.wilson_interval(8, 10)
    assert lo < 0.8 < hi
    lo2, hi2 = M.wilson_interval(80, 100)
    assert hi2 - lo2 < hi - lo

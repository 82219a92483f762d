import numpy as np
import pytest

import activelearn as al
from activelearn.stopping import (AccuracyFlattening, AllOf, AnyOf, LabelBudget, PoolUncertainty,
                                  StabilizingPredictions, StoppingState, advise, cohen_kappa, default_criteria,
                                  draw_stop_set)


def state_from_predictions(preds, trained=None):
    k = len(preds)
    return StoppingState(np.arange(1, k + 1) * 10, np.full(k, np.nan), stop_predictions=preds,
                         stop_trained=trained)


def test_cohen_kappa_known_values():
    assert cohen_kappa([0, 1, 0, 1], [0, 1, 0, 1]) == 1.0
    assert cohen_kappa([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(-1.0)
    # observed 0.75, expected 0.5: (0.75 - 0.5) / 0.5
    assert cohen_kappa([0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx(0.5)
    assert np.isnan(cohen_kappa([], []))


def test_stabilizing_predictions_waits_for_the_window_then_stops_on_stable_predictions():
    rng = np.random.default_rng(0)
    changing = [rng.integers(0, 3, 200) for _ in range(4)]
    stable = [changing[-1]] * 3
    crit = StabilizingPredictions(threshold=0.99, window=3)
    value, met = crit.check(state_from_predictions(changing))
    assert not met and value < 0.5
    value, met = crit.check(state_from_predictions(changing + stable[:2]))  # 2 stable comparisons of 3
    assert not met and value < 0.99
    value, met = crit.check(state_from_predictions(changing + stable))
    assert met and value == pytest.approx(1.0)
    assert not crit.check(state_from_predictions(stable[:3]))[1]  # only 2 comparisons exist: never met early


def test_comparisons_never_use_a_stop_item_either_model_trained_on():
    a = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    b = a.copy()
    b[0] = 2  # the models disagree only on item 0 ...
    trained = np.zeros(8, dtype=bool)
    trained[0] = True  # ... which the second model was trained on
    s = state_from_predictions([a, b], [np.zeros(8, bool), trained])
    assert s.kappas()[1] == 1.0
    assert state_from_predictions([a, b]).kappas()[1] < 1.0


def test_draw_stop_set_is_fixed_by_random_state_and_at_most_a_third():
    cand = np.arange(100, 400)
    s1, s2 = draw_stop_set(cand, random_state=3), draw_stop_set(cand, random_state=3)
    np.testing.assert_array_equal(s1, s2)
    assert len(s1) == 100 and np.isin(s1, cand).all()
    assert not np.array_equal(s1, draw_stop_set(cand, random_state=4))
    assert len(draw_stop_set(np.arange(10_000))) == 1000


def test_pool_uncertainty_needs_successive_low_rounds():
    s = StoppingState([10, 20, 30], [0.8, 0.9, 0.9], uncertainty=[0.2, 0.004, 0.006])
    assert PoolUncertainty(0.007, rounds=2, statistic="max").check(s) == (0.006, True)
    assert not PoolUncertainty(0.005, rounds=2, statistic="max").check(s)[1]
    assert PoolUncertainty(0.005, rounds=1).check(StoppingState([10, 20], [0.8, 0.9], uncertainty=[0.2, 0.004]))[1]
    assert not PoolUncertainty(0.007, rounds=3).check(s)[1]  # round 1 was uncertain
    assert not PoolUncertainty().check(StoppingState([10], [0.8]))[1]  # unknown: not met


def test_pool_uncertainty_mean_rides_out_one_noisy_round_and_max_does_not():
    s = StoppingState([10, 20, 30], [0.8, 0.9, 0.9], uncertainty=[0.2, 0.006, 0.013])
    value, met = PoolUncertainty(0.01, rounds=2).check(s)  # the default statistic is the mean
    assert met and value == pytest.approx(0.0095)
    assert PoolUncertainty(0.01, rounds=2, statistic="max").check(s) == (0.013, False)
    assert not PoolUncertainty(0.01, rounds=3).check(s)[1]  # mean of 0.2, 0.006, 0.013
    assert PoolUncertainty().threshold == 0.01 and PoolUncertainty().rounds == 2
    with pytest.raises(ValueError, match="statistic must be 'mean' or 'max'"):
        PoolUncertainty(statistic="median")
    with pytest.raises(ValueError, match="rounds >= 1"):
        PoolUncertainty(rounds=0)


def test_default_advice_stops_after_two_stable_comparisons_and_low_mean_uncertainty():
    rng = np.random.default_rng(1)
    changing = [rng.integers(0, 3, 300) for _ in range(3)]
    preds = changing + [changing[-1]] * 2  # comparisons: 2 changing, then 2 stable
    low = [0.3, 0.1, 0.05, 0.012, 0.007]  # the last two average 0.0095
    s = StoppingState(np.arange(1, 6) * 10, np.full(5, np.nan), stop_predictions=preds, uncertainty=low)
    rule = default_criteria()
    assert rule.is_met(s)
    result = rule.evaluate(s)
    assert result["stabilizing_predictions"]["value"] == 1.0
    assert result["pool_uncertainty"] == {"value": pytest.approx(0.0095), "threshold": 0.01, "met": True}
    assert advise(s).stop
    # one more round of doubt (mean of the last two above 0.01), or only one stable comparison: keep labeling
    assert not rule.is_met(StoppingState(s.n_labels, s.accuracy, stop_predictions=preds,
                                         uncertainty=[0.3, 0.1, 0.05, 0.016, 0.007]))
    late = rng.integers(0, 3, 300)
    assert not rule.is_met(StoppingState(s.n_labels, s.accuracy, stop_predictions=changing[:3] + [late, late],
                                         uncertainty=low))
    assert not (default_criteria(budget=100)).is_met(StoppingState(s.n_labels, s.accuracy, stop_predictions=preds,
                                                                   uncertainty=[0.3, 0.1, 0.05, 0.02, 0.02]))
    assert default_criteria(budget=50).is_met(StoppingState(s.n_labels, s.accuracy, uncertainty=[0.3] * 5))


def _stopping_benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "stopping.py"
    spec = importlib.util.spec_from_file_location("stopping_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_goal_counts_the_saving_only_where_the_curve_had_flattened():
    bench = _stopping_benchmark()
    n = np.array([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    early = np.array([0.5, 0.8, 0.9, 0.95, 0.95, 0.955, 0.95, 0.955, 0.955, 0.955])  # within 1 pt from 40
    late = np.array([0.5, 0.8, 0.9, 0.92, 0.93, 0.93, 0.93, 0.95, 0.955, 0.955])  # within 1 pt from 80
    stop_at = (lambda k: n >= k)
    assert bench.flattened_by(n, early) == 40 and bench.flattened_by(n, late) == 80
    dip = early.copy()
    dip[4] = 0.94  # within 1 point at 40, out again at 50: it stays within only from 60
    assert bench.flattened_by(n, dip) == 60 and bench.seed_verdict(n, dip, stop_at(60))["goal_applies"]
    v = bench.seed_verdict(n, early, stop_at(60))  # 40% fewer, 0.5 pt short: met
    assert v["goal_applies"] and v["goal_met"] and v["saved_pct"] == pytest.approx(40) and v["budget"] == 100
    assert not bench.seed_verdict(n, early, stop_at(70))["goal_met"]  # flattened by 40, but only 30% fewer
    assert not bench.seed_verdict(n, early, stop_at(30))["goal_met"]  # 5.5 points short
    v = bench.seed_verdict(n, late, stop_at(80))  # flattened only at 80: the saving is not asked
    assert not v["goal_applies"] and v["goal_met"] and v["loss"] == pytest.approx(0.005)
    never = bench.seed_verdict(n, early, np.zeros(len(n), bool))
    assert not never["stopped"] and not never["goal_met"] and never["labels"] == 100


def test_benchmark_evaluates_the_library_default_offline():
    """The benchmark's default rule is built from default_criteria() itself: changing one changes the other."""
    bench = _stopping_benchmark()
    k = np.array([np.nan, 0.5, 0.98, 1.0, 1.0, 1.0])
    sig = {"n": np.arange(1, 7) * 10.0, "accuracy": np.full(6, 0.9), "n_eval": np.full(6, 100.0), "kappa": k,
           "kappa3": np.full(6, np.nan), "uncertainty": np.array([0.3, 0.1, 0.05, 0.012, 0.007, 0.02])}
    # kappa window 2 first holds at round 5 (0.98, 1.0 -> 0.99); uncertainty mean of 2 holds at round 5 only
    np.testing.assert_array_equal(bench.library_default_rule()(sig), [0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(bench.kappa_rule(0.99, 3)(sig), [0, 0, 0, 0, 1, 1])


def test_accuracy_flattening_on_hand_made_curves():
    n = np.arange(10, 130, 10)
    rising = 1 - 0.9 * n ** -0.5  # +2.3 points from 120 to 220 labels
    flat = np.full(len(n), 0.97) + np.tile([0.002, -0.002], len(n) // 2)
    crit = AccuracyFlattening(threshold=0.01, horizon=100, window=6)
    v_rising, met_rising = crit.check(StoppingState(n, rising, np.full(len(n), 500)))
    v_flat, met_flat = crit.check(StoppingState(n, flat, np.full(len(n), 500)))
    assert not met_rising and v_rising > 0.01
    assert met_flat and v_flat < 0.01
    assert not crit.check(StoppingState(n[:5], flat[:5]))[1]  # fewer rounds than the window


def test_label_budget_and_composition():
    s = StoppingState([10, 20, 30], [0.5, 0.6, 0.7], uncertainty=[0.5, 0.5, 0.01])
    assert LabelBudget(30).is_met(s) and not LabelBudget(31).is_met(s)
    either = LabelBudget(100) | PoolUncertainty(0.05, rounds=1)
    both = LabelBudget(100) & PoolUncertainty(0.05, rounds=1)
    assert isinstance(either, AnyOf) and isinstance(both, AllOf)
    assert either.is_met(s) and not both.is_met(s)
    result = both.evaluate(s)
    assert result["label_budget"] == {"value": 30.0, "threshold": 100, "met": False}
    assert result["pool_uncertainty"]["met"] is True
    with pytest.raises(ValueError):
        LabelBudget(0)
    with pytest.raises(TypeError):
        advise(s, criteria="budget")


def test_advice_projects_the_curve_and_the_labels_to_target():
    n = np.arange(20, 220, 20).astype(float)
    acc = 1 - 0.5 * n ** -0.5  # reaches 0.97 at (0.03 / 0.5) ** -2 = 277.8 labels
    advice = advise(StoppingState(n, acc, np.full(len(n), 10_000)), LabelBudget(1000), target=0.97,
                    seconds_per_label=6.0)
    assert isinstance(advice, al.StoppingAdvice) and not advice.stop
    assert list(advice.projection.columns) == ["n_labels", "accuracy", "low", "high"]
    assert advice.projection["n_labels"].iloc[0] == 200
    p = advice.projection.set_index("n_labels")
    assert p.loc[400, "accuracy"] == pytest.approx(1 - 0.5 * 400 ** -0.5, abs=1e-6)
    assert (p["low"] <= p["accuracy"] + 1e-9).all() and (p["accuracy"] <= p["high"] + 1e-9).all()
    assert advice.labels_to_target == pytest.approx(278 - 200, abs=1)
    assert advice.minutes_to_target == pytest.approx(advice.labels_to_target * 6 / 60)
    assert "Keep labeling" in advice.reason and "label budget" in advice.reason
    done = advise(StoppingState(n, acc), LabelBudget(100))
    assert done.stop and done.reason.startswith("You can stop at 200 labels")


def test_advice_without_rounds_says_so():
    advice = advise(StoppingState([], []))
    assert not advice.stop and "No model yet" in advice.reason and advice.projection.empty
    assert set(advice.criteria) == {"stabilizing_predictions", "pool_uncertainty"}

import numpy as np
import pandas as pd
import pytest

import activelearn as al
from activelearn.simulate import RESULT_COLUMNS, initial_ids, run_one, simulate, summarize


def test_results_are_tidy_and_strategies_share_splits(blobs):
    r = simulate(blobs, ["random", "margin"], seeds=[0, 1], budget=30, batch_size=5, initial_size=5,
                 model=__import__("sklearn.linear_model").linear_model.LogisticRegression(max_iter=200),
                 n_jobs=1, progress=False)
    assert list(r.columns) == RESULT_COLUMNS
    assert set(r["strategy"]) == {"random", "margin"} and set(r["seed"]) == {0, 1}
    first = r[r["round"] == 0].set_index(["seed", "strategy"])["accuracy"].unstack()
    # round 0 is the shared random initial set: identical model input, identical accuracy
    np.testing.assert_allclose(first["random"], first["margin"])


def test_same_seed_same_curve(digits):
    a = run_one(digits, "margin", seed=2, budget=40, batch_size=10)
    b = run_one(digits, "margin", seed=2, budget=40, batch_size=10)
    np.testing.assert_array_equal(a["accuracy"], b["accuracy"])
    c = run_one(digits, "margin", seed=3, budget=40, batch_size=10)
    assert not np.array_equal(a["accuracy"], c["accuracy"])


def test_test_set_is_disjoint_from_everything_queried(digits):
    s = al.Session(digits, store=":memory:", random_state=5, test_size=0.3)
    test = set(s.test_ids)
    init = initial_ids(s, 10, 5)
    assert test.isdisjoint(init)
    s.simulate(60)
    assert test.isdisjoint(s.labels()["item_id"].astype(int))


def test_a_strategy_that_peeks_at_the_test_set_is_caught(digits):
    def cheat(classifier, X_pool, n_instances, random_state=None, **_):
        return np.arange(len(X_pool) + 5)[-n_instances:]  # beyond the pool: where test items would be

    s = al.Session(digits, strategy=cheat, store=":memory:")
    s.simulate(10)
    with pytest.raises(al.StrategyError):
        s.simulate(20)


def test_margin_beats_random_on_digits_same_seeds(digits):
    r = simulate(digits, ["random", "margin"], seeds=[0, 1, 2], budget=150, batch_size=10, initial_size=10,
                 n_jobs=2, progress=False)
    summary = summarize(r, target=0.9, budgets=(150,), aulc_range=(10, 150)).set_index("strategy")
    assert summary.loc["margin", "aulc_mean"] > summary.loc["random", "aulc_mean"]
    assert summary.loc["margin", "accuracy_at_150_mean"] > summary.loc["random", "accuracy_at_150_mean"]
    per_seed = r[r["n_labels"] == 150].pivot(index="seed", columns="strategy", values="accuracy")
    assert (per_seed["margin"] >= per_seed["random"]).sum() >= 2


def test_summarize_hand_made_results():
    import pandas as pd

    rows = []
    for seed in range(4):
        for n, (ar, am) in zip([10, 20, 30], [(0.5, 0.6), (0.7, 0.96), (0.96 if seed < 2 else 0.9, 0.97)]):
            rows.append(dict(strategy="random", seed=seed, round=0, n_labels=n, accuracy=ar, macro_f1=ar,
                             cost=n * 1.0, train_seconds=0, query_seconds=0))
            rows.append(dict(strategy="margin", seed=seed, round=0, n_labels=n, accuracy=am + 0.001 * seed,
                             macro_f1=am, cost=n * 1.0, train_seconds=0, query_seconds=0))
    s = summarize(pd.DataFrame(rows), target=0.95, budgets=(20,), aulc_range=(10, 30)).set_index("strategy")
    assert s.loc["margin", "labels_to_target_median"] == 20 and s.loc["margin", "seeds_reached"] == 4
    assert s.loc["random", "seeds_reached"] == 2 and s.loc["random", "labels_to_target_median"] == np.inf
    assert np.isnan(s.loc["margin", "labels_saved_pct"])  # random never got there in the median
    assert s.loc["margin", "accuracy_at_20_mean"] == pytest.approx(0.9615)


# The headline claim (README, "Label efficiency"): the default setup -- Session(dataset): the semi-supervised model,
# TypiClust cold start, strategy "auto" -- against random sampling with the same model, run exactly as
# benchmarks/label_efficiency.py runs "default" and "default+random" (each picks its own first batch: initial=
# "cold_start"; 30% held-out test set; batches of 10). The README reports, over seeds 0-9, 0.955 at 30 labels and
# 0.987 at 150 for the default, 0.873 at 30 for random. Here: seeds 0-2, the default to 150 labels, random to 30.
HEADLINE_SEEDS = [0, 1, 2]
MIN_GAIN_AT_30 = 0.04  # mean paired gain over random in accuracy at 30 labels (seeds 0-2 give +0.089)
FLOOR_AT_30 = 0.945  # documented 0.955 +- 0.007 (seeds 0-2 give 0.955)
FLOOR_AT_150 = 0.982  # documented 0.987 +- 0.003 (seeds 0-2 give 0.987)


def headline_runs(dataset, strategy="auto", baseline="random", n_jobs=2):
    """Accuracy per seed: ``strategy`` at 30 and 150 labels, ``baseline`` at 30 (run_one in spawned workers, one
    thread each, as the benchmark runs it)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from activelearn._threads import set_thread_limits

    kw = dict(batch_size=10, initial_size=10, test_size=0.3, initial="cold_start")
    jobs = [("ours", strategy, seed, 150) for seed in HEADLINE_SEEDS] + \
        [("base", baseline, seed, 30) for seed in HEADLINE_SEEDS]  # longest first
    with ProcessPoolExecutor(n_jobs, mp_context=mp.get_context("spawn"), initializer=set_thread_limits,
                             initargs=(1,)) as ex:
        futures = {(role, seed): ex.submit(run_one, dataset, name, seed, budget, **kw)
                   for role, name, seed, budget in jobs}
        runs = {key: f.result() for key, f in futures.items()}

    def acc(role, n):
        return pd.Series({seed: float(runs[role, seed].set_index("n_labels").loc[n, "accuracy"])
                          for seed in HEADLINE_SEEDS})

    return acc("ours", 30), acc("ours", 150), acc("base", 30)


def check_headline(ours_30, ours_150, random_30):
    gain = ours_30 - random_30  # paired: the same seed, hence the same test split
    assert gain.mean() >= MIN_GAIN_AT_30, f"mean gain {gain.mean():.3f} at 30 labels: {gain.round(3).to_dict()}"
    assert (gain > 0).all(), f"not better than random on every seed: {gain.round(3).to_dict()}"
    assert ours_30.mean() >= FLOOR_AT_30, f"accuracy at 30 labels: {ours_30.round(3).to_dict()}"
    assert ours_150.mean() >= FLOOR_AT_150, f"accuracy at 150 labels: {ours_150.round(3).to_dict()}"


@pytest.mark.slow
def test_the_default_beats_random_with_the_same_model_on_digits(digits):
    check_headline(*headline_runs(digits))


def test_simulate_records_where_each_stopping_criterion_would_stop(blobs, fast_model):
    from activelearn.simulate import summarize_stopping
    from activelearn.stopping import LabelBudget

    r = simulate(blobs, ["margin"], seeds=[0, 1], budget=60, batch_size=5, initial_size=5, model=fast_model,
                 n_jobs=1, progress=False, stopping={"default": LabelBudget(30), "never": LabelBudget(1000)})
    assert {"stop_default", "stop_never", "value_stabilizing_predictions", "value_pool_uncertainty",
            "value_accuracy_flattening"} <= set(r.columns)
    assert (r["stop_default"] == (r["n_labels"] >= 30)).all() and not r["stop_never"].any()
    assert r.loc[r["n_labels"] >= 20, "value_stabilizing_predictions"].notna().all()  # 3 comparisons by then
    for _, g in r.groupby("seed"):  # each round's own kappa is kept: the window's mean is its rolling mean
        np.testing.assert_allclose(g["value_kappa"].rolling(3).mean().to_numpy()[3:],
                                   g["value_stabilizing_predictions"].to_numpy()[3:])
    assert (r["n_eval"] > 0).all()
    table = summarize_stopping(r).set_index("criterion")
    assert table.loc["default", "seeds_stopped"] == 2 and table.loc["default", "labels_at_stop_median"] == 30
    assert table.loc["never", "seeds_stopped"] == 0 and table.loc["never", "labels_at_stop_median"] == 60
    last = r[r["n_labels"] == 60].set_index("seed")["accuracy"]
    at_stop = r[r["n_labels"] == 30].set_index("seed")["accuracy"]
    assert table.loc["default", "loss_mean"] == pytest.approx((last - at_stop).mean())
    assert table.loc["default", "labels_saved_pct_median"] == pytest.approx(50.0)
    s = summarize(r, target=0.9, budgets=(60,), baseline="margin", aulc_range=(5, 60))
    for col in ("seeds_stopped", "labels_at_stop_median", "accuracy_at_stop_mean", "accuracy_at_budget_mean",
                "stop_loss_mean"):
        assert col in s.columns
    with pytest.raises(al.ActiveLearnError, match="stopping"):
        simulate(blobs, ["margin"], seeds=[0], budget=20, n_jobs=1, progress=False, stopping="yes")
    with pytest.raises(al.ActiveLearnError, match="no stopping record"):
        summarize_stopping(r, criteria=["other"])


def test_successor_model_transfer_check_on_a_tiny_case(blobs, fast_model):
    from sklearn.naive_bayes import GaussianNB

    r = simulate(blobs, ["margin"], seeds=[0, 1], budget=30, batch_size=5, initial_size=5, model=fast_model,
                 n_jobs=1, progress=False, successor_model=GaussianNB())
    assert set(r["strategy"]) == {"margin", "random"}  # random added: the same-size random set to compare with
    assert r["successor_accuracy"].between(0, 1).all()
    # the successor is trained on exactly the loop's labeled set: on round 0 (the shared random start) both
    # strategies' successors agree
    first = r[r["round"] == 0].pivot(index="seed", columns="strategy", values="successor_accuracy")
    np.testing.assert_allclose(first["margin"], first["random"])
    s = summarize(r, target=0.9, budgets=(30,), aulc_range=(5, 30)).set_index("strategy")
    for col in ("successor_aulc_mean", "successor_delta_aulc", "successor_delta_low", "successor_delta_high",
                "gain_transfers"):
        assert col in s.columns
    assert s.loc["margin", "gain_transfers"] in {"yes", "no", "unclear"} and s.loc["random", "gain_transfers"] == ""
    assert s.loc["margin", "successor_delta_low"] <= s.loc["margin", "successor_delta_aulc"] \
        <= s.loc["margin", "successor_delta_high"]


def test_simulations_wait_for_the_background_map_and_repeat_the_waiting_run(blobs, tmp_path):
    from activelearn.semi import PoolSpreadingClassifier

    def session(name, **kw):
        return al.Session(blobs, model=PoolSpreadingClassifier(n_classes=3, cache_dir=None), batch_size=5,
                          store=tmp_path / name, **kw)

    background, calls = session("b.db"), []
    for name in ("wait_pool", "next_batch"):
        real = getattr(background, name)
        setattr(background, name, lambda *a, _real=real, _name=name, **k: (calls.append(_name), _real(*a, **k))[1])
    h = background.simulate(15)
    assert calls[0] == "wait_pool" and background.pool_ready
    expected = session("w.db", prepare="wait").simulate(15)
    timing = ["train_seconds", "query_seconds"]
    pd.testing.assert_frame_equal(h.drop(columns=timing), expected.drop(columns=timing))

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import train_test_split

import activelearn as al
from activelearn import strategies as S
from activelearn.semi import PoolSpreadingClassifier


@pytest.fixture(scope="module")
def split(digits):
    pool, test = train_test_split(np.arange(len(digits)), test_size=0.3, stratify=digits.y, random_state=0)
    return pool, test


def _labeled(digits, pool, per_class=3, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(pool[digits.y[pool] == c], per_class, replace=False) for c in range(10)])


def test_spreading_over_the_pool_beats_the_labels_alone(digits, split):
    pool, test = split
    lab = _labeled(digits, pool)
    semi = PoolSpreadingClassifier(n_classes=10, scaling="global").set_pool(digits.X[pool])
    semi.fit(digits.X[lab], digits.y[lab])
    alone = PoolSpreadingClassifier(n_classes=10, scaling="global").fit(digits.X[lab], digits.y[lab])
    acc_semi = (semi.predict(digits.X[test]) == digits.y[test]).mean()
    acc_alone = (alone.predict(digits.X[test]) == digits.y[test]).mean()
    assert acc_semi > 0.9 and acc_semi > acc_alone + 0.03, (acc_semi, acc_alone)
    assert semi.n_pseudo_ == len(pool) - len(lab)


def test_pool_rows_get_the_posterior_and_other_rows_the_svc(digits, split):
    pool, test = split
    lab = _labeled(digits, pool, per_class=2)
    model = PoolSpreadingClassifier(n_classes=10, scaling="global").set_pool(digits.X[pool])
    model.fit(digits.X[lab], digits.y[lab])
    pos = model._pool.lookup(digits.X[lab])
    assert (model._train_y[pos] == digits.y[lab]).all()  # people's labels win over the spreading
    proba = model.predict_proba(digits.X[pool[:50]])
    np.testing.assert_allclose(proba, model.pool_proba_[:50])  # pool rows: the transductive posterior
    P_test = model.predict_proba(digits.X[test[:20]])
    np.testing.assert_allclose(P_test.sum(axis=1), 1.0, atol=1e-5)
    assert P_test.shape == (20, 10)


def test_the_svc_answers_the_same_held_out_rows_once_and_other_rows_and_refits_afresh(digits, split, monkeypatch):
    pool, test = split
    lab = _labeled(digits, pool, per_class=2)
    model = PoolSpreadingClassifier(n_classes=10, scaling="global", embedding=None).set_pool(digits.X[pool])
    model.fit(digits.X[lab], digits.y[lab])
    calls, real = [], model._svc_proba
    monkeypatch.setattr(model, "_svc_proba", lambda svc, Z: calls.append(len(Z)) or real(svc, Z))
    first = model.predict_proba_inductive(digits.X[test])
    model.predict_proba_inductive(digits.X[test])[:] = 0  # a caller's change never reaches the next answer
    again = model.predict_proba(digits.X[test])  # held-out rows: the same read-out, asked again
    np.testing.assert_array_equal(again, first)
    assert calls == [len(test)] and np.allclose(again.sum(axis=1), 1.0, atol=1e-5)
    more = _labeled(digits, pool, per_class=6, seed=1)
    refit = model.fit(digits.X[more], digits.y[more]).predict_proba_inductive(digits.X[test])
    assert calls == [len(test)] * 2 and not np.allclose(refit, again)  # a new fit answers afresh
    other = model.predict_proba_inductive(digits.X[test[:7]])
    assert calls == [len(test)] * 2 + [7]
    np.testing.assert_allclose(other, refit[:7], rtol=1e-6)


def test_fit_is_repeatable_and_clones_share_the_pool_and_its_map(digits, split):
    pool, test = split
    lab = _labeled(digits, pool)
    a = PoolSpreadingClassifier(n_classes=10, scaling="global", random_state=1).set_pool(digits.X[pool])
    b = clone(a)
    assert b._pool is a._pool
    pa = a.fit(digits.X[lab], digits.y[lab]).predict_proba(digits.X[test])
    pb = b.fit(digits.X[lab], digits.y[lab]).predict_proba(digits.X[test])
    np.testing.assert_array_equal(pa, pb)
    assert len(a._pool._embedding) == 1  # one t-SNE for both fits


def test_one_class_and_missing_classes_get_full_width_probabilities(digits):
    X, y = digits.X[:60], digits.y[:60]
    model = PoolSpreadingClassifier(n_classes=10, embedding=None).set_pool(X)
    model.fit(X[y == 3][:2], y[y == 3][:2])
    assert (model.predict(digits.X[100:110]) == 3).all()
    model.fit(X[:10], y[:10])
    assert model.predict_proba(digits.X[200:210]).shape == (10, 10)


def test_bad_labels_and_shapes_are_named(digits):
    model = PoolSpreadingClassifier(n_classes=10)
    with pytest.raises(ValueError, match="rows"):
        model.fit(digits.X[:5], digits.y[:4])
    with pytest.raises(ValueError, match="class positions"):
        model.fit(digits.X[:5], np.array([0, 1, 2, 3, 12]))
    with pytest.raises(ValueError, match="not fitted"):
        model.predict_proba(digits.X[:2])
    bad = digits.X[:20].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.set_pool(bad)


def test_mc_samples_for_bald_disagree_where_the_model_is_unsure(digits, split):
    pool, _ = split
    lab = _labeled(digits, pool, per_class=2)
    model = PoolSpreadingClassifier(n_classes=10, scaling="global").set_pool(digits.X[pool])
    model.fit(digits.X[lab], digits.y[lab])
    mc = model.predict_proba_mc(digits.X[pool[:200]], n_samples=5, random_state=0)
    assert mc.shape == (5, 200, 10)
    np.testing.assert_array_equal(mc, model.predict_proba_mc(digits.X[pool[:200]], n_samples=5, random_state=0))
    assert S.bald_scores(mc).max() > 0


def test_typiclust_covers_clusters_and_avoids_covered_ones():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    X = np.vstack([c + rng.normal(scale=0.5, size=(50, 2)) for c in centres])
    picks = S.typiclust(None, X, 4, random_state=0)
    assert sorted(np.round(X[picks] / 10).astype(int).tolist()) == [[0, 0], [0, 1], [1, 0], [1, 1]]
    # Each pick is close to its cluster's centre (typical, not an outlier).
    assert np.linalg.norm(X[picks] - np.round(X[picks] / 10) * 10, axis=1).max() < 1.0
    # With clusters 0 and 1 labeled, 2 new picks come from clusters 2 and 3.
    lab = np.array([[0.0, 0.0], [10.0, 0.0]])
    picks = S.typiclust(None, X, 2, random_state=0, X_labeled=lab)
    assert sorted(X[picks][:, 1].round(-1).tolist()) == [10.0, 10.0]


def test_auto_switches_from_typicality_to_margin(digits, split):
    pool, _ = split
    lab = _labeled(digits, pool, per_class=2)
    model = PoolSpreadingClassifier(n_classes=10, scaling="global").set_pool(digits.X[pool])
    model.fit(digits.X[lab], digits.y[lab])
    rest = np.setdiff1d(pool, lab)
    ctx = dict(n_classes=10, y_labeled=digits.y[lab])
    early = S.auto(model, digits.X[rest], 10, random_state=0, X_labeled=digits.X[lab], **ctx)
    typ = S.typiclust(model, digits.X[rest], 10, random_state=0, X_labeled=digits.X[lab], **ctx)
    assert early.tolist() == typ.tolist()
    late = S.auto(model, digits.X[rest], 10, random_state=0, X_labeled=digits.X[lab], typical_per_class=1, **ctx)
    assert late.tolist() == S.margin(model, digits.X[rest], 10, random_state=0, **ctx).tolist()


def test_session_hands_the_pool_but_never_the_test_items(digits, tmp_path):
    s = al.Session(digits, store=tmp_path / "s.db", test_size=0.3)
    model = s.model_template
    assert len(model._pool) == len(digits) - s.test_mask.sum()
    assert (model._pool.lookup(digits.X[s.test_mask]) >= 0).sum() <= _duplicates(digits, s.test_mask)
    assert s.strategy_name == "auto" and s.cold_start == "typiclust"


def _duplicates(dataset, test_mask):
    """Test rows whose features equal some pool row's (digits has a few identical images)."""
    pool_rows = {r.tobytes() for r in np.asarray(dataset.X[~test_mask], dtype=np.float32)}
    return sum(r.tobytes() in pool_rows for r in np.asarray(dataset.X[test_mask], dtype=np.float32))


def test_random_baseline_stays_random_from_the_first_label(digits, tmp_path):
    s = al.Session(digits, strategy="random", store=tmp_path / "r.db")
    assert s.cold_start == "random"


def test_pool_ready_and_quick_coordinates_never_wait_for_the_map(digits):
    import threading

    model = PoolSpreadingClassifier(n_classes=10, cache_dir=None).set_pool(digits.X[:200])
    assert not model.pool_ready()
    assert PoolSpreadingClassifier(n_classes=10, embedding=None, cache_dir=None).set_pool(digits.X).pool_ready()
    held, release, out = threading.Event(), threading.Event(), {}

    def hold():  # what a background t-SNE does: hold the pool's lock for seconds
        with model._pool._lock:
            held.set()
            release.wait(20)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    held.wait(20)
    try:
        reader = threading.Thread(target=lambda: out.update(ready=model.pool_ready(),
                                                            E=model.quick_transform(digits.X[:50])), daemon=True)
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), "pool_ready/quick_transform waited for the pool's lock"
    finally:
        release.set()
    assert out["ready"] is False
    np.testing.assert_allclose(out["E"], model._pool.standardise(digits.X[:50]))  # 64 features: kept as they are
    model.prepare_pool()
    assert model.pool_ready()


def test_quick_coordinates_of_wide_features_are_a_seeded_projection():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 100)).astype(np.float32)
    a = PoolSpreadingClassifier(n_classes=2, cache_dir=None, random_state=3).set_pool(X).quick_transform(X[:20])
    b = PoolSpreadingClassifier(n_classes=2, cache_dir=None, random_state=3).set_pool(X).quick_transform(X[:20])
    assert a.shape == (20, 64) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_cheap_cold_start_is_seeded_valid_and_covers_the_classes(digits):
    model = PoolSpreadingClassifier(n_classes=10, cache_dir=None).set_pool(digits.X)
    picks = [S.typiclust(None, digits.X, 10, random_state=seed, transform=model.quick_transform) for seed in (0, 0, 1)]
    np.testing.assert_array_equal(picks[0], picks[1])
    for p in picks:
        assert len(np.unique(p)) == 10 and p.min() >= 0 and p.max() < len(digits.X)
    assert not model.pool_ready()  # no map was computed for it
    # A good cold start: ten typical items cover more classes than ten random ones (6.5 of 10 expected).
    covered = [len(np.unique(digits.y[p])) for p in picks[1:]]
    random = [len(np.unique(digits.y[np.random.default_rng(s).choice(len(digits.X), 10, replace=False)]))
              for s in range(50)]
    assert np.mean(covered) >= 8 > np.mean(random)

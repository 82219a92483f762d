import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_moons

import activelearn as al
from activelearn import semi
from activelearn.pooled import PoolRBFNetClassifier, PoolTorchClassifier, resolve_device


@pytest.fixture(scope="module")
def moons():
    """Two moons, 400 items: 300 pool, 100 held out (never in the pool)."""
    X, y = make_moons(n_samples=400, noise=0.08, random_state=0)
    X = X.astype(np.float32)
    return X[:300], y[:300], X[300:], y[300:]


def _one_per_class(y, seed=0):
    rng = np.random.default_rng(seed)
    return np.array([rng.choice(np.flatnonzero(y == c)) for c in np.unique(y)])


def _model(**kw):
    # alpha 0.99 (Zhou et al.'s setting): one label per moon reaches along the whole moon
    kw = {"n_classes": 2, "embedding": None, "cache_dir": None, "train_steps": 150, "alpha": 0.99, **kw}
    return PoolTorchClassifier(**kw)


def test_pool_makes_the_network_beat_the_same_network_without_it(moons):
    X, y, X_test, y_test = moons
    lab = _one_per_class(y)
    pooled = _model().set_pool(X).fit(X[lab], y[lab])
    alone = _model().fit(X[lab], y[lab])  # no pool: the two labels are all it sees
    acc_pooled = (pooled.predict(X_test) == y_test).mean()
    acc_alone = (alone.predict(X_test) == y_test).mean()
    assert acc_pooled > 0.95 and acc_pooled > acc_alone + 0.05, (acc_pooled, acc_alone)
    assert pooled.n_pseudo_ == len(X) - 2
    assert type(pooled.module_).__module__.startswith("activelearn")  # a torch module predicts the held-out rows
    assert pooled.device_ == "cpu"


def test_same_seed_same_probabilities_other_seed_other_network(moons):
    X, y, X_test, _ = moons
    lab = np.arange(0, 300, 15)
    a = _model(random_state=3).set_pool(X)
    b = clone(a)
    assert b._pool is a._pool  # clones share the pool and its graphs
    pa = a.fit(X[lab], y[lab]).predict_proba(X_test)
    pb = b.fit(X[lab], y[lab]).predict_proba(X_test)
    np.testing.assert_array_equal(pa, pb)
    pc = _model(random_state=4).set_pool(X).fit(X[lab], y[lab]).predict_proba(X_test)
    assert not np.array_equal(pa, pc)
    np.testing.assert_allclose(pa.sum(axis=1), 1.0, atol=1e-5)


def test_one_labeled_class_gives_probabilities_over_every_class(digits):
    X, y = digits.X[:200], digits.y[:200]
    model = PoolTorchClassifier(n_classes=10, embedding=None, scaling="global", cache_dir=None,
                                train_steps=20).set_pool(X)
    model.fit(X[y == 3][:3], y[y == 3][:3])
    proba = model.predict_proba(digits.X[300:320])
    assert proba.shape == (20, 10) and np.isfinite(proba).all()
    assert (proba.argmax(axis=1) == 3).all()
    np.testing.assert_allclose(model.predict_proba(X[:5]).sum(axis=1), 1.0, atol=1e-5)


def test_pool_rows_get_the_spreading_posterior_or_the_network(moons):
    X, y, X_test, _ = moons
    lab = _one_per_class(y)
    model = _model().set_pool(X).fit(X[lab], y[lab])
    np.testing.assert_allclose(model.predict_proba(X[:40]), model.pool_proba_[:40])
    net = _model(pool_proba="net").set_pool(X).fit(X[lab], y[lab])
    np.testing.assert_allclose(net.predict_proba(X[:40]), net.predict_proba_net(X[:40]), atol=1e-6)
    mc = net.predict_proba_mc(X_test, n_samples=4, random_state=0)
    assert mc.shape == (4, len(X_test), 2)
    np.testing.assert_array_equal(mc, net.predict_proba_mc(X_test, n_samples=4, random_state=0))


def test_session_trains_on_the_pool_never_the_test_set(digits, tmp_path):
    model = PoolTorchClassifier(n_classes=10, scaling="global", embedding=None, cache_dir=None, train_steps=30)
    s = al.Session(digits, model=model, store=tmp_path / "p.db", random_state=0)
    pool = s.model_template._pool
    assert len(pool) == len(digits) - s.test_mask.sum()
    in_pool = pool.lookup(digits.X[s.test_mask]) >= 0
    dup = {r.tobytes() for r in digits.X[~s.test_mask].reshape((~s.test_mask).sum(), -1)}
    # only test items whose pixels equal a pool item's are found in the pool
    assert in_pool.sum() == sum(r.tobytes() in dup for r in digits.X[s.test_mask].reshape(s.test_mask.sum(), -1))
    h = s.simulate(20)
    assert h["accuracy"].iloc[-1] > 0.6


def test_device_auto_is_cpu_without_cuda_and_cuda_with_it(monkeypatch):
    import torch

    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"
    assert resolve_device("cpu").type == "cpu"


def test_bad_settings_and_unfitted_use_are_named(moons):
    X, y, _, _ = moons
    with pytest.raises(ValueError, match="not fitted"):
        _model().predict_proba(X[:2])
    with pytest.raises(ValueError, match="pool_proba"):
        _model(pool_proba="svc").fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="architecture"):
        _model(architecture="resnet").fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="rows"):
        _model().fit(X[:4], y[:3])


def test_rbf_network_learns_from_the_pool(moons):
    X, y, X_test, y_test = moons
    lab = _one_per_class(y)
    for solver, steps in (("adam", 300), ("lbfgs", 60)):
        m = _model(architecture="rbf", solver=solver, train_steps=steps, lr=1e-2).set_pool(X).fit(X[lab], y[lab])
        assert (m.predict(X_test) == y_test).mean() > 0.9, solver


def test_importing_activelearn_and_the_default_model_leaves_torch_unloaded():
    code = ("import sys, activelearn, activelearn.pooled, activelearn.semi; "
            "from activelearn._training import default_model; default_model(activelearn.load_iris()); "
            "activelearn.pooled.PoolRBFNetClassifier(n_classes=3).set_pool(activelearn.load_iris().X); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pool_preparation_is_cached_on_disk_by_fingerprint(tmp_path, moons):
    X = moons[0]
    first = semi._Pool(X, "feature", cache_dir=tmp_path)
    t1 = first.prepare(random_state=0, n_neighbors=7, max_embedding=len(X))
    assert t1 and not any(v["cached"] for v in t1.values())
    second = semi._Pool(X, "feature", cache_dir=tmp_path)
    t2 = second.prepare(random_state=0, n_neighbors=7, max_embedding=len(X))
    assert set(t2) == set(t1) and all(v["cached"] for v in t2.values())
    np.testing.assert_array_equal(first.embedding(0, len(X)), second.embedding(0, len(X)))
    np.testing.assert_array_equal(first.knn("features", 7), second.knn("features", 7))
    other = semi._Pool(X[:-1], "feature", cache_dir=tmp_path)  # another pool: another fingerprint
    assert other.fingerprint() != first.fingerprint()


def test_spreading_on_the_prepared_graph_equals_scikit_learns(digits):
    from sklearn.semi_supervised import LabelSpreading

    pool = semi._Pool(digits.X[:400], "global")
    y = np.full(400, -1)
    y[:40] = digits.y[:40]
    ls = LabelSpreading(kernel="knn", n_neighbors=7, alpha=0.2, max_iter=100).fit(pool.Z, y)
    ours = semi.spread_labels(pool.spreading_graph("features", 7), y, 10)
    np.testing.assert_allclose(ours[:, ls.classes_], ls.label_distributions_, atol=1e-12)


@pytest.mark.slow  # pynndescent's first use compiles its numba code (~20 s)
def test_large_pools_use_the_approximate_graph_and_opentsne(monkeypatch, moons):
    X, y, X_test, y_test = moons
    monkeypatch.setattr(semi, "EXACT_GRAPH_MAX", 100)
    monkeypatch.setattr(semi, "SKLEARN_TSNE_MAX", 100)
    model = PoolTorchClassifier(n_classes=2, cache_dir=None, train_steps=100, alpha=0.99).set_pool(X)
    timings = model.prepare_pool()
    assert "knn-features-k7-nnd" in timings and "tsne-opentsne-rs0" in timings
    lab = _one_per_class(y)
    assert (model.fit(X[lab], y[lab]).predict(X_test) == y_test).mean() > 0.9


# -- the torch RBF network on the pool's soft pseudo-labels (PoolRBFNetClassifier) ---------------------------------

def _rbf_model(**kw):
    kw = {"n_classes": 2, "embedding": None, "cache_dir": None, "alpha": 0.99, **kw}
    return PoolRBFNetClassifier(**kw)


def test_rbf_net_learns_from_the_pool_and_predicts_held_out_rows_with_torch(moons):
    import torch

    X, y, X_test, y_test = moons
    lab = _one_per_class(y)
    pooled = _rbf_model(device="cpu").set_pool(X).fit(X[lab], y[lab])
    alone = _rbf_model(device="cpu").fit(X[lab], y[lab])  # no pool: the two labels are all it sees
    acc_pooled = (pooled.predict(X_test) == y_test).mean()
    acc_alone = (alone.predict(X_test) == y_test).mean()
    assert acc_pooled > 0.95 and acc_pooled > acc_alone + 0.05, (acc_pooled, acc_alone)
    assert isinstance(pooled.module_, torch.nn.Module) and pooled.device_ == "cpu"
    assert pooled.module_.anchors.shape == (len(X), 2)  # a hidden unit per training row
    # held-out rows: the network's output, exactly
    np.testing.assert_array_equal(pooled.predict_proba(X_test), pooled.predict_proba_inductive(X_test))


def test_rbf_net_answers_the_same_held_out_rows_once_and_a_refit_afresh(moons, monkeypatch):
    X, y, X_test, _ = moons
    net = _rbf_model(device="cpu").set_pool(X).fit(X[_one_per_class(y)], y[_one_per_class(y)])
    calls, real = [], net._net_proba
    monkeypatch.setattr(net, "_net_proba", lambda Z: calls.append(len(Z)) or real(Z))
    first = net.predict_proba_inductive(X_test)
    np.testing.assert_array_equal(net.predict_proba(X_test), first)  # scoring, calibration: one network pass
    assert calls == [len(X_test)]
    lab = np.arange(0, 300, 10)
    net.fit(X[lab], 1 - y[lab])  # the moons' names swapped: every answer changes
    assert not np.allclose(net.predict_proba_inductive(X_test), first) and calls == [len(X_test)] * 2


def test_rbf_net_pool_rows_read_the_spreading_posterior_of_the_svc_model(moons):
    X, y, X_test, _ = moons
    lab = np.arange(0, 300, 25)
    net = _rbf_model().set_pool(X).fit(X[lab], y[lab])
    svc = semi.PoolSpreadingClassifier(n_classes=2, embedding=None, cache_dir=None, alpha=0.99).set_pool(X)
    svc.fit(X[lab], y[lab])
    np.testing.assert_allclose(net.predict_proba(X[:50]), svc.predict_proba(X[:50]))  # what the strategies rank
    inductive = net.predict_proba_inductive(X[:50])  # the network on pool rows too
    assert not np.allclose(inductive, net.predict_proba(X[:50]))
    np.testing.assert_allclose(inductive.sum(axis=1), 1.0, atol=1e-5)
    assert (inductive.argmax(axis=1) == net.predict(X[:50])).mean() > 0.9


def test_rbf_net_same_seed_same_probabilities(moons):
    X, y, X_test, _ = moons
    lab = np.arange(0, 300, 15)
    # exact, the Nystrom centres drawn from random_state, and the logistic read-out (L-BFGS) on both
    for kw in ({}, {"n_centres": 50}, {"readout": "logistic"}, {"readout": "logistic", "n_centres": 50},
               {"readout": "blend"}, {"readout": "blend", "intercept": True, "n_centres": 50}):
        a = _rbf_model(random_state=3, **kw).set_pool(X)
        b = clone(a)
        pa = a.fit(X[lab], y[lab]).predict_proba(X_test)
        pb = b.fit(X[lab], y[lab]).predict_proba(X_test)
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(a.predict_proba_mc(X_test, 3, random_state=1),
                                      b.predict_proba_mc(X_test, 3, random_state=1))
    other = _rbf_model(random_state=4, n_centres=50).set_pool(X).fit(X[lab], y[lab]).predict_proba(X_test)
    assert not np.array_equal(pa, other)


def test_rbf_net_nystrom_centres_stay_close_to_the_exact_network(moons):
    X, y, X_test, y_test = moons
    lab = _one_per_class(y)
    small = _rbf_model(n_centres=60).set_pool(X).fit(X[lab], y[lab])
    assert len(small.module_.anchors) == 60
    assert (small.predict(X_test) == y_test).mean() > 0.95
    exact = _rbf_model().set_pool(X).fit(X[lab], y[lab])  # the same objective over all 300 rows' units
    assert np.abs(small.predict_proba(X_test) - exact.predict_proba(X_test)).max() < 0.02


@pytest.mark.parametrize("readout, intercept", [("ridge", True), ("ridge", False), ("logistic", False),
                                                ("blend", False)])  # ridge with intercept: the default's
def test_rbf_net_one_labeled_class_gives_probabilities_over_every_class(digits, readout, intercept):
    X = digits.X[:200]
    model = PoolRBFNetClassifier(n_classes=10, embedding=None, scaling="global", cache_dir=None,
                                 readout=readout, intercept=intercept).set_pool(X)
    model.fit(X[digits.y[:200] == 3][:3], np.full(3, 3))
    for rows in (digits.X[300:320], X[:20]):  # rows outside and inside the pool
        proba = model.predict_proba(rows)
        assert proba.shape == (20, 10) and np.isfinite(proba).all()
        assert (proba.argmax(axis=1) == 3).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    mc = model.predict_proba_mc(digits.X[300:305], n_samples=2)
    assert mc.shape == (2, 5, 10)


def test_rbf_net_hard_targets_and_bad_settings(moons, monkeypatch):
    import torch

    X, y, X_test, y_test = moons
    lab = _one_per_class(y)
    hard = _rbf_model(targets="hard").set_pool(X).fit(X[lab], y[lab])
    assert (hard.predict(X_test) == y_test).mean() > 0.95
    with pytest.raises(ValueError, match="not fitted"):
        _rbf_model().predict_proba_inductive(X[:2])
    with pytest.raises(ValueError, match="targets"):
        _rbf_model(targets="argmax").fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="ridge"):
        _rbf_model(ridge=0).fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="readout must be 'ridge', 'logistic' or 'blend'"):
        _rbf_model(readout="svm").fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="intercept must be True or False"):
        _rbf_model(intercept="yes").fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="logistic_steps"):
        _rbf_model(readout="logistic", logistic_steps=-1).fit(X[:4], y[:4])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA"):
        _rbf_model(device="cuda").set_pool(X).fit(X[lab], y[lab])


def _readout_loss(model):
    """The logistic read-out's objective, recomputed in numpy from the fitted network's weights."""
    Z, T, w = model._train_Z.astype(np.float64), model._train_T, model._train_w
    C = model.module_.anchors.numpy().astype(np.float64)
    g = model.module_.gamma

    def k(A, B):
        return np.exp(-g * np.clip((A ** 2).sum(1)[:, None] - 2 * A @ B.T + (B ** 2).sum(1), 0, None))

    a = model.module_.out.weight.detach().numpy().astype(np.float64).T
    b = model.module_.out.bias.detach().numpy().astype(np.float64)
    F = k(Z, C) @ a + b
    logp = F - F.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    T = T / T.sum(1, keepdims=True)
    return (-(w[:, None] * T * logp).sum() + 0.5 * model.ridge * (a * (k(C, C) @ a)).sum()) / w.sum()


@pytest.mark.parametrize("n_centres", [2000, 60])
def test_rbf_net_logistic_readout_lowers_the_cross_entropy_of_its_kernel_ridge_start(moons, n_centres):
    X, y, X_test, y_test = moons
    lab = _one_per_class(y)
    start = _rbf_model(readout="logistic", logistic_steps=0, n_centres=n_centres).set_pool(X).fit(X[lab], y[lab])
    ridge = _rbf_model(n_centres=n_centres).set_pool(X).fit(X[lab], y[lab])
    # no steps: the kernel-ridge read-out, scaled into logits (the same arg-max), without bias
    np.testing.assert_array_equal(start.predict(X_test), ridge.predict(X_test))
    assert np.abs(start.module_.out.bias.detach().numpy()).max() == 0
    fitted = _rbf_model(readout="logistic", n_centres=n_centres).set_pool(X).fit(X[lab], y[lab])
    first, scaled, end = fitted.logistic_loss_
    assert scaled <= first and start.logistic_loss_[2] == pytest.approx(scaled)
    # the reported objective is the network's, and the steps lowered it well below the start
    assert _readout_loss(fitted) == pytest.approx(end, rel=1e-3)
    assert _readout_loss(start) == pytest.approx(scaled, rel=1e-3)
    assert end < 0.9 * scaled, fitted.logistic_loss_
    assert (fitted.predict(X_test) == y_test).mean() > 0.95
    proba = fitted.predict_proba_inductive(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert proba.min() > 0  # a softmax, not clipped estimates


@pytest.mark.parametrize("kw", [{}, {"n_centres": 60}, {"intercept": True}])
def test_rbf_net_blend_is_the_mean_of_the_ridge_and_the_logistic_readouts(moons, kw):
    X, y, X_test, _ = moons
    lab = np.arange(0, 300, 30)
    fitted = {r: _rbf_model(readout=r, **kw).set_pool(X).fit(X[lab], y[lab]) for r in ("ridge", "logistic", "blend")}
    proba = {r: m.predict_proba_inductive(X_test) for r, m in fitted.items()}
    np.testing.assert_allclose(proba["blend"], 0.5 * (proba["ridge"] + proba["logistic"]), atol=1e-6)
    assert np.abs(proba["ridge"] - proba["logistic"]).max() > 0.05  # two different read-outs were averaged
    np.testing.assert_allclose(proba["blend"].sum(axis=1), 1.0, atol=1e-5)
    assert fitted["blend"].logistic_loss_ == pytest.approx(fitted["logistic"].logistic_loss_)


def _imbalanced_moons(moons):
    X, y = moons[0], moons[1]
    keep = np.flatnonzero((y == 0) | (np.arange(len(y)) % 4 == 0))  # a quarter of moon 1: class shares ~4:1
    return X[keep], y[keep]


def test_rbf_net_intercept_solves_the_weighted_least_squares_svm_system(moons):
    X, y = _imbalanced_moons(moons)
    lab = _one_per_class(y)
    model = _rbf_model(intercept=True, ridge=0.5).set_pool(X).fit(X[lab], y[lab])
    Z, T, w = (np.asarray(v, dtype=np.float64) for v in (model._train_Z, model._train_T, model._train_w))
    C = model.module_.anchors.numpy().astype(np.float64)
    K = np.exp(-model.module_.gamma * np.clip((Z ** 2).sum(1)[:, None] - 2 * Z @ C.T + (C ** 2).sum(1), 0, None))
    n = len(Z)
    system = np.block([[K + np.diag(0.5 / w), np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    expected = np.linalg.solve(system, np.vstack([T, np.zeros((1, T.shape[1]))]))
    a = model.module_.out.weight.detach().numpy().T
    b = model.module_.out.bias.detach().numpy()
    np.testing.assert_allclose(b, expected[-1], atol=2e-3)
    np.testing.assert_allclose(K @ a + b, K @ expected[:-1] + expected[-1], atol=2e-3)


def test_rbf_net_nystrom_intercept_solves_its_normal_equations(moons):
    X, y = _imbalanced_moons(moons)
    lab = _one_per_class(y)
    model = _rbf_model(intercept=True, ridge=0.5, n_centres=40).set_pool(X).fit(X[lab], y[lab])
    Z, T, w = (np.asarray(v, dtype=np.float64) for v in (model._train_Z, model._train_T, model._train_w))
    C = model.module_.anchors.numpy().astype(np.float64)

    def k(A, B):
        d2 = (A ** 2).sum(1)[:, None] - 2 * A @ B.T + (B ** 2).sum(1)
        return np.exp(-model.module_.gamma * np.clip(d2, 0, None))

    a = model.module_.out.weight.detach().numpy().astype(np.float64).T
    b = model.module_.out.bias.detach().numpy().astype(np.float64)
    R = w[:, None] * (k(Z, C) @ a + b - T)  # weighted residuals
    grad_a = k(Z, C).T @ R + 0.5 * k(C, C) @ a
    assert np.abs(grad_a).max() < 1e-3 * np.abs(k(Z, C).T @ (w[:, None] * T)).max()
    np.testing.assert_allclose(R.sum(axis=0), 0.0, atol=1e-3 * w.sum())  # the intercept's equation


def test_rbf_net_intercept_leans_to_the_larger_class_far_from_the_data(moons):
    X, y = _imbalanced_moons(moons)
    lab = _one_per_class(y)
    far = np.array([[40.0, -40.0]], dtype=np.float32)  # no hidden unit is active there
    plain = _rbf_model(targets="hard").set_pool(X).fit(X[lab], y[lab]).predict_proba_inductive(far)[0]
    shifted = _rbf_model(targets="hard", intercept=True).set_pool(X).fit(X[lab], y[lab])
    shifted = shifted.predict_proba_inductive(far)[0]
    np.testing.assert_allclose(plain, 0.5, atol=1e-3)  # without an intercept: every estimate 0, clipped: uniform
    # with one: the fitted constant, an estimate of the mean target, so the larger class (4:1 in the pool) leads
    assert shifted[0] > shifted[1] + 0.1, shifted
    np.testing.assert_allclose(shifted.sum(), 1.0, atol=1e-5)

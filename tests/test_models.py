import numpy as np
import pytest
import torch
from sklearn.base import clone

from activelearn.models import (TorchClassifier, default_model, default_torch_model, make_cnn, make_mlp, predict_proba_full,
                                predict_proba_mc)


def test_mlp_returns_every_class_before_every_class_is_seen(digits):
    model = default_torch_model(digits)
    idx = np.flatnonzero(digits.y < 3)[:30]
    model.fit(digits.X[idx], digits.y[idx])
    proba = model.predict_proba(digits.X[:5])
    assert proba.shape == (5, 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert list(model.classes_) == list(range(10))


def test_fit_is_repeatable_and_clone_able(digits):
    model = default_torch_model(digits, random_state=3)
    X, y = digits.X[:100], digits.y[:100]
    p1 = model.fit(X, y).predict_proba(X[:10])
    p2 = clone(model).fit(X, y).predict_proba(X[:10])
    np.testing.assert_allclose(p1, p2, atol=1e-6)
    p3 = clone(model).set_params(random_state=4).fit(X, y).predict_proba(X[:10])
    assert not np.allclose(p1, p3)


def test_fit_leaves_global_torch_rng_alone(digits):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    default_torch_model(digits).fit(digits.X[:50], digits.y[:50])
    assert torch.equal(torch.rand(3), expected)


def test_mlp_learns_digits(digits):
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(digits))
    model = default_torch_model(digits).fit(digits.X[idx[:300]], digits.y[idx[:300]])
    assert (model.predict(digits.X[idx[1000:]]) == digits.y[idx[1000:]]).mean() > 0.9


def test_cnn_on_images():
    rng = np.random.default_rng(0)
    X = np.zeros((80, 16, 16), dtype=np.float32)
    y = np.arange(80) % 2
    X[y == 0, :, :8] = 1.0  # class 0: left half bright
    X[y == 1, :, 8:] = 1.0
    X += rng.normal(0, 0.1, X.shape).astype(np.float32)
    model = make_cnn((16, 16), 2, train_steps=100)
    model.fit(X[:60], y[:60])
    assert (model.predict(X[60:]) == y[60:]).mean() == 1.0


def test_mc_dropout_samples_vary_and_are_seeded(digits):
    model = make_mlp(64, 10, dropout=0.5).fit(digits.X[:100], digits.y[:100])
    was_training = model.module_.training
    a = predict_proba_mc(model, digits.X[:20], n_samples=8, random_state=1)
    b = predict_proba_mc(model, digits.X[:20], n_samples=8, random_state=1)
    assert a.shape == (8, 20, 10)
    np.testing.assert_array_equal(a, b)
    assert a.std(axis=0).max() > 1e-3  # dropout is active
    assert model.module_.training == was_training  # mode restored
    np.testing.assert_array_equal(model.predict_proba(digits.X[:5]), model.predict_proba(digits.X[:5]))


def test_mc_dropout_needs_a_torch_model():
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="BALD needs a TorchClassifier"):
        predict_proba_mc(LogisticRegression(), np.zeros((2, 2)))


def test_predict_proba_full_places_columns_by_classes():
    class Partial:
        classes_ = np.array([1, 3])

        def predict_proba(self, X):
            return np.tile([0.25, 0.75], (len(X), 1))

    full = predict_proba_full(Partial(), np.zeros((2, 1)), 4)
    np.testing.assert_array_equal(full, [[0, 0.25, 0, 0.75]] * 2)


def test_epochs_follow_a_step_budget():
    model = make_mlp(4, 2, train_steps=300, batch_size=64, min_epochs=10, max_epochs=200)
    assert model.epochs_for(64) == 200  # 1 batch/epoch -> capped
    assert model.epochs_for(640) == 30
    assert model.epochs_for(64000) == 10


def test_default_model_kinds(digits):
    from activelearn import from_arrays

    from activelearn.semi import MAX_SEMI_POOL, PoolSpreadingClassifier

    assert isinstance(default_model(digits), PoolSpreadingClassifier)  # small pools: semi-supervised
    assert default_model(digits).scaling == "global"  # pixels share one unit
    big = from_arrays(np.zeros((MAX_SEMI_POOL + 1, 4), dtype=np.float32), classes=["a", "b"])
    assert isinstance(default_model(big), TorchClassifier) and default_model(big).module.__name__ == "MLPModule"
    assert isinstance(default_torch_model(digits), TorchClassifier)
    assert default_torch_model(digits).module.__name__ == "MLPModule"
    imgs = from_arrays(np.zeros((4, 32, 32)), classes=["a", "b"], kind="image")
    assert default_torch_model(imgs).module.__name__ == "CNNModule"


def test_fast_predict_proba_equals_skorchs(digits):
    from skorch import NeuralNetClassifier

    model = default_torch_model(digits).fit(digits.X[:200], digits.y[:200])
    ours = model.predict_proba(digits.X)
    theirs = NeuralNetClassifier.predict_proba(model, digits.X)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert ours.dtype == np.float32 and ours.shape == (len(digits.X), 10)


def test_predict_proba_reads_a_memmap_in_chunks(tmp_path, digits):
    model = default_torch_model(digits).fit(digits.X[:200], digits.y[:200])
    big = np.lib.format.open_memmap(tmp_path / "pool.npy", mode="w+", dtype=np.float32, shape=(40000, 64))
    big[:] = np.tile(digits.X, (23, 1))[:40000]
    big.flush()
    pool = np.load(tmp_path / "pool.npy", mmap_mode="r")
    np.testing.assert_allclose(model.predict_proba(pool)[-1797:], model.predict_proba(np.asarray(pool[-1797:])),
                               atol=1e-6)


def test_predict_proba_before_fit_is_a_clear_error(digits):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        default_torch_model(digits).predict_proba(digits.X[:2])

import activelearn as al
import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

from activelearn.models import (ModuleClassifier, NetClassifier, TorchClassifier, as_classifier, default_model,
                                default_torch_model, make_cnn, make_mlp, predict_proba_full, predict_proba_mc)


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

    from activelearn.pooled import PoolRBFNetClassifier
    from activelearn.semi import MAX_SEMI_POOL

    small = default_model(digits)
    assert type(small) is PoolRBFNetClassifier and small.intercept is True  # small pools: pool-aware torch network
    assert small.scaling == "global" and small.device == "auto"  # pixels share one unit
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


# -- your own networks: a plain torch module, a skorch net, a scikit-learn classifier --------------------------------
def _plain_module(n_features=64, n_classes=10, dropout=0.3, batch_norm=False):
    layers = [nn.Linear(n_features, 32)] + ([nn.BatchNorm1d(32)] if batch_norm else []) + [nn.ReLU()]
    layers += [nn.Dropout(dropout)] if dropout else []
    return nn.Sequential(*layers, nn.Linear(32, n_classes))


def _weights(module):
    return [p.detach().clone() for p in module.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_a_plain_module_predicts_every_class_with_one_class_labeled(digits):
    model = as_classifier(_plain_module(), digits, random_state=0)
    assert isinstance(model, ModuleClassifier)
    model.set_params(train_steps=30)
    idx = np.flatnonzero(digits.y == 4)[:12]
    proba = model.fit(digits.X[idx], digits.y[idx]).predict_proba(digits.X[:7])
    assert proba.shape == (7, 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert list(model.classes_) == list(range(10))
    assert (proba.argmax(axis=1) == 4).all()  # the one class it has seen
    two = np.flatnonzero(digits.y < 2)[:20]
    full = predict_proba_full(clone(model).fit(digits.X[two], digits.y[two]), digits.X[:5], 10)
    assert full.shape == (5, 10)


def test_a_plain_module_is_seeded_and_never_trained_itself(digits):
    module = _plain_module()
    before = _weights(module)
    model = ModuleClassifier(module, n_classes=10, random_state=3, train_steps=30)
    X, y = digits.X[:80], digits.y[:80]
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    p1 = model.fit(X, y).predict_proba(X[:10])
    assert torch.equal(torch.rand(3), expected)  # global torch RNG untouched
    p2 = clone(model).fit(X, y).predict_proba(X[:10])
    np.testing.assert_allclose(p1, p2, atol=1e-6)
    p3 = clone(model).set_params(random_state=4).fit(X, y).predict_proba(X[:10])
    assert not np.allclose(p1, p3, atol=1e-3)
    assert _same(_weights(module), before)  # the template's weights are never trained


def test_a_clone_starts_from_fresh_weights(digits):
    model = ModuleClassifier(_plain_module(), n_classes=10, random_state=0, train_steps=30)
    model.fit(digits.X[:80], digits.y[:80])
    trained = _weights(model.module_)
    again = clone(model)
    assert not hasattr(again, "module_")
    again.fit(digits.X[80:160], digits.y[80:160])
    assert again.module_ is not model.module_
    assert _same(_weights(model.module_), trained)  # the first model's weights are its own
    assert not _same(_weights(again.module_), trained)
    fresh = ModuleClassifier(_plain_module(), n_classes=10, random_state=0).initialize()
    assert not _same(_weights(fresh.module_), _weights(fresh.module))  # re-initialised from the seed
    kept = ModuleClassifier(fresh.module, n_classes=10, reinitialize=False).initialize()
    assert _same(_weights(kept.module_), _weights(fresh.module)) and kept.module_ is not fresh.module


def test_mc_dropout_of_a_plain_module_varies_only_where_it_has_dropout(digits):
    X, y = digits.X[:80], digits.y[:80]
    model = ModuleClassifier(_plain_module(dropout=0.5, batch_norm=True), n_classes=10, train_steps=30).fit(X, y)
    stats = model.module_[1].running_mean.clone()
    a = predict_proba_mc(model, X[:15], n_samples=6, random_state=1)
    assert a.shape == (6, 15, 10) and a.std(axis=0).max() > 1e-3
    np.testing.assert_array_equal(a, predict_proba_mc(model, X[:15], n_samples=6, random_state=1))
    assert torch.equal(model.module_[1].running_mean, stats)  # batch norm stayed in eval mode
    assert model.module_.training  # modes restored
    plain = ModuleClassifier(_plain_module(dropout=0), n_classes=10, train_steps=30).fit(X, y)
    with pytest.raises(TypeError, match="no dropout layer"):
        predict_proba_mc(plain, X[:5])


def test_a_skorch_net_is_accepted_with_fixed_classes_and_a_seeded_fit(digits):
    from skorch import NeuralNetClassifier

    net = NeuralNetClassifier(_plain_module(), criterion=nn.CrossEntropyLoss, max_epochs=5, lr=0.05,
                              train_split=None, verbose=0)
    model = as_classifier(net, digits, random_state=2)
    assert isinstance(model, NetClassifier)
    idx = np.flatnonzero(digits.y < 3)[:30]
    p1 = model.fit(digits.X[idx], digits.y[idx]).predict_proba(digits.X[:6])
    assert p1.shape == (6, 10) and list(model.classes_) == list(range(10))
    np.testing.assert_allclose(p1, clone(model).fit(digits.X[idx], digits.y[idx]).predict_proba(digits.X[:6]),
                               atol=1e-6)
    assert net.classes is None and not hasattr(net, "module_")  # the user's net is left as it was
    mlp = make_mlp(64, 10)
    assert as_classifier(mlp, digits) is mlp  # activelearn's own skorch classifier is used as it is


def test_a_scikit_learn_classifier_is_used_as_it_is(digits):
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression()
    assert as_classifier(lr, digits) is lr


@pytest.mark.parametrize("bad, message", [
    ("svm", r"model='svm' \(a builtins.str\) cannot be used.*torch.nn.Module.*NeuralNetClassifier.*predict_proba"),
    (nn.Linear, r"model=Linear is a torch module class, not an instance: pass model=Linear\(...\)"),
    (nn.Linear(64, 3), r"returned shape \(2, 3\) for 2 items.*shape \(2, 10\)"),
    (nn.Linear(5, 10), r"calling the torch module Linear on two items of 'digits' \(float32, shape \(2, 64\)\) failed"),
    (__import__("sklearn.svm").svm.LinearSVC(), r"no predict_proba"),
])
def test_anything_else_is_a_clear_error(digits, bad, message):
    from activelearn import InvalidDataError

    with pytest.raises(InvalidDataError, match=message):
        as_classifier(bad, digits)


def test_a_skorch_net_with_other_classes_or_no_classifier_is_refused(digits):
    from skorch import NeuralNetClassifier, NeuralNetRegressor

    from activelearn import InvalidDataError

    with pytest.raises(InvalidDataError, match="classes=.*leave classes unset"):
        as_classifier(NeuralNetClassifier(_plain_module(), classes=list("abcdefghij")), digits)
    with pytest.raises(InvalidDataError, match="not a NeuralNetClassifier"):
        as_classifier(NeuralNetRegressor(_plain_module()), digits)
    with pytest.raises(InvalidDataError, match="n_classes=3 but the dataset has 10"):
        as_classifier(make_mlp(64, 3), digits)


def test_the_default_model_is_a_seeded_torch_network_that_learns_from_the_pool(blobs, monkeypatch, tmp_path):
    import torch

    monkeypatch.setenv("ACTIVELEARN_CACHE_DIR", str(tmp_path))  # the pool cache: this test's own, not the user's

    from activelearn.pooled import PoolRBFNetClassifier

    def run(seed):
        s = al.Session(blobs, store=":memory:", random_state=seed, batch_size=6, prepare="wait")
        for item in s.next_batch(6):
            s.label(item, blobs.class_names[blobs.y[blobs.position(item)]])
        s.retrain()
        return s

    a, b = run(0), run(0)
    assert type(a.model) is PoolRBFNetClassifier and isinstance(a.model.module_, torch.nn.Module)
    assert a.model.device_ == "cpu" or a.model.device_.startswith("cuda")
    assert a.model.n_pseudo_ > 0  # it trained on the pool's pseudo-labels, not on the six labels alone
    test = np.flatnonzero(a.test_mask)
    pa = a.model.predict_proba_inductive(blobs.X[test])
    np.testing.assert_array_equal(pa, b.model.predict_proba_inductive(blobs.X[test]))  # seeded: the same network
    assert pa.shape == (len(test), blobs.n_classes)
    assert (pa.argmax(axis=1) == blobs.y[test]).mean() > 0.9

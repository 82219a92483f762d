"""PyTorch classifiers behind the scikit-learn API (skorch), and the default per dataset.

Models see labels as positions ``0..n_classes-1``; the list of classes is
fixed up front (skorch's ``classes``), so a model trained before every class
has a label still returns a probability column for each class.
"""

import copy
import json
import math

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from skorch import NeuralNetClassifier
from torch import nn

from ._coerce import as_classifier  # noqa: F401  (re-exported)
from ._proba import predict_proba_full, predict_proba_mc  # noqa: F401  (re-exported)
from ._threads import apply_torch_threads
from ._training import default_model  # noqa: F401  (re-exported)

apply_torch_threads()

__all__ = ["MLPModule", "CNNModule", "TorchClassifier", "ModuleClassifier", "NetClassifier", "as_classifier",
           "make_mlp", "make_cnn", "default_model", "default_torch_model",
           "predict_proba_full", "predict_proba_mc", "save_torch_model", "load_torch_model"]

_PREDICT_CHUNK = 8192  # rows per forward pass: fast on CPU, activations stay a few MB


class MLPModule(nn.Module):
    """Feature standardisation, one hidden ReLU layer with dropout, and a linear read-out.

    Parameters
    ----------
    n_features, n_classes : int
    hidden_units : int
    dropout : float
        Dropout before the read-out; also what Monte-Carlo dropout samples.
    mean, scale : array-like of shape (n_features,), optional
        Standardisation computed on the whole pool (features only, no labels).
    """

    def __init__(self, n_features, n_classes, hidden_units=256, dropout=0.3, mean=None, scale=None):
        super().__init__()
        mean = np.zeros(n_features) if mean is None else np.asarray(mean)
        scale = np.ones(n_features) if scale is None else np.asarray(scale)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.hidden = nn.Sequential(nn.Linear(n_features, hidden_units), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_units, n_classes)

    def forward(self, X):
        X = X.reshape(len(X), -1)
        return self.out(self.dropout(self.hidden((X - self.mean) / self.scale)))


class CNNModule(nn.Module):
    """A small CNN for images of shape (channels, height, width).

    Two 3x3 convolution blocks with batch-free max pooling, global average
    pooling, dropout and a linear read-out: small enough to train on a laptop
    CPU in seconds from a few hundred labels.
    """

    def __init__(self, image_shape, n_classes, channels=32, dropout=0.3):
        super().__init__()
        self.image_shape = tuple(image_shape) if len(image_shape) == 3 else (1, *image_shape)
        c = self.image_shape[0]
        self.features = nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        )
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(2 * channels, n_classes)

    def forward(self, X):
        X = X.reshape(len(X), *self.image_shape)
        return self.out(self.dropout(self.features(X).flatten(1)))


class TorchClassifier(NeuralNetClassifier):
    """skorch's classifier with fixed classes, seeded training and a step budget.

    Parameters
    ----------
    module : type of torch.nn.Module
    n_classes : int
        Labels are positions ``0..n_classes-1``; ``classes_`` always has all of them.
    train_steps : int
        Gradient steps per ``fit``; the epoch count follows from the number of
        labels (between ``min_epochs`` and ``max_epochs``), so training time
        does not explode as labels accumulate.
    random_state : int
        Seeds weight initialisation, shuffling and dropout; ``fit`` is repeatable
        and leaves torch's global random state untouched.
    **kwargs
        Passed to :class:`skorch.NeuralNetClassifier` (``module__*``, ``lr`` ...).
    """

    def __init__(self, module, *args, n_classes=2, train_steps=300, min_epochs=10, random_state=0,
                 criterion=nn.CrossEntropyLoss, optimizer=torch.optim.AdamW, lr=3e-3, batch_size=64,
                 max_epochs=200, train_split=None, verbose=0, **kwargs):
        kwargs.setdefault("classes", list(range(n_classes)))
        kwargs.setdefault("callbacks__print_log", None)
        super().__init__(module, *args, criterion=criterion, optimizer=optimizer, lr=lr, batch_size=batch_size,
                         max_epochs=max_epochs, train_split=train_split, verbose=verbose, **kwargs)
        self.n_classes = n_classes
        self.train_steps = train_steps
        self.min_epochs = min_epochs
        self.random_state = random_state

    def epochs_for(self, n_samples):
        """Epochs that give about ``train_steps`` gradient steps on ``n_samples``."""
        batches = max(1, math.ceil(n_samples / self.batch_size)) if self.batch_size > 0 else 1
        return int(np.clip(round(self.train_steps / batches), self.min_epochs, self.max_epochs))

    def fit(self, X, y, **fit_params):
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.int64)
        fit_params.setdefault("epochs", self.epochs_for(len(X)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            self.initialize()
            return self.partial_fit(X, y, **fit_params)

    def predict_proba(self, X):
        """Class probabilities, computed in chunks straight through the module.

        Equivalent to skorch's ``predict_proba`` (softmax of the logits) but
        without its per-batch DataLoader overhead, and with memory bounded by
        the chunk size: a (n_items, n_classes) float32 result plus one chunk.
        ``X`` may be a ``np.memmap``; rows are read chunk by chunk.
        """
        self.check_is_fitted()
        module = self.module_
        was_training = module.training
        out = np.empty((len(X), self.n_classes), dtype=np.float32)
        try:
            module.eval()
            with torch.inference_mode():
                for start in range(0, len(X), _PREDICT_CHUNK):
                    xb = torch.from_numpy(np.array(X[start:start + _PREDICT_CHUNK], dtype=np.float32))
                    out[start:start + len(xb)] = torch.softmax(module(xb), dim=1).numpy()
        finally:
            module.train(was_training)
        return out

    def predict_proba_mc(self, X, n_samples=20, random_state=0, batch_size=4096):
        """Monte-Carlo dropout: ``n_samples`` stochastic forward passes.

        Returns
        -------
        ndarray of shape (n_samples, n_items, n_classes)
        """
        module = self.module_
        was_training = module.training
        out = np.empty((n_samples, len(X), self.n_classes), dtype=np.float32)
        try:
            module.train()  # dropout on
            _mc_passes(module, X, out, random_state, batch_size)
        finally:
            module.train(was_training)
        return out


def _mc_passes(module, X, out, random_state, batch_size):
    """Fill ``out`` (n_samples, n_items, n_classes) with seeded stochastic forward passes, in batches.

    The module's layers are in whatever mode the caller set (dropout on); torch's global RNG is untouched.
    """
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(random_state))
        for start in range(0, len(X), batch_size):
            xb = torch.as_tensor(np.asarray(X[start:start + batch_size], dtype=np.float32))
            for k in range(out.shape[0]):
                out[k, start:start + len(xb)] = torch.softmax(module(xb), dim=1).numpy()


def _dropout_layers(module):
    return [m for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


class ModuleClassifier(TorchClassifier):
    """A plain :class:`torch.nn.Module` of yours as a classifier: fixed classes, seeded, re-initialised per fit.

    Parameters
    ----------
    module : torch.nn.Module
        An instance that maps a float32 batch shaped like the dataset's
        features, ``(n, *X.shape[1:])``, to ``(n, n_classes)`` logits. It is
        never trained itself: every ``fit`` trains a deep copy, so clones made
        by :func:`sklearn.base.clone` share no trained weights.
    n_classes : int
        Labels are positions ``0..n_classes-1``; ``predict_proba`` has a column
        for each, even when only some classes have labels.
    reinitialize : bool
        Whether each ``fit`` first resets the copy's weights (``reset_parameters``
        of every layer that has one) from ``random_state``; False starts each
        fit from the weights the module was given (a pretrained head, say).
    random_state : int
        Seeds the weights, shuffling and dropout; torch's global random state is left untouched.
    **kwargs
        As for :class:`TorchClassifier` (``lr``, ``train_steps``, ``batch_size``, ``optimizer`` ...).

    Notes
    -----
    :meth:`predict_proba_mc` (for BALD) samples the module's dropout layers
    with every other layer in eval mode (batch norm keeps its running
    statistics); a module without dropout raises ``TypeError`` there.
    """

    def __init__(self, module, *args, reinitialize=True, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.reinitialize = reinitialize

    def initialize_module(self):
        module = copy.deepcopy(self.module)  # the template is never trained
        if self.reinitialize:  # fit has seeded torch from random_state
            for layer in module.modules():
                if callable(getattr(layer, "reset_parameters", None)):
                    layer.reset_parameters()
        self.module_ = module
        return self

    def predict_proba_mc(self, X, n_samples=20, random_state=0, batch_size=4096):
        """Monte-Carlo dropout: ``n_samples`` passes with only the dropout layers in training mode.

        Returns
        -------
        ndarray of shape (n_samples, n_items, n_classes)

        Raises
        ------
        TypeError
            If the module has no dropout layer (every sample would be the same).
        """
        self.check_is_fitted()
        module = self.module_
        dropout = _dropout_layers(module)
        if not dropout:
            raise TypeError(f"{type(self.module).__name__} has no dropout layer, so Monte-Carlo dropout would repeat "
                            "one prediction; add torch.nn.Dropout to the module or use a strategy that needs no "
                            "sampling (margin, entropy).")
        modes = [(m, m.training) for m in module.modules()]
        out = np.empty((n_samples, len(X), self.n_classes), dtype=np.float32)
        try:
            module.eval()
            for m in dropout:
                m.train()
            _mc_passes(module, X, out, random_state, batch_size)
        finally:
            for m, mode in modes:
                m.training = mode
        return out


class NetClassifier(ClassifierMixin, BaseEstimator):
    """A skorch :class:`~skorch.NeuralNetClassifier` of yours, with fixed classes and a seeded fit.

    Each ``fit`` clones ``net``, sets its ``classes`` to ``0..n_classes-1``
    (so ``predict_proba`` has a column per class before every class has a
    label) and fits it on float32 features and int64 labels with torch seeded
    from ``random_state`` (global random state untouched). Everything else
    (module, criterion, optimizer, ``train_split``, callbacks) is the net's own.

    Parameters
    ----------
    net : skorch.NeuralNetClassifier
    n_classes : int
    random_state : int
    """

    def __init__(self, net, n_classes=2, random_state=0):
        self.net = net
        self.n_classes = n_classes
        self.random_state = random_state

    def fit(self, X, y):
        net = clone(self.net).set_params(classes=list(range(self.n_classes)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.random_state))
            net.fit(np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64))
        self.net_ = net
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict_proba(self, X):
        proba = np.asarray(self.net_.predict_proba(np.asarray(X, dtype=np.float32)))
        if proba.shape[1:] != (self.n_classes,):
            raise ValueError(f"the skorch net's module gives {proba.shape[1:]} values per item; it must give "
                             f"{self.n_classes}, one per class.")
        return proba

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)


def make_mlp(n_features, n_classes, hidden_units=256, dropout=0.3, mean=None, scale=None, random_state=0,
             **kwargs):
    """An MLP classifier for feature vectors; see :class:`MLPModule` and :class:`TorchClassifier`."""
    return TorchClassifier(MLPModule, module__n_features=int(n_features), module__n_classes=int(n_classes),
                           module__hidden_units=hidden_units, module__dropout=dropout,
                           module__mean=None if mean is None else np.asarray(mean, dtype=np.float32),
                           module__scale=None if scale is None else np.asarray(scale, dtype=np.float32),
                           n_classes=int(n_classes), random_state=random_state, **kwargs)


def make_cnn(image_shape, n_classes, channels=32, dropout=0.3, random_state=0, **kwargs):
    """A small CNN classifier for images of ``image_shape`` ((C, H, W) or (H, W))."""
    kwargs.setdefault("lr", 3e-3)
    return TorchClassifier(CNNModule, module__image_shape=tuple(image_shape), module__n_classes=int(n_classes),
                           module__channels=channels, module__dropout=dropout, n_classes=int(n_classes),
                           random_state=random_state, **kwargs)


def _pool_standardisation(X, max_rows=100_000, random_state=0):
    rng = np.random.default_rng(random_state)
    flat = X.reshape(len(X), -1)
    rows = flat if len(flat) <= max_rows else flat[np.sort(rng.choice(len(flat), max_rows, replace=False))]
    rows = np.asarray(rows, dtype=np.float64)
    mean = rows.mean(axis=0)
    scale = rows.std(axis=0)
    scale[scale < 1e-3] = 1.0  # constant features (digits' border pixels)
    return mean.astype(np.float32), scale.astype(np.float32)


def default_torch_model(dataset, random_state=0):
    """The PyTorch model for a dataset: a small CNN for images of at least 16x16 pixels, else an MLP."""
    shape = dataset.image_shape or dataset.X.shape[1:]
    if dataset.kind == "image" and len(shape) >= 2 and min(shape[-2:]) >= 16:
        return make_cnn(shape, dataset.n_classes, random_state=random_state)
    mean, scale = _pool_standardisation(dataset.X, random_state=random_state)
    return make_mlp(int(np.prod(dataset.X.shape[1:])), dataset.n_classes, mean=mean, scale=scale,
                    random_state=random_state)


_MODULES = {"MLPModule": MLPModule, "CNNModule": CNNModule}


def save_torch_model(model, path):
    """Save a fitted :class:`TorchClassifier` as plain tensors plus JSON settings (no pickle).

    The file holds the module's ``state_dict`` and a JSON string of the
    constructor settings; :func:`load_torch_model` reads it with
    ``torch.load(..., weights_only=True)``, which refuses arbitrary objects.
    """
    model.check_is_fitted()
    name = model.module.__name__ if isinstance(model.module, type) else type(model.module).__name__
    if name not in _MODULES:
        raise TypeError(f"save_torch_model saves activelearn's MLPModule and CNNModule, not {name}.")
    kwargs = {k[len("module__"):]: v for k, v in model.get_params().items()
              if k.startswith("module__") and k.count("__") == 1}
    kwargs = {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else
                  list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    settings = {"module": name, "module_kwargs": kwargs, "n_classes": int(model.n_classes),
                "train_steps": int(model.train_steps), "random_state": int(model.random_state)}
    state = {k: v.detach().cpu() for k, v in model.module_.state_dict().items()}
    torch.save({"state_dict": state, "settings": json.dumps(settings)}, path)
    return path


def load_torch_model(path):
    """Load a model saved by :func:`save_torch_model`, with ``weights_only=True`` (no code runs)."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    settings = json.loads(blob["settings"])
    module = _MODULES[settings["module"]]
    kwargs = {f"module__{k}": (tuple(v) if k == "image_shape" else
                               np.asarray(v, dtype=np.float32) if k in ("mean", "scale") and v is not None else v)
              for k, v in settings["module_kwargs"].items()}
    model = TorchClassifier(module, n_classes=settings["n_classes"], train_steps=settings["train_steps"],
                            random_state=settings["random_state"], **kwargs)
    model.initialize()
    model.module_.load_state_dict(blob["state_dict"])
    return model

"""What ``Session(dataset, model=...)`` accepts, turned into a classifier the loop can clone and fit.

Three kinds of model are accepted:

* a plain :class:`torch.nn.Module` that maps a float32 batch of items to one
  logit per class: wrapped in :class:`~activelearn.models.ModuleClassifier`
  (the dataset's fixed class list, seeded training, Monte-Carlo dropout where
  the module has dropout layers);
* a skorch :class:`~skorch.NeuralNetClassifier`: wrapped in
  :class:`~activelearn.models.NetClassifier` (fixed classes, float32 inputs,
  seeded fit); activelearn's own :class:`~activelearn.models.TorchClassifier`
  is used as it is;
* any scikit-learn classifier with ``fit`` and ``predict_proba``: used as it is.

torch and skorch are never imported here: an object can only be a torch
module or a skorch net if its library is already loaded.
"""

import numpy as np

from ._threads import loaded_module
from .exceptions import InvalidDataError

__all__ = ["as_classifier"]

_ACCEPTED = ("Session(model=...) accepts a torch.nn.Module that maps a float32 batch of items to one logit per "
             "class, a skorch NeuralNetClassifier, or a scikit-learn classifier with fit and predict_proba "
             "(for example LogisticRegression(max_iter=1000)).")


def _describe(model):
    text = repr(model)
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"{text} (a {type(model).__module__}.{type(model).__qualname__})"


def as_classifier(model, dataset, random_state=0):
    """The estimator a session clones and fits for ``model``.

    Parameters
    ----------
    model : torch.nn.Module, skorch.NeuralNetClassifier or scikit-learn classifier
    dataset : Dataset
        Gives the class list (labels are positions ``0..n_classes-1``) and,
        for a torch module, two items to check its output on.
    random_state : int
        Seeds the weights and the training of a wrapped torch module or skorch net.

    Returns
    -------
    estimator
        Cloneable with :func:`sklearn.base.clone`; ``predict_proba`` has one
        column per class once fitted (columns follow ``classes_``).

    Raises
    ------
    InvalidDataError
        For anything else, naming what was passed and what is accepted.
    """
    torch = loaded_module("torch")  # never imported here: a torch model means torch is loaded
    skorch = loaded_module("skorch")
    n_classes = dataset.n_classes
    if isinstance(model, type):
        what = "torch module" if torch is not None and issubclass(model, torch.nn.Module) else "class"
        raise InvalidDataError(f"model={model.__qualname__} is a {what} class, not an instance: pass "
                               f"model={model.__qualname__}(...). {_ACCEPTED}")
    if torch is not None and isinstance(model, torch.nn.Module):
        from .models import ModuleClassifier

        _check_module_output(model, dataset, torch)
        return ModuleClassifier(model, n_classes=n_classes, random_state=random_state)
    if skorch is not None and isinstance(model, skorch.NeuralNet):
        from .models import NetClassifier, TorchClassifier

        if isinstance(model, TorchClassifier) or type(model).__module__.startswith("activelearn."):
            # activelearn's own nets fix their classes and seed themselves (and may use the pool): as they are
            if getattr(model, "n_classes", n_classes) != n_classes:
                raise InvalidDataError(f"model has n_classes={model.n_classes} but the dataset has {n_classes} "
                                       f"classes {dataset.class_names}; build it with n_classes={n_classes}.")
            return model
        if not isinstance(model, skorch.NeuralNetClassifier):
            raise InvalidDataError(f"model={_describe(model)} is a skorch net but not a NeuralNetClassifier; use "
                                   f"skorch.NeuralNetClassifier with a module that outputs {n_classes} values "
                                   f"per item. {_ACCEPTED}")
        classes = model.classes
        if classes is not None and [int(c) if isinstance(c, (int, np.integer)) else c for c in classes] \
                != list(range(n_classes)):
            raise InvalidDataError(f"the skorch net has classes={list(classes)!r}; activelearn trains on class "
                                   f"positions 0..{n_classes - 1} (of {dataset.class_names}): leave classes unset.")
        return NetClassifier(model, n_classes=n_classes, random_state=random_state)
    if callable(getattr(model, "fit", None)) and callable(getattr(model, "predict_proba", None)):
        if not (callable(getattr(model, "get_params", None)) or hasattr(model, "__sklearn_clone__")):
            raise InvalidDataError(f"model={_describe(model)} has fit and predict_proba but no get_params, so "
                                   "sklearn.base.clone cannot copy it for each retrain; derive it from "
                                   "sklearn.base.BaseEstimator.")
        return model
    hint = ""
    if callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None)):
        hint = " It has fit and predict but no predict_proba (for an SVC, pass probability=True)."
    raise InvalidDataError(f"model={_describe(model)} cannot be used.{hint} {_ACCEPTED}")


def _check_module_output(module, dataset, torch):
    """Run the module on two items (eval mode, no gradients): it must give (2, n_classes) logits."""
    X = np.asarray(dataset.X[:2], dtype=np.float32)
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            out = module(torch.from_numpy(X))
    except Exception as exc:
        raise InvalidDataError(f"calling the torch module {type(module).__qualname__} on two items of "
                               f"{dataset.name!r} (float32, shape {X.shape}) failed: {exc!r}. The module gets "
                               f"the dataset's features as they are and must return {dataset.n_classes} logits "
                               "per item.") from exc
    finally:
        module.train(was_training)
    shape = tuple(getattr(out, "shape", ()))
    if shape != (len(X), dataset.n_classes):
        raise InvalidDataError(f"the torch module {type(module).__qualname__} returned shape {shape} for "
                               f"{len(X)} items; it must return one logit per class, shape ({len(X)}, "
                               f"{dataset.n_classes}) for the classes {dataset.class_names}.")

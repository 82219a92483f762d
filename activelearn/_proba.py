"""Class probabilities from any fitted model, numpy only (no torch import).

Strategies, training and export all read a model through these two functions,
so nothing that only scores or evaluates needs torch or skorch loaded.
"""

import numpy as np

__all__ = ["predict_proba_full", "predict_proba_mc"]


def predict_proba_full(model, X, n_classes):
    """``predict_proba`` with one column per class ``0..n_classes-1``.

    scikit-learn estimators fitted on a subset of the classes return fewer
    columns; they are placed by ``model.classes_`` and the rest set to 0.

    Parameters
    ----------
    model : fitted classifier with ``predict_proba``
    X : array-like of shape (n_samples, ...)
    n_classes : int

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
    """
    proba = np.asarray(model.predict_proba(X))
    classes = getattr(model, "classes_", None)
    if proba.shape[1] == n_classes and (classes is None or np.array_equal(np.asarray(classes), np.arange(n_classes))):
        return proba
    full = np.zeros((len(proba), n_classes), dtype=proba.dtype)
    full[:, np.asarray(classes, dtype=np.int64)] = proba
    return full


def predict_proba_mc(model, X, n_samples=20, random_state=0):
    """Monte-Carlo probabilities of shape (n_samples, n_items, n_classes).

    Raises
    ------
    TypeError
        If the model cannot sample (neither a :class:`~activelearn.models.TorchClassifier`
        with dropout nor a model with its own ``predict_proba_mc``).
    """
    if not hasattr(model, "predict_proba_mc"):
        raise TypeError(
            f"{type(model).__name__} has no Monte-Carlo dropout; BALD needs a TorchClassifier "
            "(activelearn.models.make_mlp or make_cnn)."
        )
    return model.predict_proba_mc(X, n_samples=n_samples, random_state=random_state)

"""Keep modAL 0.4.x working on current scikit-learn and numpy.

modAL's last releases (0.4.1 / 0.4.2.1, 2023) break on today's stack in
three places, each mended here without pinning the user's libraries back:

* ``modAL.models.base`` calls ``check_X_y(..., force_all_finite=...)``; the
  keyword was renamed ``ensure_all_finite`` in scikit-learn 1.6 and removed in
  1.8, so ``ActiveLearner.teach`` crashes (modAL issue #196).  We give that
  module a ``check_X_y`` that translates the keyword.
* ``modAL.expected_error`` annotates with ``np.float``, gone since numpy 1.24.
* ``modAL.cluster`` imports ``sklearn.cluster.hierarchical``, renamed
  ``sklearn.cluster._agglomerative`` in scikit-learn 0.24.

The install side (modAL-python 0.4.2.1 pins ``skorch==0.9.0``, which does not
import on current setuptools) is solved by depending on modAL-python 0.4.1,
which has the same query strategies and no skorch pin.
"""

import importlib
import inspect
import sys

import numpy as np
import sklearn.utils
import sklearn.utils.validation

_PATCHED = False


def _translate_finite_kwarg(func):
    params = inspect.signature(func).parameters
    if "force_all_finite" in params:  # old scikit-learn: nothing to translate
        return func

    def wrapper(*args, force_all_finite=None, **kwargs):
        if force_all_finite is not None and "ensure_all_finite" not in kwargs:
            kwargs["ensure_all_finite"] = force_all_finite
        return func(*args, **kwargs)

    wrapper.__wrapped__ = func
    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def patch_modal():
    """Apply the compatibility fixes to modAL once; return the ``modAL`` module."""
    global _PATCHED
    import modAL  # noqa: F401  (imports modAL.models.base)
    import modAL.models.base as modal_base

    if not _PATCHED:
        modal_base.check_X_y = _translate_finite_kwarg(sklearn.utils.check_X_y)
        _PATCHED = True
    return modAL


def import_modal_module(name):
    """Import ``modAL.<name>``, including the modules that fail on numpy 2.

    Parameters
    ----------
    name : str
        ``"expected_error"``, ``"cluster"`` or any other modAL submodule.

    Returns
    -------
    module
    """
    patch_modal()
    full = f"modAL.{name}"
    if full in sys.modules:
        return sys.modules[full]
    if name == "cluster" and "sklearn.cluster.hierarchical" not in sys.modules:
        sys.modules["sklearn.cluster.hierarchical"] = importlib.import_module(
            "sklearn.cluster._agglomerative"
        )
    if name == "expected_error" and "float" not in np.__dict__:
        # Only the annotation needs np.float; set it for the import alone.
        np.float = float
        try:
            return importlib.import_module(full)
        finally:
            del np.float
    return importlib.import_module(full)

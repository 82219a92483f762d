"""activelearn: label less, in-house, in Jupyter.

A headless active-learning core (datasets, PyTorch models behind the
scikit-learn API, modAL query strategies, a durable label store and the
loop) with a thin notebook widget on top.

``import activelearn`` loads only the errors: every public name is imported
from its module on first use (PEP 562), so scikit-learn, pandas, SQLAlchemy
and torch load when a session, a source or a model needs them, not before.
"""

import importlib
import sys
import types
from typing import TYPE_CHECKING

from .exceptions import *  # noqa: F401,F403
from .exceptions import __all__ as _exc_all

if TYPE_CHECKING:  # for type checkers and IDEs; at run time each name loads on first use (__getattr__)
    from .datasets import Dataset, as_dataset, from_arrays, load_dataset, load_digits, load_iris, load_wine
    from .loop import Offer, Oracle, Session
    from .simulate import simulate, summarize
    from .sources import from_dataframe, from_image_folder, from_text
    from .stopping import StoppingAdvice
    from .store import LabelStore
    from .strategies import STRATEGIES, get_strategy

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY = {
    **dict.fromkeys(["Dataset", "as_dataset", "from_arrays", "load_dataset", "load_digits", "load_iris",
                     "load_wine"], ".datasets"),
    **dict.fromkeys(["Offer", "Oracle", "Session"], ".loop"),
    **dict.fromkeys(["simulate", "summarize"], ".simulate"),
    **dict.fromkeys(["from_dataframe", "from_image_folder", "from_text"], ".sources"),
    "LabelStore": ".store",
    "StoppingAdvice": ".stopping",
    **dict.fromkeys(["STRATEGIES", "get_strategy"], ".strategies"),
}

__all__ = ["__version__", "Dataset", "as_dataset", "from_arrays", "load_dataset", "load_digits", "load_iris",
           "load_wine",
           "from_image_folder", "from_text", "from_dataframe", "Offer", "Oracle", "Session", "simulate", "summarize",
           "LabelStore", "StoppingAdvice", "STRATEGIES", "get_strategy", *_exc_all]


def __getattr__(name):
    if name == "models":  # torch and skorch load only when a torch model is used
        return importlib.import_module(".models", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'activelearn' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | {"models"})


class _Package(types.ModuleType):
    """The package module: ``activelearn.simulate`` stays the function once the submodule is imported.

    Importing ``activelearn.simulate`` (the loop does) binds the submodule to the package's
    attribute of the same name; the function of that name is what the package has always exposed.
    """

    def __setattr__(self, name, value):
        if name == "simulate" and isinstance(value, types.ModuleType):
            value = value.simulate
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

"""activelearn: label less, in-house, in Jupyter.

A headless active-learning core (datasets, PyTorch models behind the
scikit-learn API, modAL query strategies, a durable label store and the
loop) with a thin notebook widget on top.
"""

__version__ = "0.1.0"

from .datasets import Dataset, from_arrays, load_dataset, load_digits, load_iris, load_wine  # noqa: E402
from .exceptions import *  # noqa: E402,F401,F403
from .exceptions import __all__ as _exc_all  # noqa: E402
from .loop import Offer, Oracle, Session  # noqa: E402
from .simulate import simulate, summarize  # noqa: E402  (the functions; the module stays importable by name)
from .sources import from_dataframe, from_image_folder, from_text  # noqa: E402
from .stopping import StoppingAdvice  # noqa: E402
from .store import LabelStore  # noqa: E402
from .strategies import STRATEGIES, get_strategy  # noqa: E402

__all__ = ["__version__", "Dataset", "from_arrays", "load_dataset", "load_digits", "load_iris", "load_wine",
           "from_image_folder", "from_text", "from_dataframe", "Offer", "Oracle", "Session", "simulate", "summarize",
           "LabelStore", "StoppingAdvice", "STRATEGIES", "get_strategy", *_exc_all]


def __getattr__(name):
    # torch and skorch load only when a torch model is used: ``activelearn.models`` is imported on first use.
    if name == "models":
        import importlib

        return importlib.import_module(".models", __name__)
    raise AttributeError(f"module 'activelearn' has no attribute {name!r}")

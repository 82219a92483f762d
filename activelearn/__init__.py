"""activelearn: label less, in-house, in Jupyter.

A headless active-learning core (datasets, PyTorch models behind the
scikit-learn API, modAL query strategies, a durable label store and the
loop) with a thin notebook widget on top.
"""

__version__ = "0.1.0"

from .datasets import Dataset, from_arrays, load_dataset, load_digits, load_iris, load_wine  # noqa: E402
from .exceptions import *  # noqa: E402,F401,F403
from .exceptions import __all__ as _exc_all  # noqa: E402
from .loop import Oracle, Session  # noqa: E402
from .sources import from_dataframe, from_image_folder, from_text  # noqa: E402
from .store import LabelStore  # noqa: E402
from .strategies import STRATEGIES, get_strategy  # noqa: E402

__all__ = ["__version__", "Dataset", "from_arrays", "load_dataset", "load_digits", "load_iris", "load_wine",
           "from_image_folder", "from_text",
           "from_dataframe", "Oracle", "Session", "LabelStore", "STRATEGIES", "get_strategy", *_exc_all]

"""Deliberate thread counts for torch and the BLAS libraries.

On small machines, torch and OpenBLAS/MKL each start one thread per core, in
every process; with several processes (parallel simulations, a background
retrain) they oversubscribe the cores and fits slow down 5-20x. The models
activelearn trains are small, for which one thread per process is fastest.

torch is never imported here: the limit is applied to torch when torch is
already loaded, and :mod:`activelearn.models` applies it when it loads torch.
"""

import importlib
import os
import sys

from threadpoolctl import threadpool_limits

_n_threads = None  # the limit in force, once set; read by apply_torch_threads


def loaded_module(name):
    """The module ``name`` if it is loaded or being loaded, else None; never starts an import.

    ``sys.modules.get(name)`` alone is not enough: while another thread imports the module (a session's
    warm-up thread loads torch in the background), ``sys.modules`` already holds it half initialised, and
    ``torch.nn`` raises AttributeError. ``import_module`` waits for that import to finish.
    """
    if sys.modules.get(name) is None:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:  # its import failed meanwhile
        return None


def default_n_threads():
    """Threads per process: ``ACTIVELEARN_NUM_THREADS`` or 1."""
    return max(1, int(os.environ.get("ACTIVELEARN_NUM_THREADS", "1")))


def apply_torch_threads():
    """Give torch (if loaded) the thread limit in force (the default until one is set)."""
    torch = loaded_module("torch")
    if torch is None:
        return
    n = _n_threads or default_n_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def set_thread_limits(n_threads=None):
    """Limit torch's intra-op threads and the BLAS pools to ``n_threads``, for this process.

    Parameters
    ----------
    n_threads : int or None
        Threads to allow; ``None`` uses :func:`default_n_threads`.

    Returns
    -------
    int
        The number of threads now in force.
    """
    global _n_threads
    n = default_n_threads() if n_threads is None else max(1, int(n_threads))
    threadpool_limits(limits=n)
    _n_threads = n
    apply_torch_threads()
    return n

"""Deliberate thread counts for torch and the BLAS libraries.

On small machines, torch and OpenBLAS/MKL each start one thread per core, in
every process; with several processes (parallel simulations, a background
retrain) they oversubscribe the cores and fits slow down 5-20x. The models
activelearn trains are small, for which one thread per process is fastest.
"""

import os

from threadpoolctl import threadpool_limits

_DEFAULT = None


def default_n_threads():
    """Threads per process: ``ACTIVELEARN_NUM_THREADS`` or 1."""
    return max(1, int(os.environ.get("ACTIVELEARN_NUM_THREADS", "1")))


def set_thread_limits(n_threads=None):
    """Limit torch's intra-op threads and the BLAS pools to ``n_threads``.

    Parameters
    ----------
    n_threads : int or None
        Threads to allow; ``None`` uses :func:`default_n_threads`.

    Returns
    -------
    int
        The number of threads now in force.
    """
    global _DEFAULT
    import torch

    n = default_n_threads() if n_threads is None else max(1, int(n_threads))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    threadpool_limits(limits=n)
    _DEFAULT = n
    return n

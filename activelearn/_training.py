"""Training: fit a model on one snapshot of the labels, score it, and record the round.

The model in use is an immutable :class:`Fitted` (model and version) that the
session swaps by assignment once a fit has succeeded; a failed fit leaves the
previous one in place. :class:`BackgroundTrainer` runs retrains in one worker
thread, for the widget and for headless code alike. Nothing here imports
torch unless the default model for a large pool is a torch network.
"""

import threading
import time
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score

from ._proba import predict_proba_full
from .exceptions import TrainingError
from .metrics import wilson_interval

__all__ = ["Fitted", "Snapshot", "fit_temperature", "apply_temperature", "SingleClassModel", "default_model",
           "fit_model", "evaluate", "audit_accuracy", "round_record", "BackgroundTrainer", "HISTORY_COLUMNS"]

#: The columns of :attr:`Session.history`, one row per retrain (the store's ``rounds`` table holds them).
HISTORY_COLUMNS = ["n_labels", "accuracy", "macro_f1", "labeling_seconds", "cost", "train_seconds",
                   "query_seconds", "model_version", "n_test", "audit_n", "audit_accuracy", "audit_low", "audit_high"]


@dataclass(frozen=True)
class Fitted:
    """A fitted model, the version it was recorded as, and its calibration.

    ``temperature`` rescales the model's probabilities so that they match
    how often it is right on items it never trained on (held-out or audit
    items); None when there were too few such items to say: then no
    probability is shown to a person.
    """

    model: object
    version: int
    temperature: float = None
    inductive: bool = False  # the temperature was fitted on the model's inductive predictor (held-out rows)

    def calibrated_proba(self, X, n_classes):
        """Probabilities a person may be shown: temperature-scaled, or None without a calibration.

        They come from the predictor the temperature was fitted on: for a pool-aware model calibrated on
        the held-out set, its inductive predictor (``predict_proba_inductive``), never the pool posterior
        that ranks (which can be one-hot where the held-out accuracy is far from 100%).
        """
        if self.temperature is None:
            return None
        return apply_temperature(proba_for_people(self.model, X, n_classes, self.inductive), self.temperature)


def proba_for_people(model, X, n_classes, inductive):
    """The probabilities a calibration is fitted on and shown from (see :class:`Fitted`)."""
    if inductive and hasattr(model, "predict_proba_inductive"):
        return np.asarray(model.predict_proba_inductive(X), dtype=np.float64)
    return predict_proba_full(model, X, n_classes)


#: Fewest held-out (or audit) items a calibration is fitted on.
MIN_CALIBRATION_ITEMS = 20
_TEMPERATURES = np.geomspace(0.05, 50.0, 241)


def apply_temperature(proba, temperature):
    """``softmax(log(proba) / temperature)`` row by row (1: unchanged; above 1: less confident)."""
    logp = np.log(np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)) / float(temperature)
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=1, keepdims=True)


def fit_temperature(proba, y):
    """The temperature (one number, grid search) that minimises the log-loss of ``proba`` on labels ``y``.

    Returns None with fewer than :data:`MIN_CALIBRATION_ITEMS` items.
    """
    y = np.asarray(y, dtype=np.int64)
    if len(y) < MIN_CALIBRATION_ITEMS:
        return None
    logp = np.log(np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0))
    # The log-loss is convex in 1 / temperature, so along the (monotone) grid it falls, then rises: every
    # 8th temperature first, then every one around the best of those finds the grid's minimum at a fifth
    # of the cost (a retrain calibrates while a person labels).
    step = 8
    coarse = np.unique(np.r_[np.arange(0, len(_TEMPERATURES), step), len(_TEMPERATURES) - 1])
    best = int(coarse[np.argmin(_log_losses(logp, y, _TEMPERATURES[coarse]))])
    fine = np.arange(max(0, best - step), min(len(_TEMPERATURES), best + step + 1))
    return float(_TEMPERATURES[int(fine[np.argmin(_log_losses(logp, y, _TEMPERATURES[fine]))])])


def _log_losses(logp, y, temperatures):
    """Mean log-loss of ``softmax(logp / t)`` on labels ``y``, one value per temperature ``t``."""
    scaled = logp[None, :, :] / temperatures[:, None, None]
    scaled -= scaled.max(axis=2, keepdims=True)
    return -(scaled[:, np.arange(len(y)), y] - np.log(np.exp(scaled).sum(axis=2))).mean(axis=1)


@dataclass(frozen=True)
class Snapshot:
    """The labels at one moment: what a round trains on and what its record reports."""

    train_positions: np.ndarray
    y_train: np.ndarray
    audit_positions: np.ndarray
    y_audit: np.ndarray
    n_labels: int  # every live label, audit labels included (what the cost is paid for)
    labeling_seconds: float


class SingleClassModel:
    """What a model can know from labels of a single class: that class, with certainty."""

    def __init__(self, cls, n_classes):
        self.cls = cls
        self.classes_ = np.arange(n_classes)

    def predict_proba(self, X):
        proba = np.zeros((len(X), len(self.classes_)))
        proba[:, self.cls] = 1.0
        return proba

    def predict(self, X):
        return np.full(len(X), self.cls)




def default_model(dataset, random_state=0):
    """The default model for ``dataset``: a PyTorch network that learns from the labels and the pool.

    Pools up to :data:`~activelearn.semi.MAX_SEMI_POOL` (200,000) items get a
    :class:`~activelearn.pooled.PoolRBFNetClassifier`: label spreading over
    the pool's neighbour graphs (the t-SNE map's and the features'; what the
    queries rank and the stopping criteria read), then a torch RBF network
    fitted on the people's labels and the pool's confidence-weighted soft
    pseudo-labels (kernel ridge read-out with a per-class intercept,
    ``intercept=True``; ``device="auto"``: CUDA when present, else the CPU
    with one thread) predicts every other item. The pool preparation is kept
    on disk by the pool's fingerprint (``$ACTIVELEARN_CACHE_DIR`` or
    ``~/.cache/activelearn/pools``; an empty variable turns it off). Larger
    pools get a plain PyTorch network
    (:func:`~activelearn.models.default_torch_model`: a small CNN for images of
    at least 16x16 pixels, otherwise an MLP on the features standardised with
    statistics of the whole pool; features only, no label is looked at).

    Chosen on the reporting seeds of ``benchmarks/label_efficiency.py``
    against the earlier default (the same spreading with an RBF SVC,
    :class:`~activelearn.semi.PoolSpreadingClassifier`, still available by
    name): level or ahead on digits, wine, iris and the text sample (see
    ``benchmarks/README.md``).
    """
    from .pooled import MAX_EMBEDDING_POOL, PoolRBFNetClassifier
    from .semi import MAX_SEMI_POOL

    if len(dataset) <= MAX_SEMI_POOL:
        scaling = "feature" if dataset.kind == "table" else "global"
        return PoolRBFNetClassifier(n_classes=dataset.n_classes, scaling=scaling, random_state=random_state,
                                    intercept=True, max_embedding_pool=MAX_EMBEDDING_POOL, cache_dir="auto")
    from .models import default_torch_model  # torch loads only here

    return default_torch_model(dataset, random_state=random_state)


def fit_model(template, X, y, n_classes, previous_version):
    """Fit a clone of ``template`` on ``(X, y)``: ``(model, seconds)``.

    Raises
    ------
    TrainingError
        If the fit failed; the message says that the previous model and every label are kept.
    """
    if len(np.unique(y)) == 1:  # most classifiers cannot fit one class; predict it, honestly
        return SingleClassModel(int(y[0]), n_classes), 0.0
    model = clone(template)
    start = time.perf_counter()
    try:
        model.fit(X, y)
    except Exception as exc:  # any failure of user or library code: keep the old model
        raise TrainingError(
            f"training {type(model).__name__} on {len(y)} labels failed: {exc!r}. The previous model "
            f"(version {previous_version}) and every label are kept; fix the model and call retrain() again."
        ) from exc
    return model, time.perf_counter() - start


def evaluate(model, dataset, test_positions):
    """Accuracy and macro-F1 on the held-out test positions; ``(None, None)`` without a model or test set."""
    if model is None or len(test_positions) == 0:
        return None, None
    y_true = dataset.y[test_positions]
    y_pred = predict_proba_full(model, dataset.X[test_positions], dataset.n_classes).argmax(axis=1)
    return (float(accuracy_score(y_true, y_pred)),
            float(f1_score(y_true, y_pred, average="macro", labels=np.unique(y_true), zero_division=0)))


def audit_accuracy(model, dataset, positions, y):
    """Accuracy on audit labels with a 95% Wilson interval: ``(n, accuracy, low, high)``.

    The audit items are pool items, but the accuracy is the model's on new data, what the held-out set
    measures: a pool-aware model predicts them with its inductive read-out (``predict_proba_inductive``),
    not with the pool posterior it ranks with.
    """
    if model is None or len(positions) == 0:
        return len(positions), None, None, None
    predicted = proba_for_people(model, dataset.X[positions], dataset.n_classes, True).argmax(1)
    correct = int((predicted == y).sum())
    low, high = wilson_interval(correct, len(positions))
    return len(positions), correct / len(positions), low, high


def round_record(model, dataset, snapshot, test_positions, version, train_seconds, query_seconds, cost):
    """The history row of one retrain, every count and time from ``snapshot`` (one moment)."""
    accuracy, macro_f1 = evaluate(model, dataset, test_positions)
    audit_n, audit_acc, audit_low, audit_high = audit_accuracy(model, dataset, snapshot.audit_positions,
                                                               snapshot.y_audit)
    return {"model_version": int(version), "n_labels": int(len(snapshot.train_positions)),
            "n_test": int(len(test_positions)), "accuracy": accuracy, "macro_f1": macro_f1,
            "labeling_seconds": snapshot.labeling_seconds, "cost": cost, "train_seconds": float(train_seconds),
            "query_seconds": query_seconds, "audit_n": int(audit_n), "audit_accuracy": audit_acc,
            "audit_low": audit_low, "audit_high": audit_high}


class BackgroundTrainer:
    """One worker thread for retrains: at most one runs; labeling goes on meanwhile.

    Parameters
    ----------
    retrain : callable
        ``retrain() -> record``; raises on failure.
    """

    def __init__(self, retrain):
        self._retrain = retrain
        self._thread = None
        self._guard = threading.Lock()

    @property
    def running(self):
        t = self._thread
        return t is not None and t.is_alive()

    def start(self, on_done=None):
        """Start a retrain unless one is running; ``on_done(record, error)`` is called from the worker.

        Returns
        -------
        threading.Thread or None
        """
        with self._guard:
            if self.running:
                return None

            def work():
                record, error = None, None
                try:
                    record = self._retrain()
                except Exception as exc:  # reported to on_done; the previous model stays in use
                    error = exc
                if on_done is not None:
                    on_done(record, error)

            self._thread = threading.Thread(target=work, name="activelearn-retrain", daemon=True)
            self._thread.start()
            return self._thread

    def wait(self, timeout=None):
        """Block until the running retrain (if any) has finished."""
        t = self._thread
        if t is not None:
            t.join(timeout)

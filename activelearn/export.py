"""Write a session's labels (and optionally the model's predictions) to CSV, Parquet or JSON Lines."""

from pathlib import Path

import numpy as np
import pandas as pd

from ._proba import predict_proba_full
from .exceptions import ActiveLearnError, InvalidDataError

__all__ = ["export_labels", "FORMATS"]

FORMATS = (".csv", ".parquet", ".pq", ".jsonl", ".ndjson")
_CHUNK = 65536  # items per predict_proba call: memory stays bounded on large pools


def export_labels(labels, dataset, path, fitted=None):
    """Write ``labels`` to ``path``; with ``fitted``, every item with the model's prediction.

    Parameters
    ----------
    labels : pandas.DataFrame
        :meth:`Session.labels`.
    dataset : Dataset
    path : str or path-like
        ``.csv``, ``.parquet``/``.pq`` or ``.jsonl``/``.ndjson``.
    fitted : Fitted, optional
        Adds ``prediction``, ``confidence`` and ``model_version`` columns and
        the unlabeled items (``label`` empty).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidDataError(f"export: unknown format {suffix!r} for {path.name}; use .csv, .parquet or .jsonl.")
    out = labels[["item_id", "label", "annotator", "labeled_at", "seconds", "audit"]]
    if fitted is not None:
        labeled_pos = set(dataset.positions(out["item_id"].tolist()).tolist()) if len(out) else set()
        rest = [p for p in range(len(dataset)) if p not in labeled_pos]
        extra = pd.DataFrame({"item_id": [dataset.item_id(p) for p in rest]})
        out = pd.concat([out, extra], ignore_index=True) if len(out) else extra.reindex(columns=out.columns)
        pos = dataset.positions(out["item_id"].tolist())
        proba = np.empty((len(pos), dataset.n_classes), dtype=np.float32)
        for start in range(0, len(pos), _CHUNK):
            chunk = pos[start:start + _CHUNK]
            proba[start:start + len(chunk)] = predict_proba_full(fitted.model, dataset.X[chunk], dataset.n_classes)
        names = np.asarray(dataset.class_names, dtype=object)
        out["prediction"] = names[proba.argmax(axis=1)]
        out["confidence"] = proba.max(axis=1).astype(float)
        out["model_version"] = fitted.version
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        out.to_csv(path, index=False)
    elif suffix in (".parquet", ".pq"):
        out.to_parquet(path, index=False)
    else:
        out.to_json(path, orient="records", lines=True, date_format="iso")
    return path


def require_model(fitted):
    """The error for an export with predictions before any model exists."""
    if fitted is None:
        raise ActiveLearnError("export(include_predictions=True) needs a model: call retrain() first.")
    return fitted

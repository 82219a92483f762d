"""Datasets: features, optional true labels, class names, stable ids, rendering.

A :class:`Dataset` is what every other part of activelearn works on. Items are
addressed by stable ids, never by positions that could shift; unknown labels
carry the marker ``-1`` (as in scikit-activeml) so that nothing is ever
deleted from the pool.
"""

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from .exceptions import InvalidDataError, UnknownItemError, UnknownLabelError

__all__ = ["Dataset", "as_dataset", "from_arrays", "load_digits", "load_wine", "load_iris", "load_dataset", "MISSING",
           "draw_test_positions"]

MISSING = -1
_CHUNK = 65536


def _check_finite(X):
    """Raise InvalidDataError naming the first rows with NaN or inf."""
    flat = X.reshape(len(X), -1)
    for start in range(0, len(flat), _CHUNK):
        block = np.asarray(flat[start:start + _CHUNK])
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            rows = (np.flatnonzero(bad) + start)[:5].tolist()
            n_bad = int(bad.sum())
            raise InvalidDataError(
                f"X contains NaN or infinite values in {n_bad}+ rows (first: {rows}). "
                "Impute or drop those rows before building the Dataset, e.g. "
                "X = np.nan_to_num(X) or X[np.isfinite(X).all(axis=1)]."
            )


def _png_bytes(image):
    """Encode a 2-D (grey) or 3-D (RGB/RGBA) array as PNG bytes."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        lo, hi = float(np.min(arr)), float(np.max(arr))
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        arr = np.clip((arr - lo) * scale, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


class Dataset:
    """A pool of items to label.

    Parameters
    ----------
    X : array-like of shape (n_items, ...)
        Features, converted to float32 (a ``np.memmap`` is kept as is when it
        already is float32). Must be finite.
    y : array-like of shape (n_items,), optional
        True labels as class names or as positions in ``classes``; ``None``,
        ``-1`` (with positions) or ``None`` entries mean "unknown".
    classes : sequence, optional
        Class names. Inferred from ``y`` when omitted; required without ``y``.
    ids : array-like of shape (n_items,), optional
        Unique, stable item ids (str or int). Defaults to ``0..n_items-1``.
    render : callable, optional
        ``render(dataset, position) -> bytes | str | dict``. Defaults by ``kind``.
    kind : {"table", "image", "text"}
        What an item is, for display.
    name : str
        Used as the project name in a label store.
    image_shape : tuple, optional
        Shape of one image when ``kind="image"`` and ``X`` is flattened.
    feature_names : sequence of str, optional
        Column names for ``kind="table"`` rendering.
    texts : sequence of str, optional
        The raw texts when ``kind="text"``.

    Attributes
    ----------
    y : ndarray of int, shape (n_items,)
        Positions in ``classes``; ``-1`` where the label is unknown.
    """

    def __init__(self, X, y=None, classes=None, ids=None, render=None, kind="table", name="dataset",
                 image_shape=None, feature_names=None, texts=None):
        if isinstance(X, np.memmap) and X.dtype == np.float32:
            self.X = X
        else:
            try:
                self.X = np.asarray(X, dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise InvalidDataError(
                    f"X could not be converted to a float array ({exc}). Pass numeric features of "
                    "shape (n_items, n_features)."
                ) from exc
        if self.X.ndim < 2:
            raise InvalidDataError(
                f"X must have shape (n_items, ...) with at least 2 dimensions, got {self.X.shape}. "
                "Reshape a single feature with X.reshape(-1, 1)."
            )
        n = len(self.X)
        if n == 0:
            raise InvalidDataError("X has no items: a Dataset needs at least one.")
        _check_finite(self.X)
        self.kind = kind
        self.name = str(name)
        self.image_shape = tuple(image_shape) if image_shape is not None else None
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.texts = texts
        self._render = render
        self.ids = self._check_ids(ids, n)
        self.classes, self.y = self._check_labels(y, classes, n)
        self._index = None
        self._lookup = None  # {id: position}, built on the first single-id lookup

    # -- validation -------------------------------------------------------
    @staticmethod
    def _check_ids(ids, n):
        if ids is None:
            return np.arange(n, dtype=np.int64)
        ids = np.asarray(ids)
        if ids.ndim != 1 or len(ids) != n:
            raise InvalidDataError(
                f"ids has {len(ids)} entries but X has {n} items; give exactly one id per item."
            )
        if ids.dtype.kind in "iu":
            ids = ids.astype(np.int64)
        elif ids.dtype.kind in "UO":
            ids = ids.astype(str)
        else:
            raise InvalidDataError(f"ids must be strings or integers, got dtype {ids.dtype}.")
        uniq, counts = np.unique(ids, return_counts=True)
        if len(uniq) != n:
            dups = uniq[counts > 1][:5].tolist()
            raise InvalidDataError(
                f"ids must be unique; {int((counts > 1).sum())} are repeated (e.g. {dups}). "
                "Use file paths or row keys that identify each item once."
            )
        return ids

    @staticmethod
    def _check_labels(y, classes, n):
        if classes is not None:
            classes = list(classes)
            if len(classes) < 2:
                raise InvalidDataError(f"classes needs at least two names, got {classes}.")
            names = [str(c) for c in classes]
            if len(set(names)) != len(names):
                raise InvalidDataError(f"class names must be distinct (as strings), got {classes}.")
        if y is None:
            if classes is None:
                raise InvalidDataError(
                    "A dataset without labels needs its class names: pass classes=['cat', 'dog', ...]."
                )
            return classes, np.full(n, MISSING, dtype=np.int64)
        y = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) else y
        if y.ndim != 1 or len(y) != n:
            raise InvalidDataError(
                f"X has {n} items but y has {len(y)} labels; give one label (or None) per item."
            )
        known = np.array([v is not None and not (isinstance(v, float) and np.isnan(v)) for v in y.tolist()])
        if classes is None:
            values = sorted({v for v, k in zip(y.tolist(), known) if k}, key=lambda v: (str(type(v)), v))
            if y.dtype.kind in "iu":
                values = [v for v in values if v != MISSING]
            if len(values) < 2:
                raise InvalidDataError(
                    f"y has fewer than two distinct labels ({values}); pass classes=[...] explicitly."
                )
            classes = values
        lookup = {c: i for i, c in enumerate(classes)}
        lookup_str = {str(c): i for i, c in enumerate(classes)}
        out = np.full(n, MISSING, dtype=np.int64)
        bad = []
        for i, (v, k) in enumerate(zip(y.tolist(), known)):
            if not k or (isinstance(v, (int, np.integer)) and v == MISSING and v not in lookup):
                continue
            if v in lookup:
                out[i] = lookup[v]
            elif str(v) in lookup_str:
                out[i] = lookup_str[str(v)]
            elif isinstance(v, (int, np.integer)) and 0 <= v < len(classes) and not any(
                isinstance(c, (int, np.integer)) for c in classes
            ):
                out[i] = int(v)
            else:
                bad.append((i, v))
        if bad:
            raise UnknownLabelError(
                f"{len(bad)} labels are not among the classes {list(classes)} (first: row {bad[0][0]} = "
                f"{bad[0][1]!r}). Fix those labels or add the class to classes=[...]."
            )
        return classes, out

    # -- access -----------------------------------------------------------
    def __len__(self):
        return len(self.X)

    def __repr__(self):
        n_known = int((self.y != MISSING).sum())
        return (f"Dataset(name={self.name!r}, n_items={len(self)}, kind={self.kind!r}, "
                f"classes={self.classes!r}, n_true_labels={n_known})")

    @property
    def n_classes(self):
        return len(self.classes)

    @property
    def class_names(self):
        """Class names as strings, the form a label store keeps."""
        return [str(c) for c in self.classes]

    @property
    def has_labels(self):
        """Whether any item has a known true label."""
        return bool((self.y != MISSING).any())

    def positions(self, item_ids):
        """Positions of ``item_ids`` in ``X``.

        Raises
        ------
        UnknownItemError
            If an id is not in the dataset.
        """
        import pandas as pd

        if self._index is None:
            self._index = pd.Index(self.ids)
        ids = np.asarray(list(item_ids) if not np.isscalar(item_ids) else [item_ids])
        if self.ids.dtype.kind == "i" and ids.dtype.kind in "UO":
            try:
                ids = ids.astype(np.int64)
            except (ValueError, TypeError):  # not an integer's spelling (None, "nope"): not found below
                pass
        pos = self._index.get_indexer(ids)
        if (pos < 0).any():
            missing = ids[pos < 0][:5].tolist()
            raise UnknownItemError(
                f"item ids {missing} are not in dataset {self.name!r}; use ids from session.next_batch() "
                f"or dataset.ids."
            )
        return pos

    def position(self, item_id):
        """Position of one item id in ``X`` (a dictionary lookup: the label and offer paths ask it per key).

        Raises
        ------
        UnknownItemError
            If the id is not in the dataset.
        """
        if self._lookup is None:
            self._lookup = {v: i for i, v in enumerate(self.ids.tolist())}
        if not isinstance(item_id, (bool, np.bool_)):  # True == 1 in a dictionary; a truth value is no id
            try:
                return self._lookup[item_id]
            except (KeyError, TypeError):  # another spelling of the id ("12" for 12), or none
                pass
        return int(self.positions([item_id])[0])  # which converts the spelling, or says the id is unknown

    def item_id(self, position):
        """The id at ``position`` as a plain Python value."""
        return self.ids[position].item()

    def fingerprint(self):
        """A hash of the classes, shape, ids and a sample of features.

        Used by the label store to refuse a store made for another dataset.
        """
        h = hashlib.sha256()
        h.update(json.dumps(self.class_names).encode())
        h.update(str(tuple(self.X.shape)).encode())
        h.update(np.ascontiguousarray(self.ids).tobytes() if self.ids.dtype.kind == "i"
                 else "\x00".join(self.ids.tolist()).encode())
        step = max(1, len(self.X) // 256)
        h.update(np.ascontiguousarray(self.X[::step][:256]).tobytes())
        return h.hexdigest()[:32]

    def render(self, item_id):
        """What a person sees for ``item_id``.

        Returns
        -------
        bytes or str or dict
            PNG bytes for an image (or ``{"image": png_bytes, "caption": name}``),
            a string for a text, a ``{column: value}`` dict for a table row.
        """
        pos = self.position(item_id)
        if self._render is not None:
            return self._render(self, pos)
        if self.kind == "image":
            shape = self.image_shape or self.X.shape[1:]
            return _png_bytes(np.asarray(self.X[pos]).reshape(shape))
        if self.kind == "text" and self.texts is not None:
            return str(self.texts[pos])
        row = np.asarray(self.X[pos]).reshape(-1)
        names = self.feature_names or [f"x{i}" for i in range(len(row))]
        return {name: float(v) for name, v in zip(names, row)}

    # -- persistence ------------------------------------------------------
    def save(self, path):
        """Save to a ``.npz`` file that :func:`load_dataset` reads (no pickle)."""
        path = Path(path)
        meta = {"kind": self.kind, "name": self.name, "classes": self.class_names,
                "image_shape": self.image_shape, "feature_names": self.feature_names}
        arrays = {"X": np.asarray(self.X), "y": self.y, "meta": np.array(json.dumps(meta))}
        arrays["ids"] = self.ids if self.ids.dtype.kind == "i" else self.ids.astype(str)
        if self.texts is not None:
            arrays["texts"] = np.asarray(self.texts, dtype=str)
        np.savez_compressed(path, **arrays)
        return path


def from_arrays(X, y=None, classes=None, ids=None, render=None, **kwargs):
    """Build a :class:`Dataset` from arrays; see :class:`Dataset` for the parameters."""
    return Dataset(X, y=y, classes=classes, ids=ids, render=render, **kwargs)


def as_dataset(data):
    """The :class:`Dataset` that ``data`` describes, or a clear error.

    Accepts a :class:`Dataset` (returned as is), a scikit-learn ``Bunch`` such as
    ``sklearn.datasets.load_digits()`` (``data``, ``target``, and ``target_names``,
    ``images``, ``feature_names`` when present), an ``(X, y)`` pair, or the name or
    path that :func:`load_dataset` opens.

    Raises
    ------
    InvalidDataError
        For anything else, naming what was given and how to build a Dataset.
    """
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, Path)):
        return load_dataset(data)
    if hasattr(data, "keys") and "data" in data and "target" in data:  # a scikit-learn Bunch
        X, y = np.asarray(data["data"]), np.asarray(data["target"])
        names = data.get("target_names")
        classes = None
        if names is not None and np.issubdtype(y.dtype, np.integer) and len(y) and y.min() >= 0 \
                and y.max() < len(names):
            classes = [str(c) for c in names]
        images = data.get("images")
        name = str(data.get("name", "dataset"))
        if images is not None and np.ndim(images) == 3 and len(images) == len(X):
            return Dataset(X, y=y, classes=classes, kind="image", name=name, image_shape=np.shape(images)[1:])
        features = data.get("feature_names")
        return Dataset(X, y=y, classes=classes, kind="table", name=name,
                       feature_names=None if features is None else [str(f) for f in features])
    if isinstance(data, tuple) and len(data) == 2:
        return from_arrays(*data)
    raise InvalidDataError(
        f"expected a dataset, got {type(data).__name__}. Pass an activelearn Dataset (al.from_arrays(X, y, "
        f"classes=...), al.load_digits(), al.from_image_folder(...), al.from_text(...)), a scikit-learn Bunch "
        f"such as sklearn.datasets.load_digits(), or an (X, y) pair.")


def load_digits():
    """scikit-learn's bundled 8x8 handwritten digits: 1797 items, classes ``"0"``..``"9"``.

    Features are pixel intensities scaled to [0, 1]; items render as 8x8 PNGs.
    """
    from sklearn import datasets

    bunch = datasets.load_digits()
    classes = [str(c) for c in range(10)]
    return Dataset(bunch.data / 16.0, y=bunch.target, classes=classes, kind="image", name="digits",
                   image_shape=(8, 8))


def _load_table(loader, name):
    bunch = loader()
    return Dataset(bunch.data, y=bunch.target, classes=[str(c) for c in bunch.target_names], kind="table",
                   name=name, feature_names=list(bunch.feature_names))


def load_wine():
    """scikit-learn's bundled wine recognition data: 178 items, 13 features, 3 classes."""
    from sklearn import datasets

    return _load_table(datasets.load_wine, "wine")


def load_iris():
    """scikit-learn's bundled iris data: 150 items, 4 features, 3 classes."""
    from sklearn import datasets

    return _load_table(datasets.load_iris, "iris")


BUILTIN = {"digits": load_digits, "wine": load_wine, "iris": load_iris}


def load_dataset(name_or_path):
    """A bundled dataset by name (``digits``, ``wine``, ``iris``) or one saved with :meth:`Dataset.save`."""
    if name_or_path in BUILTIN:
        return BUILTIN[name_or_path]()
    path = Path(name_or_path)
    if not path.exists():
        raise InvalidDataError(
            f"{name_or_path!r} is neither a bundled dataset ({', '.join(BUILTIN)}) nor an existing file."
        )
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        texts = f["texts"].tolist() if "texts" in f else None
        return Dataset(f["X"], y=f["y"], classes=meta["classes"], ids=f["ids"], kind=meta["kind"],
                       name=meta["name"], image_shape=meta["image_shape"], feature_names=meta["feature_names"],
                       texts=texts)


def draw_test_positions(dataset, test_size, random_state):
    """The held-out test split: a stratified share ``test_size`` of the items with true labels, sorted.

    Drawn from ``random_state`` alone, so a reopened store gets the same split
    (the store checks ``test_size`` and ``random_state``). Empty without
    true labels or with ``test_size=0``.
    """
    from sklearn.model_selection import train_test_split

    known = np.flatnonzero(dataset.y != MISSING)
    if test_size == 0 or len(known) < 2:
        return np.empty(0, dtype=np.int64)
    y_known = dataset.y[known]
    counts = np.bincount(y_known, minlength=dataset.n_classes)
    stratify = y_known if counts[counts > 0].min() >= 2 else None
    n_test = max(1, int(round(test_size * len(known))))
    if stratify is not None and n_test < (counts > 0).sum():
        stratify = None
    _, test = train_test_split(known, test_size=n_test, random_state=random_state, stratify=stratify)
    return np.sort(test)

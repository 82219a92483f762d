"""Semi-supervised learning from the unlabeled pool: the default model for pools up to 200,000 items.

A person labels a few items; the pool holds thousands more that cost nothing.
:class:`PoolSpreadingClassifier` uses them in three steps on every ``fit``
(:class:`activelearn.pooled.PoolRBFNetClassifier` keeps steps 1-2 and replaces
the SVC of step 3 by a PyTorch RBF network):

1. **Label spreading** (Zhou et al. 2004, scikit-learn's ``LabelSpreading``)
   on two k-nearest-neighbour graphs of the pool: one in the standardised
   feature space, one in a 2-D t-SNE map of the pool (features only, computed
   once per pool and shared by every refit). The two posteriors are averaged:
   the feature graph is precise inside a class, the t-SNE map keeps classes
   apart where the raw neighbourhoods leak.
2. **Pseudo-labels**: every pool item gets the arg-max of that posterior (the
   people's labels always win on the items they labeled).
3. **An RBF support-vector classifier** is trained on the pseudo-labeled pool.
   It is what predicts items outside the pool (the held-out test set, new data),
   so test accuracy is always the inductive model's, never the transductive
   posterior's.

``predict_proba`` returns the spreading posterior for rows that are pool items
(what the query strategies rank) and a softmax of the SVC's one-vs-rest
decision values for every other row.

The pool is handed over with :meth:`PoolSpreadingClassifier.set_pool` (a
:class:`~activelearn.Session` does this with every non-test item); clones share
it and its t-SNE map. Without a pool, ``fit`` spreads over the rows it is given,
that is, it is a plain SVC.

The typicality strategy (``typiclust``) clusters the same t-SNE map, so the
first labels cover the pool's modes (Hacohen et al. 2022, TypiClust).

Pool preparation (``prepare_pool()``, else on first use) builds the neighbour
graphs once per pool and keeps them, with the map, in memory and (with a
``cache_dir``) on disk by the pool's fingerprint: an exact kNN graph up to
:data:`EXACT_GRAPH_MAX` items, pynndescent's approximate graph above;
scikit-learn's t-SNE up to :data:`SKLEARN_TSNE_MAX` items, openTSNE above.
Every refit then only iterates the spreading on the prepared graphs. A
:class:`~activelearn.Session` runs the preparation in a background thread and,
until :meth:`PoolSpreadingClassifier.pool_ready`, ranks the cold start on
:meth:`PoolSpreadingClassifier.quick_transform` (cheap coordinates, no map).
"""

import hashlib
import os
import threading
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import SVC
from sklearn.utils import check_random_state

__all__ = ["PoolSpreadingClassifier", "MAX_SEMI_POOL", "spread_labels"]

#: Pools up to this many items get a pool-aware default model (larger pools: a torch network without the pool).
MAX_SEMI_POOL = 200_000


def pool_or_model_proba(pool, pool_proba, X, n_classes, model_proba):
    """Rows that are pool items read ``pool_proba``; every other row gets ``model_proba(standardised rows)``."""
    X = _flat32(X)
    pos = pool.lookup(X)
    out = np.empty((len(X), int(n_classes)), dtype=np.float32)
    inside = pos >= 0
    out[inside] = pool_proba[pos[inside]]
    if (~inside).any():
        out[~inside] = model_proba(pool.standardise(X[~inside]))
    return out


def _flat32(X):
    X = np.asarray(X, dtype=np.float32)
    return np.ascontiguousarray(X.reshape(len(X), -1))


#: Pools up to this many items get an exact k-nearest-neighbour graph; larger pools pynndescent's approximate one.
EXACT_GRAPH_MAX = 20_000
#: Pools up to this many items get scikit-learn's t-SNE map (the map the default was designed on); larger pools
#: openTSNE's FFT-accelerated t-SNE (seconds per 10,000 items instead of a minute).
SKLEARN_TSNE_MAX = 5_000

#: Widest features the cheap cold-start coordinates (:meth:`_Pool.quick_coordinates`) keep as they are.
QUICK_MAX_DIMS = 64


def _cache_dir(cache_dir):
    if cache_dir is None or cache_dir is False:
        return None
    if cache_dir == "auto":
        env = os.environ.get("ACTIVELEARN_CACHE_DIR")
        if env is not None:
            return Path(env) if env.strip() else None  # an empty variable turns the cache off
        return Path.home() / ".cache" / "activelearn" / "pools"
    return Path(cache_dir)


class _Pool:
    """Pool features, their standardisation, a row lookup, the neighbour graphs and the lazily computed t-SNE map.

    Shared by a template model and all its clones (one graph and one map per pool). Everything expensive is
    computed on first use, or all at once by :meth:`prepare`, and kept on disk under ``cache_dir`` keyed by a
    fingerprint of the standardised pool and the settings (a second session on the same pool reads it back).
    """

    def __init__(self, X_pool, scaling="feature", cache_dir=None):
        X = _flat32(X_pool)
        if len(X) == 0:
            raise ValueError("the pool is empty")
        if not np.isfinite(X).all():
            raise ValueError("the pool has NaN or infinite features")
        self.mean = X.mean(axis=0)
        if scaling == "feature":
            scale = X.std(axis=0)
            # Constant or nearly constant features would turn rounding noise into distance.
            floor = max(float(np.median(scale)) * 0.1, 1e-6)
            self.scale = np.maximum(scale, floor).astype(np.float32)
        elif scaling == "global":  # features in one unit (pixels): keep their relative scale and origin
            self.mean = np.zeros(X.shape[1], dtype=np.float32)
            self.scale = np.full(X.shape[1], max(float(X.std()), 1e-6), dtype=np.float32)
        else:
            raise ValueError(f"scaling must be 'feature' or 'global', got {scaling!r}")
        self.Z = (X - self.mean) / self.scale
        self._index = {row.tobytes(): i for i, row in enumerate(X)}
        self._embedding = {}
        self._graphs = {}
        self._knn = {}
        self._nn = None
        self._lock = threading.RLock()
        self._quick, self._quick_lock = {}, threading.Lock()  # the cold start's PCA, apart from the map's lock
        self.cache_dir = _cache_dir(cache_dir)
        self._fingerprint = None
        self.timings = {}  # seconds spent building each graph/map (what a benchmark reports)

    def __len__(self):
        return len(self.Z)

    def standardise(self, X):
        return (_flat32(X) - self.mean) / self.scale

    def lookup(self, X):
        """Pool position of each row of ``X`` (exact feature match), -1 for rows not in the pool."""
        return np.array([self._index.get(row.tobytes(), -1) for row in _flat32(X)], dtype=np.int64)

    def neighbours(self):
        with self._lock:
            if self._nn is None:
                self._nn = NearestNeighbors(n_neighbors=min(5, len(self))).fit(self.Z)
            return self._nn

    # -- disk cache -------------------------------------------------------------
    def fingerprint(self):
        """SHA-1 of the standardised pool (its shape and bytes): the key of the disk cache."""
        if self._fingerprint is None:
            h = hashlib.sha1(repr(self.Z.shape).encode())
            h.update(np.ascontiguousarray(self.Z).data)
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def _cached(self, name, compute, library=""):
        """``compute()`` (an array), read from / written to the disk cache when there is one.

        The file name holds the pool's fingerprint, ``name`` (settings) and ``library`` (the computing library's
        version): another version computes and caches its own.
        """
        start = time.perf_counter()
        path = None if self.cache_dir is None else self.cache_dir / f"{self.fingerprint()}-{name}-{library}.npy"
        if path is not None and path.exists():
            try:
                out = np.load(path, allow_pickle=False)
                self.timings[name] = {"seconds": time.perf_counter() - start, "cached": True}
                return out
            except (OSError, ValueError):
                pass  # a damaged cache file: compute again and overwrite it
        out = compute()
        self.timings[name] = {"seconds": time.perf_counter() - start, "cached": False}
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
                with open(tmp, "wb") as f:
                    np.save(f, out, allow_pickle=False)
                os.replace(tmp, path)
            except OSError:
                pass  # a read-only or full disk only costs the next session the computation
        return out

    # -- neighbour graphs --------------------------------------------------------
    def knn(self, space, k, random_state=0, max_embedding=None):
        """Indices (n, k) of each item's k nearest items in ``space`` ("features" or "map"), the item first.

        Exact (scikit-learn) up to :data:`EXACT_GRAPH_MAX` items in feature space and always in the 2-D map;
        pynndescent's approximate graph for larger pools in feature space.
        """
        k = int(max(1, min(k, len(self) - 1)))
        key = (space, k, random_state if space == "map" else None)
        with self._lock:
            if key not in self._knn:
                if space == "features":
                    Z, name = self.Z, f"knn-features-k{k}"
                else:
                    Z, name = self.embedding(random_state, max_embedding), f"knn-map-k{k}-rs{random_state}"
                approximate = space == "features" and len(self) > EXACT_GRAPH_MAX
                self._knn[key] = self._cached(name + ("-nnd" if approximate else ""),
                                              lambda: _knn_indices(Z, k, approximate, random_state),
                                              _version("pynndescent" if approximate else "scikit-learn"))
            return self._knn[key]

    def spreading_graph(self, space, k, random_state=0, max_embedding=None):
        """The normalised graph label spreading iterates with (scikit-learn's ``LabelSpreading(kernel="knn")``)."""
        key = (space, int(max(1, min(k, len(self) - 1))), random_state if space == "map" else None)
        with self._lock:
            if key not in self._graphs:
                self._graphs[key] = _spreading_matrix(self.knn(space, k, random_state, max_embedding))
            return self._graphs[key]

    # -- the map -------------------------------------------------------------------
    def embedding(self, random_state, max_items):
        """2-D t-SNE map of the pool, or None when the pool is larger than ``max_items`` (or under 10 items)."""
        if len(self) > max_items or len(self) < 10:
            return None
        with self._lock:
            if random_state not in self._embedding:
                method = "sklearn" if len(self) <= SKLEARN_TSNE_MAX else "opentsne"
                self._embedding[random_state] = self._cached(
                    f"tsne-{method}-rs{random_state}", lambda: _tsne(self.Z, random_state, method),
                    _version("scikit-learn" if method == "sklearn" else "openTSNE"))
            return self._embedding[random_state]

    def map_ready(self, random_state, max_items):
        """Whether :meth:`embedding` returns at once: the map is computed (or read) already, or there is none.

        Never waits for the pool's lock (a background preparation may hold it for seconds).
        """
        return len(self) > max_items or len(self) < 10 or random_state in self._embedding

    def quick_coordinates(self, X, random_state=0):
        """Cheap coordinates for the typicality cold start while the map is not ready (milliseconds).

        The standardised features; wider features (over :data:`QUICK_MAX_DIMS`) are projected onto their first
        :data:`QUICK_MAX_DIMS` principal components, fitted on at most 5,000 pool items drawn from
        ``random_state``. Never waits for the pool's lock.
        """
        Z = self.standardise(X)
        if Z.shape[1] <= QUICK_MAX_DIMS:
            return Z
        with self._quick_lock:
            if random_state not in self._quick:
                from sklearn.decomposition import PCA

                rng = np.random.default_rng(random_state)
                rows = self.Z if len(self) <= 5000 else self.Z[np.sort(rng.choice(len(self), 5000, replace=False))]
                self._quick[random_state] = PCA(QUICK_MAX_DIMS, random_state=random_state).fit(rows)
            pca = self._quick[random_state]
        return np.asarray(pca.transform(Z), dtype=np.float32)

    def embed_new(self, emb, X):
        """t-SNE coordinates for rows outside the pool: the mean of their 5 nearest pool items' coordinates."""
        _, idx = self.neighbours().kneighbors(self.standardise(X))
        return emb[idx].mean(axis=1)

    def prepare(self, random_state=0, n_neighbors=7, max_embedding=None, embedding=True):
        """Compute (or read from the disk cache) everything a fit needs: the map and both neighbour graphs.

        The one place pool preparation happens; a session may call it in the background before the first
        retrain. Returns ``self.timings`` (seconds per part, and whether it came from the cache).
        """
        self.spreading_graph("features", n_neighbors)
        if embedding and self.embedding(random_state, max_embedding or len(self)) is not None:
            self.spreading_graph("map", n_neighbors, random_state, max_embedding or len(self))
        return dict(self.timings)


def _version(dist):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{dist}{version(dist)}"
    except PackageNotFoundError:
        return dist


def _optional(module, what):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{module} is needed for {what}: pip install 'activelearn[pools]' (openTSNE==1.0.4, "
                          f"pynndescent==0.7.0), or pass embedding=None / a smaller pool.") from exc


def _knn_indices(Z, k, approximate, random_state):
    if approximate:
        pynndescent = _optional("pynndescent", f"an approximate neighbour graph of a pool over {EXACT_GRAPH_MAX:,} items")

        from ._threads import default_n_threads

        index = pynndescent.NNDescent(Z, n_neighbors=k, random_state=int(random_state), low_memory=True,
                                      n_jobs=default_n_threads(), compressed=True)
        idx = index.neighbor_graph[0].astype(np.int32)
        # NN-descent may miss an item itself (duplicates); put it first, as the exact graph does.
        rows = np.arange(len(Z), dtype=np.int32)
        missing = (idx != rows[:, None]).all(axis=1)
        idx[missing, -1] = rows[missing]
        idx[missing] = np.roll(idx[missing], 1, axis=1)
        return idx
    nn = NearestNeighbors(n_neighbors=k).fit(Z)
    return nn.kneighbors(Z, k, return_distance=False).astype(np.int32)


def _spreading_matrix(idx):
    """``-L`` with a zero diagonal, L the normalised Laplacian of the kNN connectivity graph (as scikit-learn)."""
    from scipy import sparse
    from scipy.sparse.csgraph import laplacian

    n, k = idx.shape
    A = sparse.csr_matrix((np.ones(n * k), idx.ravel().astype(np.int64), np.arange(0, n * k + 1, k)), shape=(n, n))
    L = -laplacian(A, normed=True)
    L = L.tocoo()
    L.data[L.row == L.col] = 0.0
    return L.tocsr()


def _tsne(Z, random_state, method):
    if method == "sklearn":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, (len(Z) - 1) / 3.0))
        emb = TSNE(2, init="pca", perplexity=perplexity, random_state=random_state).fit_transform(Z)
        return np.asarray(emb, dtype=np.float32)
    TSNE = _optional("openTSNE", f"the t-SNE map of a pool over {SKLEARN_TSNE_MAX:,} items").TSNE

    from ._threads import default_n_threads

    emb = TSNE(n_components=2, perplexity=30.0, initialization="pca", neighbors="annoy", negative_gradient_method="fft",
               n_jobs=default_n_threads(), random_state=int(random_state), verbose=False).fit(np.asarray(Z, np.float64))
    return np.asarray(emb, dtype=np.float32)


def spread_labels(graph, y_nodes, n_classes, alpha=0.2, max_iter=100, tol=1e-3):
    """Label spreading (Zhou et al. 2004) over a prepared graph: scikit-learn's iteration, on a cached graph.

    Returns the (n, n_classes) label distributions, rows normalised (all-zero rows stay zero).
    """
    n = graph.shape[0]
    Y = np.zeros((n, int(n_classes)))
    labeled = y_nodes >= 0
    Y[np.flatnonzero(labeled), y_nodes[labeled]] = 1.0
    static = Y * (1.0 - alpha)
    F, prev = Y, np.zeros_like(Y)
    for _ in range(int(max_iter)):
        if np.abs(F - prev).sum() < tol:
            break
        prev = F
        F = alpha * (graph @ F) + static
    total = F.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    return F / total


class PoolSpreadingClassifier(ClassifierMixin, BaseEstimator):
    """Label spreading over the pool, then an SVC on the pseudo-labels (see the module docstring).

    Parameters
    ----------
    n_classes : int
        Labels are positions ``0..n_classes-1``; ``predict_proba`` always has that many columns.
    n_neighbors : int
        Neighbours of each item in the spreading graphs.
    alpha : float
        Spreading's clamping factor: the share of a labeled item's distribution taken from its neighbours.
    embedding : {"tsne", None}
        Also spread over a t-SNE map of the pool (pools up to ``max_embedding_pool`` items).
    max_embedding_pool : int
        Largest pool that gets a t-SNE map (t-SNE takes about 5 s for 1,300 items, a minute for 10,000).
    C : float
        SVC regularisation.
    max_train : int
        Most pseudo-labeled items the SVC trains on (labeled items first, then the most confident).
    scaling : {"feature", "global"}
        ``"feature"``: each feature standardised (tables of mixed units);
        ``"global"``: one scale for all (pixels, embeddings: features in one unit).
    random_state : int
        Seeds t-SNE and the SVC's subsampling; ``fit`` is repeatable.
    cache_dir : str, Path, "auto" or None
        Where the pool's map and neighbour graphs are kept between sessions (keyed by a fingerprint of the pool);
        ``"auto"``: ``$ACTIVELEARN_CACHE_DIR`` or ``~/.cache/activelearn/pools``; None: no disk cache.
    """

    def __init__(self, n_classes=2, n_neighbors=7, alpha=0.2, embedding="tsne", max_embedding_pool=5000, C=10.0,
                 max_train=5000, scaling="feature", random_state=0, cache_dir=None):
        self.n_classes = n_classes
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.embedding = embedding
        self.max_embedding_pool = max_embedding_pool
        self.C = C
        self.max_train = max_train
        self.scaling = scaling
        self.random_state = random_state
        self.cache_dir = cache_dir

    # -- pool ---------------------------------------------------------------
    def set_pool(self, X_pool):
        """Give the model the unlabeled pool (features only). Returns ``self``; clones share the pool."""
        self._pool = _Pool(X_pool, self.scaling, self.cache_dir)
        return self

    def prepare_pool(self):
        """Build (or read from the disk cache) the pool's t-SNE map and neighbour graphs now.

        Without it they are built on first use (the first ``fit`` or ``transform``). Returns the seconds each
        part took and whether it came from the cache; ``{}`` without a pool.
        """
        pool = getattr(self, "_pool", None)
        if pool is None:
            return {}
        self._check_embedding()
        return pool.prepare(int(self.random_state), int(self.n_neighbors), int(self.max_embedding_pool),
                            embedding=self.embedding is not None)

    def pool_ready(self):
        """Whether :meth:`transform` answers at once (the t-SNE map is ready, or this pool gets none).

        Never blocks: a :class:`~activelearn.Session` that prepares the pool in the background asks it before
        each ranking, and ranks the cold start with :meth:`quick_transform` until it is True.
        """
        pool = getattr(self, "_pool", None)
        if pool is None or self.embedding is None:
            return True
        return pool.map_ready(int(self.random_state), int(self.max_embedding_pool))

    def quick_transform(self, X):
        """Cheap coordinates for the typicality cold start while the map is prepared (see ``pool_ready``).

        The standardised features (wider ones: their first 64 principal components); never waits for the map.
        """
        pool = self._pool if getattr(self, "_pool", None) is not None else _Pool(X, self.scaling, None)
        return pool.quick_coordinates(X, int(self.random_state))

    def __sklearn_clone__(self):
        new = super().__sklearn_clone__()
        if getattr(self, "_pool", None) is not None:
            new._pool = self._pool
        return new

    def _check_embedding(self):
        if self.embedding not in ("tsne", None):
            raise ValueError(f"embedding must be 'tsne' or None, got {self.embedding!r}")

    def _map(self, pool):
        self._check_embedding()
        if self.embedding is None:
            return None
        return pool.embedding(int(self.random_state), int(self.max_embedding_pool))

    def transform(self, X):
        """Coordinates the typicality strategy clusters: the t-SNE map, else standardised features."""
        pool = self._pool if getattr(self, "_pool", None) is not None else _Pool(X, self.scaling, None)
        emb = self._map(pool)
        if emb is None:
            return pool.standardise(X)
        pos = pool.lookup(X)
        out = np.empty((len(pos), 2), dtype=np.float32)
        out[pos >= 0] = emb[pos[pos >= 0]]
        if (pos < 0).any():
            out[pos < 0] = pool.embed_new(emb, _flat32(X)[pos < 0])
        return out

    # -- fitting --------------------------------------------------------------
    def _spread(self, pool, space, y_nodes, Z_extra=None, emb=None):
        if Z_extra is None:  # every labeled row is a pool item: the pool's prepared graph
            graph = pool.spreading_graph(space, self.n_neighbors, int(self.random_state), int(self.max_embedding_pool))
        else:  # rows outside the pool join the graph: build it for this fit only
            k = int(max(1, min(self.n_neighbors, len(Z_extra) - 1)))
            graph = _spreading_matrix(_knn_indices(Z_extra, k, False, 0))
        return spread_labels(graph, y_nodes, self.n_classes, alpha=self.alpha)

    def _check_labels(self, X, y):
        X = _flat32(X)
        y = np.asarray(y, dtype=np.int64)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
        if len(y) and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"labels must be class positions 0..{self.n_classes - 1}")
        return X, y

    def _pool_posterior(self, X, y):
        """Spread ``y`` over the pool (and any labeled rows outside it).

        Returns ``(pool, Z, y_nodes, P)``: the pool, the standardised rows of the graph (pool first, then the
        labeled rows outside the pool), each row's label or -1, and the spreading posterior of every row.
        """
        pool = self._pool if getattr(self, "_pool", None) is not None else _Pool(X, self.scaling, None)
        pos = pool.lookup(X)
        outside = pos < 0
        Z = pool.Z if not outside.any() else np.vstack([pool.Z, pool.standardise(X[outside])])
        y_nodes = np.full(len(Z), -1, dtype=np.int64)
        y_nodes[pos[~outside]] = y[~outside]
        y_nodes[len(pool):] = y[outside]
        labeled = y_nodes >= 0
        if len(np.unique(y_nodes[labeled])) < 2:  # nothing to spread: every item is that class
            P = np.zeros((len(Z), int(self.n_classes)))
            P[:, y_nodes[labeled][0]] = 1.0
        else:
            P = self._spread(pool, "features", y_nodes, Z if outside.any() else None)
            emb = self._map(pool)
            if emb is not None:
                E = None if not outside.any() else np.vstack([emb, pool.embed_new(emb, X[outside])])
                P = P + self._spread(pool, "map", y_nodes, E)
        total = P.sum(axis=1, keepdims=True)
        P = np.where(total > 0, P / np.where(total > 0, total, 1), 1.0 / self.n_classes)
        return pool, Z, y_nodes, P

    def fit(self, X, y):
        """Spread ``y`` (labels of the rows ``X``) over the pool and train the SVC on the pseudo-labels."""
        X, y = self._check_labels(X, y)
        pool, Z, y_nodes, P = self._pool_posterior(X, y)
        labeled = y_nodes >= 0
        pseudo = P.argmax(axis=1)
        pseudo[labeled] = y_nodes[labeled]
        self.pool_proba_ = P[:len(pool)].astype(np.float32)
        self.pool_ = pool
        self.classes_ = np.arange(int(self.n_classes))
        self.n_pseudo_ = int((~labeled).sum())

        train = self._training_rows(P, labeled)
        self.svc_ = self._fit_svc(Z[train], pseudo[train])
        self._train_Z, self._train_y = Z[train], pseudo[train]
        return self

    def _training_rows(self, P, labeled):
        if len(P) <= self.max_train:
            return np.arange(len(P))
        conf = P.max(axis=1)
        conf[labeled] = np.inf
        return np.sort(np.argsort(-conf, kind="stable")[:self.max_train])

    def _fit_svc(self, Z, y):
        if len(np.unique(y)) < 2:
            return int(y[0])
        return SVC(C=self.C, gamma="scale", decision_function_shape="ovr",
                   random_state=int(self.random_state)).fit(Z, y)

    def _svc_proba(self, svc, Z):
        out = np.zeros((len(Z), int(self.n_classes)), dtype=np.float32)
        if isinstance(svc, (int, np.integer)):
            out[:, svc] = 1.0
            return out
        dec = svc.decision_function(Z)
        if dec.ndim == 1:  # two classes: one decision value
            dec = np.column_stack([-dec, dec])
        dec = dec - dec.max(axis=1, keepdims=True)
        e = np.exp(dec)
        out[:, svc.classes_] = e / e.sum(axis=1, keepdims=True)
        return out

    #: The attribute a fit sets on the read-out that predicts rows outside the pool.
    _readout_attr = "svc_"

    def _check_fitted(self):
        if not hasattr(self, self._readout_attr):
            raise ValueError(f"{type(self).__name__} is not fitted yet; call fit first.")

    def _readout(self, Z):
        """The read-out's probabilities for standardised rows ``Z``: here the softmax of the SVC's decision values."""
        return self._svc_proba(self.svc_, Z)

    def _readout_proba(self, Z):
        """:meth:`_readout` for the standardised rows ``Z``, its last answer kept.

        A retrain scores, calibrates and records the same held-out rows (three asks, one answer). The key is
        the fitted read-out itself (held, so never confused with a later fit's) and the rows' bytes, so a
        refit or any other rows are computed afresh.
        """
        Z = np.ascontiguousarray(Z)
        readout = getattr(self, self._readout_attr)
        key = (Z.shape, Z.dtype.str, hashlib.blake2b(Z.view(np.uint8), digest_size=16).digest())
        memo = getattr(self, "_readout_memo", None)
        if memo is not None and memo[0] is readout and memo[1] == key:
            return memo[2].copy()
        out = self._readout(Z)
        self._readout_memo = (readout, key, out)
        return out.copy()

    def predict_proba_inductive(self, X):
        """The read-out's probabilities for every row, pool items included: what the held-out set measures.

        The posterior of :meth:`predict_proba` ranks the pool; a probability shown to a person comes from
        this predictor, the one whose accuracy and calibration were measured on items it never saw.
        """
        self._check_fitted()
        return self._readout_proba(self.pool_.standardise(_flat32(X)))

    def predict_proba(self, X):
        """Spreading posterior for pool rows, the read-out's probabilities (:meth:`_readout`) for other rows."""
        self._check_fitted()
        return pool_or_model_proba(self.pool_, self.pool_proba_, X, self.n_classes, self._readout_proba)

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)

    def predict_proba_mc(self, X, n_samples=20, random_state=0):
        """Disagreement samples for BALD: SVCs trained on random 80% subsets of the pseudo-labeled pool.

        Returns
        -------
        ndarray of shape (n_samples, n_items, n_classes)
        """
        rng = check_random_state(random_state)
        Z = self.pool_.standardise(X)
        n = len(self._train_y)
        out = np.empty((n_samples, len(Z), int(self.n_classes)), dtype=np.float32)
        for s in range(n_samples):
            keep = rng.choice(n, max(2, int(0.8 * n)), replace=False)
            out[s] = self._svc_proba(self._fit_svc(self._train_Z[keep], self._train_y[keep]), Z)
        return out

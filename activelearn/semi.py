"""Semi-supervised learning from the unlabeled pool: the default model for pools up to 20,000 items.

A person labels a few items; the pool holds thousands more that cost nothing.
:class:`PoolSpreadingClassifier` uses them in three steps on every ``fit``:

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
"""

import threading

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import SVC
from sklearn.utils import check_random_state

__all__ = ["PoolSpreadingClassifier", "MAX_SEMI_POOL"]

#: Pools up to this many items get :class:`PoolSpreadingClassifier` as the default model.
MAX_SEMI_POOL = 20_000


def _flat32(X):
    X = np.asarray(X, dtype=np.float32)
    return np.ascontiguousarray(X.reshape(len(X), -1))


class _Pool:
    """Pool features, their standardisation, a row lookup and the lazily computed t-SNE map.

    Shared by a template model and all its clones (one t-SNE per pool).
    """

    def __init__(self, X_pool, scaling="feature"):
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
        self._nn = None
        self._lock = threading.Lock()

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

    def embedding(self, random_state, max_items):
        """2-D t-SNE map of the pool, or None when the pool is larger than ``max_items``."""
        if len(self) > max_items or len(self) < 10:
            return None
        with self._lock:
            if random_state not in self._embedding:
                from sklearn.manifold import TSNE

                perplexity = float(min(30.0, (len(self) - 1) / 3.0))
                emb = TSNE(2, init="pca", perplexity=perplexity, random_state=random_state).fit_transform(self.Z)
                self._embedding[random_state] = emb.astype(np.float32)
            return self._embedding[random_state]

    def embed_new(self, emb, X):
        """t-SNE coordinates for rows outside the pool: the mean of their 5 nearest pool items' coordinates."""
        _, idx = self.neighbours().kneighbors(self.standardise(X))
        return emb[idx].mean(axis=1)


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
    """

    def __init__(self, n_classes=2, n_neighbors=7, alpha=0.2, embedding="tsne", max_embedding_pool=5000, C=10.0,
                 max_train=5000, scaling="feature", random_state=0):
        self.n_classes = n_classes
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.embedding = embedding
        self.max_embedding_pool = max_embedding_pool
        self.C = C
        self.max_train = max_train
        self.scaling = scaling
        self.random_state = random_state

    # -- pool ---------------------------------------------------------------
    def set_pool(self, X_pool):
        """Give the model the unlabeled pool (features only). Returns ``self``; clones share the pool."""
        self._pool = _Pool(X_pool, self.scaling)
        return self

    def __sklearn_clone__(self):
        new = super().__sklearn_clone__()
        if getattr(self, "_pool", None) is not None:
            new._pool = self._pool
        return new

    def _map(self, pool):
        if self.embedding is None:
            return None
        if self.embedding != "tsne":
            raise ValueError(f"embedding must be 'tsne' or None, got {self.embedding!r}")
        return pool.embedding(int(self.random_state), int(self.max_embedding_pool))

    def transform(self, X):
        """Coordinates the typicality strategy clusters: the t-SNE map, else standardised features."""
        pool = self._pool if getattr(self, "_pool", None) is not None else _Pool(X, self.scaling)
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
    def _spread(self, Z, y_nodes):
        from sklearn.semi_supervised import LabelSpreading

        k = int(min(self.n_neighbors, len(Z) - 1))
        ls = LabelSpreading(kernel="knn", n_neighbors=max(k, 1), alpha=self.alpha, max_iter=100)
        ls.fit(Z, y_nodes)
        P = np.zeros((len(Z), int(self.n_classes)))
        P[:, ls.classes_[ls.classes_ >= 0].astype(np.int64)] = ls.label_distributions_
        return P

    def fit(self, X, y):
        """Spread ``y`` (labels of the rows ``X``) over the pool and train the SVC on the pseudo-labels."""
        X = _flat32(X)
        y = np.asarray(y, dtype=np.int64)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
        if len(y) and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"labels must be class positions 0..{self.n_classes - 1}")
        pool = self._pool if getattr(self, "_pool", None) is not None else _Pool(X, self.scaling)
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
            P = self._spread(Z, y_nodes)
            emb = self._map(pool)
            if emb is not None:
                E = emb if not outside.any() else np.vstack([emb, pool.embed_new(emb, X[outside])])
                P = P + self._spread(E, y_nodes)
        total = P.sum(axis=1, keepdims=True)
        P = np.where(total > 0, P / np.where(total > 0, total, 1), 1.0 / self.n_classes)
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

    def predict_proba(self, X):
        """Spreading posterior for pool rows, softmax of the SVC's decision values for other rows."""
        if not hasattr(self, "svc_"):
            raise ValueError("PoolSpreadingClassifier is not fitted yet; call fit first.")
        X = _flat32(X)
        pos = self.pool_.lookup(X)
        out = np.empty((len(X), int(self.n_classes)), dtype=np.float32)
        inside = pos >= 0
        out[inside] = self.pool_proba_[pos[inside]]
        if (~inside).any():
            out[~inside] = self._svc_proba(self.svc_, self.pool_.standardise(X[~inside]))
        return out

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

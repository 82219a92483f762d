"""PyTorch networks that learn from the people's labels and the pool's pseudo-labels.

A person labels a few items; the pool holds thousands more that cost nothing.
Both models here use them on every ``fit``:

1. **Label spreading** over the pool exactly as
   :class:`~activelearn.semi.PoolSpreadingClassifier` does: over a k-nearest-neighbour
   graph of the standardised features and one in a 2-D t-SNE map of the pool,
   the two posteriors averaged. The graphs and the map are built once per pool
   (``prepare_pool()``; kept on disk by the pool's fingerprint) and every refit
   only iterates the spreading (milliseconds). For pool rows ``predict_proba``
   returns this posterior: what the query strategies rank.
2. **A PyTorch network learns from the labels and the pseudo-labels** and
   predicts every row that is not a pool item (the held-out test set, new data):

   - :class:`PoolRBFNetClassifier`: an RBF network, a Gaussian unit per training row (or per Nystrom centre)
     and a linear read-out, fitted exactly (kernel ridge regression) on the
     people's labels and every other pool item's spreading posterior weighted
     by its confidence; a refit takes tens of milliseconds on digits.
   - :class:`PoolTorchClassifier`: an MLP trained by mini-batch AdamW on the
     labels (cross-entropy) and the confidence-weighted soft pseudo-labels, in
     a fixed number of steps; on digits it generalises worse than the RBF
     network (``benchmarks/README.md``, "Label efficiency").

Pool sizes: exact neighbour graphs up to 20,000 items, pynndescent's approximate
graph above; scikit-learn's t-SNE up to 5,000 items, openTSNE (FFT) above, up to
``max_embedding_pool`` items (default 20,000); above that the map is left out
and the pool lever is the feature graph alone (see ``benchmarks/pool_scale.py``).

torch is imported on the first ``fit``, never by importing this module.
"""

import numpy as np
from sklearn.utils import check_random_state

from .semi import PoolSpreadingClassifier

__all__ = ["PoolRBFNetClassifier", "PoolTorchClassifier", "resolve_device", "MAX_EMBEDDING_POOL"]

#: Largest pool that gets a t-SNE map by default (openTSNE above 5,000 items: about a minute at 20,000 on
#: 2 cores, once per pool, cached on disk); larger pools spread over the feature graph alone.
MAX_EMBEDDING_POOL = 20_000


def resolve_device(device="auto"):
    """The torch device to train on: ``"auto"`` is CUDA when ``torch.cuda.is_available()``, else the CPU.

    Raises
    ------
    ValueError
        If a CUDA device is asked for and there is none.
    """
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but torch sees no CUDA device here; use device='auto' or 'cpu'.")
    return dev


class _TorchWarmUp:
    """For the pool models whose learner is a torch network: :meth:`warm_up` loads torch ahead of the first fit."""

    def warm_up(self):
        """Load torch now (about a second), so that the first fit does not.

        A :class:`~activelearn.Session` that prepares its pool in the background calls it in a daemon thread
        once the first item is handed out: the import overlaps the person reading that item instead of
        the first retrain, which runs while they press keys.
        """
        from . import _torchnets  # noqa: F401  (loads torch with activelearn's thread limit)


class PoolTorchClassifier(_TorchWarmUp, PoolSpreadingClassifier):
    """A torch MLP trained on labels plus confidence-weighted soft pseudo-labels (see the module docstring).

    Parameters
    ----------
    n_classes : int
        Labels are positions ``0..n_classes-1``; ``predict_proba`` always has that many columns.
    n_neighbors, alpha, embedding, max_embedding_pool, scaling, cache_dir
        The pool's graphs and spreading, as in :class:`~activelearn.semi.PoolSpreadingClassifier`.
    hidden_units : int
        Width of the network's hidden layer.
    dropout : float
        Dropout before the read-out (also what Monte-Carlo dropout samples for BALD).
    train_steps : int
        Gradient steps per ``fit`` (fixed: the retrain costs the same at any pool size).
    batch_size : int
        Pool items per step; each step also sees up to ``batch_size`` of the people's labels.
    lr, weight_decay : float
        AdamW settings.
    pseudo_weight : float
        Weight of the pseudo-label loss against the labels' (each item also weighted by its confidence).
    confidence_power : float
        Each pseudo-label's weight is its posterior's largest probability to this power (0: unweighted).
    sharpen : float
        Temperature applied to the soft targets (1: the posterior as it is; 0: hard arg-max labels).
    architecture : {"mlp", "rbf"}
        ``"mlp"``: :class:`~activelearn.models.MLPModule` (one hidden ReLU layer); ``"rbf"``: an RBF network on
        up to ``n_anchors`` pool items (:class:`activelearn._torchnets.RBFNet`).
    n_anchors : int
        Anchors of the RBF network.
    solver : {"adam", "lbfgs"}
        ``"adam"``: ``train_steps`` mini-batch AdamW steps; ``"lbfgs"`` (RBF network on pools whose
        similarities fit in 100 MB): full-batch L-BFGS on the read-out, ``train_steps`` iterations, with the
        kernel machine's regulariser ``weight_decay * w K w``.
    pool_proba : {"spreading", "net"}
        What ``predict_proba`` returns for pool rows: the spreading posterior or the network's output.
    device : {"auto", "cpu", "cuda", ...}
        Where the network trains and predicts; ``"auto"``: CUDA when present, else the CPU (thread count from
        :mod:`activelearn._threads`, 1 by default).
    random_state : int
        Seeds the map, the network's initialisation, its mini-batches and dropout: ``fit`` is repeatable.
    """

    def __init__(self, n_classes=2, n_neighbors=7, alpha=0.2, embedding="tsne", max_embedding_pool=MAX_EMBEDDING_POOL,
                 scaling="feature", hidden_units=256, dropout=0.2, train_steps=200, batch_size=256, lr=3e-3,
                 weight_decay=1e-4, pseudo_weight=1.0, confidence_power=1.0, sharpen=1.0, pool_proba="spreading",
                 architecture="mlp", n_anchors=2000, solver="adam", device="auto", random_state=0, cache_dir="auto"):
        super().__init__(n_classes=n_classes, n_neighbors=n_neighbors, alpha=alpha, embedding=embedding,
                         max_embedding_pool=max_embedding_pool, scaling=scaling, random_state=random_state,
                         cache_dir=cache_dir)
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.train_steps = train_steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.pseudo_weight = pseudo_weight
        self.confidence_power = confidence_power
        self.sharpen = sharpen
        self.architecture = architecture
        self.n_anchors = n_anchors
        self.solver = solver
        self.pool_proba = pool_proba
        self.device = device

    # -- fitting ----------------------------------------------------------------
    def fit(self, X, y):
        """Spread ``y`` over the pool, then train the network on the labels and the soft pseudo-labels."""
        if self.pool_proba not in ("spreading", "net"):
            raise ValueError(f"pool_proba must be 'spreading' or 'net', got {self.pool_proba!r}")
        X, y = self._check_labels(X, y)
        if len(y) == 0:
            raise ValueError("fit needs at least one label")
        pool, Z, y_nodes, P = self._pool_posterior(X, y)
        labeled = y_nodes >= 0
        self.pool_ = pool
        self.classes_ = np.arange(int(self.n_classes))
        self.n_pseudo_ = int((~labeled).sum())
        self.pool_proba_ = P[:len(pool)].astype(np.float32)
        self.module_ = self._train(Z, y_nodes, P)
        if self.pool_proba == "net":
            self.pool_proba_ = self._net_proba(pool.Z)
        return self

    def _build_module(self, Z, y_nodes, rng, device):
        if self.architecture == "mlp":
            from .models import MLPModule  # loads torch with activelearn's thread limit

            return MLPModule(Z.shape[1], int(self.n_classes), hidden_units=int(self.hidden_units),
                             dropout=float(self.dropout)).to(device)
        if self.architecture != "rbf":
            raise ValueError(f"architecture must be 'rbf' or 'mlp', got {self.architecture!r}")
        from ._torchnets import RBFNet

        m = int(self.n_anchors)
        if len(Z) <= m:
            anchors = np.arange(len(Z))
        else:  # every labeled row, then a seeded sample of the rest
            lab = np.flatnonzero(y_nodes >= 0)
            rest = np.setdiff1d(np.arange(len(Z)), lab)
            anchors = np.sort(np.concatenate([lab[:m], rng.choice(rest, max(0, m - len(lab)), replace=False)]))
        gamma = 1.0 / (Z.shape[1] * max(float(self.pool_.Z.var()), 1e-12))  # scikit-learn's gamma="scale"
        return RBFNet(Z[anchors], gamma, int(self.n_classes), dropout=float(self.dropout)).to(device)

    def _train(self, Z, y_nodes, P):
        import torch

        from . import _torchnets  # noqa: F401  (loads torch with activelearn's thread limit)

        device = resolve_device(self.device)
        self.device_ = str(device)
        rng = np.random.default_rng(int(self.random_state))
        labeled = np.flatnonzero(y_nodes >= 0)
        unlabeled = np.flatnonzero(y_nodes < 0)
        conf = P.max(axis=1) ** float(self.confidence_power)
        if self.sharpen == 0:  # hard pseudo-labels
            P = np.eye(int(self.n_classes))[P.argmax(axis=1)]
        elif self.sharpen != 1:
            P = P ** (1.0 / float(self.sharpen))
            P = P / P.sum(axis=1, keepdims=True)
        Zt = torch.from_numpy(np.ascontiguousarray(Z, dtype=np.float32)).to(device)
        Pt = torch.from_numpy(P.astype(np.float32)).to(device)
        Wt = torch.from_numpy(conf.astype(np.float32)).to(device)
        yt = torch.from_numpy(y_nodes).to(device)
        fork = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork):
            torch.manual_seed(int(self.random_state))
            module = self._build_module(Z, y_nodes, rng, device)
            feats = None
            if self.architecture == "rbf" and len(Z) * len(module.anchors) <= 25_000_000:  # <= 100 MB: once
                with torch.no_grad():
                    feats = torch.cat([module.features(Zt[i:i + 4096]) for i in range(0, len(Zt), 4096)])

            def logits(rows):
                return module(Zt[rows]) if feats is None else module(None, features=feats[rows])

            if feats is not None and self.solver == "lbfgs":  # full batch: a convex problem on fixed features
                lab_t = torch.from_numpy(labeled).to(device)
                un_t = torch.from_numpy(unlabeled).to(device)
                opt = torch.optim.LBFGS(module.out.parameters(), lr=1.0, max_iter=int(self.train_steps),
                                        history_size=20, line_search_fn="strong_wolfe")
                n_lab = max(len(labeled), 1)

                with torch.no_grad():  # the RKHS norm of the read-out: w K w, as a kernel machine's regulariser
                    Kaa = module.features(module.anchors)

                def closure():
                    opt.zero_grad(set_to_none=True)
                    out = module.out(feats)
                    loss = torch.nn.functional.cross_entropy(out[lab_t], yt[lab_t], reduction="sum") / n_lab
                    if len(unlabeled) and self.pseudo_weight > 0:
                        logp = torch.log_softmax(out[un_t], dim=1)
                        loss = loss + float(self.pseudo_weight) * (Wt[un_t] * -(Pt[un_t] * logp).sum(1)).mean()
                    W = module.out.weight
                    loss = loss + float(self.weight_decay) * ((W @ Kaa) * W).sum()
                    loss.backward()
                    return loss

                opt.step(closure)
                module.eval()
                return module
            opt = torch.optim.AdamW(module.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
            module.train()
            bs = int(self.batch_size)
            for _ in range(int(self.train_steps)):
                lab = labeled if len(labeled) <= bs else rng.choice(labeled, bs, replace=False)
                lab_t = torch.from_numpy(lab).to(device)
                loss = torch.nn.functional.cross_entropy(logits(lab_t), yt[lab_t])
                if len(unlabeled) and self.pseudo_weight > 0:
                    pb = torch.from_numpy(rng.choice(unlabeled, min(bs, len(unlabeled)), replace=False)).to(device)
                    logp = torch.log_softmax(logits(pb), dim=1)
                    soft = -(Pt[pb] * logp).sum(dim=1)
                    loss = loss + float(self.pseudo_weight) * (Wt[pb] * soft).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        module.eval()
        return module

    # -- predicting ---------------------------------------------------------------
    def _net_proba(self, Z, chunk=8192):
        import torch

        module = self.module_
        device = next(module.parameters()).device
        out = np.empty((len(Z), int(self.n_classes)), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(Z), chunk):
                zb = torch.from_numpy(np.ascontiguousarray(Z[start:start + chunk], dtype=np.float32)).to(device)
                out[start:start + len(zb)] = torch.softmax(module(zb), dim=1).cpu().numpy()
        return out

    _readout_attr = "module_"

    def _readout(self, Z):
        """The network's softmax for standardised rows (``predict_proba_inductive``, other rows of ``predict_proba``)."""
        return self._net_proba(Z)

    def predict_proba_net(self, X):
        """The network's probabilities for every row of ``X``, pool items included."""
        self._check_fitted()
        return self._net_proba(self.pool_.standardise(X))

    def predict_proba_mc(self, X, n_samples=20, random_state=0):
        """Monte-Carlo dropout samples of the network for BALD.

        Returns
        -------
        ndarray of shape (n_samples, n_items, n_classes)
        """
        import torch

        self._check_fitted()
        Z = self.pool_.standardise(X)
        module = self.module_
        device = next(module.parameters()).device
        out = np.empty((int(n_samples), len(Z), int(self.n_classes)), dtype=np.float32)
        seed = int(check_random_state(random_state).randint(2**31 - 1))
        fork = [device.index or 0] if device.type == "cuda" else []
        try:
            module.train()
            with torch.no_grad(), torch.random.fork_rng(devices=fork):
                torch.manual_seed(seed)
                zt = torch.from_numpy(np.ascontiguousarray(Z)).to(device)
                for s in range(int(n_samples)):
                    out[s] = torch.softmax(module(zt), dim=1).cpu().numpy()
        finally:
            module.eval()
        return out


class PoolRBFNetClassifier(_TorchWarmUp, PoolSpreadingClassifier):
    """Label spreading over the pool, then a torch RBF network fitted on the soft pseudo-labels.

    The spreading (and so ``predict_proba`` for pool rows, what the query strategies rank) is exactly
    :class:`~activelearn.semi.PoolSpreadingClassifier`'s. What predicts every other row (held-out items,
    new data) is a radial-basis-function network (:class:`activelearn._torchnets.RBFNet`): a Gaussian
    hidden unit per centre, ``exp(-gamma * ||x - c||^2)`` with scikit-learn's ``gamma="scale"`` rule
    (``1 / (n_features * Z.var())`` on the training rows), and a linear read-out, trained in torch on
    the pool:

    - targets: each person's label one-hot (weight 1) and every other pool item's spreading posterior
      (soft pseudo-label), weighted by its confidence (the posterior's largest probability);
    - training: the read-out that minimises the weighted squared error plus ``ridge`` times the
      network's RKHS norm (kernel ridge regression, the least-squares kernel machine), solved exactly
      by a Cholesky factorisation, so a fit is deterministic, needs no learning rate or
      step count, and takes tens of milliseconds on 1,000-2,000 rows. The centres are the training rows (the
      labeled rows and up to ``max_train`` most confident pool rows); with more training rows than
      ``n_centres``, a seeded subset of them (the labeled rows first): the Nyström solution.

    The read-out estimates each class's probability (a least-squares fit to probabilities);
    ``predict_proba_inductive`` clips it at ``1e-3`` and normalises each row.

    With ``intercept=True`` it is the default model (:func:`~activelearn.models.default_model`, since
    2026-11-27). The record, all in ``benchmarks/README.md``: without the intercept, on the reporting
    seeds 100-109 of ``benchmarks/label_efficiency.py`` it met issue 13's digits goals and was ahead on
    the text sample but behind the SVC on wine (AULC 0.9642 against 0.9718). Kernel logistic regression
    (``readout="logistic"``, warm-started from the kernel-ridge read-out, 0.2-0.3 s on digits) was ahead on
    wine and behind kernel ridge on digits; their mean (``readout="blend"``) was behind on both. Kernel
    ridge with an unpenalised per-class intercept (``intercept=True``) was level with kernel ridge on
    digits' development splits and closed most of wine's gap there (one or two of 540 predictions short
    of the SVC's mean, so short of the gate set for a reporting run); its reporting run was then judged by
    a rule written down before it (digits goals; wine, iris and texts not behind the SVC default) and met
    it: digits 30 labels to 95%, 0.990 at 150, AULC 0.9780; ΔAULC against the SVC default +0.0024 on
    wine, +0.0020 on iris, +0.0043 on texts ("The torch default").

    Parameters
    ----------
    n_classes, n_neighbors, alpha, embedding, max_embedding_pool, max_train, scaling, cache_dir
        As in :class:`~activelearn.semi.PoolSpreadingClassifier` (the spreading and the training rows).
    ridge : float
        Weight of the RKHS-norm penalty (a pseudo-label of confidence ``w`` is regularised by ``ridge / w``).
    targets : {"soft", "hard"}
        ``"soft"``: the spreading posterior of each pool item, weighted by its confidence; ``"hard"``: its
        arg-max, one-hot, unweighted (as the SVC's training labels).
    n_centres : int
        Most hidden units; more training rows than this: the Nyström solution on that many centres.
    readout : {"ridge", "logistic", "blend"}
        ``"ridge"``: the kernel-ridge read-out above (probability estimates, clipped and normalised).
        ``"logistic"``: kernel logistic regression, the read-out (and a bias) minimising the same weighted
        targets' cross-entropy plus ``ridge / 2`` times the RKHS norm, by ``logistic_steps`` full-batch
        L-BFGS iterations from the kernel-ridge read-out (scaled into logits); predicts a softmax.
        ``"blend"``: both (the logistic one is warm-started from the ridge one anyway), kept as two read-outs
        of the same hidden units (``module_.out``: logistic, ``module_.ridge_out``: ridge); predicts the mean
        of the ``"ridge"`` and ``"logistic"`` probabilities, an ensemble of the two losses on the same targets.
    logistic_steps : int
        L-BFGS iterations of the ``"logistic"`` read-out (0: the scaled kernel-ridge read-out).
    intercept : bool
        Fit the kernel-ridge read-out with an unpenalised intercept per class (the least-squares SVM's
        system; in Gaussian-process terms an unknown constant mean, estimated by generalised least squares):
        far from the centres the estimates shrink towards that fitted constant, larger for the classes the
        training rows hold more of, instead of towards 0. The ``"logistic"`` read-out (which always fits a
        bias) then starts from it.
    device : {"auto", "cpu", "cuda", ...}
        Where the network is fitted and predicts; ``"auto"``: CUDA when present, else the CPU (thread count
        from :mod:`activelearn._threads`, 1 by default).
    random_state : int
        Seeds the t-SNE map, the Nyström centres and the subsets of :meth:`predict_proba_mc`.
    """

    def __init__(self, n_classes=2, n_neighbors=7, alpha=0.2, embedding="tsne", max_embedding_pool=MAX_EMBEDDING_POOL,
                 max_train=5000, scaling="feature", ridge=0.1, targets="soft", n_centres=2000, device="auto",
                 random_state=0, cache_dir="auto", readout="ridge", logistic_steps=20, intercept=False):
        super().__init__(n_classes=n_classes, n_neighbors=n_neighbors, alpha=alpha, embedding=embedding,
                         max_embedding_pool=max_embedding_pool, max_train=max_train, scaling=scaling,
                         random_state=random_state, cache_dir=cache_dir)
        self.ridge = ridge
        self.targets = targets
        self.n_centres = n_centres
        self.device = device
        self.readout = readout
        self.logistic_steps = logistic_steps
        self.intercept = intercept

    # -- fitting ----------------------------------------------------------------
    def fit(self, X, y):
        """Spread ``y`` over the pool, then fit the RBF network on the labels and the pool's pseudo-labels."""
        if self.targets not in ("soft", "hard"):
            raise ValueError(f"targets must be 'soft' or 'hard', got {self.targets!r}")
        if not float(self.ridge) > 0:
            raise ValueError(f"ridge must be a positive number, got {self.ridge!r}")
        if self.readout not in ("ridge", "logistic", "blend"):
            raise ValueError(f"readout must be 'ridge', 'logistic' or 'blend', got {self.readout!r}")
        if int(self.logistic_steps) < 0:
            raise ValueError(f"logistic_steps must be a whole number >= 0, got {self.logistic_steps!r}")
        if not isinstance(self.intercept, (bool, np.bool_)):
            raise ValueError(f"intercept must be True or False, got {self.intercept!r}")
        X, y = self._check_labels(X, y)
        if len(y) == 0:
            raise ValueError("fit needs at least one label")
        pool, Z, y_nodes, P = self._pool_posterior(X, y)
        labeled = y_nodes >= 0
        self.pool_proba_ = P[:len(pool)].astype(np.float32)
        self.pool_ = pool
        self.classes_ = np.arange(int(self.n_classes))
        self.n_pseudo_ = int((~labeled).sum())

        train = self._training_rows(P, labeled)
        T = P[train].astype(np.float64)
        if self.targets == "hard":
            T = np.eye(int(self.n_classes))[T.argmax(axis=1)]
            w = np.ones(len(train))
        else:
            w = T.max(axis=1)
        lab = labeled[train]
        T[lab] = np.eye(int(self.n_classes))[y_nodes[train][lab]]  # the people's labels win, with weight 1
        w[lab] = 1.0
        self._train_Z, self._train_T, self._train_w, self._train_lab = Z[train], T, w, lab
        self.module_ = self._fit_net(Z[train], T, w, lab)
        return self

    def _fit_net(self, Z, T, w, labeled):
        """The RBF network fitted on rows ``Z`` (targets ``T``, weights ``w``; ``labeled`` rows first as centres)."""
        import torch

        from ._torchnets import RBFNet  # loads torch with activelearn's thread limit

        device = resolve_device(self.device)
        self.device_ = str(device)
        m = int(self.n_centres)
        if len(Z) <= m:
            centres = np.arange(len(Z))
        else:  # every labeled row, then a seeded sample of the rest
            rng = np.random.default_rng(int(self.random_state))
            lab = np.flatnonzero(labeled)[:m]
            rest = np.flatnonzero(~labeled)
            centres = np.sort(np.concatenate([lab, rng.choice(rest, m - len(lab), replace=False)]))
        gamma = 1.0 / (Z.shape[1] * max(float(Z.var()), 1e-12))  # scikit-learn's gamma="scale"
        net = RBFNet(Z[centres], gamma, int(self.n_classes)).to(device)
        exact = len(centres) == len(Z)
        # float32 where the system is well conditioned (its eigenvalues are at least ``ridge``), float64 for Nystrom
        dtype = torch.float32 if exact else torch.float64
        Zt = torch.from_numpy(np.ascontiguousarray(Z)).to(device=device, dtype=dtype)
        Tt = torch.from_numpy(T).to(device=device, dtype=dtype)
        wt = torch.from_numpy(np.asarray(w, dtype=np.float64)).to(device=device, dtype=dtype)
        lam = float(self.ridge)
        intercept = bool(self.intercept)
        idx = torch.from_numpy(centres).to(device)
        with torch.no_grad():
            K = _rbf(Zt, Zt[idx], gamma)  # (n, m) hidden units of each training row
            if exact:  # (K + ridge W^-1) a + 1 b = T, with 1'a = 0 when the intercept b is fitted (else b = 0)
                A = K
                A.diagonal().add_(lam / wt)
                B = torch.cat([Tt, torch.ones_like(Tt[:, :1])], dim=1) if intercept else Tt
            else:  # Nystrom: (Phi' W Phi + ridge K_mm) a = Phi' W T, Phi = K_nm (and a column of ones: the intercept)
                Phi = torch.cat([K, torch.ones_like(K[:, :1])], dim=1) if intercept else K
                PW = Phi * wt[:, None]
                A = PW.T @ Phi
                A[:len(centres), :len(centres)] += lam * K[idx]
                A.diagonal().add_(1e-8 * float(A.diagonal().mean()))
                B = PW.T @ Tt
            L, info = torch.linalg.cholesky_ex(A)
            sol = torch.cholesky_solve(B, L) if int(info) == 0 else torch.linalg.lstsq(A.cpu(), B.cpu()).solution
            if not intercept:
                coef, bias = sol, torch.zeros(int(self.n_classes), dtype=sol.dtype, device=sol.device)
            elif exact:  # a = A^-1 (T - 1 b) and 1'a = 0: b = 1'A^-1 T / 1'A^-1 1
                solT, sol1 = sol[:, :-1], sol[:, -1:]
                bias = solT.sum(dim=0) / sol1.sum()
                coef = solT - sol1 * bias
            else:
                coef, bias = sol[:-1], sol[-1]
        ridge_coef, ridge_bias = coef, bias
        if self.readout in ("logistic", "blend"):
            if exact:  # A overwrote K in place
                K = _rbf(Zt, Zt[idx], gamma)
            coef, bias, self.logistic_loss_ = _logistic_readout(  # in the kernel-ridge solve's precision
                K, None if exact else K[idx], Tt, wt, coef.to(dtype), lam,
                int(self.logistic_steps), bias.to(dtype))
        with torch.no_grad():
            net.out.weight.copy_(coef.T.to(device=device, dtype=torch.float32))
            net.out.bias.copy_(bias.to(device=device, dtype=torch.float32))
            if self.readout == "blend":  # a second read-out on the same hidden units: the kernel-ridge one
                net.ridge_out = torch.nn.Linear(len(centres), int(self.n_classes)).to(device)
                net.ridge_out.weight.copy_(ridge_coef.T.to(device=device, dtype=torch.float32))
                net.ridge_out.bias.copy_(ridge_bias.to(device=device, dtype=torch.float32))
        net.eval()
        return net

    # -- predicting ---------------------------------------------------------------
    def _net_proba(self, Z, module=None, chunk=8192):
        """The network's class-probability estimates for standardised rows ``Z`` (clipped, rows normalised)."""
        import torch

        module = self.module_ if module is None else module
        device = module.anchors.device
        out = np.empty((len(Z), int(self.n_classes)), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(Z), chunk):
                zb = torch.from_numpy(np.ascontiguousarray(Z[start:start + chunk], dtype=np.float32)).to(device)
                K = module.features(zb)
                if self.readout == "ridge":
                    p = _clipped(module.out(K))
                elif self.readout == "logistic":
                    p = torch.softmax(module.out(K), dim=1)
                else:  # "blend": the two read-outs' probabilities averaged
                    p = 0.5 * (torch.softmax(module.out(K), dim=1) + _clipped(module.ridge_out(K)))
                out[start:start + len(zb)] = p.cpu().numpy()
        return out

    _readout_attr = "module_"

    def _readout(self, Z):
        """The RBF network's probabilities for standardised rows (``predict_proba_inductive``, other rows)."""
        return self._net_proba(Z)

    def predict_proba_mc(self, X, n_samples=20, random_state=0):
        """Disagreement samples for BALD: networks fitted on random 80% subsets of the training rows.

        Returns
        -------
        ndarray of shape (n_samples, n_items, n_classes)
        """
        self._check_fitted()
        rng = check_random_state(random_state)
        Z = self.pool_.standardise(X)
        n = len(self._train_T)
        out = np.empty((int(n_samples), len(Z), int(self.n_classes)), dtype=np.float32)
        for s in range(int(n_samples)):
            keep = np.sort(rng.choice(n, max(2, int(0.8 * n)), replace=False))
            net = self._fit_net(self._train_Z[keep], self._train_T[keep], self._train_w[keep], self._train_lab[keep])
            out[s] = self._net_proba(Z, net)
        return out


def _clipped(estimates):
    """Kernel ridge's class-probability estimates as probabilities: clipped at ``1e-3``, each row normalised."""
    p = estimates.clamp_min(1e-3)
    return p / p.sum(dim=1, keepdim=True)


def _rbf(X, C, gamma):
    """``exp(-gamma * ||x - c||^2)`` for every row of ``X`` and every centre ``c`` (torch tensors)."""
    import torch

    d2 = (X ** 2).sum(dim=1, keepdim=True) - 2.0 * X @ C.T + (C ** 2).sum(dim=1)
    return torch.exp(-gamma * d2.clamp_min(0.0))


def _logistic_readout(K, K_mm, T, w, coef, lam, steps, bias=None):
    """Kernel logistic regression's read-out, warm-started from the kernel-ridge one.

    Minimises ``(sum_i w_i CE(T_i, softmax(K_i a + b)) + lam / 2 * tr(a' K_mm a)) / sum(w)`` over ``a``
    (centres x classes) and ``b`` by ``steps`` full-batch L-BFGS iterations (strong-Wolfe line search,
    gradients in closed form, deterministic). ``K_mm=None``: the centres are the rows (``K_mm = K``). The
    kernel-ridge read-out ``coef`` estimates probabilities, not logits: the start is ``s * coef`` with
    the scale ``s`` (of 1, 2, 4, ..., 64) of lowest loss.

    Returns
    -------
    coef, bias, losses
        The fitted read-out, and the loss at the kernel-ridge start (scale 1), at the scaled start and at the end.
    """
    import torch

    total = float(w.sum())
    # soft targets' rows sum to 1, so the cross-entropy's gradient in the logits is w * (softmax - T)
    T = T / T.sum(dim=1, keepdim=True).clamp_min(1e-12)

    def loss_grad(a, b):
        Ka = K @ a
        Ma = Ka if K_mm is None else K_mm @ a
        logp = torch.log_softmax(Ka + b, dim=1)
        loss = (-(w[:, None] * T * logp).sum() + 0.5 * lam * (a * Ma).sum()) / total
        G = w[:, None] * (torch.exp(logp) - T)
        KtG = K @ G if K_mm is None else K.T @ G  # K is symmetric when the centres are the rows
        return loss, (KtG + lam * Ma) / total, G.sum(dim=0) / total

    b0 = torch.zeros(coef.shape[1], dtype=coef.dtype, device=coef.device) if bias is None else bias
    scales = [2.0 ** k for k in range(7)]
    with torch.no_grad():  # the loss along the ray s * (coef, bias): the logits and the penalty scale as s and s^2
        Kc = K @ coef
        pen = 0.5 * lam * float((coef * (Kc if K_mm is None else K_mm @ coef)).sum())  # the bias is not penalised
        logits = Kc + b0
        start_losses = [(-float((w[:, None] * T * torch.log_softmax(s * logits, dim=1)).sum()) + s * s * pen) / total
                        for s in scales]
    s0 = scales[int(np.argmin(start_losses))]
    a = (s0 * coef).contiguous().clone().requires_grad_(True)
    b = (s0 * b0).clone().requires_grad_(True)
    if steps > 0:
        opt = torch.optim.LBFGS([a, b], lr=1.0, max_iter=steps, history_size=10, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-9, tolerance_change=1e-12)

        def closure():
            loss, ga, gb = loss_grad(a.detach(), b.detach())
            a.grad, b.grad = ga.contiguous(), gb
            return loss

        opt.step(closure)
    end = float(loss_grad(a.detach(), b.detach())[0])
    return a.detach(), b.detach(), (start_losses[0], min(start_losses), end)

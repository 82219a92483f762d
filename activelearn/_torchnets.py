"""Torch modules of the default model (:mod:`activelearn.pooled`); imported on the first fit, never at import."""

import torch
from torch import nn

from ._threads import apply_torch_threads

apply_torch_threads()

__all__ = ["RBFNet"]


class RBFNet(nn.Module):
    """A radial-basis-function network: Gaussian similarities to anchor items, dropout, a linear read-out.

    ``exp(-gamma * ||x - a||^2)`` to each anchor ``a`` (pool items, fixed), then a linear layer: a kernel
    machine whose weights are learned by gradient descent, like an RBF support-vector classifier's but
    with a probabilistic (cross-entropy) loss.

    Parameters
    ----------
    anchors : tensor of shape (n_anchors, n_features)
    gamma : float
    n_classes : int
    dropout : float
        Dropout on the similarities (what Monte-Carlo dropout samples).
    """

    def __init__(self, anchors, gamma, n_classes, dropout=0.0):
        super().__init__()
        self.register_buffer("anchors", torch.as_tensor(anchors, dtype=torch.float32))
        self.register_buffer("anchor_sq", (self.anchors ** 2).sum(dim=1))
        self.gamma = float(gamma)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(len(self.anchors), n_classes)

    def features(self, X):
        X = X.reshape(len(X), -1)
        d2 = (X ** 2).sum(dim=1, keepdim=True) - 2.0 * X @ self.anchors.T + self.anchor_sq
        return torch.exp(-self.gamma * d2.clamp_min(0.0))

    def forward(self, X, features=None):
        K = self.features(X) if features is None else features
        return self.out(self.dropout(K))

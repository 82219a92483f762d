"""The three ways modAL 0.4.x breaks on today's stack, each mended (see activelearn._compat)."""

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression

from activelearn._compat import import_modal_module, patch_modal


def test_active_learner_teach_works_on_current_sklearn():
    patch_modal()
    from modAL.models import ActiveLearner

    assert tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 8)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    learner = ActiveLearner(LogisticRegression(), X_training=X[:10], y_training=y[:10])
    learner.teach(X[10:20], y[10:20])  # modAL issue #196: force_all_finite
    assert len(learner.X_training) == 20 and learner.score(X, y) > 0.8


def test_teach_still_refuses_nonfinite_features():
    import pytest

    patch_modal()
    from modAL.models import ActiveLearner

    X = np.ones((4, 2))
    learner = ActiveLearner(LogisticRegression(), X_training=np.eye(2), y_training=[0, 1])
    X[0, 0] = np.nan
    with pytest.raises(ValueError):
        learner.teach(X, [0, 1, 0, 1])


def test_expected_error_and_cluster_modules_import():
    ee = import_modal_module("expected_error")
    assert callable(ee.expected_error_reduction)
    assert "float" not in np.__dict__  # the shim is removed after import
    cluster = import_modal_module("cluster")
    assert hasattr(cluster, "HierarchicalClustering")


def test_installed_skorch_is_current():
    import skorch

    assert tuple(int(p) for p in skorch.__version__.split(".")[:2]) >= (1, 4)

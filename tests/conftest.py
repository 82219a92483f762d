import os
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression

import activelearn as al

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pg_harness, jupyter_harness

_TRUE = {"1", "true", "yes", "on"}


def services_required():
    """Whether PostgreSQL and the real browser must be there: in CI (``CI=true``) or with
    ``ACTIVELEARN_REQUIRE_SERVICES=1``. There a missing one fails the run instead of skipping tests."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("ACTIVELEARN_REQUIRE_SERVICES", "CI"))


def skip_or_fail(what, reason, install=None):
    """A test needs ``what`` and cannot have it: fail where it is required (CI), else skip with the reason."""
    how = f" Install it with: {install}." if install else ""
    if services_required():
        pytest.fail(f"{what} is required here (CI=true or ACTIVELEARN_REQUIRE_SERVICES=1) but is missing: "
                    f"{reason}.{how}", pytrace=False)
    pytest.skip(f"{what} unavailable: {reason}.{how} (In CI this fails the run instead of skipping.)")


def pytest_report_header(config):
    if services_required():
        return "activelearn: PostgreSQL and Chromium are required (a missing one fails the run)"
    return "activelearn: PostgreSQL and Chromium are optional here (tests needing them skip with a reason)"


@pytest.fixture(autouse=True)
def _stop_widget_threads():
    """After each test, the widgets it made stop polling their stores (they would poll for the rest of the run)."""
    yield
    labeling = sys.modules.get("activelearn.widgets.labeling")
    for w in list(labeling._LIVE) if labeling is not None else ():
        w._stop_threads()


@pytest.fixture(scope="session")
def digits():
    return al.load_digits()


@pytest.fixture
def blobs():
    """120 items in 3 well-separated classes, string ids, names as labels."""
    X, y = make_blobs(n_samples=120, centers=3, n_features=4, cluster_std=1.0, random_state=0)
    classes = ["ant", "bee", "cat"]
    return al.from_arrays(X, y=[classes[i] for i in y], classes=classes,
                          ids=[f"item-{i:03d}" for i in range(len(X))], name="blobs")


@pytest.fixture
def fast_model():
    """A quick scikit-learn model for tests of the loop's mechanics."""
    return LogisticRegression(max_iter=200)


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "labels.db"


@pytest.fixture
def session_factory(blobs, fast_model, store_path):
    def make(dataset=None, **kwargs):
        params = dict(model=fast_model, store=store_path, batch_size=5, random_state=0)
        params.update(kwargs)
        return al.Session(blobs if dataset is None else dataset, **params)
    return make


def true_label(dataset, item_id):
    return dataset.classes[dataset.y[dataset.position(item_id)]]


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the session's tests. Where none can start, its tests skip with the
    reason, or fail in CI (see :func:`services_required`)."""
    from pg_harness import PostgresServer

    try:
        server, why = PostgresServer().start(), None
    except Exception as exc:  # not installed, no postgres user, cannot bind...
        why = f"{type(exc).__name__}: {str(exc).strip()}"
        if getattr(exc, "stderr", None):  # initdb/pg_ctl said why
            why += ": " + str(exc.stderr).strip()[-1000:]
    if why is not None:
        skip_or_fail("PostgreSQL", f"no server could be started ({why})", "apt-get install -y postgresql")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def team_store_url(request, tmp_path):
    """A fresh, empty store URL on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'team.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")

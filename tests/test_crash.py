"""SIGKILL the labeling process at random moments: every acknowledged label survives, the store opens, work resumes."""

import multiprocessing as mp
import os
import signal
import sqlite3

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import activelearn as al

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork() to start a labeler instantly")
RECORD = 24  # bytes per acknowledged id written to the pipe (atomic: below PIPE_BUF)


def dataset():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 4)).astype(np.float32)
    return al.from_arrays(X, y=np.where(X[:, 1] > 0, "b", "a"), classes=["a", "b"],
                          ids=[f"item{i:05d}" for i in range(3000)], name="crash")


def _session(path, ds):
    return al.Session(ds, model=LogisticRegression(max_iter=100), strategy="random", store=path,
                      annotator="crashy", test_size=0, batch_size=5, random_state=0)


def _labeler(path, ds, fd, retrain):
    s = _session(path, ds)
    while True:
        ids = s.next_batch()
        if not ids:
            break
        for i in ids:
            s.label(i, ds.classes[ds.y[ds.position(i)]])
            os.write(fd, i.encode().ljust(RECORD))  # only after label() returned: acknowledged
        if retrain:
            s.retrain()
    os._exit(0)


def _read_acks(fd):
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return [data[k:k + RECORD].strip().decode() for k in range(0, len(data) - len(data) % RECORD, RECORD)]


def _kill_at_random(path, ds, n_kills, retrain, rng):
    ctx = mp.get_context("fork")
    acked = []
    for _ in range(n_kills):
        r, w = os.pipe()
        p = ctx.Process(target=_labeler, args=(path, ds, w, retrain))
        p.start()
        os.close(w)
        p.join(timeout=float(rng.uniform(0.02, 0.3)))
        if p.is_alive():
            os.kill(p.pid, signal.SIGKILL)
        p.join()
        new = _read_acks(r)
        os.close(r)
        acked += new
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in con.execute(
            "SELECT item_id FROM events WHERE kind = 'labeled' AND id NOT IN "
            "(SELECT ref_event_id FROM events WHERE kind = 'undone' AND ref_event_id IS NOT NULL)")}
        con.close()
        missing = set(acked) - stored
        assert not missing, f"acknowledged labels lost after SIGKILL: {sorted(missing)[:5]}"
    return acked


def test_sigkill_100_times_loses_no_acknowledged_label(tmp_path):
    ds = dataset()
    path = tmp_path / "crash.db"
    _session(path, ds).store.close()
    acked = _kill_at_random(path, ds, 100, retrain=False, rng=np.random.default_rng(0))
    assert len(acked) > 100 and len(set(acked)) == len(acked)  # work was done, nothing labeled twice
    s = _session(path, ds)  # opens cleanly and resumes where the killed ones stopped
    assert set(s.labels()["item_id"]) >= set(acked)
    before = s.n_labels
    for i in s.next_batch():
        s.label(i, ds.classes[ds.y[ds.position(i)]])
    assert s.n_labels == before + 5 and s.labels()["item_id"].is_unique
    s.close()


def test_power_cut_during_retrain(tmp_path):
    ds = dataset()
    path = tmp_path / "crash.db"
    _session(path, ds).store.close()
    acked = _kill_at_random(path, ds, 25, retrain=True, rng=np.random.default_rng(1))
    s = _session(path, ds)
    history = s.history
    assert len(history) > 0 and history["n_labels"].is_monotonic_increasing  # no torn round rows
    assert set(s.labels()["item_id"]) >= set(acked)
    row = s.retrain()
    assert row["model_version"] == int(history["model_version"].max()) + 1
    s.close()

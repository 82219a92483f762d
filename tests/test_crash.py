"""SIGKILL the labeling process at random moments: every acknowledged label survives, the store opens, work resumes.

A SIGKILL is a process kill: the operating system still writes out what the process had handed it. It does not
simulate a power cut (losing the OS's unwritten pages); that ``synchronous=FULL`` covers it is not tested here.
Each child must die by the SIGKILL (not by an error of its own), and each run must have labeled a lot.
"""

import os
import select
import signal
import sqlite3
import sys
import time
import traceback

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


def _read_acks(fd, data=b""):
    while chunk := os.read(fd, 65536):
        data += chunk
    return [data[k:k + RECORD].strip().decode() for k in range(0, len(data) - len(data) % RECORD, RECORD)]


def _wait_for_acks(fd, pid, n, timeout=60.0):
    """Read the pipe until the child acknowledged ``n`` labels; the bytes read so far."""
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < n * RECORD:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"the labeler acknowledged {len(data) // RECORD} labels in {timeout:.0f} s, not {n}"
        chunk = os.read(fd, 65536)
        assert chunk, f"the labeler (pid {pid}) closed its pipe after {len(data) // RECORD} labels: it died"
        data += chunk
    return data


def _stored_labels(path):
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = [row[0] for row in con.execute(
        "SELECT item_id FROM events WHERE kind = 'labeled' AND id NOT IN "
        "(SELECT ref_event_id FROM events WHERE kind = 'undone' AND ref_event_id IS NOT NULL)")]
    con.close()
    return stored


def _kill_at_random(path, ds, n_kills, retrain, rng, gate=1, early_share=0.1, max_delay=0.25):
    """Fork a labeler and SIGKILL it, ``n_kills`` times; after each kill, check the store.

    Most kills come a random ``0..max_delay`` s after the child acknowledged ``gate`` labels (so they land in the
    middle of labeling, whatever the machine's speed); an ``early_share`` of them at a random moment of its
    start-up. Returns the acknowledged ids and, per kill, ``(early, labels that child acknowledged)``.
    """
    acked, per_kill = [], []
    for _ in range(n_kills):
        early = bool(rng.random() < early_share)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: label until killed; an error of its own exits 3, running out exits 4
            code = 3
            try:
                os.close(r)
                _labeler(path, ds, w, retrain)
                code = 4
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        os.close(w)
        data = b""
        if early:
            time.sleep(float(rng.uniform(0.0, 0.2)))
        else:
            data = _wait_for_acks(r, pid, gate)
            time.sleep(float(rng.uniform(0.0, max_delay)))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
            f"the labeler ended on its own (wait status {status}, exit code "
            f"{os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}), not by the SIGKILL")
        new = _read_acks(r, data)
        os.close(r)
        acked += new
        per_kill.append((early, len(new)))
        missing = set(acked) - set(_stored_labels(path))
        assert not missing, f"acknowledged labels lost after SIGKILL: {sorted(missing)[:5]}"
    return acked, per_kill


def test_sigkill_at_50_random_moments_loses_no_acknowledged_label(tmp_path):
    ds = dataset()
    path = tmp_path / "crash.db"
    _session(path, ds).store.close()
    acked, per_kill = _kill_at_random(path, ds, 50, retrain=False, rng=np.random.default_rng(0))
    # Work was done: every kill after the gate hit a labeler that had acknowledged labels; nothing labeled twice.
    late = [n for early, n in per_kill if not early]
    assert len(late) >= 40 and min(late) >= 1 and len(acked) >= 2 * len(late), per_kill
    assert len(set(acked)) == len(acked)
    stored = _stored_labels(path)
    assert len(stored) == len(set(stored)) and set(stored) >= set(acked)
    assert len(stored) - len(acked) <= len(per_kill)  # at most one unacknowledged label per kill
    s = _session(path, ds)  # opens cleanly and resumes where the killed ones stopped
    assert set(s.labels()["item_id"]) >= set(acked)
    before = s.n_labels
    for i in s.next_batch():
        s.label(i, ds.classes[ds.y[ds.position(i)]])
    assert s.n_labels == before + 5 and s.labels()["item_id"].is_unique
    s.close()


def test_sigkill_during_retrains_loses_no_label_and_tears_no_round(tmp_path):
    ds = dataset()
    path = tmp_path / "crash.db"
    _session(path, ds).store.close()
    # Each kill comes up to 0.5 s after the child's first batch of 5, when its retrains begin.
    acked, per_kill = _kill_at_random(path, ds, 25, retrain=True, rng=np.random.default_rng(1), gate=5,
                                      max_delay=0.5)
    late = [n for early, n in per_kill if not early]
    assert len(late) >= 20 and min(late) >= 5, per_kill
    s = _session(path, ds)
    history = s.history
    # Each child retrained after every batch of 5 it finished; only the retrain after its last batch may be lost.
    assert len(history) >= sum(max(0, n // 5 - 1) for _, n in per_kill)
    assert len(history) >= 1
    assert history["n_labels"].is_monotonic_increasing  # no torn round rows
    assert set(s.labels()["item_id"]) >= set(acked)
    row = s.retrain()
    assert row["model_version"] == int(history["model_version"].max()) + 1
    s.close()

import importlib.util
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import activelearn as al
from activelearn.store import SCHEMA_VERSION, LabelStore

V1_DIR = Path(__file__).resolve().parent / "data"


@pytest.fixture
def store(store_path):
    return LabelStore(store_path)


@pytest.fixture
def project(store):
    return store.open_project("p", "fp", ["a", "b"], {"test_size": 0.25, "random_state": 0})


def test_label_is_committed_before_return(store, store_path, project):
    store.add_label(project, "x1", "a", annotator="ann", seconds=2.5)
    # A separate, plain sqlite3 connection sees the row at once.
    rows = sqlite3.connect(store_path).execute("SELECT item_id, label, annotator, seconds FROM events "
                                               "WHERE kind='labeled'").fetchall()
    assert rows == [("x1", "a", "ann", 2.5)]


def test_sqlite_is_durable_mode(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_relabel_refused_without_overwrite(store, project):
    store.add_label(project, "x1", "a", annotator="ann")
    with pytest.raises(al.AlreadyLabeledError, match=r"already labeled 'a' by ann"):
        store.add_label(project, "x1", "b")
    assert store.labels(project)["label"].tolist() == ["a"]
    store.add_label(project, "x1", "b", overwrite=True)
    assert store.labels(project)[["item_id", "label"]].values.tolist() == [["x1", "b"]]


def test_undo_takes_back_the_latest_label_of_the_annotator(store, project):
    store.add_label(project, "x1", "a", annotator="ann")
    store.add_label(project, "x2", "b", annotator="bob")
    store.add_label(project, "x3", "a", annotator="ann")
    assert store.undo_last(project, annotator="ann")["item_id"] == "x3"
    assert store.undo_last(project, annotator="ann")["item_id"] == "x1"
    assert store.undo_last(project, annotator="ann") is None
    assert store.labels(project)["item_id"].tolist() == ["x2"]
    kinds = store.events(project)["kind"].tolist()
    assert kinds.count("undone") == 2 and kinds.count("labeled") == 3  # nothing deleted


def test_reopen_keeps_labels_and_rounds(store_path, store, project):
    store.add_label(project, "x1", "a", seconds=1.0)
    store.add_round(project, {"model_version": 1, "n_labels": 1, "n_test": 5, "accuracy": 0.5, "macro_f1": 0.4,
                              "labeling_seconds": 1.0, "cost": None, "train_seconds": 0.1, "query_seconds": 0.01})
    store.close()
    again = LabelStore(store_path)
    pid = again.open_project("p", "fp", ["a", "b"], {"test_size": 0.25, "random_state": 0})
    assert pid == project
    assert again.labels(pid)["item_id"].tolist() == ["x1"]
    assert again.rounds(pid)["accuracy"].tolist() == [0.5]


def test_open_project_refuses_another_dataset(store, project):
    with pytest.raises(al.StoreMismatchError, match="different dataset"):
        store.open_project("p", "other-fp", ["a", "b"], {"test_size": 0.25, "random_state": 0})
    with pytest.raises(al.StoreMismatchError, match="classes"):
        store.open_project("p", "fp", ["a", "c"], {"test_size": 0.25, "random_state": 0})
    with pytest.raises(al.StoreMismatchError, match="random_state=0 \\(given 1\\)"):
        store.open_project("p", "fp", ["a", "b"], {"test_size": 0.25, "random_state": 1})


def test_projects_do_not_mix(store, project):
    other = store.open_project("q", "fp2", ["a", "b"], {})
    store.add_label(project, "x1", "a")
    store.add_label(other, "x1", "b")
    assert store.labels(project)["label"].tolist() == ["a"]
    assert store.labels(other)["label"].tolist() == ["b"]
    assert store.project_names() == ["p", "q"]


def test_newer_schema_is_refused_untouched(store_path, store):
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE activelearn_meta SET value='99' WHERE key='schema_version'")
    store.close()
    with pytest.raises(al.StoreVersionError, match="schema version 99"):
        LabelStore(store_path)
    assert sqlite3.connect(store_path).execute(
        "SELECT value FROM activelearn_meta WHERE key='schema_version'").fetchone() == ("99",)


def test_schema_version_recorded(store):
    assert store.schema_version == SCHEMA_VERSION


def test_concurrent_threads_write_every_label_once(store, project):
    errors = []

    def worker(t):
        try:
            for i in range(50):
                store.add_label(project, f"t{t}-{i}", "a", annotator=f"w{t}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    labels = store.labels(project)
    assert len(labels) == 300 and labels["item_id"].is_unique


def test_same_item_from_two_threads_gets_one_label(store, project):
    results = []
    barrier = threading.Barrier(8)

    def worker(t):
        barrier.wait()
        try:
            store.add_label(project, "contested", "a" if t % 2 else "b", annotator=f"w{t}")
            results.append("ok")
        except al.AlreadyLabeledError:
            results.append("refused")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results.count("ok") == 1 and results.count("refused") == 7
    assert len(store.labels(project)) == 1


def test_store_usable_from_a_thread_other_than_its_creator(store, project):
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("id", store.add_label(project, "x9", "b")))
    t.start()
    t.join()
    assert out["id"] and store.labels(project)["item_id"].tolist() == ["x9"]


def test_in_memory_store_is_shared_across_connections():
    s = LabelStore(":memory:")
    pid = s.open_project("m", "fp", ["a", "b"], {})
    s.add_label(pid, "1", "a")
    assert len(s.labels(pid)) == 1


def _make_store_v1():
    spec = importlib.util.spec_from_file_location("make_store_v1", V1_DIR / "make_store_v1.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rows(path, sql):
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_real_version_1_store_migrates_keeping_every_label_undo_and_round(tmp_path):
    """``tests/data/store_v1.db`` was written with the version-1 schema (see ``make_store_v1.py``), not today's."""
    import sqlalchemy as sa
    from sklearn.linear_model import LogisticRegression

    v1 = _make_store_v1()
    path = tmp_path / "old.db"
    shutil.copyfile(V1_DIR / "store_v1.db", path)
    tables = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    indexes = "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%' ORDER BY name"
    # It really is a version-1 file.
    assert _rows(path, "SELECT value FROM activelearn_meta WHERE key = 'schema_version'") == [("1",)]
    assert [t for (t,) in _rows(path, tables)] == ["activelearn_meta", "events", "projects", "rounds"]
    assert "ix_events_project_created" not in {i for (i,) in _rows(path, indexes)}
    events_before = _rows(path, "SELECT * FROM events ORDER BY id")
    rounds_before = _rows(path, "SELECT * FROM rounds ORDER BY id")
    projects_before = _rows(path, "SELECT * FROM projects")
    assert len(events_before) == len(v1.EVENTS) and len(rounds_before) == len(v1.ROUNDS)

    store = LabelStore(path)
    assert store.schema_version == SCHEMA_VERSION == 2
    # Every row kept, unchanged; the team tables and the new index added.
    assert _rows(path, "SELECT * FROM events ORDER BY id") == events_before
    assert _rows(path, "SELECT * FROM rounds ORDER BY id") == rounds_before
    assert _rows(path, "SELECT * FROM projects") == projects_before
    assert {"leases", "rankings"} <= {t for (t,) in _rows(path, tables)}
    assert "ix_events_project_created" in {i for (i,) in _rows(path, indexes)}
    assert {c["name"] for c in sa.inspect(store.engine).get_columns("leases")} >= {"item_id", "annotator",
                                                                                     "expires_at"}
    pid = store.open_project(v1.PROJECT, v1.v1_dataset().fingerprint(), v1.CLASSES, v1.SETTINGS)
    assert pid == 1
    labels = store.labels(pid)
    assert list(labels[["item_id", "label", "annotator"]].itertuples(index=False, name=None)) == v1.LIVE
    assert labels["seconds"].tolist() == [2.0, 1.5, 3.0, 2.5, 2.0, 4.0, 1.1, 0.9, 2.2]
    kinds = store.events(pid)["kind"].value_counts().to_dict()
    assert kinds == {"labeled": 11, "undone": 2, "shown": 2, "skipped": 1}
    events = store.events(pid)
    assert set(events.loc[events["kind"] == "skipped", "item_id"]) == {"item-004"}
    rounds = store.rounds(pid)
    assert rounds["model_version"].tolist() == [1, 2] and rounds["n_labels"].tolist() == [5, 9]
    assert rounds["accuracy"].tolist() == [0.9, 1.0]
    assert store.claim(pid, "ann", ["item-002", "item-025"], 2) == ["item-025"]  # leases work; 002 is labeled
    store.release(pid, "ann")
    store.close()

    # A session resumes on it: the same labels, skip and model version; labeling goes on.
    ds = v1.v1_dataset()
    s = al.Session(ds, model=LogisticRegression(max_iter=200), store=path, annotator="ann", batch_size=5, **v1.SETTINGS)
    assert s.project_id == pid and s.n_labels == len(v1.LIVE) and s.model_version == 2
    assert {i for i, _, _ in v1.LIVE} == {s.dataset.item_id(p) for p in np.flatnonzero(s.labeled_mask)}
    assert s.skipped[ds.position("item-004")]
    batch = s.next_batch()
    assert len(batch) == 5 and not set(batch) & ({i for i, _, _ in v1.LIVE} | {"item-004"} | set(s.test_ids))
    for i in batch:
        s.label(i, ds.classes[ds.y[ds.position(i)]])
    assert s.retrain()["model_version"] == 3 and s.n_labels == len(v1.LIVE) + 5
    assert s.undo()["item_id"] == batch[-1]  # undo reaches the new labels; the old ones stay
    s.close()


def test_newer_schema_store_gets_no_new_tables(store_path, store):
    import sqlalchemy as sa

    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE activelearn_meta SET value='3' WHERE key='schema_version'")
        conn.exec_driver_sql("DROP TABLE rankings")
    store.close()
    with pytest.raises(al.StoreVersionError):
        LabelStore(store_path)
    assert "rankings" not in sa.inspect(sa.create_engine(f"sqlite:///{store_path}")).get_table_names()


def test_an_early_version_1_store_without_audit_columns_migrates(tmp_path):
    # The first version-1 stores predate the audit columns (added without a version bump).
    import shutil
    import sqlite3

    path = tmp_path / "early.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v1.db", path)
    con = sqlite3.connect(path)
    live = con.execute("SELECT count(*) FROM events WHERE kind='labeled' AND id NOT IN "
                       "(SELECT ref_event_id FROM events WHERE ref_event_id IS NOT NULL)").fetchone()[0]
    con.execute("ALTER TABLE events DROP COLUMN audit")
    for c in ("audit_n", "audit_accuracy", "audit_low", "audit_high"):
        con.execute(f"ALTER TABLE rounds DROP COLUMN {c}")
    con.commit()
    con.close()
    store = al.LabelStore(path)
    assert store.schema_version == 2
    labels = store.labels(1)
    assert len(labels) == live and not labels["audit"].any()
    assert (store.rounds(1)["audit_n"] == 0).all()


def test_writers_in_one_process_take_turns_before_sqlite_is_asked(store_path):
    # A write waiting for another thread's write waits on a lock that wakes it the moment that write ends,
    # not in SQLite's busy handler (which sleeps in steps of up to 100 ms).
    first, second = LabelStore(store_path), LabelStore(store_path)  # two sessions' stores on one file
    assert first._writers is second._writers

    class Turns:
        def __init__(self, lock):
            self.lock, self.log = lock, []

        def acquire(self, timeout=-1):
            self.log.append("waits")
            got = self.lock.acquire(timeout=timeout)
            self.log.append("writes")
            return got

        def release(self):
            self.lock.release()

    second._writers = turns = Turns(second._writers)
    holding, done = threading.Event(), threading.Event()

    def other_write():
        holding.wait(10)
        second.open_project("p2", "fp2", ["a", "b"], {"test_size": 0.25, "random_state": 0})
        done.set()

    thread = threading.Thread(target=other_write)
    thread.start()
    with first._write() as conn:
        conn.exec_driver_sql("SELECT 1")
        holding.set()
        for _ in range(500):  # until the other write waits for its turn
            if turns.log:
                break
            time.sleep(0.01)
        assert turns.log == ["waits"] and not done.is_set()
    thread.join(10)
    assert done.is_set() and turns.log == ["waits", "writes"]

"""Write ``store_v1.db``: a label store as schema version 1 wrote it (plain sqlite3, no activelearn store code).

Version 1 is the schema of ``activelearn/store.py`` at commit 4f3aa89 (the last one with ``SCHEMA_VERSION = 1``):
today's tables without ``leases`` and ``rankings`` and without the index ``ix_events_project_created``. The DDL
below is what SQLAlchemy emitted for it on SQLite. The store holds one project for :func:`v1_dataset` (a
``make_blobs`` dataset the test recreates; its fingerprint is computed with ``Dataset.fingerprint()``), with
labels by two annotators, an undo, an overwrite (an undo and a new label), a skip, shown events and two rounds.

Run from the project root to rebuild it: ``python tests/data/make_store_v1.py``.
"""

import json
import sqlite3
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATH = HERE / "store_v1.db"
T0 = 1_700_000_000.0  # fixed timestamps: the file's content is reproducible

SCHEMA_V1 = """
CREATE TABLE activelearn_meta (
    "key" VARCHAR(64) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY ("key")
);
CREATE TABLE projects (
    id INTEGER NOT NULL,
    name VARCHAR(255) NOT NULL,
    fingerprint VARCHAR(64) NOT NULL,
    classes TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (name)
);
CREATE TABLE events (
    id INTEGER NOT NULL,
    project_id INTEGER NOT NULL,
    item_id VARCHAR(1024) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    label VARCHAR(255),
    annotator VARCHAR(255),
    created_at FLOAT NOT NULL,
    seconds FLOAT,
    model_version INTEGER,
    ref_event_id INTEGER,
    audit BOOLEAN NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(project_id) REFERENCES projects (id)
);
CREATE INDEX ix_events_project_item ON events (project_id, item_id);
CREATE INDEX ix_events_ref ON events (ref_event_id);
CREATE INDEX ix_events_project_kind ON events (project_id, kind);
CREATE TABLE rounds (
    id INTEGER NOT NULL,
    project_id INTEGER NOT NULL,
    model_version INTEGER NOT NULL,
    n_labels INTEGER NOT NULL,
    n_test INTEGER NOT NULL,
    accuracy FLOAT,
    macro_f1 FLOAT,
    labeling_seconds FLOAT NOT NULL,
    cost FLOAT,
    train_seconds FLOAT NOT NULL,
    query_seconds FLOAT,
    audit_n INTEGER,
    audit_accuracy FLOAT,
    audit_low FLOAT,
    audit_high FLOAT,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(project_id) REFERENCES projects (id)
);
"""

CLASSES = ["ant", "bee", "cat"]
SETTINGS = {"random_state": 0, "test_size": 0.25}  # the session settings the project was created with
PROJECT = "blobs-v1"  # = the dataset's name, so a Session opens it by default

# (kind, item, label, annotator, seconds, ref): ref is the index (into this list) of the label an undo takes back.
# Items are pool items of v1_dataset() (none is in its test split for SETTINGS); labels are the true ones
# except item-016's first, which bob corrected; item-004 was skipped.
EVENTS = [
    ("shown", "item-002", None, "ann", None, None),
    ("labeled", "item-002", "bee", "ann", 2.0, None),      # 1
    ("labeled", "item-003", "bee", "ann", 1.5, None),      # 2
    ("labeled", "item-001", "cat", "ann", 3.0, None),      # 3
    ("labeled", "item-012", "ant", "ann", 1.0, None),      # 4
    ("undone", "item-012", "ant", "ann", None, 4),         # ann's undo of item-012
    ("labeled", "item-007", "cat", "bob", 2.5, None),      # 6
    ("labeled", "item-013", "ant", "bob", 2.0, None),      # 7
    ("skipped", "item-004", None, "bob", None, None),
    ("labeled", "item-016", "ant", "bob", 1.2, None),      # 9: wrong
    ("undone", "item-016", "ant", "bob", None, 9),         # overwrite = undo + new label
    ("labeled", "item-016", "cat", "bob", 4.0, None),      # 11
    ("labeled", "item-022", "ant", "ann", 1.1, None),      # 12
    ("labeled", "item-017", "bee", "ann", 0.9, None),      # 13
    ("labeled", "item-019", "cat", "ann", 2.2, None),      # 14
    ("shown", "item-023", None, "ann", None, None),
]
ROUNDS = [  # (model_version, n_labels, n_test, accuracy, macro_f1, labeling_seconds, train_seconds, query_seconds)
    (1, 5, 30, 0.9, 0.88, 10.0, 0.01, 0.002),
    (2, 9, 30, 1.0, 1.0, 19.2, 0.02, 0.003),
]
# What the store's labels() must give after the migration: live labels, oldest first.
LIVE = [("item-002", "bee", "ann"), ("item-003", "bee", "ann"), ("item-001", "cat", "ann"),
        ("item-007", "cat", "bob"), ("item-013", "ant", "bob"), ("item-016", "cat", "bob"),
        ("item-022", "ant", "ann"), ("item-017", "bee", "ann"), ("item-019", "cat", "ann")]


def v1_dataset():
    """The dataset the v1 store's project was made for: 120 blobs in 3 classes, string ids."""
    from sklearn.datasets import make_blobs

    import activelearn as al

    X, y = make_blobs(n_samples=120, centers=3, n_features=4, cluster_std=1.0, random_state=0)
    return al.from_arrays(X, y=[CLASSES[i] for i in y], classes=CLASSES,
                          ids=[f"item-{i:03d}" for i in range(len(X))], name=PROJECT)


def build(path=PATH):
    ds = v1_dataset()
    path = Path(path)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.executescript(SCHEMA_V1)
    with con:
        con.execute("INSERT INTO activelearn_meta (key, value) VALUES ('schema_version', '1')")
        con.execute("INSERT INTO projects (id, name, fingerprint, classes, settings, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (1, PROJECT, ds.fingerprint(), json.dumps(CLASSES), json.dumps(SETTINGS, sort_keys=True), T0))
        for k, (kind, item, label, who, seconds, ref) in enumerate(EVENTS):
            con.execute("INSERT INTO events (id, project_id, item_id, kind, label, annotator, created_at, seconds, "
                        "model_version, ref_event_id, audit) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                        (k + 1, item, kind, label, who, T0 + 10 * (k + 1), seconds, 0 if k < 8 else 1,
                         None if ref is None else ref + 1))
        for k, (version, n, n_test, acc, f1, lab_s, train_s, query_s) in enumerate(ROUNDS):
            con.execute("INSERT INTO rounds (id, project_id, model_version, n_labels, n_test, accuracy, macro_f1, "
                        "labeling_seconds, cost, train_seconds, query_seconds, audit_n, audit_accuracy, audit_low, "
                        "audit_high, created_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, NULL, ?, ?, 0, NULL, NULL, NULL, ?)",
                        (k + 1, version, n, n_test, acc, f1, lab_s, train_s, query_s, T0 + 100 * (k + 1)))
    con.execute("VACUUM")
    con.close()
    return path


if __name__ == "__main__":
    print(f"wrote {build()}")

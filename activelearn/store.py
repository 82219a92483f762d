"""The durable label store: every event a row, committed before the call returns.

SQLAlchemy Core over a SQLite file by default (WAL journal, ``synchronous=FULL``
so a committed label survives a power cut); any SQLAlchemy URL is accepted.
Labels are never updated in place: a label, a skip, an undo are appended
events, and the current labels are the ``labeled`` events no ``undone`` event
refers to. Several projects (datasets) share one database without mixing.
"""

import contextlib
import json
import threading
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from .exceptions import AlreadyLabeledError, StoreMismatchError, StoreVersionError

__all__ = ["LabelStore", "SCHEMA_VERSION", "EVENT_KINDS"]

SCHEMA_VERSION = 1
EVENT_KINDS = ("shown", "labeled", "skipped", "undone")

metadata = sa.MetaData()
meta_table = sa.Table(
    "activelearn_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
projects = sa.Table(
    "projects", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("classes", sa.Text, nullable=False),
    sa.Column("settings", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("item_id", sa.String(1024), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("label", sa.String(255)),
    sa.Column("annotator", sa.String(255)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("seconds", sa.Float),
    sa.Column("model_version", sa.Integer),
    sa.Column("ref_event_id", sa.Integer),
    # A label given on a uniformly drawn audit item: used to estimate accuracy, never to train.
    sa.Column("audit", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_events_project_item", "project_id", "item_id"),
    sa.Index("ix_events_project_kind", "project_id", "kind"),
    sa.Index("ix_events_ref", "ref_event_id"),
)
rounds = sa.Table(
    "rounds", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("n_labels", sa.Integer, nullable=False),
    sa.Column("n_test", sa.Integer, nullable=False),
    sa.Column("accuracy", sa.Float),
    sa.Column("macro_f1", sa.Float),
    sa.Column("labeling_seconds", sa.Float, nullable=False),
    sa.Column("cost", sa.Float),
    sa.Column("train_seconds", sa.Float, nullable=False),
    sa.Column("query_seconds", sa.Float),
    sa.Column("audit_n", sa.Integer),
    sa.Column("audit_accuracy", sa.Float),
    sa.Column("audit_low", sa.Float),
    sa.Column("audit_high", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
)

#: Forward migrations: ``MIGRATIONS[v](connection)`` moves a store from version v to v + 1.
MIGRATIONS = {}

LABEL_COLUMNS = ["item_id", "label", "annotator", "labeled_at", "seconds", "audit"]


def _to_url(store):
    text = str(store)
    if text == ":memory:":
        return "sqlite://"
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


class LabelStore:
    """A label store at a SQLite path or SQLAlchemy URL.

    Parameters
    ----------
    url : str or path-like
        ``"labels.db"`` (a SQLite file) or a SQLAlchemy URL such as
        ``"postgresql+psycopg://user@host/db"``.

    Notes
    -----
    Safe to use from several threads: each call takes its own pooled
    connection, and SQLite writes start with ``BEGIN IMMEDIATE`` so a
    check-then-insert (refusing to overwrite a label) is atomic across
    threads and processes.
    """

    def __init__(self, url="labels.db"):
        self.url = _to_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs = {"future": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 60}
            if self.url in ("sqlite://", "sqlite:///:memory:"):
                kwargs["poolclass"] = sa.pool.StaticPool  # one shared in-memory database
        self.engine = sa.create_engine(self.url, **kwargs)
        if self.is_sqlite:
            self._configure_sqlite()
        self._lock = threading.RLock()
        self._write_engine = self.engine.execution_options(sqlite_immediate=True)
        self._init_schema()

    @contextlib.contextmanager
    def _write(self):
        with self._lock, self._write_engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _read(self):
        with self._lock, self.engine.connect() as conn:
            yield conn

    def _configure_sqlite(self):
        @sa.event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @sa.event.listens_for(self.engine, "begin")
        def _on_begin(conn):
            # Writes take the write lock up front so check-then-insert is atomic; reads stay deferred.
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    def _init_schema(self):
        with self._write() as conn:
            metadata.create_all(conn)
            row = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")).first()
            if row is None:
                conn.execute(meta_table.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
                return
            version = int(row[0])
            if version > SCHEMA_VERSION:
                raise StoreVersionError(
                    f"the label store {self.url} has schema version {version}, newer than this activelearn "
                    f"understands ({SCHEMA_VERSION}). Upgrade activelearn (pip install -U activelearn); "
                    "the store was not modified."
                )
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](conn)
                version += 1
            conn.execute(meta_table.update().where(meta_table.c.key == "schema_version")
                         .values(value=str(SCHEMA_VERSION)))

    def close(self):
        """Release every pooled connection."""
        self.engine.dispose()

    @property
    def schema_version(self):
        with self._read() as conn:
            return int(conn.execute(sa.select(meta_table.c.value)
                                    .where(meta_table.c.key == "schema_version")).scalar_one())

    # -- projects --------------------------------------------------------
    def open_project(self, name, fingerprint, classes, settings):
        """Id of project ``name``, created on first use.

        Raises
        ------
        StoreMismatchError
            If the project exists for another dataset, other classes, or other
            split settings (``test_size``, ``random_state``).
        """
        classes = [str(c) for c in classes]
        with self._write() as conn:
            row = conn.execute(sa.select(projects).where(projects.c.name == name)).mappings().first()
            if row is None:
                return conn.execute(projects.insert().values(
                    name=name, fingerprint=fingerprint, classes=json.dumps(classes),
                    settings=json.dumps(settings, sort_keys=True), created_at=time.time())).inserted_primary_key[0]
        if row["fingerprint"] != fingerprint:
            raise StoreMismatchError(
                f"the store {self.url} holds project {name!r} for a different dataset (fingerprint "
                f"{row['fingerprint']}, this dataset {fingerprint}). Open another store file, or pass "
                "project='a-new-name' to keep both in this one."
            )
        if json.loads(row["classes"]) != classes:
            raise StoreMismatchError(
                f"project {name!r} in {self.url} was created with classes {json.loads(row['classes'])}, "
                f"not {classes}. Use the same classes, or a new project name."
            )
        stored = json.loads(row["settings"])
        diff = {k: (stored.get(k), v) for k, v in settings.items() if stored.get(k) != v}
        if diff:
            detail = ", ".join(f"{k}={a!r} (given {b!r})" for k, (a, b) in diff.items())
            raise StoreMismatchError(
                f"project {name!r} in {self.url} was created with {detail}; the held-out test set depends on "
                "these. Pass the stored values to resume, or use a new project name or store."
            )
        return row["id"]

    def project_names(self):
        with self._read() as conn:
            return [r[0] for r in conn.execute(sa.select(projects.c.name).order_by(projects.c.id))]

    # -- events ----------------------------------------------------------
    def add_event(self, project_id, item_id, kind, label=None, annotator=None, seconds=None,
                  model_version=None, ref_event_id=None):
        """Append one event; return its id once committed."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {EVENT_KINDS}, got {kind!r}")
        with self._write() as conn:
            return self._insert_event(conn, project_id, item_id, kind, label, annotator, seconds,
                                      model_version, ref_event_id)

    @staticmethod
    def _insert_event(conn, project_id, item_id, kind, label=None, annotator=None, seconds=None,
                      model_version=None, ref_event_id=None, audit=False):
        return conn.execute(events.insert().values(
            project_id=project_id, item_id=str(item_id), kind=kind, label=label, annotator=annotator,
            created_at=time.time(), seconds=seconds, model_version=model_version,
            ref_event_id=ref_event_id, audit=bool(audit))).inserted_primary_key[0]

    @staticmethod
    def _live_labels(project_id):
        undone = sa.select(events.c.ref_event_id).where(
            events.c.project_id == project_id, events.c.kind == "undone", events.c.ref_event_id.is_not(None))
        return sa.select(events).where(events.c.project_id == project_id, events.c.kind == "labeled",
                                       events.c.id.not_in(undone))

    def add_label(self, project_id, item_id, label, annotator=None, seconds=None, model_version=None,
                  overwrite=False, audit=False):
        """Record a label, atomically refusing to overwrite one unless ``overwrite``.

        Returns
        -------
        int
            The committed event's id.

        Raises
        ------
        AlreadyLabeledError
            If the item already has a label and ``overwrite`` is false.
        """
        item_id = str(item_id)
        with self._write() as conn:
            current = conn.execute(self._live_labels(project_id).where(events.c.item_id == item_id)
                                   .with_for_update()).mappings().first()
            if current is not None:
                if not overwrite:
                    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(current["created_at"]))
                    raise AlreadyLabeledError(
                        f"item {item_id!r} is already labeled {current['label']!r} by "
                        f"{current['annotator'] or 'an anonymous annotator'} at {when}; nothing was changed. "
                        "Pass overwrite=True to replace that label, or undo() it first."
                    )
                self._insert_event(conn, project_id, item_id, "undone", label=current["label"],
                                   annotator=annotator, ref_event_id=current["id"])
            return self._insert_event(conn, project_id, item_id, "labeled", label, annotator, seconds,
                                      model_version, audit=audit)

    def undo_last(self, project_id, annotator=None):
        """Take back the most recent live label (of ``annotator`` if given).

        Returns
        -------
        dict or None
            The undone label event (``item_id``, ``label`` ...), or None if there is none.
        """
        with self._write() as conn:
            query = self._live_labels(project_id)
            if annotator is not None:
                query = query.where(events.c.annotator == annotator)
            last = conn.execute(query.order_by(events.c.id.desc()).limit(1)).mappings().first()
            if last is None:
                return None
            self._insert_event(conn, project_id, last["item_id"], "undone", label=last["label"],
                               annotator=annotator, ref_event_id=last["id"])
            return dict(last)

    def labels(self, project_id):
        """The current labels as a DataFrame (``item_id, label, annotator, labeled_at, seconds``), oldest first."""
        with self._read() as conn:
            rows = conn.execute(self._live_labels(project_id).order_by(events.c.id)).mappings().all()
        df = pd.DataFrame([{"item_id": r["item_id"], "label": r["label"], "annotator": r["annotator"],
                            "labeled_at": r["created_at"], "seconds": r["seconds"], "audit": bool(r["audit"])}
                           for r in rows],
                          columns=LABEL_COLUMNS)
        df["labeled_at"] = pd.to_datetime(df["labeled_at"], unit="s", utc=True)
        df["seconds"] = df["seconds"].astype(float)
        return df

    def item_ids_with(self, project_id, kind):
        """Item ids that have at least one event of ``kind``."""
        with self._read() as conn:
            return {r[0] for r in conn.execute(sa.select(events.c.item_id).distinct().where(
                events.c.project_id == project_id, events.c.kind == kind))}

    def events(self, project_id):
        """Every event of the project, oldest first, as a DataFrame."""
        with self._read() as conn:
            rows = conn.execute(sa.select(events).where(events.c.project_id == project_id)
                                .order_by(events.c.id)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in events.columns])

    # -- history ---------------------------------------------------------
    def add_round(self, project_id, record):
        """Append one retrain record (a dict with the ``rounds`` columns)."""
        values = {c.name: record.get(c.name) for c in rounds.columns if c.name not in ("id", "project_id")}
        values["created_at"] = values.get("created_at") or time.time()
        with self._write() as conn:
            conn.execute(rounds.insert().values(project_id=project_id, **values))

    def rounds(self, project_id):
        """Every retrain record of the project, oldest first, as a DataFrame."""
        cols = [c.name for c in rounds.columns if c.name not in ("id", "project_id")]
        with self._read() as conn:
            rows = conn.execute(sa.select(*[rounds.c[c] for c in cols]).where(rounds.c.project_id == project_id)
                                .order_by(rounds.c.id)).mappings().all()
        df = pd.DataFrame([dict(r) for r in rows], columns=cols)
        floats = ["accuracy", "macro_f1", "labeling_seconds", "cost", "train_seconds", "query_seconds", "created_at",
                  "audit_accuracy", "audit_low", "audit_high"]
        ints = ["model_version", "n_labels", "n_test"]
        df["audit_n"] = df["audit_n"].fillna(0)
        return df.astype({**{c: float for c in floats}, **{c: "int64" for c in ints + ["audit_n"]}})

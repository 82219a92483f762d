"""The durable label store: every event a row, committed before the call returns.

SQLAlchemy Core over a SQLite file by default (WAL journal, ``synchronous=FULL``
so a committed label survives a power cut); any SQLAlchemy URL is accepted.
Labels are never updated in place: a label, a skip, an undo are appended
events, and the current labels are the ``labeled`` events no ``undone`` event
refers to. Several projects (datasets) share one database without mixing.

Teams: several sessions (processes, machines) on one store share one queue.
An item is handed out under a *lease* (one row per item and annotator, with an
expiry) taken atomically: under SQLite's write lock, and on PostgreSQL with a
per-item transaction advisory lock tried without waiting
(``pg_try_advisory_xact_lock``: what ``SELECT ... FOR UPDATE SKIP LOCKED`` does
for rows), so two annotators never get the same item unless
``labels_per_item`` asks for it. Writing a label takes the same per-item lock.
The session that trains publishes its ranking (``rankings``); the others
claim from it.
"""

import contextlib
import hashlib
import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from .exceptions import (AlreadyLabeledError, InvalidDataError, LeasedError, StoreMismatchError,
                         StoreUnavailableError, StoreVersionError)

__all__ = ["LabelStore", "ProjectStore", "TeamPolicy", "ANONYMOUS", "SCHEMA_VERSION", "EVENT_KINDS"]

#: The one name of a person who labels without giving one: recorded with labels and leases alike.
ANONYMOUS = "anonymous"


def annotator_name(annotator):
    """The identity recorded for ``annotator``: its name, or :data:`ANONYMOUS`."""
    return ANONYMOUS if annotator is None else str(annotator)


@dataclass(frozen=True)
class TeamPolicy:
    """How a project's team shares items; stored with the project, the same for every session.

    Parameters
    ----------
    labels_per_item : int
        Distinct annotators who label each item (adjudicators may add one more).
    lease_seconds : float
        How long an item handed out stays reserved for its annotator.
    """

    labels_per_item: int = 1
    lease_seconds: float = 900.0

SCHEMA_VERSION = 2
#: ``kept``: a reviewer looked at a doubtful label and kept it (``ref_event_id``: the label event kept).
EVENT_KINDS = ("shown", "labeled", "skipped", "undone", "joined", "kept")

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
    sa.Index("ix_events_project_created", "project_id", "created_at"),
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

leases = sa.Table(
    "leases", metadata,
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), primary_key=True),
    sa.Column("item_id", sa.String(1024), primary_key=True),
    sa.Column("annotator", sa.String(255), primary_key=True),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
rankings = sa.Table(
    "rankings", metadata,
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), primary_key=True),
    sa.Column("item_id", sa.String(1024), primary_key=True),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("strategy", sa.String(64)),
    sa.Index("ix_rankings_rank", "project_id", "rank"),
)


def _migrate_1_to_2(conn):
    """Version 2 adds the team tables: leases and the published ranking.

    The earliest version-1 stores also lack the audit columns (added to version 1 without a bump):
    they are added here, as "not an audit label" and empty audit estimates.
    """
    inspector = sa.inspect(conn)
    missing = {t.name: [c for c in t.columns if c.name not in {col["name"] for col in inspector.get_columns(t.name)}]
               for t in (events, rounds)}
    for table, columns in missing.items():
        for c in columns:
            kind = c.type.compile(dialect=conn.dialect)
            default = " NOT NULL DEFAULT FALSE" if c.name == "audit" else ""
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {c.name} {kind}{default}"))
    leases.create(conn, checkfirst=True)
    rankings.create(conn, checkfirst=True)
    next(i for i in events.indexes if i.name == "ix_events_project_created").create(conn, checkfirst=True)


#: Forward migrations: ``MIGRATIONS[v](connection)`` moves a store from version v to v + 1.
MIGRATIONS = {1: _migrate_1_to_2}
_UNREACHABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError)

LABEL_COLUMNS = ["item_id", "label", "annotator", "labeled_at", "seconds", "audit"]


_SQLITE_WRITERS = {}  # SQLite file URL -> the lock its writers in this process take turns on
# The statements of a key's path (the label write, the read of others' work before the next offer), built
# once with named parameters: a person waits for them, and building the expressions on every call was
# about half of their CPU time.
def _live_labels(project_id):
    """The project's label events not undone (``project_id`` a value or a bound parameter)."""
    undone = sa.select(events.c.ref_event_id).where(
        events.c.project_id == project_id, events.c.kind == "undone", events.c.ref_event_id.is_not(None))
    return sa.select(events).where(events.c.project_id == project_id, events.c.kind == "labeled",
                                   events.c.id.not_in(undone))


_ITEM_LABELS = _live_labels(sa.bindparam("p")).where(events.c.item_id == sa.bindparam("item")).order_by(events.c.id)
_OTHERS_LEASES = sa.select(sa.func.count()).select_from(leases).where(
    leases.c.project_id == sa.bindparam("p"), leases.c.item_id == sa.bindparam("item"),
    leases.c.annotator != sa.bindparam("who"), leases.c.expires_at > sa.bindparam("now"))
_RELEASE_LEASE = leases.delete().where(leases.c.project_id == sa.bindparam("p"),
                                       leases.c.item_id == sa.bindparam("item"),
                                       leases.c.annotator == sa.bindparam("who"))
_INSERT_EVENT = events.insert()
_EVENTS_SINCE = sa.select(events).where(  # what a session reads before each offer: the others' work since
    events.c.project_id == sa.bindparam("p"), events.c.id > sa.bindparam("last"),
    events.c.kind.in_(sa.bindparam("kinds", expanding=True))).order_by(events.c.id)

_SQLITE_WRITERS_GUARD = threading.Lock()
CLAIM_CHUNK = 500  # candidates looked at per query when leasing (well under SQLite's bound parameters)


def _sqlite_writers(url):
    with _SQLITE_WRITERS_GUARD:
        return _SQLITE_WRITERS.setdefault(url, threading.RLock())


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
    busy_timeout : float
        SQLite only: seconds a write waits for another process or connection
        to release the database's write lock before it gives up with
        :class:`StoreUnavailableError` (nothing written; retry later).

    Notes
    -----
    Safe to use from several threads: each call takes its own pooled
    connection (the in-memory store's single connection is taken under a
    lock), and SQLite writes start with ``BEGIN IMMEDIATE`` so a
    check-then-insert (refusing to overwrite a label) is atomic across
    threads and processes.
    """

    def __init__(self, url="labels.db", *, busy_timeout=60.0):
        self.url = _to_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.is_postgres = self.url.startswith("postgresql")
        busy_timeout = float(busy_timeout)
        if not busy_timeout >= 0:  # also refuses NaN
            raise ValueError(f"busy_timeout must be a number of seconds >= 0, got {busy_timeout!r}.")
        self.busy_timeout = busy_timeout
        kwargs = {"future": True, "pool_pre_ping": not self.url.startswith("sqlite")}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout}
            if self.url in ("sqlite://", "sqlite:///:memory:"):
                kwargs["poolclass"] = sa.pool.StaticPool  # one shared in-memory database
        self.engine = sa.create_engine(self.url, **kwargs)
        if self.is_sqlite:
            self._configure_sqlite()
        in_memory = self.url in ("sqlite://", "sqlite:///:memory:")
        # Only the in-memory store's one shared connection needs serialising; pooled connections run in parallel.
        self._lock = threading.RLock() if in_memory else contextlib.nullcontext()
        # A SQLite file's writers in this process take turns on a lock, woken the moment the last write ends;
        # without it a write waiting for another thread's sleeps in SQLite's busy handler (steps of up to 100 ms).
        self._writers = _sqlite_writers(self.url) if self.is_sqlite and not in_memory else None
        self._write_engine = self.engine.execution_options(sqlite_immediate=True)
        self._init_schema()

    def _unreachable(self, exc):
        return StoreUnavailableError(
            f"the label store {self._safe_url()} cannot be reached ({type(exc.orig or exc).__name__}: "
            f"{str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else ''}). "
            "Nothing was written by this call; labels acknowledged before are safe. Retry when the database "
            "is back.")

    def _locked(self, holder):
        return StoreUnavailableError(
            f"the label store {self._safe_url()} is locked: {holder} holds its write lock and did not release it "
            f"within {self.busy_timeout:g} s. Nothing was written by this call; labels acknowledged before are "
            "safe. Retry once the lock is released.")

    def _safe_url(self):
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    @contextlib.contextmanager
    def _write(self):
        turn = self._writers
        if turn is not None and not turn.acquire(timeout=self.busy_timeout):
            raise self._locked("another thread of this process")
        try:
            with self._lock, self._write_engine.begin() as conn:
                yield conn
        except _UNREACHABLE as exc:
            if self.is_sqlite and "database is locked" in str(exc):
                # SQLite waited the whole busy timeout for a write lock another connection holds.
                raise self._locked("another process or connection") from exc
            raise self._unreachable(exc) from exc
        finally:
            if turn is not None:
                turn.release()

    @contextlib.contextmanager
    def _read(self):
        try:
            with self._lock, self.engine.connect() as conn:
                yield conn
        except _UNREACHABLE as exc:
            raise self._unreachable(exc) from exc

    @staticmethod
    def _lock_key(project_id, item_id):
        """The PostgreSQL advisory-lock key of one item of a project."""
        return int.from_bytes(hashlib.sha1(f"{project_id}\x00{item_id}".encode()).digest()[:8], "big", signed=True)

    def _item_lock(self, conn, project_id, item_id):
        """Serialise work on one item across sessions (PostgreSQL advisory lock; SQLite holds its write lock)."""
        if self.is_postgres:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._lock_key(project_id, item_id)})

    def _item_locks(self, conn, project_id, item_ids):
        """The items of ``item_ids`` whose lock this transaction got without waiting (one query); in order."""
        if not self.is_postgres or not item_ids:
            return list(item_ids)
        keys = [self._lock_key(project_id, i) for i in item_ids]
        got = dict(conn.execute(sa.text("SELECT k, pg_try_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) "
                                        "WITH ORDINALITY AS t(k, n) ORDER BY n"), {"keys": keys}).all())
        return [i for i, k in zip(item_ids, keys) if got.get(k)]

    def _configure_sqlite(self):
        @sa.event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute(f"PRAGMA busy_timeout={int(round(self.busy_timeout * 1000))}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @sa.event.listens_for(self.engine, "begin")
        def _on_begin(conn):
            # Writes take the write lock up front so check-then-insert is atomic; reads stay deferred.
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    def _init_schema(self):
        with self._write() as conn:
            row = None
            if sa.inspect(conn).has_table("activelearn_meta"):
                row = conn.execute(sa.select(meta_table.c.value)
                                   .where(meta_table.c.key == "schema_version")).first()
            if row is None:
                metadata.create_all(conn)
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
            metadata.create_all(conn)  # nothing left to create after the migrations; a no-op safety net
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

    def project(self, name, fingerprint, classes, settings, labels_per_item=None, lease_seconds=None):
        """Open (or create) project ``name`` and return a :class:`ProjectStore` bound to it and its team policy.

        The team policy is stored with the project when it is created (or
        first opened by a version that stores it). ``None`` means "use the
        stored policy" (defaults for a new project: one label per item, 900 s
        leases).

        Raises
        ------
        StoreMismatchError
            As :meth:`open_project`, and if ``labels_per_item`` or
            ``lease_seconds`` differ from the project's stored policy.
        """
        project_id = self.open_project(name, fingerprint, classes, settings)
        wanted = {"labels_per_item": labels_per_item, "lease_seconds": lease_seconds}
        with self._write() as conn:
            row = conn.execute(sa.select(projects.c.settings).where(projects.c.id == project_id)).first()
            stored = json.loads(row[0])
            clash = {k: (stored[k], v) for k, v in wanted.items() if v is not None and k in stored and stored[k] != v}
            if clash:
                detail = ", ".join(f"{k}={a!r} (given {b!r})" for k, (a, b) in clash.items())
                raise StoreMismatchError(
                    f"project {name!r} in {self._safe_url()} is labeled by a team with {detail}; every session of "
                    "a project shares one policy. Leave these arguments out to use the stored policy, or use a "
                    "new project name.")
            default = TeamPolicy()
            missing = {k: (v if v is not None else getattr(default, k)) for k, v in wanted.items() if k not in stored}
            if missing:
                stored.update(missing)
                conn.execute(projects.update().where(projects.c.id == project_id)
                             .values(settings=json.dumps(stored, sort_keys=True)))
        policy = TeamPolicy(int(stored["labels_per_item"]), float(stored["lease_seconds"]))
        return ProjectStore(self, project_id, policy)

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
                                      model_version, ref_event_id)["id"]

    @staticmethod
    def _insert_event(conn, project_id, item_id, kind, label=None, annotator=None, seconds=None,
                      model_version=None, ref_event_id=None, audit=False, created_at=None):
        """Insert one event; return it as the dict :meth:`events_since` would."""
        row = dict(project_id=project_id, item_id=str(item_id), kind=kind, label=label, annotator=annotator,
                   created_at=time.time() if created_at is None else float(created_at), seconds=seconds,
                   model_version=model_version,
                   ref_event_id=ref_event_id, audit=bool(audit))
        row["id"] = conn.execute(_INSERT_EVENT, row).inserted_primary_key[0]
        return row

    _live_labels = staticmethod(_live_labels)

    def _item_labels(self, conn, project_id, item_id):
        """Live labels of one item, oldest first, with the annotator as its one identity."""
        rows = conn.execute(_ITEM_LABELS, {"p": project_id, "item": item_id}).mappings().all()
        return [{**r, "annotator": annotator_name(r["annotator"])} for r in rows]

    def add_label(self, project_id, item_id, label, annotator=None, seconds=None, model_version=None,
                  overwrite=False, audit=False, labels_per_item=1, holder=None):
        """Record a label, atomically refusing to overwrite one unless ``overwrite``.

        With ``labels_per_item=k`` an item takes up to k labels from distinct
        annotators. The lease the annotator had on the item is released in the
        same transaction. ``holder`` is accepted for compatibility and must
        name the same person as ``annotator``.

        Returns
        -------
        int
            The committed event's id.

        Raises
        ------
        AlreadyLabeledError
            If the item already has its labels (or this annotator's) and ``overwrite`` is false.
        LeasedError
            If another annotator holds an unexpired lease on the item and its labels would be full.
        """
        if holder is not None and annotator_name(annotator) != str(holder):
            raise InvalidDataError(f"holder {holder!r} and annotator {annotator!r} name two people; leases and "
                                   "labels are recorded under one name per person.")
        with self._write() as conn:
            written = self._record_label(conn, project_id, item_id, label, annotator_name(annotator), seconds,
                                         model_version, overwrite, audit, TeamPolicy(labels_per_item))
        return written[-1]["id"]

    def _record_label(self, conn, project_id, item_id, label, annotator, seconds, model_version, overwrite,
                      audit, policy, adjudicator=False, holder=None):
        """The label rules, inside one write transaction; returns the events written (undos, then the label).

        ``holder``: whose lease the label answers, when that is not the annotator's own (a simulation
        answering for the session that leased the item).
        """
        item_id = str(item_id)
        holder = annotator if holder is None else holder
        k = policy.labels_per_item
        self._item_lock(conn, project_id, item_id)
        current = self._item_labels(conn, project_id, item_id)
        mine = [r for r in current if k == 1 or r["annotator"] == annotator]
        if mine and not overwrite:
            r = mine[0]
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created_at"]))
            raise AlreadyLabeledError(
                f"item {item_id!r} is already labeled {r['label']!r} by {r['annotator']} at {when}; nothing was "
                "changed. Pass overwrite=True to replace that label, or undo() it first."
            )
        others = len(current) - len(mine)
        if others >= k and not adjudicator:  # an adjudicator's label decides, beyond the count
            raise AlreadyLabeledError(
                f"item {item_id!r} already has its {k} labels "
                f"({', '.join(r['annotator'] for r in current)}); nothing was changed.")
        now = time.time()
        foreign = conn.execute(_OTHERS_LEASES, {"p": project_id, "item": item_id, "who": holder,
                                                "now": now}).scalar_one()
        if foreign and others + foreign >= k and not adjudicator:
            raise LeasedError(
                f"item {item_id!r} is handed to another annotator right now; nothing was changed. "
                "Label the items next_batch() gives you (a lease expires if not answered).")
        written = [self._insert_event(conn, project_id, item_id, "undone", label=r["label"], annotator=annotator,
                                      ref_event_id=r["id"]) for r in mine]
        # A replacement's label event refers to the first undo it wrote: undoing it restores what it replaced.
        written.append(self._insert_event(conn, project_id, item_id, "labeled", label, annotator, seconds,
                                          model_version, audit=audit,
                                          ref_event_id=written[0]["id"] if written else None))
        conn.execute(_RELEASE_LEASE, {"p": project_id, "item": item_id, "who": holder})
        return written

    # -- team queue ------------------------------------------------------
    def claim(self, project_id, holder, candidates, n, lease_seconds=900.0, labels_per_item=1):
        """Lease up to ``n`` of ``candidates`` (best first) to ``holder``, atomically.

        Items the holder already leases come first (a restarted session gets
        its items back). A candidate is taken if the holder has not labeled it
        and its live labels plus other holders' unexpired leases are fewer than
        ``labels_per_item``. On PostgreSQL, a candidate another transaction is
        claiming right now is skipped, not waited for.

        Returns
        -------
        list of str
            The leased item ids, in candidate order.
        """
        with self._write() as conn:
            return self._claim(conn, project_id, str(holder), candidates, n,
                               TeamPolicy(labels_per_item, lease_seconds))

    def _claim(self, conn, project_id, holder, candidates, n, policy, one_at_a_time=False):
        """See :meth:`claim`. ``one_at_a_time``: an item is leased to one annotator at a time, so that it gets
        one more label per offer, up to ``labels_per_item`` (ActiveLab decides, offer by offer, whether it needs
        another); otherwise ``labels_per_item`` annotators may hold it at once."""
        now, n = time.time(), int(n)
        out, renew, drop, new = [], [], [], []
        conn.execute(leases.delete().where(leases.c.project_id == project_id, leases.c.expires_at <= now))
        held = [r[0] for r in conn.execute(sa.select(leases.c.item_id).where(
            leases.c.project_id == project_id, leases.c.annotator == holder).order_by(leases.c.created_at))]
        held_set = set(held)
        order = list(dict.fromkeys([*held, *(str(c) for c in candidates)]))  # unique, held first, then by rank
        # A few queries per chunk of candidates, not per candidate: each chunk is as long as the leases still
        # wanted, so no more items are locked (PostgreSQL) or looked at than one candidate at a time would.
        start = 0
        while len(out) < n and start < len(order):
            chunk = order[start:start + min(n - len(out), CLAIM_CHUNK)]
            start += len(chunk)
            chunk = self._item_locks(conn, project_id, chunk)
            if not chunk:
                continue
            labels = {i: [] for i in chunk}
            for item_id, annotator in conn.execute(
                    self._live_labels(project_id).with_only_columns(events.c.item_id, events.c.annotator)
                    .where(events.c.item_id.in_(chunk)).order_by(events.c.id)):
                labels[item_id].append(annotator_name(annotator))
            foreign = dict(conn.execute(
                sa.select(leases.c.item_id, sa.func.count()).where(
                    leases.c.project_id == project_id, leases.c.item_id.in_(chunk), leases.c.annotator != holder)
                .group_by(leases.c.item_id)).all())
            for item_id in chunk:  # at most one lease each: out reaches n at the chunk's last item at the latest
                given = labels[item_id]
                if holder in given or (policy.labels_per_item == 1 and given):
                    if item_id in held_set:
                        drop.append(item_id)
                    continue
                if item_id in held_set:
                    renew.append(item_id)
                    out.append(item_id)
                    continue
                cap = min(policy.labels_per_item, len(given) + 1) if one_at_a_time else policy.labels_per_item
                if len(given) + foreign.get(item_id, 0) >= cap:
                    continue
                new.append({"project_id": project_id, "item_id": item_id, "annotator": holder,
                            "expires_at": now + policy.lease_seconds,
                            "created_at": now + 1e-6 * len(out)})  # keeps the rank order
                out.append(item_id)
        mine = (leases.c.project_id == project_id) & (leases.c.annotator == holder)
        for k in range(0, len(drop), CLAIM_CHUNK):
            conn.execute(leases.delete().where(mine, leases.c.item_id.in_(drop[k:k + CLAIM_CHUNK])))
        for k in range(0, len(renew), CLAIM_CHUNK):
            conn.execute(leases.update().where(mine, leases.c.item_id.in_(renew[k:k + CLAIM_CHUNK]))
                         .values(expires_at=now + policy.lease_seconds))
        if new:
            conn.execute(leases.insert(), new)
        return out

    def release(self, project_id, holder, item_ids=None):
        """Give back ``holder``'s leases (all of them, or those on ``item_ids``)."""
        with self._write() as conn:
            self._release(conn, project_id, str(holder), item_ids)

    @staticmethod
    def _release(conn, project_id, holder, item_ids=None):
        q = leases.delete().where(leases.c.project_id == project_id, leases.c.annotator == holder)
        if item_ids is not None:
            q = q.where(leases.c.item_id.in_([str(i) for i in item_ids]))
        conn.execute(q)

    def leases(self, project_id, include_expired=False):
        """Current leases as a DataFrame (``item_id, annotator, expires_at``)."""
        q = sa.select(leases.c.item_id, leases.c.annotator, leases.c.expires_at).where(
            leases.c.project_id == project_id)
        if not include_expired:
            q = q.where(leases.c.expires_at > time.time())
        with self._read() as conn:
            rows = conn.execute(q.order_by(leases.c.created_at)).all()
        return pd.DataFrame(rows, columns=["item_id", "annotator", "expires_at"])

    def busy_items(self, project_id, holder, labels_per_item=1):
        """Item ids that ``holder`` cannot be given now: full with labels and others' leases, or labeled by it."""
        with self._read() as conn:
            return self._busy(conn, project_id, str(holder), labels_per_item)

    def _busy(self, conn, project_id, holder, labels_per_item):
        live = self._live_labels(project_id).subquery()
        lab = conn.execute(sa.select(live.c.item_id, live.c.annotator)).all()
        lease_rows = conn.execute(sa.select(leases.c.item_id).where(
            leases.c.project_id == project_id, leases.c.annotator != holder,
            leases.c.expires_at > time.time())).all()
        count = {}
        busy = set()
        for item_id, annotator in lab:
            count[item_id] = count.get(item_id, 0) + 1
            if annotator_name(annotator) == holder:
                busy.add(item_id)
        for (item_id,) in lease_rows:
            count[item_id] = count.get(item_id, 0) + 1
        busy.update(i for i, c in count.items() if c >= labels_per_item)
        return busy

    def active_annotators(self, project_id, seconds):
        """Annotators with an event (joining included) in the last ``seconds``, or holding a lease."""
        with self._read() as conn:
            return self._active(conn, project_id, seconds)

    @staticmethod
    def _active(conn, project_id, seconds):
        now = time.time()
        recent = conn.execute(sa.select(events.c.annotator).distinct().where(
            events.c.project_id == project_id, events.c.created_at > now - seconds))
        held = conn.execute(sa.select(leases.c.annotator).distinct().where(
            leases.c.project_id == project_id, leases.c.expires_at > now))
        return {annotator_name(r[0]) for r in recent} | {r[0] for r in held}

    def publish_ranking(self, project_id, item_ids, model_version, strategy=None):
        """Replace the project's published ranking (best first) with ``item_ids``."""
        with self._write() as conn:
            self._publish(conn, project_id, item_ids, model_version, strategy)

    @staticmethod
    def _publish(conn, project_id, item_ids, model_version, strategy):
        """``strategy``: one name for every row, or a list with one per row (what each row was ranked as)."""
        conn.execute(rankings.delete().where(rankings.c.project_id == project_id))
        names = list(strategy) if isinstance(strategy, (list, tuple)) else [strategy] * len(item_ids)
        if len(item_ids):
            conn.execute(rankings.insert(), [
                {"project_id": project_id, "item_id": str(i), "rank": r, "model_version": int(model_version),
                 "strategy": name} for r, (i, name) in enumerate(zip(item_ids, names))])

    def ranking(self, project_id):
        """The published ranking: ``(item_ids best first, model_version)``; ``([], None)`` if none."""
        with self._read() as conn:
            rows = conn.execute(sa.select(rankings.c.item_id, rankings.c.model_version).where(
                rankings.c.project_id == project_id).order_by(rankings.c.rank)).all()
        return [r[0] for r in rows], (rows[0][1] if rows else None)

    def events_since(self, project_id, last_id, kinds=("labeled", "undone", "skipped")):
        """Events with id above ``last_id`` (oldest first): how a session sees the others' work."""
        with self._read() as conn:
            rows = conn.execute(_EVENTS_SINCE, {"p": project_id, "last": int(last_id),
                                                "kinds": list(kinds)}).mappings().all()
        return [{**r, "annotator": annotator_name(r["annotator"])} for r in rows]

    def undo_last(self, project_id, annotator=None):
        """Take back the most recent live label of ``annotator`` (unnamed: :data:`ANONYMOUS`).

        Returns
        -------
        dict or None
            The undone label event (``item_id``, ``label`` ...), or None if there is none.
        """
        with self._write() as conn:
            undone = self._undo_last(conn, project_id, annotator_name(annotator))
        return None if undone is None else undone[1]

    def _undo_last(self, conn, project_id, annotator):
        """Undo ``annotator``'s latest live label (or review keep): ``(events written, the event undone)`` or None.

        Undoing a replacement (a label written over others: ``overwrite``, :meth:`ProjectStore.record_replacement`)
        restores the labels it replaced, under their annotators and times, in the same transaction.
        """
        mine = sa.func.coalesce(events.c.annotator, ANONYMOUS) == annotator
        last = conn.execute(self._live_labels(project_id).where(mine).order_by(events.c.id.desc())
                            .limit(1)).mappings().first()
        kept = conn.execute(self._live_events(project_id, "kept").where(mine).order_by(events.c.id.desc())
                            .limit(1)).mappings().first()
        if kept is not None and (last is None or kept["id"] > last["id"]):
            last = kept
        if last is None:
            return None
        written = [self._insert_event(conn, project_id, last["item_id"], "undone", label=last["label"],
                                      annotator=annotator, ref_event_id=last["id"])]
        if last["kind"] == "labeled" and last["ref_event_id"] is not None:
            replaced = conn.execute(sa.select(events.c.ref_event_id).where(
                events.c.project_id == project_id, events.c.item_id == last["item_id"], events.c.kind == "undone",
                events.c.id >= last["ref_event_id"], events.c.id < last["id"])).scalars().all()
            old = conn.execute(sa.select(events).where(events.c.id.in_(replaced), events.c.kind == "labeled")
                               .order_by(events.c.id)).mappings().all()
            written += [self._insert_event(conn, project_id, r["item_id"], "labeled", r["label"], r["annotator"],
                                           r["seconds"], r["model_version"], audit=r["audit"],
                                           created_at=r["created_at"]) for r in old]
        for e in written:
            e["annotator"] = annotator_name(e["annotator"])
        return written, {**last, "annotator": annotator_name(last["annotator"])}

    @staticmethod
    def _live_events(project_id, kind):
        """Events of ``kind`` that no ``undone`` event refers to."""
        undone = sa.select(events.c.ref_event_id).where(
            events.c.project_id == project_id, events.c.kind == "undone", events.c.ref_event_id.is_not(None))
        return sa.select(events).where(events.c.project_id == project_id, events.c.kind == kind,
                                       events.c.id.not_in(undone))

    def _record_replacement(self, conn, project_id, item_id, label, annotator, seconds, model_version, replaces):
        """A reviewer's label replacing the item's live labels (all, or ``replaces``' and the reviewer's own)."""
        item_id = str(item_id)
        self._item_lock(conn, project_id, item_id)
        current = self._item_labels(conn, project_id, item_id)
        if not current:
            raise InvalidDataError(f"item {item_id!r} has no label to replace; label it with label() instead.")
        targets = [r for r in current if replaces is None or r["annotator"] in (replaces, annotator)]
        if replaces is not None and not any(r["annotator"] == replaces for r in targets):
            raise InvalidDataError(f"item {item_id!r} has no label by {replaces!r} (its labels are by "
                                   f"{', '.join(r['annotator'] for r in current)}); nothing was changed.")
        written = [self._insert_event(conn, project_id, item_id, "undone", label=r["label"], annotator=annotator,
                                      ref_event_id=r["id"]) for r in targets]
        written.append(self._insert_event(conn, project_id, item_id, "labeled", label, annotator, seconds,
                                          model_version, audit=any(r["audit"] for r in targets),
                                          ref_event_id=written[0]["id"]))
        conn.execute(leases.delete().where(leases.c.project_id == project_id, leases.c.item_id == item_id,
                                           leases.c.annotator == annotator))
        return written

    def _record_keep(self, conn, project_id, item_id, annotator, seconds, model_version):
        """A reviewer kept the item's label: a ``kept`` event on its latest live label."""
        item_id = str(item_id)
        current = self._item_labels(conn, project_id, item_id)
        if not current:
            raise InvalidDataError(f"item {item_id!r} has no label to keep; label it with label() instead.")
        return [self._insert_event(conn, project_id, item_id, "kept", label=current[-1]["label"],
                                   annotator=annotator, seconds=seconds, model_version=model_version,
                                   ref_event_id=current[-1]["id"])]

    def labels(self, project_id):
        """The current labels as a DataFrame (``item_id, label, annotator, labeled_at, seconds``), oldest first."""
        with self._read() as conn:
            rows = conn.execute(self._live_labels(project_id).order_by(events.c.id)).mappings().all()
        df = pd.DataFrame([{"item_id": r["item_id"], "label": r["label"], "annotator": annotator_name(r["annotator"]),
                            "labeled_at": r["created_at"], "seconds": r["seconds"], "audit": bool(r["audit"])}
                           for r in rows],
                          columns=LABEL_COLUMNS)
        df["labeled_at"] = pd.to_datetime(df["labeled_at"], unit="s", utc=True)
        df["seconds"] = df["seconds"].astype(float)
        return df

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


class ProjectStore:
    """One project of a :class:`LabelStore`, speaking the labeling domain.

    Each verb is one transaction and returns the events it wrote, which the
    session applies exactly as it applies :meth:`events_since`. Identities are
    resolved once: an unnamed annotator is :data:`ANONYMOUS` for labels and
    leases alike. Made by :meth:`LabelStore.project`.

    Attributes
    ----------
    store : LabelStore
    id : int
        The project's id in the store.
    policy : TeamPolicy
    """

    def __init__(self, store, project_id, policy):
        self.store = store
        self.id = project_id
        self.policy = policy

    def events_since(self, last_id):
        """Label, undo, skip and review-keep events with id above ``last_id``, oldest first."""
        return self.store.events_since(self.id, last_id, kinds=("labeled", "undone", "skipped", "kept"))

    def record_label(self, item_id, label, *, annotator, seconds=None, model_version=None, audit=False,
                     overwrite=False, adjudicator=False, holder=None):
        """Store a label (and release the lease it answers); returns the events written.

        ``holder`` is whose lease the label answers when another name gives it
        (a simulation's oracle labels for the session's annotator); default: the annotator.

        Raises
        ------
        AlreadyLabeledError, LeasedError
            As :meth:`LabelStore.add_label`; nothing is written.
        """
        with self.store._write() as conn:
            return self.store._record_label(conn, self.id, item_id, label, annotator_name(annotator), seconds,
                                            model_version, overwrite, audit, self.policy, adjudicator,
                                            None if holder is None else annotator_name(holder))

    def record_skip(self, item_id, *, annotator, model_version=None):
        """Set an item aside and give back the annotator's lease on it; returns the events written."""
        who = annotator_name(annotator)
        with self.store._write() as conn:
            event = self.store._insert_event(conn, self.id, item_id, "skipped", annotator=who,
                                             model_version=model_version)
            self.store._release(conn, self.id, who, [item_id])
        return [event]

    def undo_last(self, *, annotator, lease=True):
        """Take back ``annotator``'s latest label and (``lease``) lease its item back to them.

        Returns
        -------
        events : list of dict
            The undo event written (empty when there was nothing to undo).
        undone : dict or None
            The label event that was taken back.
        """
        who = annotator_name(annotator)
        with self.store._write() as conn:
            done = self.store._undo_last(conn, self.id, who)
            if done is None:
                return [], None
            if lease and done[1]["kind"] == "labeled":
                # every lease the annotator holds comes first in a claim: no limit, so the item follows them
                self.store._claim(conn, self.id, who, [done[1]["item_id"]], sys.maxsize, self.policy)
        return done

    def record_replacement(self, item_id, label, *, annotator, seconds=None, model_version=None, replaces=None):
        """A reviewer replaces an item's label; returns the events written (undos of the replaced labels, the label).

        ``replaces``: whose label is replaced (with ``labels_per_item > 1``); default every live label of the
        item. The new label is the reviewer's (an audit label stays one); undoing it restores what it replaced.

        Raises
        ------
        InvalidDataError
            If the item has no label (or none by ``replaces``); nothing is written.
        """
        with self.store._write() as conn:
            return self.store._record_replacement(conn, self.id, item_id, label, annotator_name(annotator), seconds,
                                                  model_version, None if replaces is None else str(replaces))

    def record_keep(self, item_id, *, annotator, seconds=None, model_version=None):
        """A reviewer looked at the item's label and kept it; returns the ``kept`` event (undoable like a label)."""
        with self.store._write() as conn:
            return self.store._record_keep(conn, self.id, item_id, annotator_name(annotator), seconds, model_version)

    def published(self):
        """The published ranking and what each row was ranked as: ``(item_ids, model_version, strategies)``."""
        with self.store._read() as conn:
            rows = conn.execute(sa.select(rankings.c.item_id, rankings.c.model_version, rankings.c.strategy).where(
                rankings.c.project_id == self.id).order_by(rankings.c.rank)).all()
        return [r[0] for r in rows], (rows[0][1] if rows else None), [r[2] for r in rows]

    def claim(self, annotator, candidates, n, one_at_a_time=False):
        """Lease up to ``n`` of ``candidates`` (best first); the annotator's held items come first.

        ``one_at_a_time``: one lease per item at a time (each offer asks for one more label; ActiveLab).
        """
        with self.store._write() as conn:
            return self.store._claim(conn, self.id, annotator_name(annotator), candidates, n, self.policy,
                                     one_at_a_time)

    def publish_and_claim(self, annotator, ranked_ids, n, model_version, strategy, first=(), one_at_a_time=False):
        """Publish the trainer's ranking for the team and lease its first free items, in one transaction.

        ``first``: items to lease before the ranked ones (items that need another label), not published.
        ``one_at_a_time``: as in :meth:`claim`.
        """
        with self.store._write() as conn:
            self.store._publish(conn, self.id, ranked_ids, model_version, strategy)
            return self.store._claim(conn, self.id, annotator_name(annotator), [*first, *ranked_ids], n,
                                     self.policy, one_at_a_time)

    def team_view(self, annotator):
        """What a ranking needs to know about the team, read at once: ``(busy item ids, active annotators)``."""
        who = annotator_name(annotator)
        with self.store._read() as conn:
            return (self.store._busy(conn, self.id, who, self.policy.labels_per_item),
                    self.store._active(conn, self.id, self.policy.lease_seconds) | {who})

    def ranking(self):
        """The published ranking: ``(item_ids best first, model_version)``."""
        return self.store.ranking(self.id)

    def join(self, annotator):
        """Say that ``annotator`` labels here (the trainer then ranks for one more person)."""
        self.store.add_event(self.id, "", "joined", annotator=annotator_name(annotator))

    def release(self, annotator, item_ids=None):
        """Give back the annotator's leases (all, or on ``item_ids``)."""
        self.store.release(self.id, annotator_name(annotator), item_ids)

    def add_round(self, record):
        """Append one retrain record."""
        self.store.add_round(self.id, record)

    def rounds(self):
        return self.store.rounds(self.id)

    def labels(self):
        return self.store.labels(self.id)

    def events(self):
        return self.store.events(self.id)

    def leases(self, include_expired=False):
        return self.store.leases(self.id, include_expired)

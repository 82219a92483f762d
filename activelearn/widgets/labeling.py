"""A keyboard-driven labeling widget (anywidget) over a :class:`~activelearn.Session`.

The view is a thin layer: it renders the current item, sends key presses and
clicks to Python, and draws the live dashboard from synced values. All state
lives in the session and its store. The widget follows the session: it is one
of the session's callbacks, and a daemon thread polls the store for what other
sessions wrote. Retraining, the first offer and the polling run in background
threads; from them only widget values are changed (never ``display``), as
ipywidgets #3468 and ipykernel #1450 require.
"""

import atexit
import base64
import os
import sys
import threading
import time
import weakref
from pathlib import Path, PurePosixPath

import anywidget
import numpy as np
import traitlets

from ..exceptions import ActiveLearnError, AlreadyLabeledError, LeasedError, StoreUnavailableError
from ..metrics import projected_labels_to_target, seconds_per_label, wilson_interval
from ._charts import start_chart_worker
from ._words import plain_error, why_text

__all__ = ["LabelingWidget", "key_map"]

_STATIC = Path(__file__).parent / "static"
SKIP_KEYS = ("s", "ArrowRight")
UNDO_KEYS = ("u", "Backspace", "ArrowLeft")
REVIEW_KEY = "r"  # switches between labeling and reviewing doubtful labels (unless a class is named "r")
KEEP_KEYS = ("k", "Enter")  # in review mode: keep the given label ("k" unless a class is named "k")
_CLASS_KEYS = list("1234567890") + [c for c in "abcdefghijlmnopqtvwxyz"]  # free keys: never s, u, r, k
_RESERVED = set(SKIP_KEYS) | set(UNDO_KEYS)


def key_map(classes):
    """Keys for ``classes``: a class named by one key binds to that key, the rest get free keys.

    A class whose name is a single character (digits ``"0"``..``"9"``, ``"y"``,
    ``"n"``) is labeled with that very key, so a person presses the digit they
    see. The other classes get the free keys among ``1``..``9``, ``0``, then
    letters, in order; ``s`` and ``u`` stay skip and undo. Classes left without
    a free key are labeled with their buttons.

    Parameters
    ----------
    classes : sequence of str
        Class names, in the dataset's order.

    Returns
    -------
    dict
        ``{key: class name}``, in the order of ``classes``.
    """
    names = [str(c) for c in classes]
    own = {n: n for n in names if len(n) == 1 and n.isprintable() and not n.isspace() and n not in _RESERVED}
    free = iter(k for k in _CLASS_KEYS if k not in own)
    keys = {}
    for n in names:
        k = own.get(n) or next(free, None)
        if k is not None:
            keys[k] = n
    return keys


def display_name(item_id):
    """What the title shows for an item: its file name, never the folder (a class folder would anchor the labeler)."""
    return PurePosixPath(str(item_id).replace("\\", "/")).name or str(item_id)


def _item_payload(dataset, item_id):
    shown = dataset.render(item_id)
    payload = {"id": str(item_id), "title": display_name(item_id)}
    if isinstance(shown, dict) and isinstance(shown.get("image"), (bytes, bytearray)):  # image with a caption
        payload.update(kind="image", src="data:image/png;base64," + base64.b64encode(shown["image"]).decode("ascii"),
                       title=display_name(shown.get("caption", item_id)))
    elif isinstance(shown, (bytes, bytearray)):
        payload.update(kind="image", src="data:image/png;base64," + base64.b64encode(shown).decode("ascii"))
    elif isinstance(shown, dict):
        payload.update(kind="table", table=[[str(k), f"{v:.4g}" if isinstance(v, float) else str(v)]
                                            for k, v in shown.items()])
    else:
        payload.update(kind="text", text=str(shown))
    return payload


LONG_TEXT = 500  # characters: longer texts get a focus passage


def focus_passage(text, examples, max_examples=200):
    """Character span of the sentence of ``text`` most like ``examples`` (TF-IDF cosine), or None.

    The widget marks it and scrolls to it in a long text: with ``examples`` the
    texts already labeled as the model's best guess, it is the evidence for that
    guess, which the person can check first.
    """
    import re

    from sklearn.feature_extraction.text import TfidfVectorizer

    spans = [(m.start(), m.end()) for m in re.finditer(r"[^.!?\n]+[.!?]*", text) if m.group().strip()]
    examples = [str(e) for e in examples[:max_examples] if str(e).strip()]
    if len(spans) < 2 or not examples:
        return None
    sentences = [text[a:b] for a, b in spans]
    try:
        vec = TfidfVectorizer(stop_words="english").fit(sentences + examples)
    except ValueError:  # nothing but stop words
        return None
    S, E = vec.transform(sentences), vec.transform(examples)
    centroid = np.asarray(E.mean(axis=0)).ravel()
    scores = S @ centroid
    best = int(np.argmax(scores))
    if scores[best] <= 0:
        return None
    a, b = spans[best]
    return [a + (len(text[a:b]) - len(text[a:b].lstrip())), b]


MAP_PREPARING = ("Preparing the pool's map in the background (about as long as a first retrain); meanwhile typical "
                 "items are picked from the features themselves.")

GIL_SWITCH_INTERVAL = 0.001  # seconds; see LabelingWidget.__init__
BACKGROUND_NICE = 0  # see LabelingWidget's background_nice


def lower_thread_priority(native_id, nice):
    """Raise one thread's nice value by ``nice`` (Linux schedules threads one by one); elsewhere, nothing.

    Returns whether it was lowered.
    """
    if nice <= 0 or native_id is None or not sys.platform.startswith("linux"):
        return False  # elsewhere PRIO_PROCESS takes a process id, not a thread's
    try:
        os.setpriority(os.PRIO_PROCESS, native_id, min(19, os.getpriority(os.PRIO_PROCESS, native_id) + int(nice)))
    except OSError:  # the thread has ended, or this is not permitted here
        return False
    return True

_NO_OFFER = object()  # next_offer failed (the error is shown); None means nothing is left


class _Follower:
    """The widget's entry in ``session.callbacks``; weak, so a forgotten widget stops listening."""

    def __init__(self, widget):
        self._ref = weakref.ref(widget)

    def on_labels_changed(self, session, item_ids=()):
        w = self._ref()
        if w is not None:
            w._changed(item_ids)

    def on_retrain_end(self, session, record=None):
        w = self._ref()
        if w is not None:
            w._changed((), retrained=True)


def _poll(ref, wake, stop, seconds, nice=0):
    """The follower thread: wakes on a callback or every ``seconds`` and lets the widget catch up."""
    lower_thread_priority(threading.get_native_id(), nice)
    while not stop.is_set():
        woke = wake.wait(seconds if seconds > 0 else None)
        if stop.is_set():
            return
        if woke:
            time.sleep(0.2)  # a simulation labels in bursts: take them in one catch-up
        wake.clear()
        w = ref()
        if w is None:
            return
        try:
            w.sync(refresh=not woke and seconds > 0)
        except Exception:  # noqa: BLE001 - the follower never dies; the next poll tries again
            pass
        del w


_LIVE = weakref.WeakSet()  # widgets whose threads an interpreter exit stops
_EXIT_HOOK = []


def _stop_threads_at_exit(timeout=2.0):
    """At interpreter exit: stop every live widget's threads and wait for them (and retrains) briefly.

    The follower and rank-ahead threads read the store; one still reading while Python runs its exit
    handlers adds to ``weakref.finalize``'s registry (SQLAlchemy's connections use it) while that is
    iterated, and Python prints "RuntimeError: dictionary changed size during iteration" at exit.
    """
    widgets = list(_LIVE)
    for w in widgets:
        w._stop_threads()
    deadline = time.monotonic() + timeout
    for w in widgets:
        for t in w._threads:
            if t.is_alive():
                t.join(max(0.0, deadline - time.monotonic()))
        w.session.wait_for_training(max(0.0, deadline - time.monotonic()))


def _register_exit_hook():
    """Register :func:`_stop_threads_at_exit` once, so that it runs before ``weakref.finalize``'s handler.

    atexit runs handlers last-registered first: ``weakref.finalize`` registers its own on the first
    finalizer of the process, so one is made first when none exists yet.
    """
    if _EXIT_HOOK:
        return
    if not getattr(weakref.finalize, "_registered_with_atexit", True):
        weakref.finalize(_register_exit_hook, lambda: None)  # a function lives as long as the module
    atexit.register(_stop_threads_at_exit)
    _EXIT_HOOK.append(True)


def _rank_ahead(ref, wake, stop, nice=0):
    """The rank-ahead thread: after each label, lets the session rank the next batch if this one runs short."""
    lower_thread_priority(threading.get_native_id(), nice)
    while not stop.is_set():
        wake.wait()
        wake.clear()
        if stop.is_set():
            return
        w = ref()
        if w is None:
            return
        try:
            w.session.rank_ahead()
        except Exception:  # noqa: BLE001 - the next offer then ranks in the foreground, as without this thread
            pass
        del w


class LabelingWidget(anywidget.AnyWidget):
    """Label the items a session asks for, with keys or clicks, while it retrains in the background.

    Parameters
    ----------
    session : Session
    retrain_every : int
        Start a background retrain after this many new labels (0: only on demand).
    target : float
        Accuracy the dashboard projects the labels needed for.
    budget : int, optional
        Labels planned; shown as progress.
    retry_seconds : float
        When the label store cannot be reached, the label is kept and retried
        this often; the item stays on screen until it is saved.
    background : bool
        Compute the first offer in a background thread, so the widget shows at
        once ("Preparing the pool…") while the first ranking runs;
        :meth:`wait_ready` blocks until the first item is there. Default False:
        the constructor returns with the first item on screen.
    poll_seconds : float
        How often the widget reads what other sessions wrote to the store
        (:meth:`Session.refresh`); 0: never on its own (call :meth:`sync`).
        Changes made through this session (the API in another cell, a
        simulation) reach the widget through ``session.callbacks`` either way.
    n_recent : int
        Labels kept in the strip of recent labels (click one to change it).
    background_nice : int
        How much lower (Linux ``nice`` steps) the CPU priority of the
        widget's background threads is (its retrains, the ranking ahead, the
        follower). Default 0 (as they are): on a busy machine a lowered
        thread that holds the store's write lock keeps a key's label waiting,
        and its retrains take longer (see ``benchmarks/README.md``).
    chart_worker : bool
        Draw the dashboard's charts in one worker process at a lower CPU
        priority (started with the first retrain), so that drawing never
        holds the kernel while a person labels; False (or where no process
        can be started): in the kernel. The charts are the same either way.

    Notes
    -----
    Keys: a class named by one key (a digit, ``y``, ``n``) is that key; other
    classes get ``1``..``9``, ``0`` then letters (shown on the buttons);
    ``s`` or Right skips; ``u``, Backspace or Left undoes this person's last
    label. They work once the widget has been clicked, wherever the mouse is,
    and do not reach JupyterLab's shortcuts while the widget has focus.

    Review mode (``r`` or the "Review labels" button): the view shows the
    labels most likely wrong (:meth:`Session.suspects`: flagged by cleanlab, or
    a model trained without the label suggests another class), one at a time, with the model's suggestion; a class key
    replaces the label (:meth:`Session.relabel`: durable, attributed,
    undoable, and the model retrains on it), ``k`` or Enter keeps it
    (:meth:`Session.keep_label`), ``s`` skips it, ``u`` undoes, ``r`` goes
    back to labeling.
    """

    _esm = _STATIC / "labeling.js"
    _css = _STATIC / "labeling.css"

    classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    class_keys = traitlets.List(traitlets.Unicode()).tag(sync=True)
    item = traitlets.Dict().tag(sync=True)
    info = traitlets.Dict().tag(sync=True)
    progress = traitlets.Dict().tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    training = traitlets.Bool(False).tag(sync=True)
    preparing = traitlets.Bool(False).tag(sync=True)
    confirm = traitlets.Dict().tag(sync=True)
    recent = traitlets.List().tag(sync=True)
    history = traitlets.List().tag(sync=True)
    stats = traitlets.Dict().tag(sync=True)
    dashboard = traitlets.Dict().tag(sync=True)
    charts = traitlets.Dict().tag(sync=True)
    mode = traitlets.Unicode("label").tag(sync=True)  # "label" or "review"
    review = traitlets.Dict().tag(sync=True)  # the suspect on screen (or a sentence while there is none)
    review_key = traitlets.Unicode("").tag(sync=True)

    def __init__(self, session, retrain_every=10, target=0.95, budget=None, retry_seconds=2.0, background=False,
                 poll_seconds=2.0, n_recent=6, chart_worker=True, background_nice=BACKGROUND_NICE, **kwargs):
        super().__init__(**kwargs)
        self.chart_worker = bool(chart_worker)
        self.background_nice = int(background_nice)
        if retrain_every < 0:
            raise ActiveLearnError(f"retrain_every must be >= 0, got {retrain_every!r}.")
        self.session = session
        self.retrain_every = int(retrain_every)
        self.target = float(target)
        self.budget = budget
        self.n_recent = int(n_recent)
        self._keys = key_map(session.dataset.class_names)
        self.classes = session.dataset.class_names
        key_of = {c: k for k, c in self._keys.items()}
        self.class_keys = [key_of.get(c, "") for c in self.classes]
        self.review_key = REVIEW_KEY if REVIEW_KEY not in self._keys else ""
        self._keep_keys = [k for k in KEEP_KEYS if k not in self._keys]
        self._suspects, self._suspect_rows, self._n_reviewed, self._n_suspects = [], {}, 0, 0
        self._lock = threading.RLock()
        self._dash_lock = threading.Lock()  # one dashboard redraw at a time
        # A key's handler runs while a retrain and the dashboard's redraw hold the GIL in other threads; at every
        # store write or read it waits up to one switch interval to get it back. 1 ms instead of CPython's 5 ms
        # keeps those waits short (a kernel-wide setting, only ever lowered).
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        self._pending = None  # a label the store could not take yet: (item, label, shown id)
        self._retrier = None
        self.retry_seconds = float(retry_seconds)
        self._labels_at_last_train = session.n_labels
        self.latencies = []  # seconds from a key or click to the next item's values being set
        self._local = threading.local()  # .own: this thread is inside one of the widget's own verbs
        self._changes_lock = threading.Lock()
        self._changed_ids, self._retrained = set(), False
        self._notice = False  # whether status holds a passing notice (cleared by the next label)
        self._chart_key = None
        self._own_retrain = None  # the retrain thread this widget started last
        self._store_away = False
        self._waiting_pool = False
        self.on_msg(self._on_msg)
        self._follower = _Follower(self)
        session.callbacks.append(self._follower)
        self._wake, self._stop = threading.Event(), threading.Event()
        self.poll_seconds = float(poll_seconds)
        self._poller = threading.Thread(target=_poll, args=(weakref.ref(self), self._wake, self._stop,
                                                            self.poll_seconds, self.background_nice), daemon=True,
                                        name="activelearn-widget-follower")
        self._ready = threading.Event()
        # Ranking off the key path: the retrain ranks with its new model, and a worker ranks the next batch
        # while the person labels the last items of this one (Session.rank_ahead).
        session.rank_on_retrain = True
        self._ahead = threading.Event()
        ranker = threading.Thread(target=_rank_ahead, args=(weakref.ref(self), self._ahead, self._stop,
                                                         self.background_nice),
                                  daemon=True, name="activelearn-widget-rank-ahead")
        ranker.start()
        self._threads = [ranker, self._poller]
        _register_exit_hook()
        _LIVE.add(self)
        if background:
            self.preparing = True
            self.status = "Preparing the pool…"
            threading.Thread(target=self._prepare, daemon=True, name="activelearn-widget-prepare").start()
        else:
            self._prepare(raise_errors=True)
        self._poller.start()

    def _prepare(self, raise_errors=False):
        try:
            offer = self._offer()  # the slow part (the first ranking), without holding the widget's lock
            with self._lock:
                self._set_progress()
                with self._dash_lock:
                    self._refresh_history()
                self._advance(offer)
                if self.status == "Preparing the pool…":
                    self.status = ""
                if not self.session.pool_ready:  # the first items come from a cheap map meanwhile
                    self._waiting_pool = True
                    self._say(MAP_PREPARING, notice=False)
        except Exception:  # noqa: BLE001 - a person sees a sentence, never a traceback
            if raise_errors:
                raise
            self.error = "The first item could not be prepared. Restart the kernel and run the notebook again."
        finally:
            self.preparing = False
            self._ready.set()
            self._ahead.set()

    def wait_ready(self, timeout=None):
        """Block until the first item is on screen (with ``background=True``); returns whether it is."""
        return self._ready.wait(timeout)

    def close(self):
        """Stop following the session, then close the widget."""
        self._stop_threads()
        self.session.rank_on_retrain = False
        try:
            self.session.callbacks.remove(self._follower)
        except ValueError:
            pass
        super().close()

    def _stop_threads(self):
        self._stop.set()
        self._wake.set()
        self._ahead.set()

    # -- the protocol (ipyannotations style) -----------------------------
    def _on_msg(self, _widget, content, _buffers):
        kind = content.get("type")
        item_id = content.get("item_id")
        if kind == "key":
            self.handle_key(content.get("key", ""), item_id=item_id)
        elif kind == "label":
            self.submit(content.get("label"), item_id=item_id)
        elif kind == "skip":
            self.skip(item_id=item_id)
        elif kind == "undo":
            self.undo()
        elif kind == "change":
            self.change_label(content.get("item_id"), content.get("label"))
        elif kind == "retrain":
            self.retrain_in_background()
        elif kind == "mode":
            self.toggle_review()
        elif kind == "keep":
            self.keep(item_id=item_id)
        elif kind == "sync":
            self.resend_state()

    def resend_state(self):
        """Send every value to the view again (it asks once it is drawn).

        A front end that runs the notebook before its page connects (Voila) takes the widget's values once
        and then listens: a value set by a background thread in between (the first item's progress, a
        retrain's dashboard) would otherwise never reach it.
        """
        with self._lock:  # one consistent set: no key press changes the item halfway
            self.send_state()

    def handle_key(self, key, item_id=None):
        """What a key press does: pick a class, skip, or undo. Unknown keys do nothing.

        Returns
        -------
        bool
            Whether the key did something.
        """
        if key == self.review_key and key:
            return self.toggle_review()
        if self.mode == "review":
            if key in self._keys:
                return self.replace_label(self._keys[key], item_id=item_id)
            if key in self._keep_keys:
                return self.keep(item_id=item_id)
            if key in SKIP_KEYS:
                return self.skip(item_id=item_id)
            if key in UNDO_KEYS:
                return self.undo()
            return False
        if key in self._keys:
            return self.submit(self._keys[key], item_id=item_id)
        if key in SKIP_KEYS:
            return self.skip(item_id=item_id)
        if key in UNDO_KEYS:
            return self.undo()
        return False

    def _is_current(self, item_id):
        # A key pressed twice quickly must not label the *next* item with the first press.
        return item_id is None or item_id == self.item.get("id")

    class _Own:
        """Marks this thread as inside one of the widget's own verbs: the callbacks it causes are its own."""

        def __init__(self, widget):
            self.widget = widget

        def __enter__(self):
            self.widget._local.own = True

        def __exit__(self, *exc):
            self.widget._local.own = False

    def _say(self, text, notice=True):
        self.status = text
        self._notice = notice

    def submit(self, label, item_id=None):
        """Label the current item (durably), confirm what was stored, and show the next one."""
        start = time.perf_counter()
        with self._lock:
            if not self.item.get("id") or not self._is_current(item_id):
                return False
            current, title = self.item["id"], self.item.get("title", self.item["id"])
            if self._pending is not None:
                self.error = ("Still waiting for the label store to come back; the previous label is kept here "
                              "and saved as soon as it does.")
                return False
            try:
                with self._Own(self):
                    self.session.label(self._item_key(current), label)
            except StoreUnavailableError as exc:
                self._pending = (self._item_key(current), label, current)
                self.error = (f"{plain_error(exc)} This label is NOT saved yet: it is kept here and retried every "
                              f"{self.retry_seconds:g} s; the item stays on screen until it is saved.")
                self._retrier = threading.Thread(target=self._retry_pending, daemon=True)
                self._retrier.start()
                return False
            except (AlreadyLabeledError, LeasedError):
                self.error = ""
                self._advance()
                self._say(f"Item {title} was labeled elsewhere just now; your \u2018{label}\u2019 was not stored. "
                          "Here is the next item.")
                return False
            except ActiveLearnError as exc:
                self.error = plain_error(exc, "Not stored")
                return False
            self.error = ""
            notice = self.status if self._notice else None
            confirmed = []

            def confirm():  # right after the next item's message: what the person waits for comes first
                if not confirmed:
                    confirmed.append(True)
                    self._stored(current, title, label)

            try:
                self._advance(after_item=confirm)
            finally:  # the label is stored: its confirmation shows even if the next item failed
                confirm()
            if notice is not None and self._notice and self.status == notice:  # a label ends the notice
                self._say("", notice=False)
            self.latencies.append(time.perf_counter() - start)
        self._ahead.set()
        self._maybe_retrain()
        return True

    def _stored(self, item_id, title, label, changed_from=None):
        """Confirm what the store now holds, and keep it in the strip of recent labels."""
        self.confirm = {"id": str(item_id), "title": str(title), "label": str(label),
                        "changed_from": changed_from}
        entry = {"id": str(item_id), "title": str(title), "label": str(label)}
        rest = [e for e in self.recent if e["id"] != entry["id"]]
        if changed_from is None:
            self.recent = ([entry] + rest)[:self.n_recent]
        else:  # a change keeps the label's place in the strip
            self.recent = [entry if e["id"] == entry["id"] else e for e in self.recent]

    def _retry_pending(self):
        """Retry the label the store could not take, until it does; then show the next item."""
        while True:
            time.sleep(self.retry_seconds)
            item_key, label, shown = self._pending
            try:
                with self._Own(self):  # not under the lock: the store may keep it waiting
                    self.session.label(item_key, label)
            except StoreUnavailableError:
                continue
            except ActiveLearnError as exc:  # e.g. someone labeled it meanwhile: say so, move on
                with self._lock:
                    self._pending = None
                    self.error = ""
                    self._advance()
                    self._say(f"{plain_error(exc, 'Your label for ' + display_name(shown) + ' was not stored')} "
                              "Here is the next item.")
                return
            with self._lock:
                self._pending = None
                self.error = ""
                self._say(f"The label store is back: \u2018{label}\u2019 for {display_name(shown)} is saved.")
                self._stored(shown, display_name(shown), label)
                if self.item.get("id") == shown:
                    self._advance()
            self._maybe_retrain()
            return

    def change_label(self, item_id, label):
        """Give an item labeled earlier another class (the strip's click), durably in the store.

        Returns
        -------
        bool
            Whether the store holds the new label.
        """
        with self._lock:
            if item_id is None or label is None:
                return False
            item_id = str(item_id)
            old = next((e["label"] for e in self.recent if e["id"] == item_id), None)
            title = next((e["title"] for e in self.recent if e["id"] == item_id), display_name(item_id))
            if old == str(label):
                return False
            try:
                with self._Own(self):
                    self.session.label(self._item_key(item_id), str(label), overwrite=True)
            except ActiveLearnError as exc:
                self.error = plain_error(exc, f"The label of {title} was not changed")
                return False
            self.error = ""
            self._stored(item_id, title, label, changed_from=old)
            self._set_progress()
        return True

    def skip(self, item_id=None):
        """Skip the current item (it comes back only when nothing else is left; in review mode: the next suspect)."""
        with self._lock:
            if not self.item.get("id") or not self._is_current(item_id):
                return False
            if self.mode == "review":
                if not self.review.get("id"):
                    return False
                self._show_suspect()
                return True
            try:
                with self._Own(self):
                    self.session.skip(self._item_key(self.item["id"]))
            except ActiveLearnError as exc:  # the store is away: nothing skipped, the item stays
                self.error = f"Not skipped: {plain_error(exc)}"
                return False
            self.error = ""
            if self._notice:
                self._say("", notice=False)
            self._advance()
        self._ahead.set()
        return True

    def undo(self):
        """Take back this person's last label (never a simulation's or another annotator's); its item is shown again."""
        with self._lock:
            try:
                with self._Own(self):
                    undone = self.session.undo()
            except ActiveLearnError as exc:  # the store is away: nothing undone
                self.error = f"Not undone: {plain_error(exc)}"
                return False
            if undone is None:
                self._say("Nothing to undo: you have no labels left to take back.")
                return False
            self.error = ""
            shown = str(undone["item_id"])
            title, label = display_name(undone["item_id"]), undone["label"]
            restored = undone.get("restored") or []
            reviewed = undone.get("kind") == "kept" or bool(restored)
            if undone.get("kind") == "kept":
                self._say(f"Undid keeping \u2018{label}\u2019 for {title}: it is to be reviewed again.")
            elif restored:
                self._say(f"Undid the change to \u2018{label}\u2019 for {title}: it has "
                          f"\u2018{restored[-1]}\u2019 again.")
            else:
                self._say(f"Undid \u2018{label}\u2019 for {title}; it is shown again.")
            if restored:
                self.recent = [{**e, "label": restored[-1]} if e["id"] == shown else e for e in self.recent]
            elif undone.get("kind") != "kept":
                self.recent = [e for e in self.recent if e["id"] != shown]
            if self.confirm.get("id") == shown:
                self.confirm = {}
            if self.mode == "review":
                if reviewed and shown in self._suspect_rows:  # that suspect is reviewed again, now
                    on_screen = self.review.get("id")
                    if on_screen in self._suspect_rows and on_screen != shown:  # ... then the one on screen
                        self._suspects.insert(0, self._suspect_rows[on_screen])
                        self._n_reviewed = max(0, self._n_reviewed - 1)
                    self._suspects.insert(0, self._suspect_rows[shown])
                    self._n_reviewed = max(0, self._n_reviewed - 1)
                    self._show_suspect()
            elif not reviewed:
                self._advance()
        return True

    # -- review mode ----------------------------------------------------------
    def toggle_review(self):
        """Switch between labeling new items and reviewing the labels most likely wrong.

        Returns
        -------
        bool
            Whether the mode changed.
        """
        with self._lock:
            if self.mode == "review":
                self.mode, self.review, self._suspects = "label", {}, []
                self._advance()  # the item that was on screen is still first in the queue
                return True
            if self._pending is not None or self.preparing:
                self._say("Review needs the label on screen saved first; try again in a moment.")
                return False
            self.mode = "review"
            self.review = {"text": "Looking for labels that may be wrong (a model is trained without each one)…"}
        threading.Thread(target=self._load_suspects, daemon=True, name="activelearn-widget-suspects").start()
        return True

    def _load_suspects(self):
        s = self.session
        try:
            table = s.suspects()
        except ActiveLearnError:
            with self._lock:
                if self.mode == "review":
                    self.review = {"text": "Nothing to review yet: a label can be checked once every labeled class "
                                           "has at least 2 labels and 2 classes have labels. Press r (or Back to "
                                           "labeling) to label more."}
            return
        except Exception:  # noqa: BLE001 - a person sees a sentence, never a traceback
            with self._lock:
                if self.mode == "review":
                    self.review = {"text": "The review could not be computed; your labels are unchanged. "
                                           "Press r to go back to labeling."}
            return
        # Flagged by cleanlab, or a model trained without the label suggests another class; most doubtful first.
        flagged = table[table["issue"].astype(bool) | (table["suggested"].astype(str) != table["label"].astype(str))]
        rows = [{"id": str(r.item_id), "key": r.item_id, "label": str(r.label), "suggested": str(r.suggested),
                 "score": float(r.score), "annotator": str(r.annotator)} for r in flagged.itertuples()]
        with self._lock:
            if self.mode != "review":
                return
            self._suspects = rows
            self._suspect_rows = {r["id"]: r for r in rows}
            self._n_reviewed, self._n_suspects = 0, len(rows)
            if not rows:
                self.review = {"text": f"No label looks wrong: a model trained without each of the {len(table)} "
                                       "labels not yet reviewed agrees with it, or the disagreement is within what "
                                       "its confidence allows. Press r to go back to labeling."}
                return
            self._show_suspect()

    def _show_suspect(self):
        """Show the next suspect whose label is still the one flagged (and not reviewed meanwhile)."""
        s = self.session
        while self._suspects:
            row = self._suspects.pop(0)
            pos = s.dataset.position(row["key"])
            y = s.y_labeled[pos]
            if y < 0 or s.dataset.class_names[y] != row["label"] or s.is_reviewed(row["key"]):
                continue  # undone, changed or reviewed elsewhere since the table was made
            self._n_reviewed += 1
            who = row["annotator"]
            who = "a simulation" if who == "simulated" else ("you" if who == s.holder else who)
            self.item = _item_payload(s.dataset, row["key"])
            self.review = {"id": row["id"], "title": self.item["title"], "label": row["label"],
                           "suggested": row["suggested"], "annotator": who, "score": row["score"],
                           "position": self._n_reviewed, "total": self._n_suspects,
                           "why": (f"A model trained without this label predicts \u2018{row['suggested']}\u2019; "
                                   f"cleanlab rates the given label's quality {row['score']:.2f} (0 to 1, lowest "
                                   "first). Among all labels, this is one of the most likely to be wrong.")}
            s.record_shown(row["key"])
            return
        done = self._n_suspects
        self.mode, self.review = "label", {}
        self._advance()
        self._say(f"Review done: all {done} doubtful label{'s' if done != 1 else ''} checked. Back to labeling.")

    def keep(self, item_id=None):
        """Review mode: keep the given label of the suspect on screen (recorded; it is not shown again)."""
        with self._lock:
            r = self.review
            if self.mode != "review" or not r.get("id") or not self._is_current(item_id):
                return False
            try:
                with self._Own(self):
                    self.session.keep_label(self._item_key(r["id"]))
            except ActiveLearnError as exc:
                self.error = plain_error(exc, "Not recorded")
                return False
            self.error = ""
            self.confirm = {"id": r["id"], "title": r["title"], "label": r["label"], "kept": True}
            self._show_suspect()
        return True

    def replace_label(self, label, item_id=None):
        """Review mode: replace the suspect's label with ``label`` (durable, undoable); the model retrains on it."""
        label = str(label)
        with self._lock:
            r = self.review
            if self.mode != "review" or not r.get("id") or not self._is_current(item_id):
                return False
            if label == r["label"]:
                return self.keep(item_id=item_id)
            try:
                with self._Own(self):
                    self.session.relabel(self._item_key(r["id"]), label)
            except ActiveLearnError as exc:
                self.error = plain_error(exc, "The label was not changed")
                return False
            self.error = ""
            self.confirm = {"id": r["id"], "title": r["title"], "label": label, "changed_from": r["label"]}
            entry = {"id": r["id"], "title": r["title"], "label": label}
            self.recent = ([entry] + [e for e in self.recent if e["id"] != r["id"]])[:self.n_recent]
            self._show_suspect()
        if self.session.trainer and not self.session.training:
            self.retrain_in_background()  # the model learns the corrected label now
        return True

    def _item_key(self, shown_id):
        return self.session.dataset.item_id(self.session.dataset.position(shown_id))

    # -- following the session -------------------------------------------
    def _changed(self, item_ids, retrained=False):
        """A session callback: note what changed and wake the follower (never blocks the caller)."""
        if getattr(self._local, "own", False):
            return  # this widget's own verb: it shows the result itself
        if retrained and threading.current_thread() is self._own_retrain:
            retrained = False  # the widget's own retrain: _trained redraws the dashboard
            if not item_ids:
                return
        with self._changes_lock:
            self._changed_ids.update(str(i) for i in item_ids)
            self._retrained = self._retrained or retrained
        self._wake.set()

    def sync(self, refresh=True):
        """Catch up with the session: read other sessions' labels (``refresh``), then show what changed.

        The follower thread does this every ``poll_seconds`` and whenever the
        session reports a change; tests (or ``poll_seconds=0``) call it directly.
        If the item on screen was labeled elsewhere, the view moves on and says so.
        """
        if self._waiting_pool and self.session.pool_ready:
            with self._lock:  # the status is checked and said at once (a key press may say a notice meanwhile)
                self._waiting_pool = False
                if self.status == MAP_PREPARING:
                    self._say("The pool's map is ready: typical items now come from it.", notice=False)
        if refresh:
            try:
                self.session.refresh()  # not under the widget's lock: the store may keep it waiting
                if self._store_away:
                    with self._lock:
                        self._store_away = False
                        if self.status.startswith("The label store cannot be read"):
                            self._say("", notice=False)
            except ActiveLearnError:
                if not self._store_away:
                    with self._lock:
                        self._store_away = True
                        self._say("The label store cannot be read right now; other people's labels show up "
                                  "once it is back.")
        with self._changes_lock:
            changed, self._changed_ids = self._changed_ids, set()
            retrained, self._retrained = self._retrained, False
        if not self._ready.is_set():
            with self._changes_lock:  # the first offer is still being prepared: keep the news for later
                self._changed_ids |= changed
                self._retrained = self._retrained or retrained
            return
        if changed:
            self._follow_labels(changed)
        if retrained:
            self._refresh_guess()
        if changed or retrained:
            with self._dash_lock:  # not the widget's lock: a key press never waits for a redraw
                self._refresh_history()

    def _follow_labels(self, changed):
        s = self.session
        with self._lock:
            if self.mode == "review":  # the suspect on screen is checked when it is acted on
                self._set_progress()
                return
            current = self.item.get("id")
            if current is not None and current in changed and self._pending is None:
                key = self._item_key(current)
                if not s.is_open(key):
                    title = self.item.get("title", current)
                    by = self._who_labeled(key)
                    self._advance()
                    self._say(f"Item {title} was {by}; here is the next item." if by else
                              f"Item {title} was set aside elsewhere; here is the next item.")
            elif current is None and not self.preparing:  # nothing was left; an undo elsewhere may have reopened one
                self._advance()
            # The strip shows what the store holds: a label undone or changed elsewhere follows.
            kept = []
            for e in self.recent:
                if e["id"] in changed:
                    y = s.y_labeled[s.dataset.position(self._item_key(e["id"]))]
                    if y < 0:
                        continue
                    e = {**e, "label": s.dataset.class_names[y]}
                kept.append(e)
            if kept != self.recent:
                self.recent = kept
            self._set_progress()

    def _who_labeled(self, key):
        """'labeled ‘7’ by bob' for an item labeled elsewhere, or None if it holds no label."""
        labels = self.session.labels()
        rows = labels[labels["item_id"].astype(str) == str(key)]
        if not len(rows):
            return None
        row = rows.iloc[-1]
        who = str(row["annotator"])
        who = ("by a simulation" if who == "simulated" else "by you, from another cell" if who == self.session.holder
               else f"by {who}")
        return f"labeled \u2018{row['label']}\u2019 {who}"

    # -- showing the next item -------------------------------------------
    def _offer(self):
        try:
            return self.session.next_offer()
        except ActiveLearnError as exc:
            self.error = plain_error(exc, "Finding the next item")
            return _NO_OFFER

    def _advance(self, offer=None, after_item=None):
        """Show the item the session offers next (it decides which, and why).

        ``after_item``: called right after the item's own message, before the reasons and the progress.
        """
        offer = self._offer() if offer is None else offer
        if offer is _NO_OFFER:
            return
        if offer is None:
            self._set_progress()
            self.item = {}
            self.info = {}
            self._say("All items are labeled.", notice=False)
            return
        info = {"strategy": offer.strategy, "source": offer.source, "model_version": offer.model_version,
                "rank": offer.rank, "queue": offer.queue, "guesses": [list(g) for g in offer.guesses],
                "score": offer.score, "score_name": offer.score_name}
        self._show(offer.item_id, info, after_item)

    def _set_progress(self):
        s = self.session
        self.progress = {"n_labels": s.n_labels, "budget": self.budget,
                         "n_pool": int(s.pool_mask(include_skipped=True).sum())}

    def _show(self, item_id, info, after_item=None):
        """Set every value the view needs for ``item_id`` and start its label's timer.

        The item goes first (what the person waits for), then ``after_item()`` (e.g. the confirmation of
        the label just given), then the reasons and the progress.
        """
        s = self.session
        item = _item_payload(s.dataset, item_id)
        long_text = item.get("kind") == "text" and len(item["text"]) > LONG_TEXT and s.dataset.texts is not None
        if not long_text:
            self.item = item  # first: what the person waits for; the rest follows within the same handler
            if after_item is not None:
                after_item()
        info = {"guesses": [], "score": None, "score_name": None, "source": "strategy", "rank": None,
                "queue": None, **info}
        if not info["guesses"] and s.model is not None:  # picked before this model: this model's guesses
            try:
                version, guesses = s.guesses(item_id, with_version=True)
                info["guesses"], info["guess_version"] = [list(g) for g in guesses], version
            except Exception:  # noqa: BLE001 - the item is on screen already: it shows no guess, never an error
                pass
        info["calibrated"] = bool(info["guesses"]) and all(p is not None for _, p in info["guesses"])
        info["why"] = why_text(info["strategy"], info["source"], info["score"], info["score_name"],
                               info["guesses"], info["model_version"], info["rank"], info["queue"])
        if long_text and info["guesses"]:  # the passage most like the guessed class's texts, marked
            guess = info["guesses"][0][0]
            examples = s.examples_of(guess)
            same = s.dataset.positions(examples) if examples else []
            if len(same):
                span = focus_passage(item["text"], [s.dataset.texts[p] for p in same])
                if span is not None:
                    item.update(focus=span, focus_reason=f"most like the texts labeled {guess!r}")
        if long_text:
            self.item = item
            if after_item is not None:
                after_item()
        self.info = info
        self._set_progress()
        s.record_shown(item_id)

    # -- background training (the session's worker) --------------------
    def _maybe_retrain(self):
        if (self.retrain_every and self.session.trainer
                and self.session.n_labels - self._labels_at_last_train >= self.retrain_every):
            self.retrain_in_background()

    def retrain_in_background(self):
        """Start a retrain in the session's worker unless one is running; labeling goes on meanwhile.

        Returns
        -------
        threading.Thread or None
        """
        with self._lock:
            s = self.session
            if not s.trainer:
                self._say("The team's trainer session retrains; this one labels from its ranking.")
                return None
            if s.training or s.n_labels == 0:
                return None
            self._labels_at_last_train = s.n_labels
            if self.chart_worker:
                start_chart_worker()  # its imports run while the model trains, not when the charts are due
            self.training = True
            if not self._notice:  # a notice the person has not acted on yet stays ("Review done", …)
                self._say(f"Training on {s.n_labels} labels…", notice=False)
            thread = s.retrain_in_background(on_done=self._trained)
            self._own_retrain = thread  # its end redraws the dashboard in _trained: the follower need not
            if thread is None:
                self.training = False
            else:
                lower_thread_priority(thread.native_id, self.background_nice)
            return thread

    def wait_for_training(self, timeout=None):
        """Block until the running retrain (if any) has finished."""
        self.session.wait_for_training(timeout)

    def _trained(self, row, error):
        # Called from the worker thread: only widget values change here (never display).
        try:
            self._show_trained(row, error)
        finally:  # even if the dashboard could not be redrawn: the view never says "training" for good
            self.training = False

    def _show_trained(self, row, error):
        if error is not None:
            self.error = "Retraining failed; the previous model is kept and no label is lost."
            with self._lock:
                if not self._notice:
                    self._say("", notice=False)
        else:
            self.error = ""
            acc = row["accuracy"]
            with self._lock:  # checked and said at once: a notice said meanwhile is not overwritten
                if not self._notice:  # a notice the person has not acted on yet stays (the dashboard shows the model)
                    self._say(f"Model v{row['model_version']} trained on {row['n_labels']} labels in "
                              f"{row['train_seconds']:.1f} s" + ("" if acc is None else f"; test accuracy {acc:.1%}"),
                              notice=False)
            self._refresh_guess()
            try:
                with self._dash_lock:  # not the widget's lock: a key press meanwhile never waits for the redraw
                    self._refresh_history()
            except Exception:  # noqa: BLE001 - the model is trained and in use; only its dashboard is behind
                self.error = ("The dashboard could not be updated after this retrain; the new model is in use and "
                              "no label is lost. It updates again after the next retrain.")

    def _refresh_guess(self):
        """After a retrain: the item on screen shows the new model's guess (why it was picked stays as it was).

        The guess is computed without the widget's lock (a key press never waits for it) and set only if the
        same item is still on screen, outside review.
        """
        s = self.session
        with self._lock:
            shown, info = self.item.get("id"), self.info
        if not shown or not info or self.mode == "review":
            return
        try:
            version, guesses = s.guesses(self._item_key(shown), with_version=True)
        except Exception:  # noqa: BLE001 - the guess picked with the item stays; never an exception text
            return
        if not guesses:
            return
        with self._lock:
            if self.item.get("id") != shown or self.mode == "review" or not self.info:
                return  # the person moved on meanwhile: the next item came with its own guess
            if (self.info.get("guess_version") or 0) > version:
                return  # a newer model's guess is on screen already
            new = {**self.info, "guesses": [list(g) for g in guesses], "guess_version": version,
                   "calibrated": all(p is not None for _, p in guesses)}
            if new != self.info:
                self.info = new

    # -- the dashboard ------------------------------------------------------
    def _refresh_history(self):
        s = self.session
        h = s.history
        records = []
        for r in h.itertuples():
            acc = r.accuracy if not np.isnan(r.accuracy) else r.audit_accuracy  # audit estimate without test
            records.append({"n_labels": int(r.n_labels), "accuracy": None if np.isnan(acc) else float(acc),
                            "hours": float(r.labeling_seconds) / 3600.0,
                            "cost": None if np.isnan(r.cost) else float(r.cost), "model_version": int(r.model_version)})
        if records != self.history:
            self.history = records
        secs = seconds_per_label(s.labels()["seconds"], last=20)
        stats = {"median_seconds": secs["median"], "median_seconds_last_20": secs["median_last_20"],
                 "target": self.target, "projected_labels": None, "has_test": bool(s.test_mask.any())}
        if not stats["has_test"] and len(h) and h["audit_n"].iloc[-1] > 0:
            last = h.iloc[-1]
            stats["audit"] = {"n": int(last.audit_n), "accuracy": float(last.audit_accuracy),
                              "low": float(last.audit_low), "high": float(last.audit_high)}
        curve = self._curve(h)
        projection = self._projection(curve)
        stats["projected_labels"] = projection["labels"]
        self.stats = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in stats.items()}
        advice, savings = self._advice_and_savings(h)
        dashboard = self._dashboard(h, curve, projection, stats)
        dashboard.update(advice=self._advice_words(advice), saved=self._saved_words(savings))
        self.dashboard = dashboard
        self._draw_charts(h, curve, projection, advice, savings)

    def _advice_and_savings(self, h):
        """The session's stopping advice and live savings against random (None where they cannot be computed)."""
        s, advice, savings = self.session, None, None
        if not len(h):
            return None, None
        try:
            advice = s.stopping(target=self.target)
        except Exception:  # noqa: BLE001 - advice is optional; the dashboard never breaks on it
            advice = None
        if s.audit_share > 0:
            try:
                savings = s.savings()
            except Exception:  # noqa: BLE001
                savings = None
        return advice, savings

    @staticmethod
    def _advice_words(advice):
        if advice is None:
            return None
        finite = lambda v: v is not None and np.isfinite(v)  # noqa: E731
        return {"stop": bool(advice.stop), "reason": str(advice.reason),
                "labels_to_target": float(advice.labels_to_target) if finite(advice.labels_to_target) else None,
                "minutes_to_target": float(advice.minutes_to_target) if finite(advice.minutes_to_target) else None}

    def _saved_words(self, savings):
        """Labels saved against random sampling, in words (live demo mode: ``audit_share`` > 0).

        A value with its interval where the random audit items' curve reaches the session's accuracy; only the
        bound the data support where it does not (``labels_saved`` NaN, see :mod:`activelearn.savings`):
        "at least N" when the session is above the whole random curve, "at most N" when below its start.
        """
        if self.session.audit_share <= 0:
            return None
        last = savings.iloc[-1] if savings is not None and len(savings) else None
        if last is None:
            saved, lo, hi = np.nan, np.nan, np.nan
        else:
            saved, lo, hi = (float(last[c]) for c in ("labels_saved", "labels_saved_low", "labels_saved_high"))
        at = "" if last is None else f"at {int(last['n_labels'])} labels, from the random audit items' own learning curve"
        out = {"n": None, "low": None if not np.isfinite(lo) else lo, "high": None if not np.isfinite(hi) else hi}
        if np.isfinite(saved):
            band = (f" (90% interval {lo:,.0f} to {hi:,.0f})" if np.isfinite(lo) and np.isfinite(hi) else
                    f" (90% interval from {lo:,.0f})" if np.isfinite(lo) else "")
            if saved >= 0.5:
                text = f"Labels saved against random sampling: about {saved:,.0f}{band}, {at}."
            else:
                text = (f"No labels saved against random sampling yet: random sampling would have reached this "
                        f"accuracy with about {-saved:,.0f} fewer labels{band}, {at}.")
            return {**out, "n": saved, "text": text}
        if np.isfinite(lo) and np.isinf(hi) and lo > 0:  # above the whole random curve
            return {**out, "text": f"Labels saved against random sampling: at least {lo:,.0f} (this accuracy is "
                                   f"above the whole random curve measured so far), {at}."}
        if np.isfinite(hi) and hi < 0:  # below the random curve's start: random would have needed fewer
            return {**out, "text": f"No labels saved against random sampling yet: random sampling would have "
                                   f"needed at least {-hi:,.0f} fewer labels, {at}."}
        if np.isfinite(hi) and np.isfinite(lo) and lo > -float(last["n_labels"]):
            return {**out, "text": f"Labels saved against random sampling: between {lo:,.0f} and {hi:,.0f} "
                                   f"(90% interval), {at}."}
        if np.isfinite(hi):
            return {**out, "text": f"Labels saved against random sampling: at most {hi:,.0f}, {at}."}
        n_audit = int(self.session.audit_mask.sum())
        return {**out, "text": f"Labels saved against random sampling: not known yet (the learning curve of the "
                               f"{n_audit} random audit labels cannot tell yet how many random labels this "
                               "accuracy needs)"}

    def _curve(self, h):
        """The accuracy curve the dashboard shows: held-out test accuracy, else the audit estimate, with 95% bands."""
        test = h.dropna(subset=["accuracy"])
        if len(test):
            n = test["n_test"].to_numpy(dtype=float)
            acc = test["accuracy"].to_numpy(dtype=float)
            bands = [wilson_interval(int(round(a * k)), int(k)) if k > 0 else (np.nan, np.nan)
                     for a, k in zip(acc, n)]
            return {"source": "test", "rows": test, "accuracy": acc, "n": n,
                    "low": np.array([b[0] for b in bands]), "high": np.array([b[1] for b in bands])}
        audit = h.dropna(subset=["audit_accuracy"])
        audit = audit[audit["audit_n"] > 0]
        if len(audit):
            return {"source": "audit", "rows": audit, "accuracy": audit["audit_accuracy"].to_numpy(dtype=float),
                    "n": audit["audit_n"].to_numpy(dtype=float), "low": audit["audit_low"].to_numpy(dtype=float),
                    "high": audit["audit_high"].to_numpy(dtype=float)}
        return None

    def _projection(self, curve):
        """Labels expected to reach the target, and the reason when there is no number."""
        from ..metrics import labels_to_target

        target = f"{100 * self.target:.0f}%"
        if not len(self.session.history):
            how = f"it retrains every {self.retrain_every} labels" if self.retrain_every else "press Retrain now"
            return {"labels": None, "text": f"needs a first model ({how})"}
        if curve is None:
            return {"labels": None, "text": "needs accuracy measurements: no test or audit labels yet"}
        n = curve["rows"]["n_labels"].to_numpy(dtype=float)
        reached = labels_to_target(n, curve["accuracy"], self.target)
        if np.isfinite(reached):
            return {"labels": float(reached), "reached": True,
                    "text": f"target {target} already reached at {reached:.0f} labels"}
        if len(n) < 3:
            return {"labels": None, "text": f"needs 3 retrains to project ({len(n)} so far)"}
        proj = projected_labels_to_target(n, curve["accuracy"], self.target)
        if not np.isfinite(proj):
            return {"labels": None, "text": "no projection: accuracy is not rising steadily yet"}
        if proj <= max(n[-1], self.session.n_labels):  # the curve says "by now", the measurements do not
            return {"labels": None, "text": f"any time now: the fitted curve is at {target}, the last measurement "
                                            "not yet"}
        more = max(0.0, proj - self.session.n_labels)
        return {"labels": float(proj), "text": f"about {proj:,.0f} labels to reach {target} ({more:,.0f} more)"}

    def _dashboard(self, h, curve, projection, stats):
        s = self.session
        # the version of the history this redraw reads (a retrain may end meanwhile: its redraw follows)
        version = int(h["model_version"].iloc[-1]) if len(h) else int(s.model_version)
        d = {"model_version": version, "n_labels": int(s.n_labels), "target": self.target,
             "projection": projection["text"], "projected_labels": projection["labels"],
             "seconds_per_label": stats["median_seconds_last_20"], "accuracy": None, "source": None}
        if curve is not None:
            i = -1
            d.update(source=curve["source"], accuracy=float(curve["accuracy"][i]), n_eval=int(curve["n"][i]),
                     low=float(curve["low"][i]), high=float(curve["high"][i]),
                     at_labels=int(curve["rows"]["n_labels"].iloc[i]))
            if curve["source"] == "test":
                d["title"] = "Held-out test accuracy"
                d["interval"] = (f"95% interval {100 * d['low']:.0f}–{100 * d['high']:.0f}% "
                                 f"on {d['n_eval']} test items")
            else:
                d["title"] = "Audit estimate of accuracy"
                d["interval"] = (f"95% interval {100 * d['low']:.0f}–{100 * d['high']:.0f}% "
                                 f"on {d['n_eval']} random items")
        else:
            d["title"] = "Held-out test accuracy" if stats["has_test"] else "Accuracy"
            d["interval"] = ("measured after the first retrain" if stats["has_test"] else
                             "unknown until audit items are labeled (one in ten shown)")
        d["trained_on"] = int(h["n_labels"].iloc[-1]) if len(h) else 0  # the count at the model, not the live one
        if len(h):
            cost = h["cost"].iloc[-1]
            d["cost"] = None if not np.isfinite(cost) else float(cost)
            d["hours"] = float(h["labeling_seconds"].iloc[-1]) / 3600.0
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}

    def _draw_charts(self, h, curve, projection, advice=None, savings=None):
        s = self.session
        has_cost = s.cost_per_hour is not None or s.cost_per_label is not None
        key = (len(h), int(h["model_version"].iloc[-1]) if len(h) else 0, self.target, has_cost,
               projection["labels"], None if curve is None else curve["source"], advice is not None,
               savings is not None)
        if key == self._chart_key:
            return
        self._chart_key = key
        if curve is None:
            self.charts = {}
            return
        from ._charts import render_charts

        rows = curve["rows"]
        n = rows["n_labels"].to_numpy(dtype=float)
        proj = None
        if projection["labels"] is not None and not projection.get("reached"):
            proj = (projection["labels"], self.target)
        what = "test" if curve["source"] == "test" else "audit"
        baseline = band = None
        if savings is not None and len(savings) and np.isfinite(savings["random_accuracy"]).any():
            ok = np.isfinite(savings["random_accuracy"].to_numpy(dtype=float))
            sv = savings[ok]
            baseline = {"x": sv["n_labels"].to_numpy(dtype=float), "accuracy": sv["random_accuracy"].to_numpy(float),
                        "low": sv["random_low"].to_numpy(float), "high": sv["random_high"].to_numpy(float),
                        "label": "random sampling (estimated from the audit items)"}
        if advice is not None and len(advice.projection):
            pr = advice.projection
            pr = pr[pr["n_labels"] <= max(2 * n[-1], n[-1] + 50)]  # near ahead: the measured curve stays readable
            band = {"x": pr["n_labels"].to_numpy(float), "accuracy": pr["accuracy"].to_numpy(float),
                    "low": pr["low"].to_numpy(float), "high": pr["high"].to_numpy(float)}
            proj = None  # the advisor's projection with its band replaces the single dotted segment
        # {name: (args, kwargs) of accuracy_chart}: drawn in the chart worker process, off the kernel's GIL
        specs = {"labels": ((n, curve["accuracy"], curve["low"], curve["high"]),
                            dict(xlabel="labels", title=f"Accuracy ({what}) vs labels", target=self.target,
                                 projection=proj, xmax_hint=n[-1] + max(self.retrain_every, 1), baseline=baseline,
                                 band=band, label="this session (active)" if baseline is not None else None))}
        if has_cost:
            x, xlabel, title = rows["cost"].to_numpy(dtype=float), "cost", f"Accuracy ({what}) vs cost"
        else:
            x = rows["labeling_seconds"].to_numpy(dtype=float) / 3600.0
            xlabel, title = "hours spent labeling", f"Accuracy ({what}) vs hours"
        ok = np.isfinite(x)
        if ok.any():
            specs["cost"] = ((x[ok], curve["accuracy"][ok], curve["low"][ok], curve["high"][ok]),
                             dict(xlabel=xlabel, title=title, target=self.target, xmax_hint=x[ok][-1] * 1.2))
        self.charts = render_charts(specs, worker=self.chart_worker)

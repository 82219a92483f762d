"""A keyboard-driven labeling widget (anywidget) over a :class:`~activelearn.Session`.

The view is a thin layer: it renders the current item, sends key presses and
clicks to Python, and draws the live dashboard from synced values. All state
lives in the session and its store. Retraining runs in a background thread;
from that thread only widget values are changed (never ``display``), as
ipywidgets #3468 and ipykernel #1450 require.
"""

import base64
import threading
import time
from pathlib import Path

import anywidget
import numpy as np
import traitlets

from ..exceptions import ActiveLearnError, StoreUnavailableError
from ..metrics import projected_labels_to_target, seconds_per_label

__all__ = ["LabelingWidget", "key_map"]

_STATIC = Path(__file__).parent / "static"
SKIP_KEYS = ("s", "ArrowRight")
UNDO_KEYS = ("u", "Backspace", "ArrowLeft")
_CLASS_KEYS = list("1234567890") + [c for c in "abcdefghijklmnopqrtvwxyz"]
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


def _item_payload(dataset, item_id):
    shown = dataset.render(item_id)
    payload = {"id": str(item_id), "title": str(item_id)}
    if isinstance(shown, dict) and isinstance(shown.get("image"), (bytes, bytearray)):  # image with a caption
        payload.update(kind="image", src="data:image/png;base64," + base64.b64encode(shown["image"]).decode("ascii"),
                       title=str(shown.get("caption", item_id)))
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

    Notes
    -----
    Keys: a class named by one key (a digit, ``y``, ``n``) is that key; other
    classes get ``1``..``9``, ``0`` then letters (shown on the buttons);
    ``s`` or Right skips; ``u``, Backspace or Left undoes. They work once the
    widget has been clicked, wherever the mouse is, and do not reach
    JupyterLab's shortcuts while the widget has focus.
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
    history = traitlets.List().tag(sync=True)
    stats = traitlets.Dict().tag(sync=True)

    def __init__(self, session, retrain_every=10, target=0.95, budget=None, retry_seconds=2.0, **kwargs):
        super().__init__(**kwargs)
        if retrain_every < 0:
            raise ActiveLearnError(f"retrain_every must be >= 0, got {retrain_every!r}.")
        self.session = session
        self.retrain_every = int(retrain_every)
        self.target = float(target)
        self.budget = budget
        self._keys = key_map(session.dataset.class_names)
        self.classes = session.dataset.class_names
        key_of = {c: k for k, c in self._keys.items()}
        self.class_keys = [key_of.get(c, "") for c in self.classes]
        self._lock = threading.RLock()
        self._pending = None  # a label the store could not take yet: (item, label, shown id)
        self._retrier = None
        self.retry_seconds = float(retry_seconds)
        self._labels_at_last_train = session.n_labels
        self.latencies = []  # seconds from a key or click to the next item's values being set
        self.on_msg(self._on_msg)
        self._refresh_history()
        self._advance()

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
        elif kind == "retrain":
            self.retrain_in_background()

    def handle_key(self, key, item_id=None):
        """What a key press does: pick a class, skip, or undo. Unknown keys do nothing.

        Returns
        -------
        bool
            Whether the key did something.
        """
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

    def submit(self, label, item_id=None):
        """Label the current item (durably) and show the next one."""
        start = time.perf_counter()
        with self._lock:
            if not self.item.get("id") or not self._is_current(item_id):
                return False
            current = self.item["id"]
            if self._pending is not None:
                self.error = ("Still waiting for the label store to come back; the previous label is kept here "
                              "and saved as soon as it does.")
                return False
            try:
                self.session.label(self._item_key(current), label)
            except StoreUnavailableError as exc:
                self._pending = (self._item_key(current), label, current)
                self.error = (f"{exc} This label is NOT saved yet: it is kept here and retried every "
                              f"{self.retry_seconds:g} s; the item stays on screen until it is saved.")
                self._retrier = threading.Thread(target=self._retry_pending, daemon=True)
                self._retrier.start()
                return False
            except ActiveLearnError as exc:
                self.error = str(exc)
                return False
            self.error = ""
            self._advance()
            self.latencies.append(time.perf_counter() - start)
        self._maybe_retrain()
        return True

    def _retry_pending(self):
        """Retry the label the store could not take, until it does; then show the next item."""
        while True:
            time.sleep(self.retry_seconds)
            item_key, label, shown = self._pending
            try:
                self.session.label(item_key, label)
            except StoreUnavailableError:
                continue
            except ActiveLearnError as exc:  # e.g. someone labeled it meanwhile: say so, move on
                with self._lock:
                    self._pending = None
                    self.error = str(exc)
                    self._advance()
                return
            with self._lock:
                self._pending = None
                self.error = ""
                self.status = f"The label store is back: {label!r} for {shown} is saved."
                if self.item.get("id") == shown:
                    self._advance()
            self._maybe_retrain()
            return

    def skip(self, item_id=None):
        """Skip the current item (it comes back only when nothing else is left)."""
        with self._lock:
            if not self.item.get("id") or not self._is_current(item_id):
                return False
            try:
                self.session.skip(self._item_key(self.item["id"]))
            except ActiveLearnError as exc:  # the store is away: nothing skipped, the item stays
                self.error = f"Not skipped: {exc}"
                return False
            self.error = ""
            self._advance()
        return True

    def undo(self):
        """Take back the last label; its item is shown again."""
        with self._lock:
            try:
                undone = self.session.undo()
            except ActiveLearnError as exc:  # the store is away: nothing undone
                self.error = f"Not undone: {exc}"
                return False
            if undone is None:
                self.status = "Nothing to undo."
                return False
            self.error = ""
            self.status = f"Undid {undone['label']!r} for {undone['item_id']}."
            self._advance()
        return True

    def _item_key(self, shown_id):
        return self.session.dataset.item_id(self.session.dataset.position(shown_id))

    # -- showing the next item -------------------------------------------
    def _advance(self):
        """Show the item the session offers next (it decides which, and why)."""
        try:
            offer = self.session.next_offer()
        except ActiveLearnError as exc:
            self.error = str(exc)
            return
        if offer is None:
            self._set_progress()
            self.item = {}
            self.info = {}
            self.status = "All items are labeled."
            return
        info = {"strategy": offer.strategy, "model_version": offer.model_version, "rank": offer.rank,
                "queue": offer.queue, "guesses": [list(g) for g in offer.guesses], "score": offer.score,
                "score_name": offer.score_name}
        self._show(offer.item_id, info)

    def _set_progress(self):
        s = self.session
        self.progress = {"n_labels": s.n_labels, "budget": self.budget,
                         "n_pool": int(s.pool_mask(include_skipped=True).sum())}

    def _show(self, item_id, info):
        """Set every value the view needs for ``item_id`` and start its label's timer."""
        s = self.session
        self._set_progress()
        info = {"guesses": [], "score": None, "score_name": None, **info}
        if not info["guesses"] and s.model is not None:
            proba = s.predict_proba([item_id])[0]
            info["guesses"] = [[s.dataset.class_names[i], float(proba[i])] for i in np.argsort(-proba)[:3]]
        self.info = info
        item = _item_payload(s.dataset, item_id)
        if item.get("kind") == "text" and len(item["text"]) > LONG_TEXT and info["guesses"] \
                and s.dataset.texts is not None:
            guess = info["guesses"][0][0]
            same = s._state.examples_of(s.dataset.class_names.index(guess))
            if same:
                span = focus_passage(item["text"], [s.dataset.texts[p] for p in same])
                if span is not None:
                    item.update(focus=span, focus_reason=f"most like the texts labeled {guess!r}")
        self.item = item
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
            if s.training or s.n_labels == 0:
                return None
            self._labels_at_last_train = s.n_labels
            self.training = True
            self.status = f"Training on {s.n_labels} labels…"
            thread = s.retrain_in_background(on_done=self._trained)
            if thread is None:
                self.training = False
            return thread

    def wait_for_training(self, timeout=None):
        """Block until the running retrain (if any) has finished."""
        self.session.wait_for_training(timeout)

    def _trained(self, row, error):
        # Called from the worker thread: only widget values change here (never display).
        if error is not None:
            self.error = f"Retraining failed, the previous model is kept and no label is lost: {error}"
            self.status = ""
        else:
            self.error = ""
            acc = row["accuracy"]
            self.status = (f"Model v{row['model_version']} trained on {row['n_labels']} labels in "
                           f"{row['train_seconds']:.1f} s" + ("" if acc is None else f"; test accuracy {acc:.1%}"))
            self._refresh_history()
        self.training = False

    def _refresh_history(self):
        s = self.session
        h = s.history
        records = []
        for r in h.itertuples():
            acc = r.accuracy if not np.isnan(r.accuracy) else r.audit_accuracy  # audit estimate without test
            records.append({"n_labels": int(r.n_labels), "accuracy": None if np.isnan(acc) else float(acc),
                            "hours": float(r.labeling_seconds) / 3600.0,
                            "cost": None if np.isnan(r.cost) else float(r.cost), "model_version": int(r.model_version)})
        self.history = records
        secs = seconds_per_label(s.labels()["seconds"], last=20)
        stats = {"median_seconds": secs["median"], "median_seconds_last_20": secs["median_last_20"],
                 "target": self.target, "projected_labels": None, "has_test": bool(s.test_mask.any())}
        if not stats["has_test"] and len(h) and h["audit_n"].iloc[-1] > 0:
            last = h.iloc[-1]
            stats["audit"] = {"n": int(last.audit_n), "accuracy": float(last.audit_accuracy),
                              "low": float(last.audit_low), "high": float(last.audit_high)}
        valid = h.dropna(subset=["accuracy"])
        if len(valid):
            proj = projected_labels_to_target(valid["n_labels"], valid["accuracy"], self.target)
            stats["projected_labels"] = None if not np.isfinite(proj) else float(proj)
        self.stats = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in stats.items()}

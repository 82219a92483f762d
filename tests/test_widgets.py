"""Widget tests without a browser: keys and buttons through the widget's own handlers."""

import os
import sqlite3
import sys
import threading
import time

import numpy as np
import pytest

import activelearn as al
from activelearn.widgets import LabelingWidget, key_map
from conftest import true_label


@pytest.fixture
def widget(session_factory):
    return LabelingWidget(session_factory(), retrain_every=0)


# What a person presses on the blobs fixture (classes "ant", "bee", "cat"): the buttons show keys 1, 2, 3
# in class order. Written down here from the class order, never read from the widget.
BLOB_CLASSES = ["ant", "bee", "cat"]
BLOB_KEY = {"ant": "1", "bee": "2", "cat": "3"}
BLOB_CLASS = {"1": "ant", "2": "bee", "3": "cat"}


def stored(session):
    """The labels in the store, in the order given: [(item_id, label)]."""
    return [tuple(r) for r in session.labels()[["item_id", "label"]].values.tolist()]


def press_true(widget, n, pressed):
    """A person labels the next ``n`` blob items right, by key; each (item, class) goes to ``pressed``."""
    for _ in range(n):
        meant = true_label(widget.session.dataset, widget.item["id"])
        press(widget, BLOB_KEY[meant], pressed, meant)


def press(widget, key, pressed, meant):
    """A person presses ``key`` on the item shown, meaning class ``meant``; (item, meant) goes to ``pressed``."""
    shown = widget.item["id"]
    assert widget.handle_key(key, item_id=shown), f"key {key!r} did nothing on {shown}"
    pressed.append((shown, meant))
    return shown


def test_blob_buttons_show_the_keys_a_person_presses(widget, blobs):
    assert blobs.classes == BLOB_CLASSES  # the expectation above is written for this class order
    assert widget.classes == BLOB_CLASSES and widget.class_keys == ["1", "2", "3"]  # the hints on the buttons


def test_key_map_numbers_then_letters():
    km = key_map([f"c{i}" for i in range(13)])
    assert list(km)[:11] == list("1234567890a") and km["1"] == "c0" and km["0"] == "c9"
    assert not {"s", "u", "r", "k"} & set(km)  # skip, undo, review, keep
    many = key_map([f"class {i}" for i in range(40)])
    assert len(many) == 32 and "class 39" not in many.values()  # the rest are labeled with buttons


def test_key_map_binds_digit_classes_to_their_own_keys():
    # what a person presses: the digit they see, never its position in the class list
    assert key_map([str(d) for d in range(10)]) == {str(d): str(d) for d in range(10)}
    assert key_map(["3", "1", "2"]) == {"3": "3", "1": "1", "2": "2"}
    assert key_map(["y", "n"]) == {"y": "y", "n": "n"}
    # mixed: one-key classes keep their key; the others skip the keys already taken and skip/undo
    km = key_map(["1", "cat", "dog", "s"])
    assert km["1"] == "1" and km["2"] == "cat" and km["3"] == "dog" and km["4"] == "s"
    assert "s" not in km and "u" not in km


def test_digit_keys_store_the_digit_pressed(digits, tmp_path):
    w = LabelingWidget(al.Session(digits, store=tmp_path / "d.db"), retrain_every=0)
    pressed = []
    for _ in range(12):
        item = w.item["id"]
        digit = str(digits.y[digits.position(item)])  # the digit a person sees
        assert w.handle_key(digit, item_id=item)
        pressed.append((item, digit))
    stored = w.session.labels()[["item_id", "label"]]
    assert [tuple(r) for r in stored.values.tolist()] == pressed


def test_many_classes_get_buttons_without_keys(tmp_path):
    classes = [f"c{i}" for i in range(40)]
    ds = al.from_arrays(np.random.default_rng(0).normal(size=(80, 3)), classes=classes)
    w = LabelingWidget(al.Session(ds, store=":memory:"), retrain_every=0)
    assert len(w.class_keys) == 40 and w.class_keys[-1] == "" and w.class_keys[0] == "1"
    first = w.item["id"]
    w.submit("c39", item_id=first)  # its button
    assert stored(w.session) == [(first, "c39")]


def test_number_key_labels_current_item_durably(widget):
    s = widget.session
    pressed = []
    for _ in range(6):  # each item with the key of its class, as the person sees it
        label = true_label(s.dataset, widget.item["id"])
        first = press(widget, BLOB_KEY[label], pressed, label)
        assert widget.item["id"] != first and widget.progress["n_labels"] == len(pressed)
    assert len({lab for _, lab in pressed}) > 1  # more than one key was pressed
    assert stored(s) == pressed
    s.store.close()
    again = al.Session(s.dataset, store=s.store.url, batch_size=5, random_state=0)
    assert stored(again) == pressed  # durably: a fresh session reads them back


class _RecordingComm:
    """Stands in for the front end's comm: keeps the state keys of each update message, in order."""

    kernel = "a kernel"
    comm_id = "recording"

    def __init__(self):
        self.updates = []

    def send(self, data=None, metadata=None, buffers=None):
        if isinstance(data, dict) and data.get("method") == "update":
            self.updates.append(set(data["state"]))

    def on_msg(self, callback):
        pass

    def close(self, *args, **kwargs):
        pass


def test_after_a_label_the_next_item_is_the_first_message_sent(widget):
    # What the person waits for after a key press is the next item: its message leaves the kernel before the
    # confirmation, the strip of recent labels, the reasons and the progress.
    comm = _RecordingComm()
    widget.comm = comm
    try:
        for _ in range(3):
            shown = widget.item["id"]
            comm.updates.clear()
            assert widget.handle_key(BLOB_KEY[true_label(widget.session.dataset, shown)], item_id=shown)
            assert widget.item["id"] != shown
            sent = [k for update in comm.updates for k in sorted(update)]
            assert sent[0] == "item", sent
            # then the confirmation, before the progress a view (or a test) waits for
            assert sent.index("confirm") < sent.index("progress"), sent
            assert {"recent", "info"} <= set(sent), sent  # the rest follows in the handler
    finally:
        widget.comm = None


def test_a_view_that_asks_gets_every_value_again(widget):
    # The view sends {"type": "sync"} once it is drawn; the kernel answers with one update holding every value,
    # as they are now (a Voila page that connected late may have missed the first item's progress).
    comm = _RecordingComm()
    widget.comm = comm
    try:
        widget._on_msg(widget, {"type": "sync"}, [])
        assert len(comm.updates) == 1
        assert {"item", "info", "progress", "confirm", "recent", "dashboard", "status", "error"} <= comm.updates[0]
    finally:
        widget.comm = None


def test_button_click_and_skip_and_undo(widget):
    s = widget.session
    a = widget.item["id"]
    widget._on_msg(widget, {"type": "label", "label": "bee", "item_id": a}, [])
    assert stored(s) == [(a, "bee")]
    b = widget.item["id"]
    widget._on_msg(widget, {"type": "skip", "item_id": b}, [])
    assert "skipped" in set(s.store.events(s.project_id)["kind"])
    c = widget.item["id"]
    assert len({a, b, c}) == 3 and stored(s) == [(a, "bee")]  # nothing stored for the skipped item
    widget._on_msg(widget, {"type": "key", "key": "s", "item_id": c}, [])  # skip by key
    d = widget.item["id"]
    assert d not in {a, b, c} and stored(s) == [(a, "bee")]
    pressed = [(a, "bee")]
    press(widget, "3", pressed, "cat")
    widget._on_msg(widget, {"type": "key", "key": "ArrowRight", "item_id": widget.item["id"]}, [])  # skip
    assert stored(s) == pressed == [(a, "bee"), (d, "cat")]
    widget._on_msg(widget, {"type": "key", "key": "Backspace", "item_id": widget.item["id"]}, [])
    assert widget.item["id"] == d and stored(s) == [(a, "bee")]  # undone item shown again, its label gone
    widget._on_msg(widget, {"type": "key", "key": "u", "item_id": d}, [])
    assert widget.item["id"] == a and stored(s) == [] and s.n_labels == 0
    assert widget.handle_key("Backspace") is False  # nothing left to undo
    assert stored(s) == []


def test_stale_key_for_a_previous_item_is_ignored(widget):
    pressed = []
    first = press(widget, "1", pressed, "ant")
    second = widget.item["id"]
    assert widget.handle_key("2", item_id=first) is False  # a double press sent for the first item arrives late
    assert widget.item["id"] == second and stored(widget.session) == [(first, "ant")]
    press(widget, "2", pressed, "bee")  # the person presses 2 on the item now shown
    assert stored(widget.session) == pressed == [(first, "ant"), (second, "bee")]


def test_unknown_keys_do_nothing(widget):
    shown = widget.item["id"]
    for key in ("F5", "4", "x", "Enter", " "):  # 4: blobs have three classes, keys 1-3
        assert widget.handle_key(key, item_id=shown) is False and widget.item["id"] == shown
    assert stored(widget.session) == []


def test_item_payload_image_and_info(digits, tmp_path):
    s = al.Session(digits, store=tmp_path / "d.db")
    w = LabelingWidget(s, retrain_every=0)
    assert w.item["kind"] == "image" and w.item["src"].startswith("data:image/png;base64,")
    assert w.info["strategy"] == "typiclust" and w.info["model_version"] == 0
    pressed = []
    for _ in range(10):
        seen = true_label(digits, int(w.item["id"]))  # the digit a person sees
        press(w, seen, pressed, seen)
    assert stored(s) == pressed
    w.retrain_in_background().join()
    w.handle_key("s", item_id=w.item["id"])  # move to an item ranked by the new model
    assert stored(s) == pressed
    # auto is still in its cold start (typical items until 5 per class): the view says typicality, no uncertainty score
    assert w.info["strategy"] == "typiclust" and w.info["model_version"] == 1
    assert "Typical of a group" in w.info["why"]["text"] and w.info["score"] is None
    assert len(w.info["guesses"]) == 3 and all(0 <= p <= 1 for _, p in w.info["guesses"])  # calibrated on the test set
    assert w.history[-1]["n_labels"] == 10 and w.stats["has_test"]


def test_table_and_text_items(session_factory, blobs):
    w = LabelingWidget(session_factory(), retrain_every=0)
    assert w.item["kind"] == "table" and w.item["table"][0][0] == "x0"
    texts = al.from_arrays(np.eye(3), classes=["a", "b"], kind="text", texts=["one", "two", "three"])
    wt = LabelingWidget(al.Session(texts, store=":memory:", model=None), retrain_every=0)
    assert wt.item["kind"] == "text" and wt.item["text"] in {"one", "two", "three"}


def test_labeling_continues_while_retraining(digits, tmp_path):
    s = al.Session(digits, store=tmp_path / "d.db")
    w = LabelingWidget(s, retrain_every=5)
    gate = threading.Event()
    real_fit = s._fit

    def slow_fit(labeled, y):
        gate.wait(10)
        return real_fit(labeled, y)

    s._fit = slow_fit
    pressed = []
    for _ in range(5):
        press(w, "1", pressed, "1")  # digits: key 1 is class "1"
    assert w.training  # a retrain started and is blocked
    for _ in range(5):  # the person keeps labeling meanwhile
        press(w, "2", pressed, "2")
    assert s.n_labels == 10 and w.training and stored(s) == pressed
    gate.set()
    w.wait_for_training(10)
    assert not w.training and s.model_version == 1 and w.history[-1]["n_labels"] == 5
    assert stored(s) == pressed


def labeled_widget(session_factory, n=6):
    """A widget (no automatic retrain) on which a person labeled ``n`` blob items right: (session, widget, pressed)."""
    s = session_factory()
    w = LabelingWidget(s, retrain_every=0)
    pressed = []
    press_true(w, n, pressed)
    return s, w, pressed


def test_a_dashboard_that_cannot_be_redrawn_never_leaves_the_view_training(session_factory):
    s, w, pressed = labeled_widget(session_factory)

    def broken():
        raise RuntimeError("internal detail")

    w._refresh_history = broken
    assert w.retrain_in_background() is not None
    w.wait_for_training(30)
    assert not w.training and s.model_version == 1  # the model is in use
    assert "dashboard could not be updated" in w.error and "internal detail" not in w.error
    assert stored(s) == pressed


def test_after_a_retrain_the_item_on_screen_shows_the_new_models_guess(session_factory):
    # The item on screen was picked before the first model (no guess); a retrain (the widget's own, then one made
    # through the session's API) gives it the new model's guess, marked with that model's version; the item,
    # and why it was picked, stay.
    s, w, pressed = labeled_widget(session_factory)
    shown, why = w.item["id"], w.info["why"]
    assert w.info["guesses"] == [] and "guess_version" not in w.info
    assert w.retrain_in_background() is not None
    w.wait_for_training(30)
    assert w.item["id"] == shown and w.info["why"] == why
    assert w.info["guess_version"] == s.model_version == 1
    assert [tuple(g) for g in w.info["guesses"]] == list(s.guesses(shown)) and len(w.info["guesses"]) == 3
    assert w.info["guesses"][0][0] == true_label(s.dataset, shown)  # blobs: the model knows by now
    assert w.info["calibrated"] == all(p is not None for _, p in w.info["guesses"])
    s.retrain()  # through the API: the widget follows (its follower thread, or this sync, whichever comes first)
    w.sync(refresh=False)
    deadline = time.monotonic() + 30
    while w.info.get("guess_version") != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert w.item["id"] == shown and w.info["guess_version"] == 2
    assert stored(s) == pressed


def test_an_item_picked_before_the_model_in_use_shows_that_models_guesses(session_factory):
    # An offer made before the first model carries no guess; if a model is in use by the time the item is shown,
    # the item gets what the session's guesses() say for it (up to three classes, calibrated numbers where there
    # is a calibration), with that model's version: the same as the refresh after a retrain gives.
    import dataclasses

    s, w, pressed = labeled_widget(session_factory)
    s.retrain()
    real = s.next_offer
    s.next_offer = lambda: dataclasses.replace(real(), guesses=(), model_version=0, score=None, score_name=None)
    press_true(w, 1, pressed)
    shown = w.item["id"]
    assert w.info["model_version"] == 0 and w.info["guess_version"] == s.model_version == 1
    assert [tuple(g) for g in w.info["guesses"]] == list(s.guesses(shown)) and len(w.info["guesses"]) == 3
    assert w.info["calibrated"] == all(p is not None for _, p in w.info["guesses"])
    assert stored(s) == pressed

    def broken(*args, **kwargs):
        raise RuntimeError("internal detail")

    s.guesses = broken  # the model cannot guess: the item still comes, without a guess, and its time is kept
    press_true(w, 1, pressed)
    assert w.item["id"] != shown and w.info["guesses"] == [] and not w.error
    assert w.item["id"] in s._shown_at and stored(s) == pressed


def test_failed_retrain_shows_error_and_keeps_labels(session_factory):
    s = session_factory()
    w = LabelingWidget(s, retrain_every=0)
    pressed = []
    for _ in range(5):
        press(w, "1", pressed, "ant")

    def boom(labeled, y):
        raise al.TrainingError("boom: out of memory")

    s._fit = boom
    w.retrain_in_background().join()
    assert "previous model is kept" in w.error and "boom" not in w.error and "Error" not in w.error  # a sentence, no exception text
    assert s.n_labels == 5 and not w.training and stored(s) == pressed
    press(w, "2", pressed, "bee")  # labeling goes on
    assert stored(s) == pressed


def test_restart_resumes_at_next_unlabeled_item(session_factory):
    w = LabelingWidget(session_factory(), retrain_every=0)
    pressed = []
    for i in range(7):
        key = "123"[i % 3]
        press(w, key, pressed, BLOB_CLASS[key])
    assert stored(w.session) == pressed
    w.session.store.close()
    w2 = LabelingWidget(session_factory(), retrain_every=0)
    assert w2.session.n_labels == 7 and stored(w2.session) == pressed
    assert w2.item["id"] not in {i for i, _ in pressed}


def test_exhausted_pool_shows_done(session_factory, blobs):
    s = session_factory(test_size=0.5)
    for item_id in blobs.ids:
        if item_id not in set(s.test_ids):
            s.label(item_id, "ant")
    w = LabelingWidget(s, retrain_every=0)
    assert w.item == {} and "All items are labeled" in w.status


def test_bad_label_from_the_view_is_reported_not_lost(widget):
    first = widget.item["id"]
    widget._on_msg(widget, {"type": "label", "label": "zebra", "item_id": first}, [])
    assert "not one of the classes" in widget.error and widget.item["id"] == first
    assert widget.session.n_labels == 0 and stored(widget.session) == []


def test_widget_interleaves_audit_items_without_true_labels(blobs, tmp_path):
    pool = al.from_arrays(blobs.X, classes=blobs.classes, ids=blobs.ids, name="unlabeled")
    s = al.Session(pool, store=tmp_path / "u.db", audit_share=0.25,
                   model=__import__("sklearn.linear_model").linear_model.LogisticRegression(max_iter=200))
    w = LabelingWidget(s, retrain_every=0)
    kinds = []
    pressed = []
    for _ in range(20):
        kinds.append(w.info["strategy"].startswith("audit"))
        label = true_label(blobs, w.item["id"])
        press(w, BLOB_KEY[label], pressed, label)
    assert sum(kinds) == 5  # one in four shown items
    assert stored(s) == pressed
    w.retrain_in_background().join()
    assert w.stats["audit"]["n"] == 5 and w.stats["has_test"] is False
    assert 0 <= w.stats["audit"]["low"] <= w.stats["audit"]["accuracy"] <= w.stats["audit"]["high"] <= 1


def test_long_text_marks_the_passage_like_the_guessed_class():
    from activelearn.widgets.labeling import focus_passage

    text = ("The meeting started late because the projector failed. " * 5 +
            "The striker scored twice and the home team won the final. " +
            "Afterwards everyone went home early. " * 5)
    span = focus_passage(text, ["The goalkeeper saved a penalty in the final.", "Our team won the league match."])
    assert text[span[0]:span[1]] == "The striker scored twice and the home team won the final."
    assert focus_passage("One sentence only.", ["team"]) is None
    assert focus_passage(text, []) is None


def test_widget_sends_the_focus_span_for_long_texts(tmp_path):
    topics = {"sport": "The striker scored a goal in the final match.", "food": "Bake the bread with butter."}
    filler = "This paragraph goes on about many unrelated things for a while. " * 8
    rows = [(f"{topic} {i}", (filler + text) if i == 0 else text, topic)
            for topic, text in topics.items() for i in range(6)]
    ds = al.from_arrays(np.eye(12, dtype=np.float32)[:, :4] + np.repeat(np.eye(2, 4), 6, axis=0),
                        y=[r[2] for r in rows], classes=["food", "sport"], ids=[r[0] for r in rows], kind="text",
                        texts=[r[1] for r in rows], name="texts")
    from sklearn.linear_model import LogisticRegression

    s = al.Session(ds, model=LogisticRegression(), store=tmp_path / "t.db", test_size=0, strategy="random")
    for item in ["sport 1", "sport 2", "food 1", "food 2"]:
        s.label(item, item.split()[0])
    s.retrain()
    w = LabelingWidget(s, retrain_every=0)
    w._show("sport 0", {"strategy": "random", "model_version": 1})
    a, b = w.item["focus"]
    assert w.item["text"][a:b] == topics["sport"] and "sport" in w.item["focus_reason"]


def test_widget_keeps_a_label_while_another_process_holds_the_write_lock(blobs, fast_model, tmp_path):
    # The store really goes away: another connection holds SQLite's write lock (as another process
    # in the middle of a long write would). No fake: the widget's own store call meets the lock.
    path = tmp_path / "locked.db"
    s = al.Session(blobs, model=fast_model, store=al.LabelStore(path, busy_timeout=0.2), batch_size=5,
                   random_state=0)
    w = LabelingWidget(s, retrain_every=0, retry_seconds=0.05)
    shown = w.item["id"]
    label = true_label(blobs, shown)
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # the other writer takes the write lock and keeps it
    try:
        started = time.monotonic()
        assert w.handle_key(BLOB_KEY[label], item_id=shown) is False
        assert time.monotonic() - started < 10  # gave up after the short busy timeout, not 60 s
        assert "NOT saved yet" in w.error and "write lock" in w.error
        assert "OperationalError" not in w.error and "Traceback" not in w.error
        assert w.item["id"] == shown  # the item stays on screen
        time.sleep(0.6)  # several retries meet the lock too
        assert w._retrier.is_alive() and w.item["id"] == shown and "NOT saved yet" in w.error
        assert stored(s) == []  # nothing written (reading still works beside the writer)
        assert w.handle_key(BLOB_KEY[label], item_id=shown) is False and "Still waiting" in w.error
    finally:
        holder.execute("ROLLBACK")  # the other writer lets go
        holder.close()
    w._retrier.join(timeout=10)
    assert not w._retrier.is_alive()
    assert stored(s) == [(shown, label)]  # stored exactly once
    assert w.error == "" and w.item["id"] != shown and "is saved" in w.status and w.progress["n_labels"] == 1
    pressed = [(shown, label)]
    nxt = true_label(blobs, w.item["id"])
    press(w, BLOB_KEY[nxt], pressed, nxt)  # and labeling goes on
    assert stored(s) == pressed


def test_skip_and_undo_on_a_locked_store_say_so_and_change_nothing(blobs, fast_model, tmp_path):
    path = tmp_path / "locked2.db"
    s = al.Session(blobs, model=fast_model, store=al.LabelStore(path, busy_timeout=0.2), batch_size=5,
                   random_state=0)
    w = LabelingWidget(s, retrain_every=0)
    first = w.item["id"]
    pressed = []
    press(w, BLOB_KEY[true_label(blobs, first)], pressed, true_label(blobs, first))
    shown = w.item["id"]
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert w.handle_key("s", item_id=shown) is False
        assert "Not skipped" in w.error and "write lock" in w.error and w.item["id"] == shown
        assert w.handle_key("u") is False
        assert "Not undone" in w.error and "OperationalError" not in w.error and w.item["id"] == shown
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert stored(s) == pressed and not s.skipped.any()
    assert w.handle_key("u") and w.item["id"] == first and stored(s) == [] and w.error == ""


# -- what the person is told, and the view following the session (issue 12) ----------------------------------

FORBIDDEN = ("Traceback", "Error", "overwrite", "Pass ", "undo()", "next_batch", "Exception")


def says_nothing_technical(widget):
    shown = " ".join([widget.status, widget.error, str(widget.confirm), str(widget.info.get("why", ""))])
    return not [w for w in FORBIDDEN if w in shown]


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_widget_confirms_each_label_and_keeps_a_strip_to_change_them(session_factory):
    s = session_factory()
    w = LabelingWidget(s, retrain_every=0, n_recent=3)
    pressed = []
    for key in "1231":
        shown = press(w, key, pressed, BLOB_CLASS[key])
        assert w.confirm["id"] == shown and w.confirm["label"] == BLOB_CLASS[key] and w.confirm["changed_from"] is None
    assert [e["id"] for e in w.recent] == [i for i, _ in pressed[::-1][:3]]  # newest first, three kept
    assert [e["label"] for e in w.recent] == [lab for _, lab in pressed[::-1][:3]]
    # A click on a strip entry, then on another class: the store holds the new label, durably.
    target, was = w.recent[1]["id"], w.recent[1]["label"]
    new = next(c for c in BLOB_CLASSES if c != was)
    w._on_msg(w, {"type": "change", "item_id": target, "label": new}, [])
    fixed = [(i, new if i == target else lab) for i, lab in pressed]
    assert sorted(stored(s)) == sorted(fixed)  # the store holds the change, and every other label as given
    assert w.confirm == {"id": target, "title": target, "label": new, "changed_from": was}
    assert w.recent[1] == {"id": target, "title": target, "label": new}  # keeps its place in the strip
    s.store.close()
    again = al.Session(s.dataset, store=s.store.url, batch_size=5, random_state=0)
    assert dict(stored(again)) == dict(fixed) and again.n_labels == 4
    assert says_nothing_technical(w) and w.error == ""


def test_undo_takes_the_label_out_of_the_strip(widget):
    pressed = []
    press(widget, "1", pressed, "ant")
    second = press(widget, "2", pressed, "bee")
    assert widget.handle_key("u")
    assert [e["id"] for e in widget.recent] == [pressed[0][0]] and widget.confirm == {}
    assert widget.item["id"] == second and "Undid" in widget.status and says_nothing_technical(widget)


def test_view_moves_on_when_another_annotator_labels_the_item_on_screen(blobs, fast_model, tmp_path):
    url = tmp_path / "team.db"
    mine = al.Session(blobs, model=fast_model, store=url, annotator="me", batch_size=5, lease_seconds=0.5)
    w = LabelingWidget(mine, retrain_every=0, poll_seconds=0)  # no polling thread: sync() is called below
    pressed = []
    press(w, BLOB_KEY[true_label(blobs, w.item["id"])], pressed, true_label(blobs, w.item["id"]))
    shown = w.item["id"]
    bob = al.Session(blobs, model=fast_model, store=url, annotator="bob", batch_size=5)
    time.sleep(0.6)  # my lease on the item shown ran out: bob may label it
    bob.label(shown, "cat")
    given = pressed + [(shown, "cat")]
    w.sync()
    assert w.item["id"] != shown
    assert f"Item {shown} was labeled \u2018cat\u2019 by bob" in w.status and w.error == ""
    assert says_nothing_technical(w)
    assert w.handle_key("1", item_id=shown) is False  # a key still on its way for that item does nothing
    assert w.progress["n_labels"] == 2
    nxt = true_label(blobs, w.item["id"])
    press(w, BLOB_KEY[nxt], given, nxt)
    assert sorted(stored(mine)) == sorted(given)  # exactly the labels given, each once


def test_a_key_on_an_item_labeled_meanwhile_moves_on_with_a_sentence(blobs, fast_model, tmp_path):
    url = tmp_path / "team.db"
    mine = al.Session(blobs, model=fast_model, store=url, annotator="me", batch_size=5, lease_seconds=0.5)
    w = LabelingWidget(mine, retrain_every=0, poll_seconds=0)
    shown = w.item["id"]
    bob = al.Session(blobs, model=fast_model, store=url, annotator="bob", batch_size=5)
    time.sleep(0.6)
    bob.label(shown, "bee")  # before the view heard of it, the person presses a key
    assert w.handle_key("1", item_id=shown) is False
    assert w.item["id"] != shown and "labeled elsewhere" in w.status and w.error == ""
    assert says_nothing_technical(w)
    assert stored(mine) == [(shown, "bee")]


def test_view_follows_api_labels_and_simulations_and_undo_stays_the_persons(digits, tmp_path):
    s = al.Session(digits, store=tmp_path / "d.db", annotator="me")
    w = LabelingWidget(s, retrain_every=0, poll_seconds=0.5)
    pressed = []
    for _ in range(2):
        seen = true_label(digits, int(w.item["id"]))
        press(w, seen, pressed, seen)
    shown = w.item["id"]
    s.label(int(shown), true_label(digits, int(shown)))  # the API, from another cell, on the item on screen
    pressed.append((shown, true_label(digits, int(shown))))  # the person's label too (given another way)
    assert wait_for(lambda: w.item["id"] != shown)
    assert f"Item {shown} was labeled" in w.status and "by you, from another cell" in w.status
    s.simulate(30)  # a simulation on the same session, in another cell
    assert wait_for(lambda: w.dashboard.get("model_version") == s.model_version == 3 and w.progress["n_labels"] == 30)
    assert w.dashboard["n_labels"] == 30 and w.history[-1]["n_labels"] == 30 and "labels" in w.charts
    assert s.labels().query("annotator == 'simulated'").shape[0] == 27
    # u undoes the person's own last label (the one given from the other cell), never a simulated one
    assert w.handle_key("u") and w.item["id"] == pressed[-1][0]
    labels = s.labels()
    assert pressed[-1][0] not in set(labels["item_id"]) and len(labels) == 29
    assert (labels["annotator"] == "simulated").sum() == 27 and says_nothing_technical(w)
    w.close()


def test_why_text_names_the_strategy_that_picked_in_plain_words():
    from activelearn.widgets._words import plain_error, why_text

    torn = why_text("margin", "strategy", -0.04, "top-2 gap", [("3", None), ("8", None)], 4, 1, 10)
    assert "torn between \u20183\u2019 and \u20188\u2019 (gap 0.04" in torn["text"]
    assert torn["detail"] == "ranked at model v4 \u00b7 1 of 10 in this batch"
    early = why_text("typiclust", "strategy", rank=1, queue=10)
    assert early["detail"] == "ranked before the first model \u00b7 1 of 10 in this batch"
    assert why_text("audit: drawn uniformly at random", "audit", model_version=3)["detail"] == ""  # no model picked it
    assert "Typical of a group" in why_text("typiclust", "strategy")["text"]
    assert "never trained on" in why_text("audit: drawn uniformly at random", "audit")["text"]
    assert "at random" in why_text("random", "strategy")["text"]
    assert "team's ranking" in why_text("published", "published", model_version=2)["text"]
    for exc in (al.AlreadyLabeledError("item 'x' is already labeled; Pass overwrite=True to replace"),
                al.StoreUnavailableError("sqlite3.OperationalError: database is locked"),
                al.UnknownLabelError("label 'z' is not one of the classes"), RuntimeError("boom")):
        sentence = plain_error(exc, "Not stored")
        assert "overwrite" not in sentence and "Error" not in sentence and "boom" not in sentence


def test_guesses_have_no_number_without_a_calibration(blobs, fast_model, tmp_path):
    # no held-out set, no audit items: nothing the model did not train on can check its confidence
    s = al.Session(blobs, model=fast_model, store=tmp_path / "n.db", test_size=0, audit_share=0, strategy="margin")
    w = LabelingWidget(s, retrain_every=0)
    pressed = []
    for _ in range(9):
        lab = true_label(blobs, w.item["id"])
        press(w, BLOB_KEY[lab], pressed, lab)
    w.retrain_in_background().join()
    w.handle_key("s", item_id=w.item["id"])
    assert w.info["guesses"] and all(p is None for _, p in w.info["guesses"]) and w.info["calibrated"] is False
    assert w.info["strategy"] == "margin" and "The model" in w.info["why"]["text"]
    assert "%" not in w.info["why"]["text"]
    assert w.dashboard["accuracy"] is None and "audit" in w.dashboard["interval"]


def test_dashboard_reads_accuracy_interval_and_why_no_projection(digits, tmp_path):
    s = al.Session(digits, store=tmp_path / "d.db", cost_per_hour=30.0)
    w = LabelingWidget(s, retrain_every=0, poll_seconds=0)
    assert w.dashboard["accuracy"] is None and "first model" in w.dashboard["projection"] and w.charts == {}
    s.simulate(10, seconds_per_label=2.0)
    w.sync()
    d = w.dashboard
    assert d["title"] == "Held-out test accuracy" and 0 < d["accuracy"] <= 1 and d["n_eval"] == len(s.test_ids)
    assert d["low"] <= d["accuracy"] <= d["high"] and "95% interval" in d["interval"]
    assert d["model_version"] == 1 and d["n_labels"] == 10 and abs(d["cost"] - 30.0 * 20 / 3600) < 1e-9
    assert d["projection"] == "needs 3 retrains to project (1 so far)"
    svg = w.charts["labels"]
    assert svg.startswith("<svg") and "currentColor" in svg and "accuracy (%)" in svg and ">labels<" in svg
    assert "target 95%" in svg and 'class="al-curve"' in svg and "#0a0b0c" not in svg
    assert ">cost<" in w.charts["cost"]  # the axis says cost (a number in the currency of cost_per_hour)


def test_background_widget_shows_at_once_and_prepares_the_pool(digits, tmp_path):
    s = al.Session(digits, store=tmp_path / "d.db")
    gate = threading.Event()
    real = s.next_offer
    s.next_offer = lambda: (gate.wait(10), real())[1]
    started = time.monotonic()
    w = LabelingWidget(s, retrain_every=0, background=True)
    assert time.monotonic() - started < 2 and w.preparing and w.item == {} and w.status == "Preparing the pool…"
    assert w.handle_key("7") is False  # nothing to label yet
    gate.set()
    assert w.wait_ready(180) and not w.preparing and w.item["id"] and w.status == ""


def test_title_shows_the_file_name_never_the_class_folder():
    from activelearn.widgets.labeling import display_name

    assert display_name("2/1371.png") == "1371.png" and display_name(1782) == "1782"
    assert display_name("cats\\7.jpg") == "7.jpg"


def test_key_presses_never_wait_for_a_ranking_or_a_retrain(session_factory, blobs):
    """Rankings run off the key path: the rank-ahead thread ranks the next batch, a retrain ranks with its model."""
    s = session_factory(batch_size=10)
    takes, take = [], s._queue._take

    def recorded(*args, **kwargs):
        takes.append(threading.current_thread().name)
        return take(*args, **kwargs)

    s._queue._take = recorded
    w = LabelingWidget(s, retrain_every=10, poll_seconds=0)
    assert takes == ["MainThread"]  # the first ranking, before anything is shown
    pressed = []
    for _ in range(45):
        meant = true_label(blobs, w.item["id"])
        press(w, BLOB_KEY[meant], pressed, meant)
        deadline = time.monotonic() + 10
        while (s.training or w._ahead.is_set() or len(s._queue.queued()) < 5) and time.monotonic() < deadline:
            time.sleep(0.01)  # a person takes longer than this between two keys
    w.wait_for_training()
    assert stored(s) == pressed
    assert takes.count("MainThread") == 1, takes  # every later ranking ran in a background thread
    assert "activelearn-retrain" in takes and "activelearn-widget-rank-ahead" in takes
    assert s.model_version >= 3 and w.info["model_version"] >= 1
    w.close()


def test_review_mode_replaces_keeps_and_undoes_doubtful_labels(session_factory, blobs):
    s = session_factory(annotator="ana")
    w = LabelingWidget(s, retrain_every=0, poll_seconds=0)
    assert w.review_key == "r" and w.handle_key("r") is True and w.mode == "review"
    assert wait_for(lambda: "text" in w.review and "Nothing to review yet" in w.review["text"])  # no labels yet
    assert w.handle_key("1", item_id=w.item["id"]) is False and stored(s) == []  # no class key acts without a suspect
    w.handle_key("r")
    assert w.mode == "label"
    pressed, wrong = [], {}
    for k in range(36):  # a person labels; three of the labels are wrong (the next class's key)
        meant = true_label(blobs, w.item["id"])
        if k in (5, 17, 29):
            given = BLOB_CLASSES[(BLOB_CLASSES.index(meant) + 1) % 3]
            wrong[w.item["id"]] = (given, meant)
            meant = given
        press(w, BLOB_KEY[meant], pressed, meant)
    assert stored(s) == pressed
    w.handle_key("r")
    assert wait_for(lambda: w.review.get("id") or "No label" in w.review.get("text", ""))
    shown = w.review["id"]
    assert shown == w.item["id"] and shown in wrong, (w.review, wrong)  # a wrong label comes first
    given, right = wrong[shown]
    assert w.review["label"] == given and w.review["suggested"] == right and w.review["annotator"] == "you"
    assert w.review["position"] == 1 and w.review["total"] >= 3
    # A class key replaces the label: durable, attributed, and the model retrains on it.
    assert w.handle_key(BLOB_KEY[right], item_id=shown) is True
    rows = s.labels().set_index("item_id")
    assert rows.loc[shown, "label"] == right and rows.loc[shown, "annotator"] == "ana"
    assert w.confirm == {"id": shown, "title": shown, "label": right, "changed_from": given}
    assert w.review["id"] != shown and w.review["position"] == 2
    w.wait_for_training()
    assert s.model_version == 1 and s.is_reviewed(shown)
    # Undo takes the replacement back and shows that suspect again.
    assert w.handle_key("u") is True
    assert s.labels().set_index("item_id").loc[shown, "label"] == given and w.review["id"] == shown
    assert not s.is_reviewed(shown) and "has \u2018" + given in w.status
    # Keep (k) records the review without changing the label; it is not shown again.
    assert w.handle_key("k", item_id=shown) is True
    assert s.labels().set_index("item_id").loc[shown, "label"] == given and s.is_reviewed(shown)
    assert w.confirm["kept"] is True and w.review.get("id") != shown
    # Reviewing every other suspect (replacing wrong ones) ends the review and labeling goes on.
    while w.mode == "review" and w.review.get("id"):
        r = w.review
        fix = wrong.get(r["id"], (None, r["label"]))[1]
        assert w.handle_key(BLOB_KEY[fix], item_id=r["id"]) is True
    w.wait_for_training()
    assert w.mode == "label" and w.item["id"] and "Review done" in w.status
    final = dict(stored(s))
    assert all(final[i] == (wrong[i][0] if i == shown else wrong[i][1]) for i in wrong)  # the kept one kept
    assert sum(final[i] != true_label(blobs, i) for i in final) == 1
    before = len(stored(s))
    meant = true_label(blobs, w.item["id"])
    press(w, BLOB_KEY[meant], pressed, meant)  # labeling works as before
    assert len(stored(s)) == before + 1
    w.close()

def test_review_done_stays_on_screen_when_the_last_replacement_starts_a_retrain(session_factory, blobs):
    # The last suspect's replacement ends the review and starts a retrain: its "Training…" and "Model v… trained"
    # must not wipe the "Review done" notice the person has not acted on yet (it did, in a browser, when no
    # retrain was running at that moment).
    s = session_factory()
    w = LabelingWidget(s, retrain_every=0, poll_seconds=0)
    pressed = []
    for k in range(30):
        meant = true_label(blobs, w.item["id"])
        if k in (4, 16):
            meant = BLOB_CLASSES[(BLOB_CLASSES.index(meant) + 1) % 3]
        press(w, BLOB_KEY[meant], pressed, meant)
    w.handle_key("r")
    assert wait_for(lambda: w.review.get("id"))
    while w.mode == "review" and w.review.get("id"):
        w.wait_for_training()  # no retrain running: each replacement starts one, the last one included
        r = w.review
        other = next(c for c in BLOB_CLASSES if c != r["label"])
        assert w.handle_key(BLOB_KEY[other], item_id=r["id"]) is True
    assert w.mode == "label" and "Review done" in w.status
    w.wait_for_training()
    assert s.model_version >= 1 and not w.training
    assert "Review done" in w.status, w.status  # the notice outlived the retrain it started
    meant = true_label(blobs, w.item["id"])
    press(w, BLOB_KEY[meant], pressed, meant)  # the next label clears it
    assert "Review done" not in w.status
    w.close()



def test_dashboard_shows_the_stopping_advice_and_the_labels_saved_against_random(session_factory, blobs):
    s = session_factory(audit_share=0.5, batch_size=5)
    w = LabelingWidget(s, retrain_every=0, poll_seconds=0)
    assert w.dashboard.get("advice") is None  # no model yet: nothing to advise on
    assert "not known yet" in w.dashboard["saved"]["text"]
    pressed = []
    for k in range(60):
        meant = true_label(blobs, w.item["id"])
        press(w, BLOB_KEY[meant], pressed, meant)
        if k % 10 == 9:
            w.retrain_in_background().join()
    assert stored(s) == pressed and s.audit_mask.sum() >= 20  # half the items shown were random audit items
    advice = s.stopping(target=w.target)
    assert w.dashboard["advice"] == {"stop": advice.stop, "reason": advice.reason,
                                     "labels_to_target": advice.labels_to_target
                                     if np.isfinite(advice.labels_to_target) else None,
                                     "minutes_to_target": advice.minutes_to_target
                                     if np.isfinite(advice.minutes_to_target) else None}
    saved = s.savings().iloc[-1]
    text = w.dashboard["saved"]["text"]
    if np.isfinite(saved["labels_saved"]):
        assert w.dashboard["saved"]["n"] == pytest.approx(saved["labels_saved"])
        assert f"{abs(saved['labels_saved']):,.0f}" in text and f"at {int(saved['n_labels'])} labels" in text
    else:  # the bound the data support, or "not known yet" (wording: test_labels_saved_words_give_the_bound_...)
        assert text == w._saved_words(s.savings())["text"] and "about" not in text
    if np.isfinite(s.savings()["random_accuracy"]).any():  # the random curve is drawn beside the session's
        assert "random sampling" in w.charts["labels"]
    w.close()


def test_the_view_says_while_the_pools_map_is_prepared_in_the_background(digits, tmp_path):
    from activelearn.widgets.labeling import MAP_PREPARING

    release = threading.Event()
    s = al.Session(digits, store=tmp_path / "m.db")
    prepare = s.model_template.prepare_pool
    s._preparing.join()  # the session's own preparation; a slow one is simulated below
    s._preparing = threading.Thread(target=lambda: (release.wait(30), prepare()), daemon=True)
    s._preparing.start()
    w = LabelingWidget(s, retrain_every=0, poll_seconds=0)
    assert w.item["id"] and w.status == MAP_PREPARING and not s.pool_ready  # an item at once, and why
    release.set()
    assert s.wait_pool(60)
    w.sync(refresh=False)
    assert "map is ready" in w.status
    w.close()


def test_interpreter_exit_stops_the_widgets_threads_before_weakref_finalizers_run(session_factory):
    """At exit the follower and rank-ahead threads stop and are joined: a store read in one of them while Python
    runs weakref.finalize's exit handler changes its registry mid-iteration (an error printed at exit)."""
    import weakref

    from activelearn.widgets import labeling

    w = LabelingWidget(session_factory(), retrain_every=0, poll_seconds=0.01)
    assert all(t.is_alive() for t in w._threads) and w in labeling._LIVE
    assert weakref.finalize._registered_with_atexit and labeling._EXIT_HOOK
    labeling._stop_threads_at_exit(timeout=5.0)
    assert not any(t.is_alive() for t in w._threads)


# -- off the key path: the charts in a worker process, the background threads at a lower priority ----------------
CHART_SPEC = {"labels": (([10.0, 20.0, 30.0], [0.6, 0.72, 0.81], [0.5, 0.64, 0.75], [0.7, 0.8, 0.86]),
                         dict(xlabel="labels", title="Accuracy (test) vs labels", target=0.9, xmax_hint=40.0,
                              baseline={"x": [10.0, 20.0, 30.0], "accuracy": [0.55, 0.6, 0.68],
                                        "low": [0.45, 0.52, 0.6], "high": [0.65, 0.68, 0.75], "label": "random"},
                              band={"x": [30.0, 40.0, 50.0], "accuracy": [0.81, 0.85, 0.88],
                                    "low": [0.77, 0.8, 0.83], "high": [0.85, 0.89, 0.92]},
                              label="this session (active)")),
              "cost": (([0.01, 0.02], [0.6, 0.72], [0.5, 0.64], [0.7, 0.8]),
                       dict(xlabel="hours spent labeling", title="Accuracy (test) vs hours", target=0.9,
                            projection=(0.05, 0.9)))}


def test_worker_draws_the_same_svg_as_the_kernel():
    from activelearn.widgets._charts import accuracy_chart, render_charts

    here = render_charts(CHART_SPEC, worker=False)
    assert here == {name: accuracy_chart(*a, **k) for name, (a, k) in CHART_SPEC.items()}
    assert render_charts(CHART_SPEC) == here  # the worker process's text, byte for byte
    assert here["labels"].startswith("<svg") and "random" in here["labels"] and ">hours spent labeling<" in here["cost"]


def test_dashboard_charts_are_drawn_outside_the_kernel_process(session_factory, monkeypatch):
    import activelearn.widgets._charts as charts

    drawn_here = []

    def in_kernel(*args, **kwargs):  # the worker process imports its own, unpatched module
        drawn_here.append(threading.current_thread().name)
        raise AssertionError("a chart was drawn in the kernel's process")

    monkeypatch.setattr(charts, "accuracy_chart", in_kernel)
    s = session_factory()
    w = LabelingWidget(s, retrain_every=0, poll_seconds=0)
    pressed = []
    press_true(w, 12, pressed)
    w.retrain_in_background().join()
    assert w.error == "" and drawn_here == []
    assert w.charts["labels"].startswith("<svg") and "accuracy (%)" in w.charts["labels"]
    assert stored(s) == pressed
    w.close()


def test_charts_are_drawn_in_the_kernel_where_no_worker_runs(monkeypatch):
    import activelearn.widgets._charts as charts

    here = charts.render_charts(CHART_SPEC, worker=False)
    monkeypatch.setattr(charts, "_WORKER", None)  # a fresh worker (the tests' own is restored afterwards)
    monkeypatch.setattr(charts, "_WORKER_BROKEN", False)
    assert charts.render_charts(CHART_SPEC) == here and charts._WORKER is not None
    charts._WORKER.proc.kill()  # the worker dies
    assert charts.render_charts(CHART_SPEC) == here  # drawn here instead, and from then on
    assert charts._WORKER is None and charts._WORKER_BROKEN

    def no_processes():
        raise OSError("no processes here")

    monkeypatch.setattr(charts, "_WORKER_BROKEN", False)
    monkeypatch.setattr(charts, "_Worker", no_processes)
    assert charts.render_charts(CHART_SPEC) == here and charts._WORKER_BROKEN


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_background_work_runs_at_a_lower_priority_than_the_key_handler(session_factory):
    s = session_factory()
    w = LabelingWidget(s, retrain_every=0, poll_seconds=0, background_nice=7)
    nice, retrain = {}, s.retrain

    def retrain_noting_priority():
        record = retrain()
        nice["retrain"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # lowered as it started
        return record

    s.retrain = retrain_noting_priority
    s._background._retrain = retrain_noting_priority
    pressed = []
    press_true(w, 6, pressed)
    w.retrain_in_background().join()
    here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert nice["retrain"] == min(19, here + 7)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == here  # the key handler's is unchanged
    w.close()


def test_own_retrain_redraws_once_and_retrains_elsewhere_are_followed(session_factory):
    s = session_factory()
    w = LabelingWidget(s, retrain_every=0, poll_seconds=0)
    pressed = []
    press_true(w, 6, pressed)
    redraws, refresh = [], w._refresh_history
    w._refresh_history = lambda: (redraws.append(1), refresh())
    w.retrain_in_background().join()
    # _trained redrew the dashboard; the follower was not woken to redraw it again
    assert redraws == [1] and w.dashboard["model_version"] == 1 and not w._wake.is_set() and not w._retrained
    s.retrain()  # from another cell: the follower shows it
    assert wait_for(lambda: len(redraws) == 2 and w.dashboard["model_version"] == 2)
    w.close()


def test_starting_the_chart_worker_never_waits_for_charts_being_drawn(monkeypatch):
    # A key press may start a retrain (and the chart worker with it) while another thread draws charts.
    import activelearn.widgets._charts as charts

    started = []
    monkeypatch.setattr(charts, "_worker", lambda: started.append(1))
    with charts._WORKER_LOCK:  # charts being drawn in another thread
        done = threading.Event()
        threading.Thread(target=lambda: (charts.start_chart_worker(), done.set())).start()
        assert done.wait(10) and started == []
    charts.start_chart_worker()
    assert started == [1]


@pytest.mark.parametrize("row, words", [
    ((120, 35.0, 20.0, 60.0), "about 35 (90% interval 20 to 60), at 120 labels"),
    ((120, np.nan, 40.0, np.inf), "at least 40 (this accuracy is above the whole random curve"),
    ((120, np.nan, -120.0, -30.0), "random sampling would have needed at least 30 fewer labels, at 120 labels"),
    ((120, np.nan, -120.0, 15.0), "at most 15, at 120 labels"),
    ((120, np.nan, np.nan, np.nan), "not known yet"),
])
def test_labels_saved_words_give_the_bound_the_data_support(session_factory, row, words):
    import pandas as pd

    s = session_factory(audit_share=0.5, batch_size=5)
    w = LabelingWidget(s, retrain_every=0, poll_seconds=0)
    savings = pd.DataFrame([row], columns=["n_labels", "labels_saved", "labels_saved_low", "labels_saved_high"])
    out = w._saved_words(savings)
    assert words in out["text"]
    assert out["low"] == (None if not np.isfinite(row[2]) else row[2])
    assert (out["n"] is None) == (not np.isfinite(row[1]))
    w.close()

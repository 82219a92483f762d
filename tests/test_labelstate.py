"""LabelState: each rule of the label projection, tested where it lives."""

import numpy as np

import activelearn as al
from activelearn._labelstate import LabelState
from activelearn.datasets import MISSING


def _ds():
    return al.from_arrays(np.zeros((6, 2)), classes=["a", "b"], ids=[f"i{k}" for k in range(6)], name="ls")


def ev(i, kind, item, label=None, who="ann", ref=None, audit=False, seconds=None):
    return {"id": i, "kind": kind, "item_id": item, "label": label, "annotator": who, "ref_event_id": ref,
            "audit": audit, "seconds": seconds}


def test_apply_is_idempotent_by_event_id():
    st = LabelState(_ds())
    events = [ev(1, "labeled", "i0", "a"), ev(2, "labeled", "i1", "b"), ev(3, "undone", "i0", "a", ref=1)]
    st.apply(events)
    st.apply(events)  # applied again (a verb's events read back from the log): nothing changes
    st.apply([events[0]])  # an old label event again must not bring back the undone label
    assert st.y.tolist()[:2] == [MISSING, 1] and st.n_live == 1


def test_from_log_moves_the_cursor_only_for_log_reads():
    st = LabelState(_ds())
    st.apply([ev(5, "labeled", "i0", "a")])
    assert st.last_event_id == 0
    st.apply([ev(5, "labeled", "i0", "a"), ev(9, "skipped", "i2")], from_log=True)
    assert st.last_event_id == 9 and st.skipped[2]


def test_majority_then_earliest_then_adjudicator():
    st = LabelState(_ds(), labels_per_item=3, adjudicators={"cy"})
    st.apply([ev(1, "labeled", "i0", "a", "ann"), ev(2, "labeled", "i0", "b", "bob")])
    assert st.y[0] == 0  # a tie: the earliest label
    st.apply([ev(3, "labeled", "i0", "b", "dee")])
    assert st.y[0] == 1  # the majority
    st.apply([ev(4, "labeled", "i0", "a", "cy")])
    assert st.y[0] == 0  # the adjudicator decides


def test_open_for_annotator_rule():
    st = LabelState(_ds(), labels_per_item=2)
    st.apply([ev(1, "labeled", "i0", "a", "ann")])
    assert not st.is_open_for(0, "ann")  # never asked twice
    assert st.is_open_for(0, "bob")  # needs a second label
    st.apply([ev(2, "labeled", "i0", "b", "bob")])
    assert not st.is_open_for(0, "cy")  # full
    assert st.needing_more("cy") == [] and st.is_open_for(1, "cy")
    st.apply([ev(3, "skipped", "i1", who="cy")])
    assert not st.is_open_for(1, "cy")


def test_needing_more_oldest_first_and_not_my_own():
    st = LabelState(_ds(), labels_per_item=2)
    st.apply([ev(1, "labeled", "i3", "a", "ann"), ev(2, "labeled", "i1", "a", "bob"), ev(3, "labeled", "i2", "a")])
    assert st.needing_more("cy") == [3, 1, 2]
    assert st.needing_more("ann") == [1]


def test_a_label_answers_a_skip_and_undo_does_not_bring_the_skip_back():
    st = LabelState(_ds())
    st.apply([ev(1, "skipped", "i0"), ev(2, "labeled", "i0", "a"), ev(3, "undone", "i0", "a", ref=2)])
    assert not st.skipped[0] and st.y[0] == MISSING


def test_audit_labels_never_train_and_seconds_add_up():
    st = LabelState(_ds())
    st.apply([ev(1, "labeled", "i0", "a", seconds=2.0), ev(2, "labeled", "i1", "b", audit=True, seconds=3.5),
              ev(3, "labeled", "i2", "b")])
    pos, y = st.training_set()
    assert pos.tolist() == [0, 2] and y.tolist() == [0, 1]
    assert st.audit_set()[0].tolist() == [1]
    assert st.labeling_seconds() == 5.5
    assert st.examples_of(1) == [1, 2]

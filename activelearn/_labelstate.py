"""What the labels are now: the store's event log projected into arrays, one way.

:class:`LabelState` is the only in-memory copy of the labeling rules: which
label an item trains on (an adjudicator's, else the majority), which items are
audit labels or set aside, and whether an item is still open for an annotator.
Events reach it through :meth:`LabelState.apply` alone, whether a verb of this
session wrote them or another session did (read back with ``events_since``);
applying an event twice changes nothing.
"""

import numpy as np

from .datasets import MISSING

__all__ = ["LabelState"]


class LabelState:
    """Labels, audit marks and skips of one project, by dataset position.

    Parameters
    ----------
    dataset : Dataset
    labels_per_item : int
        Distinct annotators per item (the project's team policy).
    adjudicators : set of str
        Annotators whose label decides an item.

    Attributes
    ----------
    y : ndarray of shape (n_items,)
        The resolved class position per item, ``MISSING`` where unlabeled.
    audit : ndarray of bool
        Items whose live labels include an audit label (never trained on).
    skipped : ndarray of bool
        Items set aside: offered again only when nothing else is left.
    last_event_id : int
        The newest event read from the store's log (verbs' own events do not move it).
    """

    def __init__(self, dataset, labels_per_item=1, adjudicators=()):
        self.dataset = dataset
        self.labels_per_item = int(labels_per_item)
        self.adjudicators = {str(a) for a in adjudicators}
        n = len(dataset)
        self.y = np.full(n, MISSING, dtype=np.int64)
        self.audit = np.zeros(n, dtype=bool)
        self.skipped = np.zeros(n, dtype=bool)
        self.last_event_id = 0
        self._class_index = {name: i for i, name in enumerate(dataset.class_names)}
        self._live = {}  # position -> {event id: (annotator, label, audit, seconds)}
        self._kept = {}  # position -> {kept event id: the label event a reviewer kept}
        self._replacements = set()  # label events that replaced others (a reviewer's or an overwrite's correction)
        self._applied = set()  # event ids already applied: applying is idempotent

    # -- the one write path ------------------------------------------------
    def apply(self, events, from_log=False):
        """Apply label, undo and skip events (dicts as the store returns them); idempotent by event id.

        Parameters
        ----------
        events : list of dict
        from_log : bool
            The events were read from the log in order (``events_since``): the
            read cursor moves to the newest.

        Returns
        -------
        set of int
            Positions whose state changed.
        """
        touched = set()
        new = list({e["id"]: e for e in events
                    if e["id"] not in self._applied and e["kind"] in ("labeled", "undone", "skipped", "kept")}.values())
        positions = self.dataset.positions([e["item_id"] for e in new]) if new else []
        for e, pos in zip(new, positions):
            pos = int(pos)
            self._applied.add(e["id"])
            if e["kind"] == "labeled":
                self._live.setdefault(pos, {})[e["id"]] = (e["annotator"], e["label"], bool(e["audit"]),
                                                           float(e["seconds"] or 0.0))
                self.skipped[pos] = False  # a label answers a skip
                if e.get("ref_event_id") is not None:
                    self._replacements.add(e["id"])
            elif e["kind"] == "kept":
                self._kept.setdefault(pos, {})[e["id"]] = e["ref_event_id"]
            elif e["kind"] == "undone":
                self._live.get(pos, {}).pop(e["ref_event_id"], None)
                self._kept.get(pos, {}).pop(e["ref_event_id"], None)
            else:
                self.skipped[pos] = True
            touched.add(pos)
        if from_log and events:
            self.last_event_id = max(self.last_event_id, int(events[-1]["id"]))
        for pos in touched:
            self._resolve(pos)
        return touched

    def _resolve(self, pos):
        """The label the model trains on: an adjudicator's, else the majority (ties: the earliest)."""
        live = self._live.get(pos, {})
        if not live:
            self.y[pos] = MISSING
            self.audit[pos] = False
            return
        ordered = [live[k] for k in sorted(live)]
        judged = [lab for who, lab, *_ in ordered if who in self.adjudicators]
        if judged:
            label = judged[-1]
        else:
            votes = {}
            for _, lab, *_ in ordered:
                votes[lab] = votes.get(lab, 0) + 1
            best = max(votes.values())
            label = next(lab for _, lab, *_ in ordered if votes[lab] == best)
        self.y[pos] = self._class_index[label]
        self.audit[pos] = any(a for _, _, a, _ in ordered)

    # -- rules ---------------------------------------------------------------
    @property
    def labeled(self):
        """Boolean mask of items with a resolved label."""
        return self.y != MISSING

    def annotators_of(self, pos):
        """Who holds a live label on the item at ``pos``."""
        return [who for who, *_ in self._live.get(int(pos), {}).values()]

    def is_open_for(self, pos, annotator):
        """Whether ``annotator`` may still be asked to label the item at ``pos``.

        Not when it is set aside, when ``annotator`` labeled it already, or
        when it holds its ``labels_per_item`` labels.
        """
        pos = int(pos)
        if self.skipped[pos]:
            return False
        who = self.annotators_of(pos)
        return annotator not in who and len(who) < self.labels_per_item

    def is_reviewed(self, pos):
        """Whether a person reviewed the item's current label: kept it, or it is a replacement.

        A review covers the label it saw: a label added or changed later makes the item unreviewed again.
        """
        live = self._live.get(int(pos), {})
        if not live:
            return False
        latest = max(live)
        return latest in self._replacements or latest in self._kept.get(int(pos), {}).values()

    def reviewed(self):
        """Positions whose current label a person reviewed (see :meth:`is_reviewed`)."""
        return [pos for pos in self._live if self.is_reviewed(pos)]

    def needing_more(self, annotator):
        """Positions others labeled that still need labels (``labels_per_item > 1``), oldest first."""
        if self.labels_per_item == 1:
            return []
        started = sorted((min(live), pos) for pos, live in self._live.items() if live)
        return [pos for _, pos in started if self.is_open_for(pos, annotator) and self.annotators_of(pos)]

    @property
    def n_live(self):
        """Every live label, counting each annotator's (and audit labels)."""
        return sum(len(live) for live in self._live.values())

    def labeling_seconds(self):
        """Seconds people spent on the live labels (unknown times count as 0)."""
        return float(sum(sec for live in self._live.values() for *_, sec in live.values()))

    def training_set(self):
        """``(positions, y)`` of the labels a model trains on: every resolved label but audit labels."""
        pos = np.flatnonzero(self.labeled & ~self.audit)
        return pos, self.y[pos].copy()

    def audit_set(self):
        """``(positions, y)`` of the audit labels."""
        pos = np.flatnonzero(self.labeled & self.audit)
        return pos, self.y[pos].copy()

    def examples_of(self, class_position, last=200):
        """Positions resolved to ``class_position``, most recently labeled last (at most ``last``)."""
        hits = sorted((max(live), pos) for pos, live in self._live.items()
                      if live and self.y[pos] == class_position)
        return [pos for _, pos in hits[-last:]]

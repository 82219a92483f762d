"""Label review: suspects (cross-fitted cleanlab scores), consensus, ActiveLab, and the noisy oracle."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

import activelearn as al
from activelearn.review import (SUSPECT_COLUMNS, activelab_scores, consensus, cross_fitted_proba, fold_ids,
                                out_of_sample_proba, suspects)
from activelearn.semi import PoolSpreadingClassifier
from activelearn.simulate import Oracle

pytest.importorskip("cleanlab")


@pytest.fixture(scope="module")
def overlapping_blobs():
    """400 items in 4 classes that touch (a model is right on ~90-95% of them), string ids."""
    X, y = make_blobs(n_samples=400, centers=4, n_features=5, cluster_std=2.0, random_state=3)
    classes = ["ant", "bee", "cat", "dog"]
    return al.from_arrays(X, y=[classes[i] for i in y], classes=classes, ids=[f"it-{i:03d}" for i in range(len(X))],
                          name="overlapping")


def labels_table(dataset, item_ids, oracle, annotator="simulated"):
    """A labels table as Session.labels() returns it (string ids, oldest first)."""
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    return pd.DataFrame({"item_id": [str(i) for i in item_ids], "label": [oracle(i) for i in item_ids],
                         "annotator": annotator, "labeled_at": [t0 + pd.Timedelta(seconds=k)
                                                                for k in range(len(item_ids))],
                         "seconds": 1.0, "audit": False})


def spreading_model(dataset, exclude=()):
    keep = np.setdiff1d(np.arange(len(dataset)), np.asarray(exclude, dtype=np.int64))
    return PoolSpreadingClassifier(n_classes=dataset.n_classes, embedding=None).set_pool(dataset.X[keep])


# -- suspects ---------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["logistic", "pool_spreading", "one_nn"])
def test_suspects_find_known_flipped_labels(overlapping_blobs, model):
    ds = overlapping_blobs
    oracle = Oracle(ds, noise=0.1, seed=4)
    ids = [ds.item_id(p) for p in np.random.default_rng(0).choice(len(ds), 200, replace=False)]
    labels = labels_table(ds, ids, oracle)
    flipped = {i for i in ids if oracle.is_wrong(i)}
    assert 12 <= len(flipped) <= 30  # ~10% of 200
    template = {"logistic": LogisticRegression(max_iter=500), "pool_spreading": spreading_model(ds),
                # 1-NN is right on its own training labels: had any label reached its own probability, no
                # label would look doubtful at all
                "one_nn": KNeighborsClassifier(n_neighbors=1)}[model]
    out = suspects(ds, labels, template)
    top = set(out.head(2 * len(flipped))["item_id"])
    assert len(top & flipped) >= 0.8 * len(flipped)
    flagged = set(out.loc[out["issue"], "item_id"])
    assert len(flagged & flipped) >= 0.5 * len(flipped)  # confident learning flags most of them, too


def test_suspects_table_most_doubtful_first(overlapping_blobs):
    ds = overlapping_blobs
    oracle = Oracle(ds, noise=0.1, seed=1)
    ids = [ds.item_id(p) for p in range(0, 400, 4)]
    labels = labels_table(ds, ids, oracle)
    out = suspects(ds, labels, LogisticRegression(max_iter=500))
    assert list(out.columns) == SUSPECT_COLUMNS and len(out) == len(labels)
    assert (np.diff(out["score"]) >= 0).all() and out["score"].between(0, 1).all()
    assert set(out["item_id"]) == set(ids)  # the dataset's own ids
    assert set(out["suggested"]) <= set(ds.class_names)
    doubtful = out.iloc[0]
    assert doubtful["suggested"] != doubtful["label"]
    assert len(suspects(ds, labels, LogisticRegression(max_iter=500), n=5)) == 5
    # the same folds, the same answer
    pd.testing.assert_frame_equal(out, suspects(ds, labels, LogisticRegression(max_iter=500)))


def test_cross_fit_never_sees_an_items_own_label(overlapping_blobs):
    """Flip the labels of one fold: that fold's probabilities do not move; every other fold's do."""
    ds = overlapping_blobs
    pos = np.arange(0, 400, 2)
    y = ds.y[pos].copy()
    folds = fold_ids(y, cv=5, random_state=0)
    model = spreading_model(ds)  # pool-aware: the held-out items are in its graph, unlabeled
    before = cross_fitted_proba(model, ds.X[pos], y, folds, ds.n_classes)
    held = folds == 0
    y_flipped = y.copy()
    y_flipped[held] = (y[held] + 1) % ds.n_classes
    after = cross_fitted_proba(model, ds.X[pos], y_flipped, folds, ds.n_classes)
    np.testing.assert_array_equal(before[held], after[held])
    assert np.abs(before[~held] - after[~held]).max() > 0.1  # those fits did train on the flipped labels


def test_session_suspects_through_the_default_model(overlapping_blobs):
    ds = overlapping_blobs
    oracle = Oracle(ds, noise=0.15, seed=2)
    with al.Session(ds, model=spreading_model(ds), store=":memory:", random_state=0, test_size=0.25) as s:
        # what Session.suspects does: its model template (pool: every non-test item) and test positions
        s.model_template = PoolSpreadingClassifier(n_classes=ds.n_classes, embedding=None)
        s.model_template.set_pool(ds.X[~s.test_mask])
        s.simulate(120, oracle=oracle)
        labels = s.labels()
        out = suspects(ds, labels, s.model_template, exclude_positions=np.flatnonzero(s.test_mask),
                       random_state=s.random_state)
    flipped = {i for i in labels["item_id"] if oracle.is_wrong(i)}
    top = set(out.head(2 * len(flipped))["item_id"])
    assert len(flipped) >= 8 and len(top & flipped) >= 0.8 * len(flipped)
    assert not set(out["item_id"]) & set(s.test_ids)


def test_suspects_scores_each_annotators_label_and_audit_labels(overlapping_blobs):
    ds = overlapping_blobs
    truth = Oracle(ds)
    ids = [ds.item_id(p) for p in range(0, 400, 3)]
    a = labels_table(ds, ids, truth, annotator="ann")
    # bob gives a second label to 20 items, wrong on every one of them
    wrong = ids[:20]
    b = labels_table(ds, wrong, lambda i: ds.class_names[(ds.class_names.index(truth(i)) + 1) % 4], annotator="bob")
    audit = labels_table(ds, [ds.item_id(1)], lambda i: ds.class_names[(ds.class_names.index(truth(i)) + 2) % 4])
    audit["audit"] = True
    labels = pd.concat([a, b, audit], ignore_index=True)
    out = suspects(ds, labels, LogisticRegression(max_iter=500))
    assert len(out) == len(labels)  # every given label, audit included
    per = out.set_index(["item_id", "annotator"])["score"]
    for i in wrong:  # on the same item (same probabilities), bob's wrong label scores below ann's right one
        assert per[(i, "bob")] < per[(i, "ann")]
    assert ds.item_id(1) in set(out.head(25)["item_id"])  # the wrong audit label is a suspect like any other


def test_too_few_labels_say_how_many_more(overlapping_blobs):
    ds = overlapping_blobs
    truth = Oracle(ds)
    by_class = {c: [ds.item_id(p) for p in np.flatnonzero(ds.y == k)] for k, c in enumerate(ds.class_names)}
    labels = labels_table(ds, by_class["ant"][:3] + by_class["bee"][:1], truth)
    with pytest.raises(al.ActiveLearnError, match=r"Label 1 more: 1 more 'bee' item"):
        suspects(ds, labels, LogisticRegression())
    labels = labels_table(ds, by_class["ant"][:1], truth)
    with pytest.raises(al.ActiveLearnError, match=r"Label 3 more"):
        suspects(ds, labels, LogisticRegression())
    with pytest.raises(al.ActiveLearnError, match="at least 2 classes"):
        suspects(ds, labels_table(ds, [], truth), LogisticRegression())
    enough = labels_table(ds, by_class["ant"][:2] + by_class["bee"][:2], truth)
    assert len(suspects(ds, enough, LogisticRegression())) == 4  # two folds of one item per class


def test_missing_cleanlab_names_the_install_command(overlapping_blobs, monkeypatch):
    import sys

    ds = overlapping_blobs
    labels = labels_table(ds, [ds.item_id(p) for p in range(40)], Oracle(ds))
    monkeypatch.setitem(sys.modules, "cleanlab", None)
    with pytest.raises(al.ActiveLearnError, match=r"pip install cleanlab"):
        suspects(ds, labels, LogisticRegression())


def test_out_of_sample_proba_rows_follow_the_items(overlapping_blobs):
    ds = overlapping_blobs
    ids = [ds.item_id(p) for p in range(0, 400, 5)]
    P = out_of_sample_proba(ds, labels_table(ds, ids, Oracle(ds)), LogisticRegression(max_iter=500))
    assert list(P.index) == ids and list(P.columns) == ds.class_names
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert (P.to_numpy().argmax(axis=1) == ds.y[ds.positions(ids)]).mean() > 0.85


# -- several annotators -------------------------------------------------------------------
def hand_made_table():
    """Five items, three annotators: ann and bob always agree; cid, often first, disagrees on items 1-4."""
    rows = [("i1", "b", "cid"), ("i1", "a", "ann"), ("i1", "a", "bob"),
            ("i2", "a", "cid"), ("i2", "b", "ann"), ("i2", "b", "bob"),
            ("i3", "a", "ann"), ("i3", "a", "bob"), ("i3", "b", "cid"),
            ("i4", "a", "cid"), ("i4", "b", "bob"), ("i4", "b", "ann"),
            ("i5", "a", "ann"), ("i5", "a", "cid")]
    return pd.DataFrame(rows, columns=["item_id", "label", "annotator"]).assign(audit=False)


def test_consensus_by_majority_on_a_hand_made_table():
    items, people = consensus(hand_made_table(), ["a", "b"])
    assert items["item_id"].tolist() == ["i1", "i2", "i3", "i4", "i5"]
    assert items["consensus"].tolist() == ["a", "b", "a", "b", "a"]
    np.testing.assert_allclose(items["agreement"], [2 / 3] * 4 + [1.0])
    assert items["n_labels"].tolist() == [3, 3, 3, 3, 2]
    people = people.set_index("annotator")
    np.testing.assert_allclose(people.loc[["ann", "bob", "cid"], "agreement"], [1.0, 1.0, 0.2])
    assert people.loc["cid", "n_labels"] == 5
    assert people.index[-1] == "cid"  # worst last


def test_consensus_with_model_probabilities_crowdlab():
    table = hand_made_table()
    # a model that agrees with ann and bob, confidently
    P = pd.DataFrame([[0.9, 0.1], [0.1, 0.9], [0.8, 0.2], [0.2, 0.8], [0.7, 0.3]], columns=["a", "b"],
                     index=["i1", "i2", "i3", "i4", "i5"])
    items, people = consensus(table, ["a", "b"], pred_probs=P)
    assert items["consensus"].tolist() == ["a", "b", "a", "b", "a"]
    assert items["quality"].between(0, 1).all()
    q = people.set_index("annotator")["quality"]
    assert q["cid"] < min(q["ann"], q["bob"])
    # CROWDLAB's annotator quality (agreement weighted with the model), each on its own annotator
    from cleanlab.multiannotator import get_label_quality_multiannotator

    wide = np.array([[0, 0, 1], [1, 1, 0], [0, 0, 1], [1, 1, 0], [0, np.nan, 0]])  # columns ann, bob, cid
    expected = get_label_quality_multiannotator(wide, P.to_numpy(), verbose=False)["annotator_stats"]
    np.testing.assert_allclose(q[["ann", "bob", "cid"]], expected["annotator_quality"].sort_index())
    assert people["annotator"].iloc[-1] == "cid"
    # a model unsure about item 1 lowers the consensus quality there, nowhere else
    P2 = P.copy()
    P2.loc["i1"] = [0.5, 0.5]
    items2, _ = consensus(table, ["a", "b"], pred_probs=P2)
    assert items2["consensus"].tolist() == items["consensus"].tolist()
    drop = items["quality"].to_numpy() - items2["quality"].to_numpy()
    assert drop[0] > 0.2 and np.abs(drop[1:]).max() < 0.05
    # a confident model that sides with cid on item 1 outweighs two annotators CROWDLAB trusts less than it
    P3 = P.copy()
    P3.loc["i1"] = [0.05, 0.95]
    items3, _ = consensus(table, ["a", "b"], pred_probs=P3)
    assert items3["consensus"].tolist() == ["b", "b", "a", "b", "a"]


def test_activelab_relabel_or_label_anew():
    table = hand_made_table().query("annotator != 'cid' or item_id == 'i5'")  # i5: ann 'a' vs cid 'a'
    table = pd.concat([table, pd.DataFrame([("i6", "a", "ann"), ("i6", "b", "bob")],
                                           columns=["item_id", "label", "annotator"])], ignore_index=True)
    P = pd.DataFrame([[0.95, 0.05], [0.05, 0.95], [0.95, 0.05], [0.05, 0.95], [0.95, 0.05], [0.5, 0.5]],
                     columns=["a", "b"], index=["i1", "i2", "i3", "i4", "i5", "i6"])
    unlabeled = pd.DataFrame([[0.5, 0.5], [0.99, 0.01]], columns=["a", "b"], index=["u-unsure", "u-sure"])
    out = activelab_scores(table, ["a", "b"], P, unlabeled)
    assert list(out.columns) == ["item_id", "score", "labeled", "n_labels"]
    assert (np.diff(out["score"]) >= 0).all()
    by_id = out.set_index("item_id")
    # the disputed item (annotators split, model unsure) is worth another label before any agreed one
    assert by_id.loc["i6", "score"] < by_id.loc[["i1", "i2", "i3", "i4", "i5"], "score"].min()
    assert by_id.loc["u-unsure", "score"] < by_id.loc["u-sure", "score"]
    assert by_id.loc["i6", "labeled"] and not by_id.loc["u-unsure", "labeled"]
    assert by_id.loc["i6", "n_labels"] == 2 and by_id.loc["u-sure", "n_labels"] == 0


# -- the noisy oracle ------------------------------------------------------------------------
def test_oracle_without_noise_is_the_truth(digits):
    o = Oracle(digits)
    ids = [digits.item_id(p) for p in range(0, len(digits), 7)]
    assert [o(i) for i in ids] == [digits.classes[digits.y[digits.position(i)]] for i in ids]
    assert not o.wrong.any()


@pytest.mark.parametrize("mode", ["uniform", "confusable"])
def test_oracle_noise_rate_and_determinism(digits, mode):
    o = Oracle(digits, noise=0.1, seed=3, mode=mode)
    truth = Oracle(digits)
    ids = [digits.item_id(p) for p in range(len(digits))]
    answers = [o(i) for i in ids]
    wrong = np.array([a != truth(i) for a, i in zip(answers, ids)])
    assert abs(wrong.mean() - 0.1) < 0.03
    np.testing.assert_array_equal(wrong, o.wrong)
    assert [o(i) for i in ids[::-1]] == answers[::-1]  # asked again, in another order: the same answers
    again = Oracle(digits, noise=0.1, seed=3, mode=mode)
    assert [again(i) for i in ids] == answers  # a new oracle, same seed
    other = Oracle(digits, noise=0.1, seed=4, mode=mode)
    assert (other.wrong != o.wrong).sum() > 50  # another annotator errs on other items
    wrong_to = [(truth(i), a) for a, i, w in zip(answers, ids, wrong) if w]
    if mode == "uniform":
        assert len({a for _, a in wrong_to}) == digits.n_classes  # any other class
    else:
        confusable = dict(zip(digits.classes, np.asarray(digits.classes)[o.confusable]))
        assert all(a == confusable[t] for t, a in wrong_to)
        assert all(confusable[c] != c for c in digits.classes)


def test_oracle_confusable_class_is_the_nearest_centroids_confusion():
    # class 0 and 1 overlap, class 2 is far from both: 0 <-> 1 are confusable, 2 goes to its nearest centroid
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal([1.5, 0], 1, (100, 2)), rng.normal([0, 8], 1, (100, 2))])
    ds = al.from_arrays(X, y=np.repeat([0, 1, 2], 100), classes=["a", "b", "c"])
    o = Oracle(ds, noise=0.3, mode="confusable")
    assert o.confusable.tolist()[:2] == [1, 0]
    assert o.confusable[2] in (0, 1)


def test_oracle_rejects_bad_noise_and_mode(digits):
    with pytest.raises(al.ActiveLearnError, match="noise"):
        Oracle(digits, noise=1.5)
    with pytest.raises(al.ActiveLearnError, match="mode"):
        Oracle(digits, noise=0.1, mode="adversarial")


def test_noisy_oracle_drives_the_loop(digits):
    o = Oracle(digits, noise=0.2, seed=0)
    with al.Session(digits, model=LogisticRegression(max_iter=300), store=":memory:") as s:
        s.simulate(60, oracle=o)
        labels = s.labels()
    given_wrong = [lab != Oracle(digits)(i) for i, lab in zip(labels["item_id"], labels["label"])]
    assert given_wrong == [o.is_wrong(i) for i in labels["item_id"]]
    assert sum(given_wrong) > 0


def test_consensus_and_activelab_on_cross_fitted_probabilities_with_int_ids():
    # integer item ids: the store's labels table holds them as strings, the probabilities' index as ints
    X, y = make_blobs(n_samples=300, centers=3, n_features=4, cluster_std=1.5, random_state=1)
    ds = al.from_arrays(X, y=y, classes=["a", "b", "c"])
    truth, sloppy = Oracle(ds), Oracle(ds, noise=0.4, seed=7)
    first = [ds.item_id(p) for p in range(0, 300, 2)]
    second = first[:60]
    labels = pd.concat([labels_table(ds, first, truth, "ann"), labels_table(ds, second, sloppy, "sam")],
                       ignore_index=True)
    P = out_of_sample_proba(ds, labels, LogisticRegression(max_iter=500))
    assert P.index.tolist() == first
    items, people = consensus(labels, ds.class_names, pred_probs=P)
    assert (items["consensus"].to_numpy() == np.asarray(ds.class_names)[ds.y[ds.positions(first)]]).mean() > 0.95
    assert people["annotator"].tolist() == ["ann", "sam"]
    unlabeled = [ds.item_id(p) for p in range(1, 300, 2)]
    P_un = pd.DataFrame(LogisticRegression(max_iter=500).fit(X[::2], y[::2]).predict_proba(X[1::2]),
                        index=unlabeled, columns=ds.class_names)
    scores = activelab_scores(labels, ds.class_names, P, P_un)
    assert len(scores) == 300 and set(scores["item_id"]) == set(first) | set(unlabeled)
    disputed = {i for i in second if sloppy(i) != truth(i)}
    assert disputed and scores.head(len(disputed))["labeled"].any()  # doubtful labels compete with new items


def test_session_suspects_finds_flipped_labels_and_consensus_runs(blobs, tmp_path):
    from sklearn.linear_model import LogisticRegression

    s = al.Session(blobs, model=LogisticRegression(max_iter=300), store=tmp_path / "r.db", test_size=0.25,
                   strategy="random", batch_size=40)
    flipped = set()
    for k, item in enumerate(s.next_batch(40)):
        truth = blobs.classes[blobs.y[blobs.position(item)]]
        if k % 10 == 0:  # 4 wrong labels
            truth = next(c for c in blobs.classes if c != truth)
            flipped.add(item)
        s.label(item, truth)
    found = set(s.suspects(n=8)["item_id"])
    assert len(found & flipped) >= 3
    items, annotators = s.consensus()
    assert len(items) == 40 and annotators["annotator"].tolist() == ["anonymous"]


# -- review: replace or keep a label ------------------------------------------------------------
class _SpyModel(LogisticRegression):
    """Records the labels of its last fit (by feature row), to see what a retrain trained on."""

    fits = []

    def fit(self, X, y, sample_weight=None):
        type(self).fits.append({tuple(np.round(x, 6)): int(v) for x, v in zip(np.asarray(X), y)})
        return super().fit(X, y, sample_weight)


def _label_ten(s, ds, annotator=None):
    ids = s.next_batch(10)
    for i in ids:
        s.label(i, ds.classes[ds.y[ds.position(i)]], annotator=annotator)
    return ids


def test_relabel_is_durable_attributed_and_undo_restores_the_previous_label(blobs, tmp_path):
    url = tmp_path / "review.db"
    bob = al.Session(blobs, model=LogisticRegression(max_iter=200), store=url, annotator="bob", batch_size=10)
    ids = _label_ten(bob, blobs)
    before = bob.labels().set_index("item_id").loc[ids[3]]
    bob.close()
    ann = al.Session(blobs, model=LogisticRegression(max_iter=200), store=url, annotator="ann")
    old = before["label"]
    new = next(c for c in blobs.classes if c != old)
    ann.relabel(ids[3], new, seconds=2.5)
    assert ann.is_reviewed(ids[3])
    # durable: a fresh session on the store (as after a crash) sees the new label, given by ann
    fresh = al.Session(blobs, model=LogisticRegression(max_iter=200), store=url, annotator="cy")
    row = fresh.labels().set_index("item_id").loc[ids[3]]
    assert (row["label"], row["annotator"], row["seconds"]) == (new, "ann", 2.5)
    assert len(fresh.labels()) == 10
    assert blobs.classes[fresh.y_labeled[blobs.position(ids[3])]] == new
    assert fresh.is_reviewed(ids[3])  # the review is part of the record, too
    # undo: the replaced label comes back, under its own annotator and time
    done = ann.undo()
    assert done["item_id"] == ids[3] and done["label"] == new and done["restored"] == [old]
    fresh.refresh()
    row = fresh.labels().set_index("item_id").loc[ids[3]]
    assert (row["label"], row["annotator"], row["labeled_at"]) == (old, "bob", before["labeled_at"])
    assert blobs.classes[fresh.y_labeled[blobs.position(ids[3])]] == old and not fresh.is_reviewed(ids[3])
    assert ann.undo() is None  # ann has nothing else to take back
    kinds = fresh.store.events(fresh.project_id)["kind"].tolist()
    assert kinds.count("labeled") == 12 and kinds.count("undone") == 2  # nothing deleted, every step an event
    for s in (ann, fresh):
        s.close()


def test_overwrite_then_undo_restores_the_label_it_replaced(session_factory):
    s = session_factory()
    ids = _label_ten(s, s.dataset)
    old = s.labels().set_index("item_id").loc[ids[0], "label"]
    new = next(c for c in s.dataset.classes if c != old)
    s.label(ids[0], new, overwrite=True)
    assert s.undo()["restored"] == [old]
    assert s.labels().set_index("item_id").loc[ids[0], "label"] == old and s.n_labels == 10


def test_retrain_trains_on_the_corrected_label(blobs):
    _SpyModel.fits = []
    s = al.Session(blobs, model=_SpyModel(max_iter=200), store=":memory:", batch_size=10, test_size=0.25)
    ids = _label_ten(s, blobs)
    wrong = next(c for c in blobs.classes if c != blobs.classes[blobs.y[blobs.position(ids[0])]])
    s.label(ids[1], wrong, overwrite=True)  # a mistake
    s.retrain()
    key = tuple(np.round(blobs.X[blobs.position(ids[1])], 6))
    assert _SpyModel.fits[-1][key] == blobs.class_names.index(wrong)
    right = blobs.classes[blobs.y[blobs.position(ids[1])]]
    s.relabel(ids[1], right)
    s.retrain()
    assert _SpyModel.fits[-1][key] == blobs.class_names.index(right) and len(_SpyModel.fits[-1]) == 10
    s.undo()  # back to the mistake, and the next retrain trains on it again
    s.retrain()
    assert _SpyModel.fits[-1][key] == blobs.class_names.index(wrong)


def test_a_kept_label_is_not_offered_again_until_it_changes(blobs, tmp_path):
    s = al.Session(blobs, model=LogisticRegression(max_iter=300), store=tmp_path / "k.db", test_size=0.25,
                   strategy="random", batch_size=40, annotator="ann")
    flipped = []
    for k, item in enumerate(s.next_batch(40)):
        truth = blobs.classes[blobs.y[blobs.position(item)]]
        if k % 10 == 0:
            truth = next(c for c in blobs.classes if c != truth)
            flipped.append(item)
        s.label(item, truth, annotator="bob")
    first = s.suspects(n=1)["item_id"].iloc[0]
    s.keep_label(first)
    out = s.suspects()
    assert first not in set(out["item_id"]) and not out["reviewed"].any()
    every = s.suspects(include_reviewed=True)
    assert every.set_index("item_id").loc[first, "reviewed"] and len(every) == 40 and len(out) == 39
    # the keep is durable and undoable like a label
    again = al.Session(blobs, model=LogisticRegression(max_iter=300), store=tmp_path / "k.db", test_size=0.25,
                       strategy="random", annotator="cy")
    assert again.is_reviewed(first)
    done = s.undo()
    assert done["kind"] == "kept" and done["item_id"] == first and s.n_labels == 40  # the label itself stays
    assert s.suspects(n=1)["item_id"].iloc[0] == first
    # kept, then changed by someone: the review no longer covers the label, so it is a suspect again
    s.keep_label(first)
    other = next(c for c in blobs.classes if c != s.labels().set_index("item_id").loc[first, "label"])
    again.refresh()
    again.label(first, other, overwrite=True)
    s.refresh()
    assert s.is_reviewed(first)  # an overwrite is a person's correction, too
    again.undo()
    s.refresh()
    assert not s.is_reviewed(first)  # the restored label is not the one the review saw
    s.close()
    again.close()


def test_relabel_and_keep_refuse_what_they_cannot_do(session_factory):
    s = session_factory()
    ids = _label_ten(s, s.dataset)
    unlabeled = s.next_batch(1)[0]
    with pytest.raises(al.InvalidDataError, match="no label to replace.*label\\(\\)"):
        s.relabel(unlabeled, "ant")
    with pytest.raises(al.InvalidDataError, match="no label to keep"):
        s.keep_label(unlabeled)
    with pytest.raises(al.UnknownLabelError, match="nothing was changed"):
        s.relabel(ids[0], "zebra")
    with pytest.raises(al.InvalidDataError, match="no label by 'zed'"):
        s.relabel(ids[0], "ant", replaces="zed")
    with pytest.raises(al.TestItemError):
        s.relabel(s.test_ids[0], "ant")
    assert s.n_labels == 10 and s.store.events(s.project_id)["kind"].tolist().count("undone") == 0


def test_relabel_with_several_labels_per_item_replaces_one_annotators_label(tmp_path):
    X, y = make_blobs(n_samples=60, centers=2, n_features=3, random_state=0)
    ds = al.from_arrays(X, y=["a" if v == 0 else "b" for v in y], classes=["a", "b"], name="two")
    url = tmp_path / "k2.db"
    kw = dict(model=LogisticRegression(), store=url, test_size=0, strategy="random")
    ann = al.Session(ds, annotator="ann", labels_per_item=2, **kw)
    bob = al.Session(ds, annotator="bob", trainer=False, **kw)
    item = ann.next_batch(1)[0]
    ann.label(item, "a")
    bob.label(item, "b")
    rev = al.Session(ds, annotator="rev", trainer=False, **kw)
    rev.relabel(item, "a", replaces="bob")
    labels = rev.labels().set_index("annotator")["label"]
    assert labels.to_dict() == {"ann": "a", "rev": "a"}
    assert rev.undo()["restored"] == ["b"]
    assert rev.labels().set_index("annotator")["label"].to_dict() == {"ann": "a", "bob": "b"}
    for s in (ann, bob, rev):
        s.close()


@pytest.mark.parametrize("embedding, model_class", [(None, "spreading"), ("tsne", "spreading"), (None, "rbf")])
def test_pool_spreading_shortcut_equals_refitting_every_fold(overlapping_blobs, embedding, model_class):
    """The cross-fit shortcut (graphs built once per pool, no SVC) gives what fitting each fold's model gives."""
    from activelearn.pooled import PoolRBFNetClassifier
    from activelearn.review import _cross_fit_generic, _spreading_folds

    ds = overlapping_blobs
    keep = np.arange(0, 400, 2) if embedding else np.arange(400)  # a small pool keeps t-SNE quick
    cls = PoolSpreadingClassifier if model_class == "spreading" else PoolRBFNetClassifier
    model = cls(n_classes=ds.n_classes, embedding=embedding, cache_dir=None).set_pool(ds.X[keep])
    pos = keep[::3]
    y = np.where(np.arange(len(pos)) % 9 == 0, (ds.y[pos] + 1) % 4, ds.y[pos])  # some wrong labels too
    folds = fold_ids(y, cv=5, random_state=0)
    fast = _spreading_folds(model, ds.X[pos], y, folds, ds.n_classes)
    slow = _cross_fit_generic(model, ds.X[pos], y, folds, ds.n_classes)
    assert fast is not None
    np.testing.assert_allclose(fast / fast.sum(1, keepdims=True), slow / slow.sum(1, keepdims=True), atol=1e-6)
    again = _spreading_folds(model, ds.X[pos], y, folds, ds.n_classes)  # from the cached graphs
    np.testing.assert_array_equal(again, fast)
    # rows outside the pool, or another model: no shortcut (the general path answers)
    assert _spreading_folds(model, ds.X[pos] + 100.0, y, folds, ds.n_classes) is None
    assert _spreading_folds(LogisticRegression(), ds.X[pos], y, folds, ds.n_classes) is None

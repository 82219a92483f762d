import threading

import numpy as np
import pandas as pd
import pytest

import activelearn as al
from activelearn.loop import HISTORY_COLUMNS
from conftest import true_label


def label_batch(session, ids=None):
    ids = session.next_batch() if ids is None else ids
    for item_id in ids:
        session.label(item_id, true_label(session.dataset, item_id))
    return ids


def test_test_set_is_stratified_and_never_queried(session_factory, blobs):
    s = session_factory(test_size=0.25)
    test = set(s.test_ids)
    assert len(test) == 30
    counts = pd.Series([true_label(blobs, i) for i in test]).value_counts()
    assert counts.tolist() == [10, 10, 10]
    seen = set()
    while True:
        ids = s.next_batch()
        if not ids:
            break
        assert not (set(ids) & test)
        seen |= set(ids)
        label_batch(s, ids)
        s.retrain()
    assert len(seen) == 90 and seen.isdisjoint(test)


def test_next_batch_is_stable_until_something_changes(session_factory):
    s = session_factory()
    first = s.next_batch()
    assert s.next_batch() == first
    s.label(first[0], true_label(s.dataset, first[0]))
    assert s.next_batch()[:4] == first[1:]


def test_cold_start_then_model_strategy(session_factory):
    s = session_factory(strategy="margin")
    s.next_batch()
    assert s.last_query.strategy == "typiclust"  # no labels yet: model-free
    label_batch(s)
    s.retrain()
    s.next_batch()
    assert s.last_query.strategy == "margin" and s.last_query.model_version == 1


def test_one_class_labeled_does_not_crash(session_factory, blobs):
    s = session_factory()
    ant = [i for i in blobs.ids if true_label(blobs, i) == "ant" and i not in set(s.test_ids)][:3]
    for i in ant:
        s.label(i, "ant")
    row = s.retrain()
    assert row["n_labels"] == 3 and 0.0 < row["accuracy"] < 0.5
    ids = s.next_batch()
    assert len(ids) == 5 and s.last_query.strategy == "typiclust"  # still a cold start


def test_history_columns_and_cost(session_factory):
    s = session_factory(cost_per_label=0.1, cost_per_hour=36.0)
    ids = s.next_batch()
    for item_id in ids:
        s.label(item_id, true_label(s.dataset, item_id), seconds=10.0)
    s.retrain()
    h = s.history
    assert list(h.columns) == HISTORY_COLUMNS
    row = h.iloc[-1]
    assert row.n_labels == 5 and row.labeling_seconds == 50.0
    assert row.cost == pytest.approx(5 * 0.1 + 36.0 * 50 / 3600)
    assert row.model_version == 1 and row.n_test == 30 and 0 <= row.accuracy <= 1


def test_labels_dataframe(session_factory):
    s = session_factory(annotator="ada")
    ids = label_batch(s)
    df = s.labels()
    assert list(df.columns) == ["item_id", "label", "annotator", "labeled_at", "seconds", "audit"]
    assert df["item_id"].tolist() == ids and set(df["annotator"]) == {"ada"}
    assert str(df["labeled_at"].dtype).startswith("datetime64") and (df["seconds"] >= 0).all()


def test_resume_same_labels_history_and_nothing_asked_twice(session_factory, store_path):
    s = session_factory()
    asked = set(label_batch(s))
    s.retrain()
    asked |= set(label_batch(s))
    s.retrain()
    history = s.history
    s.store.close()
    del s

    again = session_factory()  # same store: a re-run cell or a restarted kernel
    assert again.n_labels == 10 and again.model_version == 2
    pd.testing.assert_frame_equal(again.history, history)
    nxt = again.next_batch()
    assert asked.isdisjoint(nxt)
    assert again.model is not None  # rebuilt from the stored labels
    events = again.store.events(again.project_id)
    assert (events["kind"] == "labeled").sum() == 10  # nothing duplicated by reopening


def test_undo_is_durable_and_offers_the_item_again(session_factory):
    s = session_factory()
    ids = label_batch(s)
    undone = s.undo()
    assert undone["item_id"] == ids[-1]
    assert s.n_labels == 4 and s.next_batch()[0] == ids[-1]
    s.store.close()
    assert session_factory().n_labels == 4


def test_undo_with_nothing_to_undo(session_factory):
    assert session_factory().undo() is None


def test_skip_moves_on_and_comes_back_last(session_factory):
    s = session_factory(test_size=0.0)
    first = s.next_batch()
    s.skip(first[0])
    assert first[0] not in s.next_batch()
    while True:  # label everything else
        ids = [i for i in s.next_batch(20) if i != first[0]]
        if not ids:
            break
        label_batch(s, ids)
    assert s.next_batch() == [first[0]]


def test_exhausted_pool_returns_empty_list(session_factory, blobs):
    s = session_factory(test_size=0.5)
    for item_id in blobs.ids:
        if item_id not in set(s.test_ids):
            s.label(item_id, true_label(blobs, item_id))
    assert s.next_batch() == []


def test_bad_labels_cost_nothing(session_factory):
    s = session_factory()
    ids = label_batch(s)
    with pytest.raises(al.UnknownLabelError, match="'dog' is not one of the classes"):
        s.label(s.next_batch()[0], "dog")
    with pytest.raises(al.UnknownItemError, match="nope"):
        s.label("nope", "ant")
    with pytest.raises(al.TestItemError, match="held-out test set"):
        s.label(s.test_ids[0], "ant")
    with pytest.raises(al.AlreadyLabeledError, match="already labeled"):
        s.label(ids[0], "cat" if true_label(s.dataset, ids[0]) != "cat" else "ant")
    assert s.labels()["item_id"].tolist() == ids  # every earlier label intact


def test_overwrite_replaces_a_label(session_factory):
    s = session_factory()
    ids = label_batch(s)
    s.label(ids[0], "cat", overwrite=True)
    labels = s.labels().set_index("item_id")["label"]
    assert labels[ids[0]] == "cat" and len(labels) == 5


def test_unknown_strategy_and_bad_parameters(blobs, store_path):
    with pytest.raises(al.UnknownStrategyError):
        al.Session(blobs, strategy="psychic", store=store_path)
    with pytest.raises(al.InvalidDataError, match="batch_size"):
        al.Session(blobs, batch_size=0, store=store_path)
    with pytest.raises(al.InvalidDataError, match="test_size"):
        al.Session(blobs, test_size=1.5, store=store_path)


def test_store_from_another_dataset_is_refused(session_factory, digits):
    session_factory()
    with pytest.raises(al.StoreMismatchError):
        session_factory(dataset=al.from_arrays(digits.X[:120, :4], y=digits.y[:120] % 3,
                                               classes=["ant", "bee", "cat"], name="blobs"))


@pytest.mark.parametrize("bad", ["duplicates", "out_of_range", "floats"])
def test_misbehaving_strategy_is_caught(session_factory, bad):
    def strategy(classifier, X_pool, n_instances, random_state=None, **_):
        return {"duplicates": np.array([0, 0, 1]), "out_of_range": np.array([0, len(X_pool)]),
                "floats": np.array([0.5, 1.5])}[bad]

    s = session_factory(strategy=strategy)
    label_batch(s)
    s.retrain()
    with pytest.raises(al.StrategyError):
        s.next_batch()


def test_failed_training_keeps_model_and_labels(session_factory):
    class Flaky:
        fail = False

        def get_params(self, deep=True):
            return {}

        def fit(self, X, y):
            if Flaky.fail:
                raise RuntimeError("GPU on fire")
            from sklearn.linear_model import LogisticRegression
            self._m = LogisticRegression().fit(X, y)
            self.classes_ = self._m.classes_
            return self

        def predict_proba(self, X):
            return self._m.predict_proba(X)

    s = session_factory(model=Flaky())
    label_batch(s)
    s.retrain()
    model = s.model
    Flaky.fail = True
    label_batch(s)
    with pytest.raises(al.TrainingError, match="GPU on fire.*version 1.*every label"):
        s.retrain()
    assert s.model is model and s.model_version == 1 and s.n_labels == 10
    assert isinstance(s.last_error, al.TrainingError)


def test_no_true_labels_means_no_accuracy(store_path, fast_model, blobs):
    pool = al.from_arrays(blobs.X, classes=blobs.classes, ids=blobs.ids, name="unlabeled")
    s = al.Session(pool, model=fast_model, store=store_path, batch_size=6)
    assert s.test_ids == []
    for item_id in s.next_batch():
        s.label(item_id, true_label(blobs, item_id))
    row = s.retrain()
    assert row["accuracy"] is None and row["n_test"] == 0
    assert np.isnan(s.history["accuracy"].iloc[0])


def test_labeling_while_retraining_in_another_thread(session_factory):
    s = session_factory()
    label_batch(s)
    s.retrain()
    done = threading.Event()

    def train():
        for _ in range(5):
            s.retrain()
        done.set()

    t = threading.Thread(target=train)
    t.start()
    labeled = 0
    while labeled < 30:
        ids = s.next_batch()
        label_batch(s, ids)
        labeled += len(ids)
    t.join()
    assert done.is_set() and s.n_labels == 35
    assert len(s.labels()) == 35 and s.labels()["item_id"].is_unique


def test_simulate_reaches_budget_and_is_repeatable(blobs, fast_model, tmp_path):
    h1 = al.Session(blobs, model=fast_model, store=tmp_path / "a.db", batch_size=5).simulate(30)
    h2 = al.Session(blobs, model=fast_model, store=tmp_path / "b.db", batch_size=5).simulate(30)
    assert h1["n_labels"].tolist() == [5, 10, 15, 20, 25, 30]
    pd.testing.assert_frame_equal(h1.drop(columns=["train_seconds", "query_seconds"]),
                                  h2.drop(columns=["train_seconds", "query_seconds"]))


def test_default_model_session_on_digits_just_works(digits, tmp_path):
    s = al.Session(digits, store=tmp_path / "d.db")
    h = s.simulate(40)
    assert h["n_labels"].iloc[-1] == 40 and h["accuracy"].iloc[-1] > 0.6


def test_audit_labels_estimate_accuracy_and_never_train(store_path, blobs):
    from sklearn.linear_model import LogisticRegression

    pool = al.from_arrays(blobs.X, classes=blobs.classes, ids=blobs.ids, name="unlabeled")
    s = al.Session(pool, model=LogisticRegression(max_iter=200), store=store_path, batch_size=10)
    assert s.audit_share == 0.1  # on by default without true labels
    for item_id in s.next_batch():
        s.label(item_id, true_label(blobs, item_id))
    audit_ids = [s.next_audit_item() for _ in range(12)]
    assert len(set(audit_ids)) == 12
    for item_id in audit_ids:
        s.label(item_id, true_label(blobs, item_id))
    row = s.retrain()
    assert row["n_labels"] == 10  # the 12 audit labels were not trained on
    assert row["audit_n"] == 12 and row["audit_low"] <= row["audit_accuracy"] <= row["audit_high"]
    assert row["audit_accuracy"] > 0.8 and row["accuracy"] is None
    s.store.close()
    again = al.Session(pool, model=LogisticRegression(max_iter=200), store=store_path)
    assert again.audit_mask.sum() == 12  # audit membership survives a restart
    assert set(again.labels().query("audit")["item_id"]) == set(audit_ids)


def test_audit_items_are_uniform_not_strategy_picks(store_path, blobs):
    pool = al.from_arrays(blobs.X, classes=blobs.classes, ids=blobs.ids, name="unlabeled")
    s = al.Session(pool, store=":memory:", audit_share=0.5)
    picks = {s.next_audit_item() for _ in range(60)}
    assert len(picks) == 60  # distinct, spread over the pool
    pos = pool.positions(sorted(picks))
    assert np.ptp(pool.X[pos], axis=0).min() > 0.5 * np.ptp(pool.X, axis=0).min()


def test_session_over_a_memory_mapped_pool(tmp_path, digits):
    path = tmp_path / "pool.npy"
    np.save(path, digits.X)
    X = np.load(path, mmap_mode="r")
    ds = al.from_arrays(X, y=digits.y, classes=digits.classes, name="mm")
    assert isinstance(ds.X, np.memmap)  # not copied into memory
    s = al.Session(ds, store=tmp_path / "mm.db", strategy="diverse")
    h = s.simulate(30)
    assert isinstance(s.dataset.X, np.memmap) and h["n_labels"].iloc[-1] == 30


# -- the parts behind the facade (issue "One loop, small parts") ---------------
def _team(url, name, **kw):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    ds = al.from_arrays(X, y=np.where(X[:, 0] > 0, "pos", "neg"), classes=["neg", "pos"],
                        ids=[f"t{i:02d}" for i in range(60)], name="team3")
    return al.Session(ds, model=LogisticRegression(max_iter=200), strategy="random", store=url, annotator=name,
                      test_size=0, batch_size=4, **kw)


def test_three_sessions_two_labels_per_item_nobody_offered_their_own_and_undo_is_theirs(tmp_path):
    url = f"sqlite:///{tmp_path / 'three.db'}"
    ann = _team(url, "ann", labels_per_item=2)
    bob = _team(url, "bob", trainer=False)  # the policy comes from the store
    anon = _team(url, None, trainer=False)
    assert bob.labels_per_item == 2 and anon.holder == "anonymous"
    given = {}
    for _ in range(3):
        for s in (ann, bob, anon):
            for item in s.next_batch():
                assert s.holder not in given.get(item, []), f"{s.holder} offered {item} again"
                s.label(item, "pos")
                given.setdefault(item, []).append(s.holder)
    labels = ann.labels()
    assert set(labels["annotator"]) == {"ann", "bob", "anonymous"}  # one identity for labels and leases
    assert not labels.duplicated(["item_id", "annotator"]).any()
    assert labels.groupby("item_id").size().max() == 2
    for s in (ann, bob, anon):  # each undo takes back only its caller's latest label
        mine = s.labels().query("annotator == @s.holder")
        undone = s.undo()
        assert undone["item_id"] == mine["item_id"].iloc[-1]
        after = s.labels()
        assert len(after) == len(labels) - 1 - [ann, bob, anon].index(s)
        assert len(after.query("annotator == @s.holder")) == len(mine) - 1
    for s in (ann, bob, anon):
        s.close()


def test_unnamed_session_with_two_labels_per_item_is_not_offered_its_own_item(tmp_path):
    url = f"sqlite:///{tmp_path / 'anon.db'}"
    anon = _team(url, None, labels_per_item=2)  # the unnamed trainer
    bob = _team(url, "bob", trainer=False)
    for item in anon.next_batch():
        anon.label(item, "neg")
    mine = set(anon.labels()["item_id"])
    for _ in range(5):
        batch = anon.next_batch()
        assert not set(batch) & mine
        for item in batch:
            anon.label(item, "neg")  # raised AlreadyLabeledError when offered its own item
            mine.add(item)
    bob._sync()
    assert bob.n_labels == len(mine) == 24
    assert set(bob.next_batch()) <= mine  # bob is offered the items that still need a second label


def test_unnamed_undo_never_takes_back_a_named_annotators_label(tmp_path):
    url = f"sqlite:///{tmp_path / 'undo.db'}"
    bob = _team(url, "bob")
    anon = _team(url, None, trainer=False)
    item = bob.next_batch()[0]
    bob.label(item, "pos")
    assert anon.undo() is None  # nothing of its own to undo
    assert bob.labels()["item_id"].tolist() == [item]


def test_team_policy_is_stored_and_a_different_one_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'policy.db'}"
    _team(url, "ann", labels_per_item=2, lease_seconds=60).close()
    again = _team(url, "bob")
    assert (again.labels_per_item, again.lease_seconds) == (2, 60.0)
    with pytest.raises(al.StoreMismatchError, match="labels_per_item=2 .given 1."):
        _team(url, "cy", labels_per_item=1)


def test_a_scikit_learn_session_never_imports_torch(tmp_path):
    import subprocess
    import sys

    code = ("import sys, activelearn as al\n"
            "from sklearn.linear_model import LogisticRegression\n"
            "s = al.Session(al.load_iris(), model=LogisticRegression(max_iter=300), store=':memory:')\n"
            "s.simulate(30); s.next_offer(); s.export(sys.argv[1], include_predictions=True)\n"
            "print(sorted(m for m in ('torch', 'skorch') if m in sys.modules))\n"
            # the default model is a torch network: a session that opens loads torch in the background once
            # the first item is handed out (not before: it would slow that item), so its first retrain does not
            "s2 = al.Session(al.load_iris(), store=':memory:')\n"
            "print(sorted(m for m in ('torch', 'skorch') if m in sys.modules))\n"
            "import threading; s2.next_offer()\n"
            "[t.join(60) for t in threading.enumerate() if t.name == 'activelearn-warm-up']\n"
            "print(sorted(m for m in ('torch', 'skorch') if m in sys.modules), hasattr(sys.modules.get('torch'), 'nn'),"
            " s2.model is None)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.csv")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "[]", "['torch']", "True", "True"]  # loaded, fully, with no fit yet


def test_a_round_record_comes_from_one_snapshot(session_factory):
    s = session_factory(cost_per_label=1.0, cost_per_hour=3600.0, audit_share=0.5)
    for item in s.next_batch():
        s.label(item, "ant", seconds=2.0)
    audit = s.next_audit_item()
    s.label(audit, "bee", seconds=1.0)
    real_fit = s._fit

    def fit_while_someone_labels(labeled, y):
        s.label(s.next_batch()[0], "cat", seconds=100.0)  # arrives during the fit: belongs to the next round
        return real_fit(labeled, y)

    s._fit = fit_while_someone_labels
    row = s.retrain()
    assert row["n_labels"] == 5  # trained on: no audit label, not the late one
    assert row["labeling_seconds"] == 11.0 and row["cost"] == pytest.approx(6 * 1.0 + 11.0)
    assert row["audit_n"] == 1


def test_next_offer_says_why_without_a_widget(blobs, store_path, fast_model):
    pool = al.from_arrays(blobs.X, classes=blobs.classes, ids=blobs.ids, name="offers")
    s = al.Session(pool, model=fast_model, store=store_path, audit_share=0.25, batch_size=5)
    offers = []
    for _ in range(8):
        o = s.next_offer()
        offers.append(o)
        s.label(o.item_id, blobs.classes[blobs.y[blobs.position(o.item_id)]])
    assert [o.source for o in offers].count("audit") == 2 and offers[3].source == "audit"
    assert offers[0].strategy == "typiclust" and offers[0].guesses == () and offers[0].rank == 1
    s.retrain()
    o = s.next_offer()
    # auto says which strategy really picked: still typicality (6 training labels < 5 per class), no score
    assert o.source == "strategy" and o.model_version == 1 and len(o.guesses) == 3
    assert o.strategy == "typiclust" and o.score is None
    truth = lambda i: blobs.classes[blobs.y[blobs.position(i)]]  # noqa: E731
    s.simulate(30, oracle=truth)
    o = s.next_offer()
    assert o.strategy == "margin" and o.score_name == "top-2 gap" and 0.0 <= o.score <= 1.0


def test_guesses_are_what_an_offer_shows_for_the_current_model(blobs, store_path, fast_model):
    s = al.Session(blobs, model=fast_model, store=store_path, batch_size=5, random_state=0)
    first = s.next_offer().item_id
    assert s.guesses(first) == () and s.guesses(first, with_version=True) == (0, ())  # no model: no made-up guess
    truth = lambda i: blobs.classes[blobs.y[blobs.position(i)]]  # noqa: E731
    s.simulate(15, oracle=truth)
    o = s.next_offer()
    assert len(o.guesses) == 3 and s.guesses(o.item_id) == o.guesses  # the same numbers as the offer's
    assert s.guesses(o.item_id, with_version=True) == (s.model_version, o.guesses)
    proba = s.predict_proba([o.item_id])[0]
    if o.guesses[0][1] is None:  # uncalibrated: the classes in the model's order, no numbers
        assert [c for c, _ in o.guesses] == [blobs.class_names[i] for i in np.argsort(-proba, kind="stable")]
    with pytest.raises(al.exceptions.UnknownItemError):
        s.guesses("no-such-item")


def test_background_retrain_for_headless_code(session_factory):
    s = session_factory()
    done = []

    class Watch:
        def on_retrain_end(self, session, record):
            done.append(record["model_version"])

    s.callbacks.append(Watch())
    for item in s.next_batch():
        s.label(item, "ant" if len(done) % 2 else "bee")
    t = s.retrain_in_background()
    assert t is not None
    s.wait_for_training(30)
    assert done == [1] and s.model_version == 1 and not s.training


def test_a_private_memory_store_takes_one_transaction_per_verb(blobs, fast_model):
    import sqlalchemy as sa

    s = al.Session(blobs, model=fast_model, store=":memory:", batch_size=10)
    count = {"n": 0}
    sa.event.listen(s.store.engine, "begin", lambda conn: count.__setitem__("n", count["n"] + 1))
    s.simulate(10)
    count["n"] = 0
    s.simulate(20)  # one round: next_batch, 10 labels, retrain
    assert count["n"] <= 11  # 10 labels + 1 history row (19 before the split)
    assert s.store.leases(s.project_id, include_expired=True).empty  # solo: no team protocol


def test_simulated_labels_are_recorded_as_simulated_and_never_undone_by_the_person(session_factory):
    s = session_factory(annotator="ada")
    item = s.next_batch()[0]
    s.label(item, "ant")  # the person
    s.simulate(10)  # the oracle, through the same session
    labels = s.labels()
    assert labels.loc[labels["item_id"] == item, "annotator"].tolist() == ["ada"]
    assert (labels["annotator"] == "simulated").sum() == len(labels) - 1
    assert s.undo()["item_id"] == item and s.undo() is None  # ada's own label only


@pytest.mark.parametrize("seed", range(6))
def test_temperature_search_finds_the_whole_grids_minimum(seed):
    from activelearn._training import _TEMPERATURES, _log_losses, fit_temperature

    rng = np.random.default_rng(seed)
    n, k = 300, 4
    sharpness = rng.uniform(0.2, 8.0)  # from underconfident to very overconfident
    proba = rng.dirichlet(np.full(k, 1.0 / sharpness), n)
    right = rng.random(n) < rng.uniform(0.3, 0.95)
    y = np.where(right, proba.argmax(axis=1), rng.integers(0, k, n))
    logp = np.log(np.clip(proba, 1e-12, 1.0))
    assert fit_temperature(proba, y) == _TEMPERATURES[np.argmin(_log_losses(logp, y, _TEMPERATURES))]


def test_offered_probabilities_are_calibrated_on_items_never_trained_on(digits):
    from activelearn._training import apply_temperature, fit_temperature

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    over = np.full((400, 3), 0.005)
    right = rng.random(400) < 0.6  # right 60% of the time, but says 99%
    guess = np.where(right, y, (y + 1) % 3)
    over[np.arange(400), guess] = 0.99
    t = fit_temperature(over, y)
    assert t > 1.5  # overconfident: the temperature softens it
    assert apply_temperature(over, t).max(axis=1).mean() == pytest.approx(0.6, abs=0.08)
    assert fit_temperature(over[:10], y[:10]) is None  # too few items to say
    s = al.Session(digits, store=":memory:", model=__import__("sklearn.linear_model").linear_model.LogisticRegression(
        max_iter=300))
    s.simulate(30)
    o = s.next_offer()
    acc = s.history["accuracy"].iloc[-1]
    assert s._fitted.temperature is not None and all(p is not None for _, p in o.guesses)
    pool = al.from_arrays(digits.X[:300], classes=digits.classes, name="nolabels")
    u = al.Session(pool, store=":memory:", model=__import__("sklearn.linear_model").linear_model.LogisticRegression(
        max_iter=300))
    for k, item in enumerate(u.next_batch(10)):
        u.label(item, str(digits.y[k % 10]))
    u.retrain()
    assert all(p is None for _, p in u.next_offer().guesses)  # no held-out or audit items: no number shown
    assert 0 < acc <= 1


def test_the_session_tells_callbacks_what_changed_and_refresh_reads_other_sessions(tmp_path):
    url = f"sqlite:///{tmp_path / 'cb.db'}"
    ann = _team(url, "ann")
    bob = _team(url, "bob", trainer=False)
    seen = []

    class Watch:
        def on_labels_changed(self, session, item_ids):
            seen.append(list(item_ids))

    ann.callbacks.append(Watch())
    mine = ann.next_batch()[0]
    ann.label(mine, "pos")
    assert seen == [[mine]]
    theirs = bob.next_batch()[0]
    bob.label(theirs, "neg")
    ann.refresh()
    assert seen[-1] == [theirs] and ann.n_labels == 2
    ann.refresh()
    assert len(seen) == 2  # nothing new, nothing told


@pytest.mark.parametrize("store", ["memory", "file"])
def test_an_undone_item_comes_first_even_after_a_retrain(session_factory, store, tmp_path):
    s = session_factory(strategy="random", store=":memory:" if store == "memory" else tmp_path / "u.db")
    batch = s.next_batch()
    label_batch(s, batch[:3])  # the rest of the batch stays handed out (leased, on a file store)
    s.retrain()  # the ranking is forgotten here; the undone item must still come first
    undone = s.undo()["item_id"]
    assert undone == batch[2] and s.next_batch()[0] == undone
    assert s.next_offer().item_id == undone


def test_a_session_trains_a_plain_torch_module_for_a_few_rounds(blobs):
    from torch import nn

    from activelearn.models import ModuleClassifier

    module = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
    s = al.Session(blobs, model=module, store=":memory:", batch_size=6, random_state=1)
    assert isinstance(s.model_template, ModuleClassifier) and s.model_template.random_state == 1
    s.model_template.set_params(train_steps=40)  # quick fits
    s.simulate(24)
    assert list(s.history["n_labels"]) == [6, 12, 18, 24]
    assert s.model.module_ is not module and s.history["accuracy"].iloc[-1] > 0.9  # well-separated blobs
    assert s.predict_proba(s.next_batch()).shape == (6, 3)
    t = al.Session(blobs, model=module, store=":memory:", batch_size=6, random_state=1)
    t.model_template.set_params(train_steps=40)
    t.simulate(24)
    np.testing.assert_allclose(t.history["accuracy"], s.history["accuracy"])  # seeded from random_state


def test_a_session_takes_a_skorch_net_and_refuses_what_it_cannot_train(blobs):
    from skorch import NeuralNetClassifier
    from torch import nn

    net = NeuralNetClassifier(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)),
                              criterion=nn.CrossEntropyLoss, max_epochs=20, lr=0.1, train_split=None, verbose=0)
    s = al.Session(blobs, model=net, store=":memory:", batch_size=6)
    s.simulate(12)
    assert s.history["accuracy"].iloc[-1] > 0.8
    with pytest.raises(al.InvalidDataError, match=r"model='logreg' .*cannot be used.*scikit-learn classifier"):
        al.Session(blobs, model="logreg", store=":memory:")
    with pytest.raises(al.InvalidDataError, match=r"returned shape \(2, 10\).*\['ant', 'bee', 'cat'\]"):
        al.Session(blobs, model=nn.Linear(4, 10), store=":memory:")


def test_session_stopping_advice_and_the_stop_set(blobs, fast_model):
    from activelearn.stopping import LabelBudget, StabilizingPredictions

    s = al.Session(blobs, model=fast_model, store=":memory:", batch_size=5, random_state=3)
    again = al.Session(blobs, model=fast_model, store=":memory:", batch_size=5, random_state=3)
    assert s.stop_ids == again.stop_ids and set(s.stop_ids).isdisjoint(s.test_ids)
    advice = s.stopping()
    assert isinstance(advice, al.StoppingAdvice) and not advice.stop and "No model yet" in advice.reason
    s.simulate(20)
    stop = np.array(s.dataset.positions(s.stop_ids))
    s.label(s.stop_ids[0], blobs.classes[blobs.y[stop[0]]], annotator="simulated")  # a stop item gets labeled
    s.retrain()
    state = s._stopping_state()
    assert len(state) == len(s.history)
    train = s._snapshot().train_positions
    np.testing.assert_array_equal(state.stop_trained[-1], np.isin(stop, train))
    assert state.stop_trained[-1][0] and not state.stop_trained[-2][0]
    advice = s.stopping(StabilizingPredictions(window=2) | LabelBudget(100), target=0.99)
    assert set(advice.criteria) == {"stabilizing_predictions", "label_budget"}
    assert advice.criteria["label_budget"]["value"] == s.history["n_labels"].iloc[-1]
    assert list(advice.projection.columns) == ["n_labels", "accuracy", "low", "high"]


def test_numbers_shown_come_from_the_predictor_the_calibration_measured(digits):
    """A pool-aware model ranks with its pool posterior (often one-hot) but is calibrated on held-out rows,
    which its inductive predictor (the SVC) scores: the numbers a person sees come from that predictor."""
    from activelearn._training import apply_temperature

    s = al.Session(digits, store=":memory:", random_state=0)
    s.simulate(30)
    fitted, model = s._fitted, s.model
    assert fitted.temperature is not None and fitted.inductive is True
    test = np.flatnonzero(s.test_mask)
    shown = fitted.calibrated_proba(digits.X[test], digits.n_classes)
    np.testing.assert_allclose(shown, apply_temperature(model.predict_proba_inductive(digits.X[test]),
                                                        fitted.temperature))
    acc = s.history["accuracy"].iloc[-1]
    assert abs(shown.max(axis=1).mean() - acc) < 0.08  # calibrated: confidence matches held-out accuracy
    o = s.next_offer()
    X = digits.X[[digits.position(o.item_id)]]
    expected = apply_temperature(model.predict_proba_inductive(X), fitted.temperature)[0]
    best = np.argsort(-expected, kind="stable")[:3]
    assert [g for g, _ in o.guesses] == [digits.class_names[i] for i in best]
    np.testing.assert_allclose([p for _, p in o.guesses], expected[best])
    pool = np.flatnonzero(~s.test_mask & ~s.labeled_mask)
    posterior = model.predict_proba(digits.X[pool]).max(axis=1)
    assert (posterior > 0.999).mean() > 0.5  # the ranking posterior is near one-hot on most of the pool ...
    assert fitted.calibrated_proba(digits.X[pool], digits.n_classes).max(axis=1).mean() < 0.999  # ... the shown not


def _held_pool_model(release):
    """A pool-aware model whose pool preparation holds the pool (its lock) until ``release`` is set."""
    from activelearn.semi import PoolSpreadingClassifier

    class HeldPool(PoolSpreadingClassifier):
        def prepare_pool(self):
            with self._pool._lock:  # what a long t-SNE holds: anything needing the map waits here
                release.wait(20)
                return super().prepare_pool()

    return HeldPool(n_classes=3, cache_dir=None)


def test_background_preparation_never_blocks_the_first_items(blobs, store_path):
    release = threading.Event()
    try:
        s = al.Session(blobs, model=_held_pool_model(release), store=store_path, batch_size=5)
        ids = s.next_batch()
        assert not s.pool_ready and not s.model_template.pool_ready()  # next_batch did not wait for the map
        assert len(set(ids)) == 5 and all(s.is_open(i) for i in ids)
        assert s._queue.served.strategy == "typiclust"  # the why-text still says typicality
    finally:
        release.set()
    assert s.wait_pool(30) and s.model_template.pool_ready() and s.prepare_error is None
    assert s.next_batch() == ids  # the ranking is kept until something changes
    s.close()


def test_prepare_wait_ranks_on_the_map_like_a_prepared_background_session(blobs, tmp_path):
    from activelearn.semi import PoolSpreadingClassifier

    def model():
        return PoolSpreadingClassifier(n_classes=3, cache_dir=None)

    wait = al.Session(blobs, model=model(), store=tmp_path / "w.db", batch_size=5, prepare="wait")
    assert wait._preparing is None and wait.pool_ready and not wait.model_template.pool_ready()
    background = al.Session(blobs, model=model(), store=tmp_path / "b.db", batch_size=5)
    assert background.wait_pool(30)
    assert wait.next_batch() == background.next_batch()
    with pytest.raises(al.InvalidDataError, match="prepare must be 'background' or 'wait'"):
        al.Session(blobs, model=model(), store=tmp_path / "x.db", prepare="later")

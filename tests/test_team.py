"""Several annotators on one store: leases, overlap and agreement, trainer and followers, on SQLite and PostgreSQL."""

import contextlib
import multiprocessing as mp
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import activelearn as al
from activelearn.exceptions import AlreadyLabeledError, LeasedError


def pool_dataset(n=500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = np.where(X[:, 0] > 0, "pos", "neg")
    return al.from_arrays(X, y=y, classes=["neg", "pos"], ids=[f"it{i:04d}" for i in range(n)], name="pool")


def _session(url, annotator, **kw):
    params = dict(model=LogisticRegression(max_iter=200), strategy="random", store=url, annotator=annotator,
                  test_size=0, batch_size=10, random_state=0)
    params.update(kw)
    return al.Session(pool_dataset(), **params)


def test_two_annotators_never_get_the_same_item(team_store_url):
    a, b = _session(team_store_url, "ann"), _session(team_store_url, "bob", trainer=False)
    got_a, got_b = a.next_batch(), b.next_batch()
    assert len(got_a) == 10 and len(got_b) == 10 and not set(got_a) & set(got_b)
    leases = a.store.leases(a.project_id)
    assert sorted(leases["item_id"]) == sorted(got_a + got_b)
    with pytest.raises(LeasedError, match="handed to another annotator"):
        b.label(got_a[0], "pos")
    a.label(got_a[0], "pos")
    assert got_a[0] not in set(a.store.leases(a.project_id)["item_id"])  # released with the label
    with pytest.raises(AlreadyLabeledError):
        b.label(got_a[0], "neg")
    a.close()
    b.close()
    store = al.LabelStore(team_store_url)
    assert store.leases(a.project_id, include_expired=True).empty  # closing gives the leases back
    store.close()


@pytest.fixture
def clock(monkeypatch):
    """Moves ``time.time`` (what the store's lease expiry reads) forward by ``clock.advance(seconds)``."""
    real = time.time

    class Clock:
        offset = 0.0

        def advance(self, seconds):
            self.offset += seconds

    c = Clock()
    monkeypatch.setattr(time, "time", lambda: real() + c.offset)
    return c


def test_expired_leases_go_back_to_the_queue(team_store_url, clock):
    a = _session(team_store_url, "ann", lease_seconds=900)
    first = a.next_batch()
    b = _session(team_store_url, "bob", trainer=False)
    assert not set(b.next_batch()) & set(first)  # leased to ann
    b.close()
    clock.advance(890)  # ann has not answered, but her leases still run
    assert set(a.store.leases(a.project_id)["item_id"]) == set(first)
    c = _session(team_store_url, "cy", trainer=False)
    assert not set(c.next_batch()) & set(first)
    c.close()
    clock.advance(20)  # 910 s: ann never answered, her leases have expired
    assert a.store.leases(a.project_id).empty  # the store reads the moved clock
    d = _session(team_store_url, "dee", trainer=False)
    assert set(d.next_batch()) == set(first)  # the published ranking's best items, free again
    assert set(d.store.leases(d.project_id)["annotator"]) == {"dee"}
    d.close()


def test_a_claim_follows_the_lease_rules_in_a_few_queries_whatever_the_candidates(team_store_url, clock):
    # One claim sees every case: the holder's own leases first (renewed, or given back once the item is
    # labeled), items full with labels or with others' leases skipped, items with room (two labels each) taken
    # in rank order, an item another transaction is claiming right now (PostgreSQL) skipped; and it asks the
    # store a few queries, not a few per candidate.
    import sqlalchemy as sa

    store = al.LabelStore(team_store_url)
    pid = store.open_project("claims", "fp-claims", ["neg", "pos"], {})
    assert store.claim(pid, "ann", ["h1", "h2"], 2, labels_per_item=2) == ["h1", "h2"]  # ann's leases from before
    expires = store.leases(pid).set_index("item_id")["expires_at"]
    store.add_event(pid, "h2", "labeled", label="pos", annotator="ann")  # h2 labeled, its lease still there
    store.add_label(pid, "c1", "pos", annotator="bob", labels_per_item=2)  # room for one more label
    store.add_label(pid, "c2", "pos", annotator="ann", labels_per_item=2)  # ann's own label: never again
    store.add_label(pid, "c3", "pos", annotator="bob", labels_per_item=2)
    store.claim(pid, "cy", ["c3"], 1, labels_per_item=2)  # c3: bob's label + cy's lease = full
    store.claim(pid, "dee", ["c4", "c5"], 2, labels_per_item=2)  # one lease each: room for ann too
    candidates = ["c1", "c2", "c3", "c4", "c5"] + [f"f{i:03d}" for i in range(60)]
    statements = []

    def count(conn, cursor, statement, *rest):
        statements.append(statement)

    clock.advance(100)
    with contextlib.ExitStack() as other:
        if store.is_postgres:  # another transaction claiming c5 right now: skipped, not waited for
            conn = other.enter_context(store.engine.begin())
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": store._lock_key(pid, "c5")})
        sa.event.listen(store.engine, "before_cursor_execute", count)
        got = store.claim(pid, "ann", candidates, 6, labels_per_item=2)
        sa.event.remove(store.engine, "before_cursor_execute", count)
    expected = ["h1", "c1", "c4"] + (["f000", "f001", "f002"] if store.is_postgres else ["c5", "f000", "f001"])
    assert got == expected
    leases = store.leases(pid)
    mine = leases[leases["annotator"] == "ann"].set_index("item_id")
    assert mine.index.tolist() == got  # in the order given; h2 (labeled) given back
    assert mine.loc["h1", "expires_at"] == pytest.approx(expires["h1"] + 100, abs=5)  # renewed
    assert sorted(leases.loc[leases["annotator"] != "ann", "item_id"]) == ["c3", "c4", "c5"]
    assert len(statements) <= 16, statements  # 3 per chunk (here up to 3 chunks) + 5; per candidate: 2-4 each
    # one label per item: a labeled item is never leased, whoever labeled it
    assert store.claim(pid, "eve", ["c1", "h2", "f010"], 3) == ["f010"]
    store.close()


def test_an_undone_label_leases_its_item_back_to_the_annotator_holding_other_leases(team_store_url):
    a = _session(team_store_url, "ann")
    batch = a.next_batch()
    a.label(batch[0], "pos")
    a.undo()
    leases = a.store.leases(a.project_id)
    assert set(leases.loc[leases["annotator"] == "ann", "item_id"]) == set(batch)  # the undone item too
    b = _session(team_store_url, "bob", trainer=False)
    assert batch[0] not in b.next_batch()
    a.label(batch[0], "neg")  # ann labels it again: hers, not "labeled elsewhere"
    a.close()
    b.close()


def test_restarted_session_gets_its_leased_items_back(team_store_url, tmp_path):
    a = _session(team_store_url, "ann")
    first = a.next_batch()
    a.store.close()  # a crash: leases stay
    bob = _session(team_store_url, "bob", trainer=False)
    theirs = bob.next_batch()  # another annotator claims in between: he gets other items
    assert len(theirs) == 10 and not set(theirs) & set(first)
    # The restarted session ranks another way (typical items, not the random draw), so only the leases can
    # bring ann's items back.
    again = _session(team_store_url, "ann", cold_start="typiclust")
    assert again.next_batch() == first
    fresh = _session(f"sqlite:///{tmp_path / 'control.db'}", "ann", cold_start="typiclust")
    assert len(set(fresh.next_batch()) & set(first)) <= 2  # what that ranking gives without leases
    fresh.close()
    again.close()
    bob.close()


def test_follower_labels_from_the_trainers_ranking_and_sees_its_labels(team_store_url):
    trainer = _session(team_store_url, "ann", strategy="margin")
    ds = trainer.dataset
    truth = lambda i: ds.classes[ds.y[ds.position(i)]]  # noqa: E731
    for i in trainer.next_batch():
        trainer.label(i, truth(i))
    trainer.retrain()
    follower = _session(team_store_url, "bob", trainer=False)
    mine = trainer.next_batch()  # ranks with the model and publishes a ranking for the team
    ranked, version = follower.store.ranking(follower.project_id)
    assert version == 1 and ranked[:len(mine)] == mine
    theirs = follower.next_batch()
    assert follower.last_query.strategy == "published" and not set(theirs) & set(mine)
    assert follower.n_labels == 10  # the trainer's labels, synced from the store
    for i in theirs:
        follower.label(i, truth(i))
    with pytest.raises(al.ActiveLearnError, match="trainer=False"):
        follower.retrain()
    row = trainer.retrain()
    assert row["n_labels"] == 20  # the trainer trains on the follower's labels too
    trainer.close()
    follower.close()


def test_overlap_agreement_and_resolution(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    names = ["ann", "bob", "cy"]
    sessions = [_session(url, n, labels_per_item=2, adjudicators=["cy"], trainer=(n == "ann")) for n in names[:2]]
    ann, bob = sessions
    items = ann.next_batch(4)
    ann.label(items[0], "pos")
    ann.label(items[1], "pos")
    ann.label(items[2], "neg")
    bob_items = bob.next_batch(4)
    assert set(items[:3]) <= set(bob_items)  # items that need a second label come first
    with pytest.raises(AlreadyLabeledError):
        ann.label(items[0], "neg")  # one label per annotator per item
    bob.label(items[0], "pos")
    bob.label(items[1], "neg")
    bob.label(items[2], "neg")
    agree = bob.agreement()
    assert agree["method"] == "cohen" and agree["n_items"] == 3 and agree["observed"] == pytest.approx(2 / 3)
    from sklearn.metrics import cohen_kappa_score

    assert agree["kappa"] == pytest.approx(cohen_kappa_score(["pos", "pos", "neg"], ["pos", "neg", "neg"]))
    dis = bob.disagreements()
    assert dis["item_id"].tolist() == [items[1]] and dis["labels"].iloc[0] == {"ann": "pos", "bob": "neg"}
    assert dis["resolved"].iloc[0] == "pos"  # a tie: the earliest label
    with pytest.raises(AlreadyLabeledError, match="already has its 2 labels"):
        _session(url, "dee", labels_per_item=2).label(items[0], "pos")
    cy = _session(url, "cy", adjudicators=["cy"])  # the stored policy (2); an adjudicator may add a third label
    cy.label(items[1], "neg")  # the adjudicator decides
    ann._sync()
    assert ann.dataset.classes[ann.y_labeled[ann.dataset.position(items[1])]] == "neg"
    assert cy.agreement()["method"] == "fleiss"


def test_fleiss_kappa_matches_the_textbook_formula(tmp_path):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    labels = {"a": ["pos", "pos", "neg", "neg", "pos"], "b": ["pos", "neg", "neg", "neg", "pos"],
              "c": ["pos", "pos", "neg", "pos", "pos"]}
    sessions = {n: _session(url, n, labels_per_item=3) for n in labels}
    items = [f"it{i:04d}" for i in range(5)]
    for n, s in sessions.items():
        for i, lab in zip(items, labels[n]):
            s.label(i, lab)
    got = sessions["a"].agreement()
    counts = np.array([[sum(labels[n][k] == c for n in labels) for c in ("neg", "pos")] for k in range(5)], float)
    p_i = ((counts * (counts - 1)).sum(1) / 6).mean()
    p_e = ((counts.sum(0) / counts.sum()) ** 2).sum()
    assert got["method"] == "fleiss" and got["kappa"] == pytest.approx((p_i - p_e) / (1 - p_e))


def _annotator(url, name, out_q, start=None):
    ds = pool_dataset()
    s = _session(url, name, trainer=(name == "a0"), lease_seconds=60)
    if start is not None:  # everyone starts labeling together: a slow process start-up is not a lack of work
        start.wait(timeout=120)
    done, conflicts, empty = [], 0, 0
    while empty < 3:
        ids = s.next_batch()
        if not ids:
            empty += 1
            time.sleep(0.05)
            continue
        empty = 0
        for i in ids:
            try:
                s.label(i, ds.classes[ds.y[ds.position(i)]])
                done.append(i)
            except (AlreadyLabeledError, LeasedError):
                conflicts += 1
    s.close()
    out_q.put((name, done, conflicts))


def test_four_annotator_processes_label_500_items_exactly_once(team_store_url):
    # create the project once, before the race, with the team's policy (every session must share it)
    _session(team_store_url, "setup", lease_seconds=60).close()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_annotator, args=(team_store_url, f"a{k}", q, start)) for k in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    acked = [i for _, done, _ in results for i in done]
    assert sum(c for _, _, c in results) == 0  # nobody was ever handed an item someone else had
    assert len(acked) == 500 and len(set(acked)) == 500
    # All four did real work: each at least the batch its first claim leased it (a lease keeps those items for it
    # whoever else is faster). Not a fair share: processes in a tight loop on 2 cores take SQLite's write lock
    # unevenly (its busy handler backs off up to 100 ms while the others write); shares seen: 11-110 .. 147-210.
    shares = sorted(len(done) for _, done, _ in results)
    assert all(n >= 10 for n in shares), shares
    store = al.LabelStore(team_store_url)
    pid = store.open_project("pool", pool_dataset().fingerprint(), ["neg", "pos"], {"test_size": 0.0,
                                                                                     "random_state": 0})
    labels = store.labels(pid)
    assert len(labels) == 500 and labels["item_id"].is_unique and set(labels["item_id"]) == set(acked)
    assert store.leases(pid, include_expired=True).empty  # no lease left dangling
    ev = store.events(pid)
    assert (ev["kind"] == "labeled").sum() == 500 and (ev["kind"] == "undone").sum() == 0
    store.close()


def test_projects_do_not_mix(team_store_url):
    a = _session(team_store_url, "ann", project="one")
    b = _session(team_store_url, "ann", project="two")
    ia, ib = a.next_batch(), b.next_batch()
    a.label(ia[0], "pos")
    assert b.labels().empty and len(a.labels()) == 1
    assert set(b.store.leases(b.project_id)["item_id"]) == set(ib)
    a.close()
    b.close()


def test_postgres_going_away_mid_session_loses_nothing(postgres_server):
    from pg_harness import PostgresServer  # noqa: F401  (the server fixture comes from it)

    url = postgres_server.create_database("t_goes_away")
    s = _session(url, "ann")
    ds = s.dataset
    ids = s.next_batch()
    for i in ids[:5]:
        s.label(i, ds.classes[ds.y[ds.position(i)]])
    postgres_server.stop(remove=False)
    with pytest.raises(al.StoreUnavailableError, match="cannot be reached.*Nothing was written"):
        s.label(ids[5], "pos")
    postgres_server.restart()
    s.label(ids[5], ds.classes[ds.y[ds.position(ids[5])]])
    labels = s.labels()
    assert labels["item_id"].tolist() == ids[:6]
    s.close()


def test_widget_keeps_and_retries_a_label_the_store_refused(tmp_path, monkeypatch):
    from activelearn.widgets import LabelingWidget

    s = _session(f"sqlite:///{tmp_path / 'w.db'}", "ann")
    w = LabelingWidget(s, retrain_every=0, retry_seconds=0.05)
    shown = w.item["id"]
    real = s.project_store.record_label  # the session's one way to write a label
    failures = {"left": 3}

    def flaky(*a, **k):
        if failures["left"]:
            failures["left"] -= 1
            raise al.StoreUnavailableError("the label store x cannot be reached (test)")
        return real(*a, **k)

    monkeypatch.setattr(s.project_store, "record_label", flaky)
    assert w.submit("pos") is False
    assert "NOT saved yet" in w.error and w.item["id"] == shown  # the item stays until it is saved
    assert w.submit("neg") is False and "Still waiting" in w.error
    w._retrier.join(timeout=5)
    assert s.labels()["item_id"].tolist() == [shown] and s.labels()["label"].tolist() == ["pos"]
    assert w.error == "" and w.item["id"] != shown and "is saved" in w.status


def test_team_results_frame_has_one_row_per_label(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    s = _session(url, "ann")
    for i in s.next_batch(3):
        s.label(i, "pos", seconds=1.0)
    df = s.labels()
    assert isinstance(df, pd.DataFrame) and len(df) == 3 and (df["annotator"] == "ann").all()


# -- ActiveLab: another opinion or a new item, within the leases ---------------------------------
def _truth(ds, i):
    return ds.classes[ds.y[ds.position(i)]]


def _activelab_team(url, names=("ann", "bob", "cy"), **kw):
    params = dict(strategy="activelab", labels_per_item=3, lease_seconds=600)
    params.update(kw)
    return [_session(url, n, trainer=(k == 0), **params) for k, n in enumerate(names)]


def _two_blobs_and_a_middle():
    """Two far-apart classes (every new item is clear) and one item halfway between them."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-4, 1, (100, 2)), rng.normal(4, 1, (100, 2)), [[0.0, 0.0]]]).astype(np.float32)
    y = ["neg"] * 100 + ["pos"] * 100 + ["pos"]
    return al.from_arrays(X, y=y, classes=["neg", "pos"], ids=[f"it{i:04d}" for i in range(201)], name="middle")


def test_activelab_offers_a_disputed_item_before_new_ones_and_never_to_its_annotators(team_store_url):
    ds = _two_blobs_and_a_middle()
    kw = dict(model=LogisticRegression(), strategy="activelab", store=team_store_url, test_size=0, batch_size=5,
              labels_per_item=3, lease_seconds=600)
    ann, bob, cy = (al.Session(ds, annotator=n, trainer=(n == "ann"), **kw) for n in ("ann", "bob", "cy"))
    agreed = [f"it{i:04d}" for i in (*range(0, 10), *range(100, 110))]
    for i in agreed + [f"it{i:04d}" for i in (*range(10, 20), *range(110, 120))]:
        ann.label(i, _truth(ds, i))
    for i in agreed:
        bob.label(i, _truth(ds, i))  # two labels that agree, on items the model is sure of
    disputed = "it0200"
    ann.label(disputed, "pos")
    bob.label(disputed, "neg")  # two annotators disagree on the one item the model cannot decide either
    ann.retrain()
    mine = ann.next_batch(5)
    q = ann.last_query
    assert q.strategy == "activelab" and q.scores
    ranked, _, kinds = ann.project_store.published()
    assert ranked[0] == disputed and kinds[0] == "activelab:again"  # its score is the lowest of either kind
    assert set(kinds[1:]) == {"activelab"}  # the rest: new items
    scores = list(q.scores.values())
    assert scores == sorted(scores) and q.scores[disputed] == min(scores)
    new = [i for i in ranked if i not in set(ann.labels()["item_id"])]
    assert new and not set(ranked[:len(new) + 1]) & set(agreed)  # agreed items: new items first
    assert disputed not in mine  # ann labeled it: never offered to her again
    theirs_bob = bob.next_batch(5)
    assert disputed not in theirs_bob  # nor to bob
    # items with one sure label score high: bob gets new items, not a second label on ann's
    assert not set(theirs_bob) & set(ann.labels()["item_id"])
    ann.label(mine[0], _truth(ds, mine[0]))  # ranked for a first label, labeled since: no longer a candidate
    theirs = cy.next_batch(5)
    assert theirs[0] == disputed  # cy has not: the third opinion is cy's first item
    assert not set(mine) & set(theirs)
    # 2 labels + cy's lease = 3, the most the policy allows: nobody else may take it now
    dee = al.Session(ds, annotator="dee", trainer=False, **kw)
    assert disputed not in dee.next_batch(10)
    with pytest.raises(LeasedError):
        dee.label(disputed, "pos")
    cy.label(disputed, "pos")
    assert sorted(cy.labels().query("item_id == @disputed")["annotator"]) == ["ann", "bob", "cy"]
    for s in (ann, bob, cy, dee):
        s.close()


def test_activelab_team_run_never_asks_an_annotator_twice(tmp_path):
    ann, bob, cy = _activelab_team(f"sqlite:///{tmp_path / 'al.db'}")
    ds = ann.dataset
    sloppy = {"bob": np.random.default_rng(1).random(len(ds)) < 0.3}  # bob is wrong on 30% of the items
    offered = []
    for _ in range(5):
        for s in (ann, bob, cy):
            for i in s.next_batch(4):
                offered.append((s.holder, i))
                lab = _truth(ds, i)
                if s.holder == "bob" and sloppy["bob"][ds.position(i)]:
                    lab = "neg" if lab == "pos" else "pos"
                s.label(i, lab)  # never refused: no lease clash, no second label by the same person
        ann.retrain()
    assert len(offered) == len(set(offered)) == 60
    counts = ann.labels().groupby("item_id")["annotator"].agg(["count", "nunique"])
    assert (counts["count"] == counts["nunique"]).all() and counts["count"].max() <= 3
    assert (counts["count"] > 1).sum() >= 3  # it did ask for other opinions
    assert (counts["count"] == 1).sum() >= 20  # and labeled new items too
    for s in (ann, bob, cy):
        s.close()

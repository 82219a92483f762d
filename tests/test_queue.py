"""The work queue: rankings made ahead (off the key path), and a retrain that lands while a ranking runs."""

from activelearn._queue import SoloQueue, TeamQueue
from conftest import true_label


def label(session, ids):
    for item_id in ids:
        session.label(item_id, true_label(session.dataset, item_id))


def count_takes(session):
    """Wrap the queue's ranking (and claiming) step; returns the list each call appends to."""
    calls, take = [], session._queue._take

    def counted(*args, **kwargs):
        calls.append(kwargs.get("fitted"))
        return take(*args, **kwargs)

    session._queue._take = counted
    return calls


def test_rank_ahead_queues_the_next_batch_so_offers_need_no_ranking(session_factory):
    for store in (":memory:", None):  # a private store (SoloQueue) and a file any session may share (TeamQueue)
        s = session_factory(batch_size=10) if store is None else session_factory(store=store, batch_size=10)
        assert isinstance(s._queue, SoloQueue if store else TeamQueue)
        first = s.next_batch()
        assert len(first) == 10 and s.rank_ahead() is False  # a whole batch is still queued: nothing to do
        label(s, first[:6])  # 4 left, under a whole batch
        calls = count_takes(s)
        assert s.rank_ahead() is True and len(calls) == 1
        assert s.rank_ahead() is False and len(calls) == 1  # one ranking ahead at a time
        label(s, first[6:])
        served = [s.next_batch(1)[0] for _ in range(1)]
        assert len(calls) == 1, "the next item came from the ranking made ahead, not a new one"
        assert served[0] not in first and s.is_open(served[0])
        queued = s._queue.queued()
        assert len(queued) == 10 and not set(queued) & set(first)  # the ahead ranking excluded what was queued


def test_a_retrain_ranks_with_its_new_model_before_putting_it_in_use(session_factory):
    s = session_factory(store=":memory:", batch_size=10)
    label(s, s.next_batch())
    s.rank_on_retrain = True
    calls = count_takes(s)
    s.retrain()
    assert len(calls) == 1 and calls[0] is not None and calls[0].version == 1  # ranked inside the retrain
    ids = s.next_batch()
    assert len(calls) == 1 and s.last_query.model_version == 1 and len(ids) == 10
    # Without the flag, the retrain only drops the stale ranking and the next call ranks (headless loops).
    s.rank_on_retrain = False
    label(s, ids)
    s.retrain()
    assert len(calls) == 1
    s.next_batch()
    assert len(calls) == 2 and s.last_query.model_version == 2


def test_a_retrain_landing_during_a_ranking_does_not_break_the_offer(session_factory):
    s = session_factory(store=":memory:")
    label(s, s.next_batch())
    s.retrain()
    take = s._queue._take

    def take_while_a_retrain_lands(*args, **kwargs):
        query = take(*args, **kwargs)
        s._queue.replace(None)  # what a retrain finishing meanwhile does (without a ranking of its own)
        return query

    s._queue._take = take_while_a_retrain_lands
    offer = s.next_offer()  # crashed with AttributeError: 'NoneType' object has no attribute 'item_ids'
    assert offer is not None and s.is_open(offer.item_id) and offer.model_version == 1
    assert s._queue.query is None  # the stale ranking served its call but is not kept
    s._queue._take = take
    assert s.next_batch(1)  # and the next call ranks afresh
    assert s._queue.query is not None


def test_offers_computed_ahead_are_the_offers_computed_on_the_spot(session_factory, monkeypatch):
    import activelearn._queue as queue

    sessions = [session_factory(store=":memory:", batch_size=10, strategy="margin") for _ in range(2)]
    for s in sessions:
        label(s, s.next_batch())
        s.rank_on_retrain = True  # the new model's guesses for the first offers are computed inside the retrain
        s.retrain()
    ahead, spot = sessions
    spot.rank_on_retrain = False
    spot._offer_cache = queue.OfferCache()  # the same model and ranking, nothing computed ahead
    first = ahead.rank_ahead()  # also the guesses for the next offers
    computed = []
    real = queue.offer_outputs

    def on_the_spot(*args):
        computed.append(args[1])
        return real(*args)

    monkeypatch.setattr(queue, "offer_outputs", on_the_spot)
    for _ in range(2):
        a = ahead.next_offer()
        b = spot.next_offer()
        assert computed[-1] == b.item_id and a.item_id not in computed[:-1]  # ahead: looked up, not computed
        assert a == b and a.guesses and a.score is not None  # the very same numbers
        for s, o in ((ahead, a), (spot, b)):
            s.label(o.item_id, true_label(s.dataset, o.item_id))
    assert first is False and len(computed) == 2

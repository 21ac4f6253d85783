"""The label ledger (alwidget._ledger): one fold over the history that resolves undo."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alwidget import ActiveLearner
from alwidget._ledger import Event, LabelLedger
from alwidget.errors import AlwidgetError

OPS = st.lists(
    st.tuples(
        st.sampled_from(["teach", "relabel", "skip", "unsure", "undo", "add_class"]),
        st.integers(0, 4),
        st.sampled_from(["a", "b"]),
        st.sampled_from(["active", "search", "review"]),
    ),
    max_size=30,
)


def _drive(ops) -> ActiveLearner:
    learner = ActiveLearner(np.zeros((5, 2), dtype="float32"), ["a", "b"])
    for k, (kind, i, name, mode) in enumerate(ops):
        try:
            if kind == "undo":
                learner.undo()
            elif kind == "add_class":
                learner.add_class(f"c{k}")
            elif kind in ("teach", "relabel"):
                getattr(learner, kind)(i, name, mode=mode)
            else:
                getattr(learner, kind)(i, mode=mode)
        except AlwidgetError:
            continue
    return learner


def _state_after(events) -> dict:
    """Apply events with undo as a stack; return {clip: state} (the reference walker)."""
    state: dict[int, tuple] = {}
    stack: list[dict] = []
    for ev in events:
        if ev.kind == "undo":
            state = stack.pop()
            continue
        if ev.kind == "add_class":
            continue
        stack.append(dict(state))
        for i, pos in zip(ev.indices, range(len(ev.indices))):
            if ev.kind in ("teach", "relabel"):
                state[i] = ("label", ev.labels[pos])
            else:
                state[i] = (ev.kind,)
    return state


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_the_events_in_force_give_the_same_state_as_the_whole_history(ops):
    learner = _drive(ops)
    events = learner.history
    ledger = LabelLedger()
    for ev in events:
        ledger.append(ev, seq=0)
    live = ledger.live()
    assert all(ev.kind != "undo" for _, ev in live)
    assert _state_after([ev for _, ev in live]) == _state_after(events)
    # before every label event in force, the state equals the state replayed from the events in force only
    for n, (pos, ev) in enumerate(live):
        if ev.kind == "add_class":
            continue  # not undoable: an undo may pass over it
        assert _state_after([ev for _, ev in live[:n]]) == _state_after(events[:pos])
    labels = {i: s[1] for i, s in _state_after(events).items() if s[0] == "label"}
    assert learner.labels == labels


def test_live_leaves_out_undone_events_and_their_undos():
    ledger = LabelLedger()
    ledger.append(Event("teach", (1,), ("a",)), np.array([1]), np.array([-1]), seq=0)
    ledger.append(Event("add_class", (), ("c",)), seq=1)
    ledger.append(Event("skip", (2,)), np.array([2]), np.array([-1]), seq=2)
    entry = ledger.pop_undoable()
    assert entry.pos == 2 and entry.seq == 2
    ledger.append(Event("undo", (2,), target=2), seq=3)
    ledger.append(Event("teach", (3,), ("b",), mode="search", time=50.0), np.array([3]), np.array([-1]), seq=4)
    assert [pos for pos, _ in ledger.live()] == [0, 1, 4]
    assert [pos for pos, _ in ledger.live(upto=3)] == [0, 1, 2]  # the undo comes later
    assert ledger.label_modes() == {1: "active", 3: "search"}
    assert ledger.teach_times()[-1] == 50.0 and len(ledger.teach_times()) == 2
    assert ledger.last_undoable_seq() == 4
    ledger.renumber()
    assert ledger.last_undoable_seq() == 4 and ledger.pop_undoable().seq == 4
    assert ledger.pop_undoable().seq == 0 and not ledger.can_undo()

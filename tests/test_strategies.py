import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alwidget import ActiveLearner, strategies
from alwidget.errors import InvalidInputError

# Hand-made probability table: which row each measure should pick is known.
#   row 0: confident               [0.90, 0.05, 0.05]
#   row 1: two-way tie             [0.48, 0.47, 0.05]  -> smallest margin
#   row 2: flat                    [0.34, 0.33, 0.33]  -> least confident, highest entropy
#   row 3: confident-ish two-way   [0.60, 0.40, 0.00]
TABLE = np.array(
    [
        [0.90, 0.05, 0.05],
        [0.48, 0.47, 0.05],
        [0.34, 0.33, 0.33],
        [0.60, 0.40, 0.00],
    ]
)
CANDIDATES = np.array([10, 11, 12, 13])


def rng(seed=0):
    return np.random.default_rng(seed)


def test_measures_on_a_known_table():
    np.testing.assert_allclose(strategies.least_confidence(TABLE), [0.10, 0.52, 0.66, 0.40])
    np.testing.assert_allclose(strategies.margin(TABLE), [0.85, 0.01, 0.01, 0.20], atol=1e-12)
    expected_entropy = [-(p[p > 0] * np.log(p[p > 0])).sum() for p in TABLE]
    np.testing.assert_allclose(strategies.entropy(TABLE), expected_entropy)
    assert strategies.entropy(np.array([[1.0, 0.0]]))[0] == 0.0  # 0 log 0 = 0, no nan


def test_each_strategy_picks_the_known_row():
    assert strategies.least_confidence_sampling(TABLE, CANDIDATES, 1, rng()).tolist() == [12]
    assert strategies.entropy_sampling(TABLE, CANDIDATES, 1, rng()).tolist() == [12]
    # rows 1 and 2 tie on margin (0.01): both must come before row 3
    assert sorted(strategies.margin_sampling(TABLE, CANDIDATES, 2, rng()).tolist()) == [11, 12]
    assert strategies.entropy_sampling(TABLE, CANDIDATES, 4, rng()).tolist() == [12, 11, 13, 10]


def test_margin_differs_from_least_confidence():
    table = np.array([[0.50, 0.49, 0.01], [0.40, 0.30, 0.30]])
    assert strategies.margin_sampling(table, np.array([0, 1]), 1, rng()).tolist() == [0]
    assert strategies.least_confidence_sampling(table, np.array([0, 1]), 1, rng()).tolist() == [1]


def test_ties_are_broken_by_the_generator_not_by_position():
    scores = np.zeros(100)
    picks = {tuple(strategies.select_top(scores, 3, rng(s)).tolist()) for s in range(20)}
    assert len(picks) > 10  # different seeds break the tie differently
    assert (0, 1, 2) not in picks or len(picks) > 1
    # same seed, same picks
    assert strategies.select_top(scores, 3, rng(4)).tolist() == strategies.select_top(scores, 3, rng(4)).tolist()


def test_select_top_orders_best_first():
    scores = np.array([0.1, 0.9, 0.5, 0.7])
    assert strategies.select_top(scores, 3, rng()).tolist() == [1, 3, 2]
    assert strategies.select_top(scores, 10, rng()).tolist() == [1, 3, 2, 0]


@settings(max_examples=50, deadline=None)
@given(
    scores=arrays(np.float64, st.integers(1, 60), elements=st.sampled_from([0.0, 0.25, 0.5, 1.0])),
    n=st.integers(1, 70),
    seed=st.integers(0, 99),
)
def test_select_top_property(scores, n, seed):
    picks = strategies.select_top(scores, n, rng(seed))
    assert len(picks) == min(n, len(scores))
    assert len(set(picks.tolist())) == len(picks)
    # no unpicked score beats a picked one
    rest = np.setdiff1d(np.arange(len(scores)), picks)
    if len(rest) and len(picks):
        assert scores[rest].max() <= scores[picks].min()
    assert np.all(np.diff(scores[picks]) <= 0)  # best first


def test_bald_is_high_where_members_disagree():
    agree = np.array([[[0.9, 0.1]], [[0.9, 0.1]], [[0.9, 0.1]]])
    disagree = np.array([[[0.99, 0.01]], [[0.01, 0.99]], [[0.99, 0.01]]])
    unsure = np.array([[[0.5, 0.5]], [[0.5, 0.5]], [[0.5, 0.5]]])
    assert strategies.bald(agree)[0] == pytest.approx(0.0, abs=1e-12)
    assert strategies.bald(unsure)[0] == pytest.approx(0.0, abs=1e-12)  # aleatoric, not epistemic
    assert strategies.bald(disagree)[0] > 0.3


def test_vote_entropy_counts_hard_votes():
    unanimous = np.array([[[0.6, 0.4]], [[0.9, 0.1]], [[0.55, 0.45]]])
    split = np.array([[[0.6, 0.4]], [[0.4, 0.6]], [[0.9, 0.1]], [[0.1, 0.9]]])
    assert strategies.vote_entropy(unanimous)[0] == pytest.approx(0.0)
    assert strategies.vote_entropy(split)[0] == pytest.approx(np.log(2))  # 2 votes each way
    both = np.concatenate([unanimous[:3], split[:3]], axis=1)  # 3 members, 2 candidates
    assert strategies.select_top(strategies.vote_entropy(both), 1, rng()).tolist() == [1]


def test_kmeans_pp_spreads_over_clusters_and_avoids_centers():
    g = rng(1)
    X = np.concatenate([g.normal(size=(50, 2)) * 0.05 + c for c in ([0, 0], [10, 0], [0, 10], [10, 10])])
    picks = strategies.kmeans_pp(X, 4, rng())
    assert sorted(int(p) // 50 for p in picks) == [0, 1, 2, 3]
    picks = strategies.kmeans_pp(X, 3, rng(), centers=np.array([[0.0, 0.0]]))
    assert sorted(int(p) // 50 for p in picks) == [1, 2, 3]


def test_select_diverse_avoids_near_duplicates():
    # many near-identical, very uncertain points and a few less uncertain distinct ones
    g = rng(2)
    dupes = g.normal(size=(30, 2)) * 0.01
    spread = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, 0.0], [0.0, -5.0]])
    X = np.concatenate([dupes, spread])
    scores = np.concatenate([np.full(30, 1.0), np.full(4, 0.8)])
    top = strategies.select_top(scores, 5, rng())
    assert sum(int(i) < 30 for i in top) == 5  # plain top-n: five copies of the same sound
    picks = strategies.select_diverse(X, scores, 5, rng())
    assert len(set(picks.tolist())) == 5
    assert sum(int(i) < 30 for i in picks) == 1  # one of the duplicates, then the distinct ones


def test_registry():
    assert {"random", "least_confidence", "margin", "entropy", "diverse", "vote_entropy", "bald"} <= set(
        strategies.available()
    )
    assert strategies.get("entropy") is strategies.entropy_sampling
    assert strategies.get("random").needs_model is False

    @strategies.register("test_first")
    def first(source, candidates, n, rng):
        return np.asarray(candidates)[:n]

    try:
        assert strategies.get("test_first") is first
        with pytest.raises(InvalidInputError, match="already registered"):
            strategies.register("test_first", first)
    finally:
        strategies._REGISTRY.pop("test_first")
    with pytest.raises(InvalidInputError, match="unknown strategy 'nope'"):
        strategies.get("nope")


def test_bad_tables_are_rejected():
    with pytest.raises(InvalidInputError, match="shape"):
        strategies.entropy(np.ones(3))
    with pytest.raises(InvalidInputError, match="4 rows but there are 2 candidates"):
        strategies.entropy_sampling(TABLE, np.array([1, 2]), 1, rng())
    with pytest.raises(InvalidInputError, match="needs the ActiveLearner"):
        strategies.diverse_sampling(TABLE, CANDIDATES, 2, rng())


def test_learner_strategies_run_end_to_end():
    g = rng(3)
    centres = g.normal(size=(3, 6)) * 3
    y = g.integers(0, 3, 200)
    X = (centres[y] + g.normal(size=(200, 6))).astype(np.float32)
    names = np.array(["a", "b", "c"], dtype=object)
    for name in strategies.available():
        learner = ActiveLearner(X, list(names), strategy=name)
        learner.teach(np.arange(15), names[y[:15]])
        q = learner.query(7)
        assert len(set(q.tolist())) == 7 and set(q.tolist()).isdisjoint(range(15)), name
    bald = ActiveLearner(X, list(names), strategy="bald", n_committee=3)
    bald.teach(np.arange(15), names[y[:15]])
    assert bald.committee_proba([20, 21]).shape == (3, 2, 3)


# ---------------------------------------------------------------- issue 10: argument checks
@pytest.mark.parametrize(
    ("scores", "match"),
    [
        ([0.1, np.nan, 0.3], r"scores has a non-finite value \(nan\) at position 1"),
        ([np.inf, 0.2], r"scores has a non-finite value \(inf\) at position 0"),
        ([0.2, -np.inf], r"scores has a non-finite value \(-inf\) at position 1"),
        ([[0.1, 0.2]], r"scores must be 1-D"),
        (["a", "b"], "scores must be a 1-D array of real numbers"),
    ],
)
def test_select_top_rejects_bad_scores(scores, match):
    with pytest.raises(InvalidInputError, match=match):
        strategies.select_top(scores, 1, rng())


@pytest.mark.parametrize("n", [-1, 1.5, True, "2", None])
def test_select_top_rejects_a_bad_count(n):
    with pytest.raises(InvalidInputError, match="n must be a non-negative integer"):
        strategies.select_top([0.1, 0.2], n, rng())


def test_select_top_and_kmeans_pp_give_everything_when_n_exceeds_the_candidates():
    assert sorted(strategies.select_top([0.3, 0.1, 0.2], 99, rng()).tolist()) == [0, 1, 2]
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert sorted(strategies.kmeans_pp(X, 99, rng()).tolist()) == [0, 1, 2]
    assert strategies.select_top([], 3, rng()).tolist() == []


@settings(max_examples=50, deadline=None)
@given(
    scores=arrays(np.float64, st.integers(1, 30), elements=st.sampled_from([0.0, 0.5, 1.0, np.nan, np.inf, -np.inf])),
    n=st.integers(1, 40),
)
def test_select_top_raises_iff_a_score_is_not_finite(scores, n):
    if np.isfinite(scores).all():
        assert len(strategies.select_top(scores, n, rng())) == min(n, len(scores))
    else:
        first = int(np.flatnonzero(~np.isfinite(scores))[0])
        with pytest.raises(InvalidInputError, match=f"at position {first};"):
            strategies.select_top(scores, n, rng())


X4 = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": [1.0, 2.0]}, "weights has 2 entries but X has 4 rows"),
        ({"weights": [1.0, np.nan, 1.0, 1.0]}, r"weights has a non-finite value \(nan\) at position 1"),
        ({"weights": [1.0, 1.0, -0.5, 1.0]}, r"weights must be non-negative, got -0.5 at position 2"),
        ({"centers": np.ones((2, 3))}, "centers has 3 features per row, expected 2"),
        ({"centers": [[np.inf, 0.0]]}, r"centers has a non-finite value \(inf\) at row 0, column 0"),
        ({"X": X4[:, 0]}, r"X must be 2-D"),
        ({"X": np.where(X4 == 1.0, np.nan, X4)}, r"X has a non-finite value \(nan\) at row 1, column 0"),
        ({"n": -2}, "n must be a non-negative integer"),
    ],
)
def test_kmeans_pp_rejects_bad_inputs(kwargs, match):
    args = {"X": X4, "n": 2, **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        strategies.kmeans_pp(args.pop("X"), args.pop("n"), rng(), **args)


def test_select_diverse_rejects_mismatched_rows():
    with pytest.raises(InvalidInputError, match=r"X has shape \(4, 2\) but there are 3 scores"):
        strategies.select_diverse(X4, [0.1, 0.2, 0.3], 2, rng())
    with pytest.raises(InvalidInputError, match="prefilter must be a positive integer"):
        strategies.select_diverse(X4, [0.1, 0.2, 0.3, 0.4], 2, rng(), prefilter=0)


def test_strategies_reject_bad_candidates_and_counts():
    from alwidget.errors import IndexOutOfRangeError

    X = rng(4).normal(size=(30, 3)).astype(np.float32)
    learner = ActiveLearner(X, ["a", "b"], n_committee=2)
    learner.teach([0, 1], ["a", "b"])
    for name in strategies.available():
        fn = strategies.get(name)
        for bad in ([5, 30], [-1, 5]):
            with pytest.raises(IndexOutOfRangeError, match=f"candidate index {bad[0] if bad[0] < 0 else 30}"):
                fn(learner, np.array(bad), 1, rng())
        with pytest.raises(InvalidInputError, match="candidates must be a 1-D array of pool indices"):
            fn(learner, np.array([2.0, 3.0]), 1, rng())
        with pytest.raises(InvalidInputError, match="n must be a non-negative integer"):
            fn(learner, np.arange(2, 30), -1, rng())

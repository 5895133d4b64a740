import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distml.config import SamplingConfig, SplitConfig
from distml.errors import UserError
from distml.sampling.plan import make_plan
from distml.stats.allocation import allocate

pops = st.dictionaries(
    st.text("abcdef", min_size=1, max_size=3), st.integers(1, 10_000), min_size=1, max_size=12
)


@settings(max_examples=200, deadline=None)
@given(pops, st.floats(0.0001, 1.0), st.integers(0, 5))
def test_allocation_sums_exactly_respects_floor_and_caps(pop, frac, floor):
    n_pop = sum(pop.values())
    total = max(1, round(frac * n_pop))
    if sum(min(floor, v) for v in pop.values()) > total:
        with pytest.raises(UserError):
            allocate(total, pop, pop, {k: floor for k in pop})
        return
    n = allocate(total, pop, pop, {k: floor for k in pop})
    assert sum(n.values()) == total
    for k, v in pop.items():
        assert min(floor, v) <= n[k] <= v
    # proportional up to rounding where no floor or cap binds
    for k, v in pop.items():
        if floor < n[k] < v:
            assert abs(n[k] - total * v / n_pop) < 1 + floor * len(pop)


def test_largest_remainder_matches_hand_computation():
    # 10 rows over 90/9/1 with a floor of 1: 'c' gets its floor, the rest 9 go 8/1 by remainder.
    assert allocate(
        10, {"a": 90, "b": 9, "c": 1}, {"a": 90, "b": 9, "c": 1}, {"a": 1, "b": 1, "c": 1}
    ) == {"a": 8, "b": 1, "c": 1}
    assert allocate(7, {"a": 5, "b": 5, "c": 5}, {"a": 5, "b": 5, "c": 5}) == {
        "a": 3,
        "b": 2,
        "c": 2,
    }


@settings(max_examples=100, deadline=None)
@given(pops, st.integers(1, 500))
def test_split_sizes_are_stratified_and_exact(pop, size):
    size = min(size, sum(pop.values()))
    if size < len(pop):
        return
    plan = make_plan(SamplingConfig(size=size, split=SplitConfig(0.6, 0.2, 0.2)), pop, "test")
    assert sum(plan.sizes.values()) == size
    for s, n in plan.sizes.items():
        sp = plan.split_sizes[s]
        assert sp["train"] + sp["valid"] + sp["test"] == n
        assert min(sp.values()) >= 0
    assert sum(plan.split_sizes[s]["test"] for s in pop) == round(size * 0.2)
    assert sum(plan.split_sizes[s]["valid"] for s in pop) == round(size * 0.2)


def test_sample_larger_than_population_is_a_user_error():
    with pytest.raises(UserError, match="larger than the population"):
        make_plan(SamplingConfig(size=11), {"a": 5, "b": 5}, "data.path 'x'")

from hypothesis import given
from hypothesis import strategies as st

from jouleflow.sensors._counters import counter_delta, poll_interval_bound_ns


@given(
    modulus=st.integers(min_value=2, max_value=2**64),
    start=st.integers(min_value=0),
    steps=st.lists(st.integers(min_value=0), min_size=1, max_size=50),
)
def test_unwrapping_recovers_every_increase_below_the_modulus(modulus, start, steps):
    start %= modulus
    steps = [s % modulus for s in steps]  # the sampler guarantees less than one wrap per step
    raw = start
    recovered = 0
    for step in steps:
        new_raw = (raw + step) % modulus
        recovered += counter_delta(raw, new_raw, modulus)
        raw = new_raw
    assert recovered == sum(steps)


@given(st.integers(min_value=0, max_value=2**63), st.integers(min_value=0, max_value=2**63))
def test_a_counter_that_never_wraps_treats_a_decrease_as_a_reset(previous, current):
    delta = counter_delta(previous, current, None)
    assert delta == max(0, current - previous)


@given(
    modulus=st.integers(min_value=10**6, max_value=2**40),
    watts=st.floats(min_value=0.1, max_value=5000),
)
def test_poll_bound_never_allows_a_wrap_at_stated_power(modulus, watts):
    bound_ns = poll_interval_bound_ns(modulus, watts)
    energy_uj_in_bound = watts * bound_ns / 1e3
    # Either the bound is the 1 ms floor, or at most a quarter of the range passes between polls.
    assert bound_ns == 1_000_000 or energy_uj_in_bound <= modulus / 4 + 1

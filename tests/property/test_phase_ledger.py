"""Conservation and ordering invariants of phase attribution, under any order of edges."""

import math

from hypothesis import given
from hypothesis import strategies as st

from jouleflow.attribution.phases import PhaseLedger

N_DOMAINS = 2

# An edge stream: each step advances time and both counters, then opens a phase or closes one.
steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10**6),  # dt_ns
        st.floats(min_value=0, max_value=1e6, allow_nan=False),  # energy into domain 0
        st.floats(min_value=0, max_value=1e6, allow_nan=False),  # energy into domain 1
        st.sampled_from(["open", "close"]),
        st.sampled_from(["data", "forward", "backward", "step"]),
        st.integers(min_value=0, max_value=10),  # which open phase to close (mod count)
    ),
    max_size=60,
)


def fold(stream):
    t, cum = 0, (0.0, 0.0)
    ledger = PhaseLedger(t, cum)
    open_handles = []
    for dt, e0, e1, action, name, pick in stream:
        t += dt
        cum = (cum[0] + e0, cum[1] + e1)
        if action == "open":
            open_handles.append(ledger.open(name, t, cum))
        elif open_handles:
            ledger.close(open_handles.pop(pick % len(open_handles)), t, cum)
    t += 1
    cum = (cum[0] + 5.0, cum[1] + 7.0)
    ledger.finish(t, cum)
    return ledger, t, cum


@given(steps)
def test_self_energies_plus_unattributed_equal_the_total(stream):
    ledger, _, total = fold(stream)
    for i in range(N_DOMAINS):
        parts = sum(p.self_uj[i] for p in ledger.totals.values()) + ledger.unattributed_uj[i]
        assert math.isclose(parts, total[i], rel_tol=1e-9, abs_tol=1e-6)


@given(steps)
def test_inclusive_is_never_below_self_and_never_negative(stream):
    ledger, _, _ = fold(stream)
    for phase in ledger.totals.values():
        for i in range(N_DOMAINS):
            assert phase.self_uj[i] <= phase.inclusive_uj[i] + 1e-6
            assert phase.self_uj[i] >= -1e-6
    assert ledger.open_count == 0


def test_nested_phases_split_exactly():
    ledger = PhaseLedger(0, (0.0,))
    outer = ledger.open("step", 0, (0.0,))
    inner = ledger.open("forward", 10, (10.0,))
    ledger.close(inner, 30, (40.0,))
    ledger.close(outer, 40, (45.0,))
    ledger.finish(50, (50.0,))
    step, forward = ledger.totals["step"], ledger.totals["forward"]
    assert step.inclusive_uj == [45.0] and step.self_uj == [15.0]
    assert forward.inclusive_uj == [30.0] and forward.self_uj == [30.0]
    assert ledger.unattributed_uj == [5.0]
    assert step.windows_ns == [(0, 40)] and forward.count == 1


def test_phase_left_open_is_closed_at_the_end_and_marked():
    ledger = PhaseLedger(0, (0.0,))
    ledger.open("eval", 5, (5.0,))
    ledger.finish(20, (20.0,))
    assert ledger.totals["eval"].inclusive_uj == [15.0]
    assert ledger.totals["eval"].truncated == 1

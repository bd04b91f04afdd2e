"""Energy accounting properties: whatever the chip's counters do, the books stay exact."""
from hypothesis import given, settings
from hypothesis import strategies as st

import energy

RATIOS = st.sampled_from([
    (125, 4),  # ATM90E26, 3200 imp/kWh
    (100, 1),  # ATM90E26, 1000 imp/kWh
    energy.reduce((4 * 3000000 * 1483524 * 16 * (1 << 20), 127332 * 500 * 1000000000 * 16)),  # BL0942
    (7, 13),
])
POLL_MS = st.integers(min_value=1, max_value=120000)


def exact(reg):
    """mWh totals are ints, fractions in range, identity with the counts holds."""
    for v in (reg.import_mwh, reg.export_mwh, reg.rem_import, reg.rem_export):
        assert type(v) is int
        assert v >= 0
    assert reg.rem_import < reg.den and reg.rem_export < reg.den


@settings(max_examples=300, deadline=None)
@given(RATIOS, st.lists(st.tuples(POLL_MS, st.integers(0, 10**6), st.integers(0, 10**6), st.booleans()), max_size=60))
def test_clear_on_read_steps_sum_exactly(ratio, steps):
    reg = energy.EnergyRegister(ratio, 60000)
    imp_total = exp_total = 0
    for ms, a, b, export in steps:
        limit = reg.max_counts(ms)
        imp = a % (limit + 1)
        exp = b % (limit + 1 - imp)  # one interval: both directions share the bound
        if export:
            imp, exp = exp, imp
        assert reg.add_counts(imp, exp, ms)
        imp_total += imp
        exp_total += exp
        exact(reg)
    assert reg.import_mwh * reg.den + reg.rem_import == imp_total * reg.num
    assert reg.export_mwh * reg.den + reg.rem_export == exp_total * reg.num
    assert reg.rejected == 0


@settings(max_examples=300, deadline=None)
@given(RATIOS, st.integers(0, (1 << 24) - 1),
       st.lists(st.tuples(POLL_MS, st.integers(0, 10**7), st.sampled_from(["count", "count", "count", "reset"]),
                          st.integers(0, 10**7)), max_size=80))
def test_cumulative_counter_wraps_and_resets(ratio, start, steps):
    """A 24-bit free-running counter polled with wraps and (flagged) chip resets: the books hold
    exactly what the counter counted that survived (a reset wipes the counts since the last read)."""
    reg = energy.EnergyRegister(ratio, 60000)
    ctr = energy.CumulativeCounter(24)
    hw = start
    ctr.delta(hw)  # baseline
    surviving = 0
    for ms, a, kind, b in steps:
        limit = reg.max_counts(ms)
        if kind == "reset":
            hw = 0  # the chip reset; the counts since the last read are gone
            ctr.restart()  # the driver saw MODE back at its default
            after = b % (limit + 1)  # counted since the reset, before this poll
            hw = (hw + after) & 0xFFFFFF
            surviving += after
        else:
            inc = a % (limit + 1)
            hw = (hw + inc) & 0xFFFFFF  # wraps freely
            surviving += inc
        d = ctr.delta(hw)
        assert reg.add_counts(d, 0, ms)
        exact(reg)
    assert reg.import_mwh * reg.den + reg.rem_import == surviving * reg.num


@settings(max_examples=300, deadline=None)
@given(RATIOS, st.lists(st.tuples(POLL_MS, st.integers(0, 1 << 24), st.booleans()), max_size=80))
def test_garbage_never_invents_beyond_the_bound(ratio, steps):
    """Arbitrary counter readings (unflagged resets, corrupted values): never negative, never a
    float, and no step books more than the sanctioned maximum could deliver in its time."""
    reg = energy.EnergyRegister(ratio, 60000)
    ctr = energy.CumulativeCounter(24)
    ctr.delta(0)
    bound_counts = 0
    for ms, raw, export in steps:
        d = ctr.delta(raw)
        before = reg.import_mwh * reg.den + reg.rem_import + reg.export_mwh * reg.den + reg.rem_export
        ok = reg.add_counts(0, d, ms) if export else reg.add_counts(d, 0, ms)
        after = reg.import_mwh * reg.den + reg.rem_import + reg.export_mwh * reg.den + reg.rem_export
        exact(reg)
        if ok:
            assert d <= reg.max_counts(ms)
            assert after - before == d * reg.num
            bound_counts += reg.max_counts(ms)
        else:
            assert after == before
            assert reg.events[-1][0] == "step_rejected"
    total = reg.import_mwh * reg.den + reg.rem_import + reg.export_mwh * reg.den + reg.rem_export
    assert total <= bound_counts * reg.num
    assert len(reg.events) == reg.rejected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(RATIOS, st.integers(0, 5000), st.integers(0, 5000)), min_size=1, max_size=30))
def test_ratio_changes_lose_less_than_one_mwh_each(steps):
    """Recalibration changes the count value; books stay monotonic and each change floors
    away less than 1 mWh per direction."""
    reg = energy.EnergyRegister(steps[0][0], 60000)
    exact_imp = 0  # in mWh * L (L common multiple of all dens)
    L = 1
    for ratio, _, _ in steps:
        L = L * ratio[1] // energy.gcd(L, ratio[1])
    changes = 0
    last = (reg.import_mwh, reg.export_mwh)
    for ratio, a, b in steps:
        if (reg.num, reg.den) != energy.reduce(ratio):
            changes += 1
        reg.set_ratio(ratio)
        assert reg.add_counts(a % 1000, b % 1000, 600000)
        exact_imp += (a % 1000) * reg.num * (L // reg.den)
        exact(reg)
        assert reg.import_mwh >= last[0] and reg.export_mwh >= last[1]
        last = (reg.import_mwh, reg.export_mwh)
    booked = reg.import_mwh * L + reg.rem_import * (L // reg.den)
    assert booked <= exact_imp
    assert exact_imp - booked < (changes + 1) * L


@given(st.integers(0, (1 << 24) - 1), st.integers(0, (1 << 24) - 1))
def test_counter_delta_is_modular_difference(a, b):
    c = energy.CumulativeCounter(24)
    c.rebase(a)
    d = c.delta(b)
    assert 0 <= d < (1 << 24)
    assert (a + d) & 0xFFFFFF == b

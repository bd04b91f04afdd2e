import energy
from _check import raises

ATM = (125, 4)  # 31.25 mWh per count (0.1 pulse at 3200 imp/kWh)


def reg(ratio=ATM, max_current_ma=60000):
    return energy.EnergyRegister(ratio, max_current_ma)


def test_fractions_carried_exactly():
    r = reg()
    for i in range(1, 9):
        assert r.add_counts(1, 0, 1000)
        assert r.import_mwh * 4 + r.rem_import == 125 * i
    assert r.import_mwh == 250 and r.rem_import == 0
    assert r.export_mwh == 0


def test_large_ratio_exact():
    ratio = energy.reduce((4 * 3000000 * 1483524 * 16 * (1 << 20), 127332 * 500 * 1000000000 * 4))
    r = reg(ratio)
    total = 0
    for n in (3, 17, 1, 0, 40, 29):
        assert r.add_counts(0, n, 60000)
        total += n
    num, den = r.num, r.den
    assert r.export_mwh == total * num // den
    assert r.export_mwh * den + r.rem_export == total * num


def test_ratio_reduced():
    assert energy.reduce((100000, 3200)) == (125, 4)
    with raises(ValueError):
        energy.reduce((0, 4))
    with raises(ValueError):
        energy.EnergyRegister((1, 0))


def test_max_counts_from_limits():
    r = reg()
    # 60 A * 440 V = 26.4 kW; 5 s -> 36666.7 mWh * 9/8 = 41250 mWh = 1320 counts, + 2 slack
    assert r.max_power_mw == 26400000
    assert r.max_counts(5000) == 1322
    assert r.max_mwh(5000) == 41250
    assert r.max_counts(0) == energy.SLACK_COUNTS
    assert r.max_counts(-5) == energy.SLACK_COUNTS


def test_implausible_step_rejected_and_reported():
    r = reg()
    assert r.add_counts(1000, 0, 5000)
    before = (r.import_mwh, r.rem_import)
    assert not r.add_counts(1323, 0, 5000)
    assert not r.add_counts(700, 700, 5000)  # both directions share one interval
    assert (r.import_mwh, r.rem_import) == before and r.export_mwh == 0
    assert r.rejected == 2
    assert r.events[0][0] == "step_rejected" and r.events[1][0] == "step_rejected"


def test_negative_and_float_rejected():
    r = reg()
    assert not r.add_counts(-1, 0, 1000)
    assert not r.add_counts(0, 1.5, 1000)
    assert not r.add_mwh(2.0, 0, 1000)
    assert not r.add_mwh(0, -3, 1000)
    assert r.import_mwh == 0 and r.export_mwh == 0 and r.rejected == 4


def test_add_mwh_bounded():
    r = reg()
    assert r.add_mwh(36000, 0, 5000)
    assert not r.add_mwh(41251, 0, 5000)
    assert r.import_mwh == 36000


def counter_step(raw, last):
    """The counts a 24-bit CumulativeCounter reports for reading raw after last, the way the
    BL0942 driver uses it (rebase on a baseline reading, then delta)."""
    c = energy.CumulativeCounter(24)
    c.rebase(last)
    return c.delta(raw)


def test_counter_delta_wraps():
    assert counter_step(5, 0xFFFFFF - 4) == 10
    assert counter_step(100, 40) == 60
    assert counter_step(0, 0) == 0


def test_cumulative_counter_baseline_wrap_restart():
    c = energy.CumulativeCounter(24)
    assert c.delta(0xFFFFF0) == 0  # first reading: baseline only
    assert c.delta(0xFFFFFA) == 10
    assert c.delta(0x000004) == 10  # wrapped
    c.restart()  # chip reset: counted from zero since
    assert c.delta(7) == 7
    c.rebase(100)
    assert c.delta(103) == 3
    assert c.last == 103


def test_set_ratio_rescales_remainders():
    r = reg((1, 3))
    r.add_counts(2, 1, 1000)  # 2/3 and 1/3 mWh carried
    assert r.import_mwh == 0 and r.rem_import == 2 and r.rem_export == 1
    r.set_ratio((1, 6))
    assert r.rem_import == 4 and r.rem_export == 2
    r.add_counts(2, 4, 1000)
    assert r.import_mwh == 1 and r.rem_import == 0 and r.export_mwh == 1 and r.rem_export == 0


def test_state_round_trip():
    r = reg()
    r.add_counts(7, 3, 10000)
    s = r.state()
    r2 = reg()
    r2.restore(s)
    assert r2.state() == s
    assert r2.import_mwh == 218 and r2.rem_import == 3
    r3 = reg((125, 2))  # a different count value: fractions brought across
    r3.restore(s)
    assert r3.import_mwh == 218 and r3.rem_import == 1 and (r3.num, r3.den) == (125, 2)


def test_restore_rejects_nonsense():
    r = reg()
    with raises(ValueError):
        r.restore({"import_mwh": -1})
    with raises(ValueError):
        r.restore({"import_mwh": 1, "rem_import": 4, "ratio": [125, 4]})
    with raises(ValueError):
        r.restore({"export_mwh": 1.5})


def test_totals_carry_whole_kwh_and_read_out_exactly_past_2_30_mwh():
    r = energy.EnergyRegister((1, 1), max_current_ma=60000)
    r.restore({"import_mwh": 2 ** 30 - 10, "export_mwh": 999999})
    assert r.import_mwh == 2 ** 30 - 10 and r.export_mwh == 999999
    assert r.add_counts(25, 1, 5000)
    assert r.import_mwh == 2 ** 30 + 15 and r.export_mwh == 1000000
    assert (r.import_kwh, r.import_part) == ((2 ** 30 + 15) // 1000000, (2 ** 30 + 15) % 1000000)
    assert (r.export_kwh, r.export_part) == (1, 0)
    assert r.state()["import_mwh"] == 2 ** 30 + 15


def test_pending_energy_is_what_was_booked_since_it_was_last_taken():
    r = energy.EnergyRegister((125, 4), max_current_ma=60000)
    r.restore({"import_mwh": 5 * 10 ** 9})
    assert r.add_counts(8, 4, 5000)  # 250 mWh import, 125 export
    assert (r.pending_import, r.pending_export) == (250, 125)
    r.take_pending(200, 125)
    assert r.add_mwh(10, 0, 5000)
    assert (r.pending_import, r.pending_export) == (60, 0)
    assert r.import_mwh == 5 * 10 ** 9 + 260


def test_bad_ratios_and_limits_are_refused_with_a_reason():
    for bad in ((1.5, 4), (125, 4.0), (0, 4), (125, -4)):
        with raises(ValueError) as e:
            energy.reduce(bad)
        assert str(e.value) == "ratio must be two positive ints"
    for limits in ((0, 44000), (60000, 0), (-1, 44000), (60000, -1)):
        with raises(ValueError) as e:
            energy.EnergyRegister(ATM, limits[0], limits[1])
        assert str(e.value) == "limits must be positive"
    r = energy.EnergyRegister(ATM, 1, 1)  # the smallest limits there are
    assert r.max_power_mw == 0 and r.max_counts(3600000) == energy.SLACK_COUNTS


def test_rejected_step_is_logged_with_what_was_refused():
    r = reg()
    assert not r.add_counts(1323, 0, 5000)
    assert not r.add_counts(0.5, 7, 5000)
    assert not r.add_mwh(41251, 0, 5000)
    assert not r.add_mwh(3, 2.0, 5000)
    assert r.events == [("step_rejected", "counts imp=1323 exp=0 ms=5000 max=1322"),
                        ("step_rejected", "type imp=0.5 exp=7 ms=5000 max=1322"),
                        ("step_rejected", "mwh imp=41251 exp=0 ms=5000 max=41250"),
                        ("step_rejected", "type imp=3 exp=2.0 ms=5000 max=41250")]


def test_gap_estimate_bound_is_on_the_sum_of_both_directions():
    r = reg()
    assert r.add_mwh(0, 100, 5000)  # export only
    assert not r.add_mwh(30000, 20000, 5000)  # each within the bound, together not
    assert r.add_mwh(41250, 0, 5000)  # exactly the bound
    assert r.import_mwh == 41250 and r.export_mwh == 100


def test_negative_elapsed_time_allows_only_the_slack():
    r = energy.EnergyRegister((1, 1000), 60000)  # 8,250 counts per ms at the bound
    assert r.max_counts(1) == 8250 + energy.SLACK_COUNTS
    assert r.max_counts(-5) == r.max_counts(0) == energy.SLACK_COUNTS
    assert r.max_mwh(-5) == r.max_mwh(0) == 0
    assert type(r.max_mwh(5000)) is int and r.max_mwh(5000) == 41250
    assert r.max_mwh(1) == 9  # 8.25 mWh in 1 ms: a quarter mWh over rounds up


def test_every_direction_carries_into_whole_kwh_each_time():
    r = energy.EnergyRegister((1, 1), max_current_ma=60000)
    for i in range(1, 4):
        assert r.add_mwh(0, 600000, 600000)
        assert r.add_mwh(0, 400000, 600000)
        assert (r.export_kwh, r.export_part) == (i, 0) and r.export_mwh == i * 1000000
        assert r.add_mwh(1000000, 0, 600000)  # lands exactly on a kWh
        assert (r.import_kwh, r.import_part) == (i, 0)
    assert (r.pending_import, r.pending_export) == (3000000, 3000000)


def test_restore_of_an_empty_record_is_a_new_meter_and_remainders_stay_below_one_count():
    r = reg()
    r.add_counts(3, 3, 5000)
    r.restore({})
    assert (r.import_mwh, r.export_mwh, r.rem_import, r.rem_export) == (0, 0, 0, 0)
    for bad in ({"import_mwh": 1.5}, {"export_mwh": -1}, {"rem_import": "1"}):
        with raises(ValueError) as e:
            reg().restore(bad)
        assert str(e.value) == "bad energy state"
    for bad in ({"rem_import": 4, "ratio": [125, 4]}, {"rem_export": 4, "ratio": [125, 4]}):
        with raises(ValueError) as e:
            reg().restore(bad)
        assert str(e.value) == "bad energy remainder"

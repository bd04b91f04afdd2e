"""Metering on the simulated boards: the meter's energy registers against the model's exact
integral of the line (`bench.truth()`), forward and reverse, idle, across a chip reset, after
calibration and across restarts (docs/metering.md).

Energy is booked at the meter's polls (every 5 s under load), so each comparison first switches
the load off and lets 10 s pass: the poll after the load stopped books the chip's last counts,
and from then on neither side moves. What is left is the chip's part-count (less than one LSB:
31.25 mWh on the ATM90E26 front end, 293.2 mWh per BL0942 pulse) and the register's floor to a
whole mWh.
"""
import pathlib

import pytest

CONFIG = str(pathlib.Path(__file__).resolve().parents[2] / "examples" / "meter.toml")
ATM_LSB = 125 / 4  # mWh per ATM90E26 count
BL_LSB = 5401346048 / 18421875  # mWh per BL0942 CF pulse (sim front end)
SETTLE_S = 10  # two loaded poll intervals: the last counts are booked


def settle(m):
    """Load off, let the meter book what the chip counted; (import, export) and the truth."""
    m.bench.set_load(0)
    m.bench.advance(SETTLE_S)
    st = m.link.call("status")
    imp, exp = m.bench.truth()
    return st["energy_import_mwh"], st["energy_export_mwh"], imp, exp


def within_lsb(meter_mwh, true_mwh, lsb):
    """The register is the floor of the counts booked; the chip keeps < 1 count unbooked."""
    return true_mwh - lsb - 1 <= meter_mwh <= true_mwh + 1e-6


@pytest.mark.parametrize("watts", [60, 2300, 9200])
def test_constant_load_for_hours_is_the_exact_integral(meter_factory, watts):
    m = meter_factory()
    m.bench.set_load(watts)
    m.bench.advance(3 * 3600 + 17)
    imp, exp, t_imp, t_exp = settle(m)
    assert t_imp == pytest.approx(watts * (3 * 3600 + 17) / 3.6, rel=1e-3)
    assert within_lsb(imp, t_imp, ATM_LSB), (imp, t_imp)
    assert exp == 0 and t_exp == 0


def test_varying_load_is_the_exact_integral(meter_factory):
    m = meter_factory()
    profile = [(1200, 1.0, 1800), (3500, 0.9, 907), (0, 1.0, 600), (150, 0.5, 2400), (7400, 0.98, 313),
               (2.5, 1.0, 1200), (5000, 1.0, 3), (800, 0.8, 3600 + 11)]
    for watts, pf, secs in profile:
        m.bench.set_load(watts, pf)
        m.bench.advance(secs)
    imp, exp, t_imp, t_exp = settle(m)
    assert t_imp > 1200 * 1800 / 3.6  # the load really ran
    assert within_lsb(imp, t_imp, ATM_LSB), (imp, t_imp)
    assert exp == 0


def test_reverse_power_is_booked_as_export_and_forward_as_import(meter_factory):
    m = meter_factory()
    m.bench.set_load(-1500)  # rooftop solar feeding the grid
    m.bench.advance(2 * 3600 + 5)
    st = m.link.call("status")
    assert st["power_w"] < 0
    m.bench.set_load(1100)
    m.bench.advance(3600 + 29)
    m.bench.set_load(-400, 0.9)
    m.bench.advance(1800)
    imp, exp, t_imp, t_exp = settle(m)
    assert t_exp == pytest.approx(1500 * (2 * 3600 + 5) / 3.6 + 400 * 1800 / 3.6, rel=1e-3)
    assert within_lsb(exp, t_exp, ATM_LSB), (exp, t_exp)
    assert within_lsb(imp, t_imp, ATM_LSB), (imp, t_imp)


def test_no_load_counts_nothing_with_voltage_present(meter_factory):
    m = meter_factory()
    m.bench.set_mains(240.0)
    m.bench.set_load(0)
    m.bench.advance(12 * 3600)
    meas = m.link.call("measure")
    assert 23900 <= meas["volts_cv"] <= 24100 and meas["current_ma"] == 0 and meas["power_w"] == 0
    st = m.link.call("status")
    assert st["energy_import_mwh"] == 0 and st["energy_export_mwh"] == 0
    assert m.bench.truth() == (0.0, 0.0)


@pytest.mark.parametrize("watts", [3000, 5000])
def test_chip_reset_mid_run_neither_loses_nor_invents_energy(meter_factory, watts):
    """docs/metering.md: the counts lost with the chip's registers are estimated from the power
    before and after; with a steady load the result is within 2 counts of the exact integral."""
    m = meter_factory()
    m.bench.set_load(watts)
    m.bench.advance(1800 + 2.5)  # mid poll interval
    m.bench.inject("meter_ic", "inject_reset")
    m.bench.advance(1800)
    imp, exp, t_imp, t_exp = settle(m)
    assert t_imp - 2 * ATM_LSB - 1 <= imp <= t_imp + ATM_LSB, (imp, t_imp)
    codes = [e["code"] for e in m.link.call("events 20")["events"]]
    assert "chip_reset" in codes and "gap_filled" in codes, codes


@pytest.mark.parametrize("board, chip, garble", [("sim", "atm90e26", "inject_bad_transfer"),
                                                ("sim_bl0942", "bl0942", "inject_garbage_frame")])
def test_info_names_the_metering_ic_and_counts_its_read_errors(meter_factory, board, chip, garble):
    """A read garbled on the bus is recovered (ATM90E26: from the LastData echo; BL0942: read
    again) and counted: `info` shows the count and the event log says when it rose."""
    m = meter_factory(board=board)
    info = m.link.call("info")
    assert info["metering_ic"] == chip and info["metering_ic_errors"] == 0
    m.bench.set_load(1000)
    m.bench.advance(10)
    m.bench.inject("meter_ic", garble)  # the next read arrives garbled
    m.bench.advance(10)
    info = m.link.call("info")
    assert info["metering_ic"] == chip and info["metering_ic_errors"] == 1
    logged = [e["d"] for e in m.link.call("events 20")["events"] if e["code"] == "chip_read_errors"]
    assert logged == ["%s 1 (+1)" % chip], logged
    codes = [e["code"] for e in m.link.call("events 20")["events"]]
    assert "chip_error" not in codes and "chip_reset" not in codes, codes


def test_calibration_brings_a_two_percent_off_board_within_a_tenth_of_a_percent(meter_factory, tmp_path):
    # the calibration load (10 A) is above the example's 2 kW sanctioned load: a bench connection
    text = open(CONFIG).read()
    assert "sanctioned_load_w = 2000" in text
    cfg = tmp_path / "bench.toml"
    cfg.write_text(text.replace("sanctioned_load_w = 2000", "sanctioned_load_w = 10000"))
    m = meter_factory(config=str(cfg))
    m.bench.set_meter_error(v_ppm=20000, i_ppm=20000)  # divider and shunt 2 % off
    m.bench.set_mains(230.0)
    m.bench.set_load(2300)  # 10 A at 230 V, unity power factor
    m.bench.advance(90)  # past the idle poll interval: the readings are of this load
    before = m.link.call("measure")
    assert before["volts_cv"] == pytest.approx(23000 * 1.02, rel=2e-3)
    assert before["current_ma"] == pytest.approx(10000 * 1.02, rel=2e-3)
    assert before["power_w"] == pytest.approx(2300 * 1.02 * 1.02, rel=2e-3)
    r = m.link.call("calibrate 230.00 10.000 2300", key=m.key)
    assert r["calibration"]["chip"] == "atm90e26"
    m.bench.advance(30)
    after = m.link.call("measure")
    for field, ref in (("volts_cv", 23000), ("current_ma", 10000), ("power_w", 2300)):
        assert abs(after[field] - ref) <= ref / 1000, (field, after[field], ref)
    # and the energy of the next hour, against the model's integral
    imp0 = m.link.call("status")["energy_import_mwh"]
    t0 = m.bench.truth()[0]
    m.bench.set_load(2300)
    m.bench.advance(3600)
    imp, _, t_imp, _ = settle(m)
    assert abs((imp - imp0) - (t_imp - t0)) <= (t_imp - t0) / 1000 + 2 * ATM_LSB, (imp - imp0, t_imp - t0)
    # the calibration is kept across a restart
    m.reset()
    m.bench.set_meter_error(v_ppm=20000, i_ppm=20000)  # the same board
    m.bench.set_load(2300)
    m.bench.advance(90)
    again = m.link.call("measure")
    assert abs(again["power_w"] - 2300) <= 3 and abs(again["volts_cv"] - 23000) <= 23


def test_energy_is_kept_across_restarts(meter_factory):
    m = meter_factory(config=CONFIG)
    m.bench.set_load(2000)
    m.bench.advance(5000)
    imp, _, t_imp, _ = settle(m)
    total_true = t_imp
    assert within_lsb(imp, total_true, ATM_LSB)
    m.reset()  # watchdog / reset button
    assert m.link.call("status")["energy_import_mwh"] == imp
    m.bench.set_load(2000)
    m.bench.advance(4000)
    imp, _, t_imp, _ = settle(m)
    total_true += t_imp
    m.bench.power_cut(warning=True)  # the mains go: saved within the hold-up time
    m.bench.advance(600)
    m.bench.power_restore()
    assert m.link.call("status")["energy_import_mwh"] == imp
    m.bench.set_load(700)
    m.bench.advance(3600)
    imp, _, t_imp, _ = settle(m)
    total_true += t_imp
    # each session's chip keeps < 1 count it never got to report: at most 3 counts over 3 sessions
    assert total_true - 3 * ATM_LSB - 1 <= imp <= total_true, (imp, total_true)


# -- BL0942 over SPI ----------------------------------------------------------------------------

@pytest.mark.parametrize("watts", [800, 4000])
def test_bl0942_constant_load_is_the_exact_integral(meter_factory, watts):
    m = meter_factory(board="sim_bl0942")
    assert "board=sim_bl0942" in m.banner
    m.bench.set_load(watts)
    m.bench.advance(2 * 3600 + 13)
    imp, exp, t_imp, t_exp = settle(m)
    assert t_imp == pytest.approx(watts * (2 * 3600 + 13) / 3.6, rel=1e-3)
    assert within_lsb(imp, t_imp, BL_LSB), (imp, t_imp)
    assert exp == 0


def test_bl0942_energy_is_kept_across_restarts(meter_factory):
    m = meter_factory(board="sim_bl0942", config=CONFIG)
    m.bench.set_load(1500)
    m.bench.advance(3600)
    imp, _, t_imp, _ = settle(m)
    total_true = t_imp
    assert within_lsb(imp, total_true, BL_LSB)
    m.reset()
    assert m.link.call("status")["energy_import_mwh"] == imp
    m.bench.set_load(1500)
    m.bench.advance(1800)
    imp, _, t_imp, _ = settle(m)
    total_true += t_imp
    m.bench.power_cut(warning=True)
    m.bench.advance(60)
    m.bench.power_restore()
    assert m.link.call("status")["energy_import_mwh"] == imp
    m.bench.set_load(1500)
    m.bench.advance(1800)
    imp, _, t_imp, _ = settle(m)
    total_true += t_imp
    assert total_true - 3 * BL_LSB - 1 <= imp <= total_true, (imp, total_true)

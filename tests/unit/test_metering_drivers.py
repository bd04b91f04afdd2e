"""The ATM90E26 and BL0942 drivers and the metering service against the simulated chips, through
the simulated board's real `machine` shim. Runs on CPython (pytest) and on MicroPython
(tests/mp_run.py): _sim puts boards/sim first on sys.path so its machine.py shadows the unix
port's built-in `machine`.
"""
from _sim import machine, world  # noqa: F401  (boards/sim first: the shim `machine`)

from models.line import Line  # noqa: E402
from models.atm90e26 import ATM90E26Model, block_checksum  # noqa: E402
from models.bl0942 import BL0942Model  # noqa: E402
from drivers.atm90e26 import ATM90E26  # noqa: E402
from drivers.bl0942 import BL0942  # noqa: E402
from drivers.meteringic import MeteringIC  # noqa: E402
import metering  # noqa: E402
from _check import raises  # noqa: E402
from _clock import WorldClock  # noqa: E402

SPI_BUS = 1
CS_PIN = 5
UART_ID = 2
HOUR_MS = 3600000


clock = WorldClock(world)


def fresh_world():
    world.__init__()  # the shim holds the singleton: reset it in place
    world.now_ms = 1000
    return Line(world)


def make_atm(polarity=1, phase=1, attach=True, **model_kw):
    line = fresh_world()
    model = ATM90E26Model(world, line, **model_kw)
    if attach:
        world.attach_spi(SPI_BUS, CS_PIN, model)
    spi = machine.SPI(SPI_BUS, baudrate=200000, polarity=polarity, phase=phase)
    cs = machine.Pin(CS_PIN, machine.Pin.OUT, value=1)
    return line, model, ATM90E26(spi, cs, clock)


BUSES = (False, True)  # the BL0942 on its UART, on SPI


def make_bl(attach=True, spi=False, mode=1, **model_kw):
    """A BL0942 on its UART (SEL low) or on SPI (SEL high, `mode` the MCU's SPI mode)."""
    line = fresh_world()
    if spi:
        model = BL0942Model(world, line, None, **model_kw) if attach else None
        if attach:
            world.attach_spi(SPI_BUS, CS_PIN, model)
        bus = machine.SPI(SPI_BUS, baudrate=800000, polarity=mode >> 1, phase=mode & 1)
        return line, model, BL0942(bus, clock, cs=machine.Pin(CS_PIN, machine.Pin.OUT, value=1))
    model = BL0942Model(world, line, UART_ID, **model_kw) if attach else None
    uart = machine.UART(UART_ID, baudrate=4800, timeout=0)
    return line, model, BL0942(uart, clock)


def run(met, ms):
    """The meter loop for `ms` of virtual time: poll, sleep what poll asked."""
    end = world.now_ms + ms
    while world.now_ms < end:
        delay = met.poll(clock.ticks_ms())
        world.advance_to(min(end, world.now_ms + delay))
    met.poll(clock.ticks_ms())


def hour_within_a_permille(met, model):
    """After a calibration: an hour's counted energy within 0.1 % of the true integral."""
    met.poll(clock.ticks_ms())  # books what the chip counted while calibration settled
    i0 = met.import_mwh
    t0 = model.true_import_mwh()
    run(met, HOUR_MS)
    counted = met.import_mwh - i0
    truth = model.true_import_mwh() - t0
    assert abs(counted - truth) * 1000 <= truth, (counted, truth)


def lsb_mwh(chip):
    num, den = chip.MWH_PER_COUNT
    return (num + den - 1) // den


def close(counted, truth, tol):
    return abs(counted - truth) <= tol


# -- the interface both drivers share (drivers/meteringic.py) ------------------------------


def test_both_drivers_implement_the_metering_ic_interface():
    for cls, name in ((ATM90E26, "atm90e26"), (BL0942, "bl0942")):
        assert issubclass(cls, MeteringIC) and cls.NAME == name
        for method in ("begin", "read_energy", "read_measurements", "lost_configuration", "calibrate"):
            assert getattr(cls, method) is not getattr(MeteringIC, method), (name, method)
    for make in (make_atm, make_bl):
        line, model, chip = make()
        chip.begin()
        assert chip.read_errors == 0  # one health counter, one name, on both
        assert chip.counter_state() is None or chip.NAME == "bl0942"


def test_mwh_per_count_is_the_default_calibrations_until_a_calibration_changes_it():
    for make in (make_atm, make_bl):
        line, model, chip = make()
        assert chip.MWH_PER_COUNT == chip.__class__.MWH_PER_COUNT, chip.NAME
    line, model, chip = make_atm()
    cal = chip.calibration()
    cal["mc"] = 6400
    chip.begin(cal)
    assert chip.MWH_PER_COUNT == (125, 8) and ATM90E26.MWH_PER_COUNT == (125, 4)
    line, model, chip = make_bl()
    cal = chip.calibration()
    cal["p_corr"] = cal["p_corr"] * 2
    chip.begin(cal)
    num, den = chip.MWH_PER_COUNT
    assert (num, den) == (5401346048 * 2, 18421875) and BL0942.MWH_PER_COUNT == (5401346048, 18421875)


def _read_error_events(met):
    return [e for e in met.events if e[0] == "chip_read_errors"]


def test_a_rising_read_error_count_is_logged_by_the_next_good_poll():
    for make, garble in ((make_atm, "inject_bad_transfer"), (lambda: make_bl(spi=True), "inject_garbage_frame")):
        line, model, chip = make()
        met = metering.Metering(chip, clock)
        met.begin()
        line.set_load(3000000)
        run(met, 20000)
        assert chip.read_errors == 0 and _read_error_events(met) == []
        getattr(model, garble)(count=2)  # two bad reads in one poll: one event
        met.poll(clock.ticks_ms())
        assert chip.read_errors == 2, chip.NAME
        assert _read_error_events(met) == [("chip_read_errors", "%s 2 (+2)" % chip.NAME)]
        run(met, 20000)
        assert len(_read_error_events(met)) == 1  # nothing new, nothing logged
        assert close(met.import_mwh, model.true_import_mwh(), lsb_mwh(chip) + 1)  # the values got through
    # a poll that fails logs chip_error alone; the next good one reports what the failure counted
    model.inject_garbage_frame("checksum", count=chip.ATTEMPTS)
    assert met.poll(clock.ticks_ms()) == metering.RETRY_POLL_MS
    assert met.events[-1][0] == "chip_error" and len(_read_error_events(met)) == 1
    met.poll(clock.ticks_ms())
    assert _read_error_events(met)[-1] == ("chip_read_errors", "bl0942 %d (+%d)" % (2 + chip.ATTEMPTS, chip.ATTEMPTS))


# -- ATM90E26 -------------------------------------------------------------------------------


def test_atm_begin_writes_checksums_and_verifies():
    line, model, chip = make_atm()
    assert chip.begin() is True
    regs = model.regs
    assert regs[0x20] == 0x8765 and regs[0x30] == 0x8765
    assert regs[0x2C] == block_checksum([regs[r] for r in range(0x21, 0x2C)])
    assert regs[0x3B] == block_checksum([regs[r] for r in range(0x31, 0x3B)])
    assert regs[0x01] & 0xF000 == 0
    assert regs[0x28] == 0x0700  # no-load threshold set
    assert not chip.lost_configuration()
    assert chip.MWH_PER_COUNT == (125, 4)  # 31.25 mWh = 0.1 pulse at 3200 imp/kWh
    # a second begin (MCU restarted, chip kept running) adopts the configured chip
    assert chip.begin() is False


def test_atm_model_power_on_values_are_the_nominal_ones():
    from models import atm90e26 as m

    regs = dict(m.DEFAULTS)
    assert regs[0x20] == regs[0x30] == m.POWER_ON
    assert (regs[0x21] << 16) | regs[0x22] == m.PL_NOM
    assert (regs[0x31], regs[0x32], regs[0x33]) == (m.UGAIN_NOM, m.IGAINL_NOM, m.IGAINN_NOM)


def test_atm_checksum_known_value():
    # datasheet power-on metering block: 0015 D174 0000*4 08BD 0000 0AEC 0000 9422
    words = [0x0015, 0xD174, 0, 0, 0, 0, 0x08BD, 0, 0x0AEC, 0, 0x9422]
    from drivers.atm90e26 import checksum

    assert checksum(words) == block_checksum(words)
    assert checksum(words) & 0xFF == (0x15 + 0xD1 + 0x74 + 0x08 + 0xBD + 0x0A + 0xEC + 0x94 + 0x22) & 0xFF


def test_atm_wrong_spi_mode_raises():
    line, model, chip = make_atm(polarity=0, phase=0)
    with raises(OSError):
        chip.begin()


def test_atm_absent_chip_raises():
    line, model, chip = make_atm(attach=False)
    with raises(OSError):
        chip.begin()


def test_atm_constant_load_hours_matches_integral():
    line, model, chip = make_atm()
    met = metering.Metering(chip, clock)
    met.begin()
    line.set_load(2300000, 950)  # 2.3 kW at PF 0.95
    t0 = model.true_import_mwh()
    run(met, 2 * HOUR_MS)
    truth = model.true_import_mwh() - t0
    assert truth == 4600000
    assert close(met.import_mwh, truth, lsb_mwh(chip) + 1), (met.import_mwh, truth)
    assert met.export_mwh == 0
    m = met.measurements
    assert m.volts_cv == 23000 and m.power_w == 2300 and m.pf_milli == 950 and m.freq_chz == 5000
    assert close(m.current_ma, 10526, 1) and close(m.neutral_ma, 10526, 1)
    assert not [e for e in met.events if e[0] != "calibrated"]


def test_atm_export():
    line, model, chip = make_atm()
    met = metering.Metering(chip, clock)
    met.begin()
    line.set_load(-1500000)
    run(met, HOUR_MS)
    assert met.import_mwh == 0
    assert close(met.export_mwh, model.true_export_mwh(), lsb_mwh(chip) + 1)
    assert met.measurements.power_w == -1500 and met.measurements.pf_milli == -1000


def test_atm_no_load_no_creep():
    line, model, chip = make_atm(offset_mw=600)  # a sensing offset the thresholds must hide
    met = metering.Metering(chip, clock)
    met.begin()
    delay = met.poll(clock.ticks_ms())
    assert delay == metering.IDLE_POLL_MS  # idle: slow polls
    run(met, HOUR_MS)
    assert met.import_mwh == 0 and met.export_mwh == 0
    line.set_load(1000)  # 1 W: below the 2.2 W start threshold
    run(met, HOUR_MS)
    assert met.import_mwh == 0
    line.set_load(100000)  # 100 W: counts (the offset counts with it, as on a real board)
    assert met.poll(clock.ticks_ms()) == metering.LOADED_POLL_MS
    run(met, HOUR_MS)
    assert close(met.import_mwh, 100600, lsb_mwh(chip) + 1), met.import_mwh


def test_atm_reset_mid_run_loses_nothing():
    line, model, chip = make_atm()
    met = metering.Metering(chip, clock)
    met.begin()
    line.set_load(3000000)
    t0 = model.true_import_mwh()
    run(met, HOUR_MS // 2)
    world.advance_to(world.now_ms + 3700)
    model.inject_reset()  # between polls: the counts since the last read are gone
    run(met, HOUR_MS // 2)
    truth = model.true_import_mwh() - t0
    codes = [e[0] for e in met.events]
    assert "chip_reset" in codes and "gap_filled" in codes
    # lost for good: the chip's part-count at the reset; the gap is estimated from Pmean
    assert close(met.import_mwh, truth, 2 * lsb_mwh(chip) + 2), (met.import_mwh, truth)
    assert model.regs[0x20] == 0x8765  # re-initialised with the calibration


def test_atm_checksum_error_reinitialises():
    line, model, chip = make_atm()
    met = metering.Metering(chip, clock)
    met.begin()
    line.set_load(2000000)
    run(met, 60000)
    model.inject_checksum_error()
    assert model.regs[0x01] & 0xC000 == 0xC000
    assert chip.lost_configuration()
    run(met, 60000)
    assert not chip.lost_configuration()
    assert "chip_reset" in [e[0] for e in met.events]
    assert close(met.import_mwh, model.true_import_mwh(), 2 * lsb_mwh(chip) + 2)


def test_atm_false_alarm_invents_nothing():
    line, model, chip = make_atm()
    met = metering.Metering(chip, clock)
    met.begin()
    line.set_load(2000000)
    run(met, 60000)
    real = chip.lost_configuration
    chip.lost_configuration = lambda: True  # a glitched status read: the chip is fine
    world.advance_to(world.now_ms + 5000)
    met.poll(clock.ticks_ms())
    chip.lost_configuration = real
    run(met, 60000)
    codes = [e[0] for e in met.events]
    assert "chip_glitch" in codes and "gap_filled" not in codes and "chip_reset" not in codes
    assert close(met.import_mwh, model.true_import_mwh(), lsb_mwh(chip) + 1)


def test_atm_calibration_from_2_percent_off():
    line, model, chip = make_atm(v_error_ppm=20000, i_error_ppm=20000)
    met = metering.Metering(chip, clock)
    met.begin()
    line.set_load(2300000)
    met.poll(clock.ticks_ms())
    m = met.measurements
    # before: V and I 2 % high, P 4 % high
    assert m.volts_cv == 23460 and close(m.current_ma, 10200, 1) and close(m.power_w, 2393, 1)
    cal = met.calibrate((23000, 10000, 2300))
    m = met.measurements
    assert close(m.volts_cv, 23000, 23) and close(m.current_ma, 10000, 10) and close(m.power_w, 2300, 2)
    assert cal["ugain"] != 0x6720 and cal["lgain"] != 0
    # energy after calibration within 0.1 % of the true integral
    hour_within_a_permille(met, model)
    # kept across a power cycle: a new driver with the persisted dict configures the same gains
    model.inject_reset()
    chip2 = ATM90E26(chip._spi, chip._cs, clock, calibration=cal)
    assert chip2.begin() is True
    assert model.regs[0x31] == cal["ugain"] and model.regs[0x23] == cal["lgain"]


def test_atm_calibration_rejects_wrong_reference():
    line, model, chip = make_atm()
    met = metering.Metering(chip, clock)
    met.begin()
    line.set_load(2300000)
    met.poll(clock.ticks_ms())
    with raises(ValueError):
        met.calibrate((23000, 10000, 3300))  # 43 % off: not a plausible reference
    with raises(ValueError):
        met.calibrate((23000, 100, 23))  # too small a load to calibrate
    assert chip.calibration()["lgain"] == 0


def test_invalid_calibration_keeps_metering():
    line, model, chip = make_atm()
    met = metering.Metering(chip, clock)
    cal = met.begin({"chip": "bl0942"})
    assert cal["chip"] == "atm90e26" and met.events[0][0] == "calibration_invalid"
    assert not chip.lost_configuration()


def test_atm_garbled_energy_read_is_recovered_from_the_echo_and_counted():
    line, model, chip = make_atm()
    chip.begin()
    model.preset_energy(0x40, 0x1234)
    model.inject_bad_transfer()
    assert chip.read_energy() == (0x1234, 0)  # the MCU got 0x1235; LastData said 0x1234
    assert chip.read_errors == 1
    model.preset_energy(0x40, 7)
    assert chip.read_energy() == (7, 0) and chip.read_errors == 1


def test_atm_measurement_checksum_error_detected():
    line, model, chip = make_atm()
    chip.begin()
    model.inject_checksum_error(block=2)
    assert chip.lost_configuration()
    assert chip.begin() is True
    assert not chip.lost_configuration()


# -- BL0942 ---------------------------------------------------------------------------------


def test_bl_begin_configures_and_verifies():
    for spi in BUSES:
        line, model, chip = make_bl(spi=spi)
        assert chip.begin() is True
        assert model.regs[0x19] == 0x8F and model.regs[0x1D] == 0  # mode set, write protection back on
        assert not chip.lost_configuration()
        assert chip.begin() is False  # warm
        num, den = chip.MWH_PER_COUNT
        assert 293 * den < num < 294 * den


def test_bl_absent_chip_raises():
    for spi in BUSES:
        line, model, chip = make_bl(attach=False, spi=spi)
        with raises(OSError) as e:
            chip.begin()
        assert e.value.args[0] == 19


def test_bl_wrong_baud_raises():
    line, model, chip = make_bl(baudrate=9600)
    with raises(OSError):
        chip.begin()


def test_bl_wrong_spi_mode_raises():
    line, model, chip = make_bl(spi=True, mode=3)  # the ATM90E26's mode: sampled on the wrong edge
    with raises(OSError) as e:
        chip.begin()
    assert e.value.args[0] == 5
    assert chip.read_errors == chip.ATTEMPTS


def test_bl_spi_frames_are_msb_first_with_the_datasheet_checksum():
    line, model, chip = make_bl(spi=True)
    line.set_load(2300000)
    spi = chip._bus
    cs = chip._cs
    buf = bytearray((0x58, 0x04, 0, 0, 0, 0))  # read V_RMS
    cs(0)
    spi.write_readinto(buf, buf)
    cs(1)
    v = model._reg(0x04)
    assert v > 0xFFFF and tuple(buf[2:5]) == ((v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF)
    assert buf[5] == (~(0x58 + 0x04 + buf[2] + buf[3] + buf[4])) & 0xFF
    for frame in ((0xA8, 0x1D, 0, 0, 0x55, 0), (0xA8, 0x14, 0, 0, 0x20, 0)):  # unlock, WA_CREEP 0x20
        frame = bytearray(frame)
        frame[5] = (~sum(frame[:5])) & 0xFF
        cs(0)
        spi.write(frame)
        cs(1)
    assert model.regs[0x14] == 0x20


def test_bl_constant_load_hours_matches_integral():
    for spi in BUSES:
        line, model, chip = make_bl(spi=spi)
        met = metering.Metering(chip, clock)
        met.begin()
        line.set_load(2300000, 900)
        t0 = model.true_import_mwh()
        run(met, 2 * HOUR_MS)
        truth = model.true_import_mwh() - t0
        assert close(met.import_mwh, truth, lsb_mwh(chip) + 1), (met.import_mwh, truth)
        m = met.measurements
        assert close(m.volts_cv, 23000, 1) and close(m.power_w, 2300, 1) and close(m.pf_milli, 900, 2)
        assert close(m.current_ma, 11111, 2) and m.freq_chz == 5000 and m.neutral_ma == -1
        assert not met.events


def test_bl_export():
    for spi in BUSES:
        line, model, chip = make_bl(spi=spi)
        met = metering.Metering(chip, clock)
        met.begin()
        line.set_load(-2000000)
        run(met, HOUR_MS)
        assert met.import_mwh == 0
        assert close(met.export_mwh, model.true_export_mwh(), lsb_mwh(chip) + 1)
        assert met.measurements.power_w == -2000


def test_bl_no_load_no_creep():
    for spi in BUSES:
        line, model, chip = make_bl(spi=spi, offset_mw=250)  # below WA_CREEP (0.34 W on this front end)
        met = metering.Metering(chip, clock)
        met.begin()
        assert met.poll(clock.ticks_ms()) == metering.IDLE_POLL_MS
        run(met, 2 * HOUR_MS)
        assert met.import_mwh == 0 and met.export_mwh == 0 and model.cf_cnt == 0


def test_bl_counter_wrap():
    for spi in BUSES:
        line, model, chip = make_bl(spi=spi)
        met = metering.Metering(chip, clock)
        met.begin()
        model.preset_cf_cnt(0xFFFFFF - 20)  # 20 pulses before the 24-bit wrap
        met.poll(clock.ticks_ms())  # that jump is implausible: rejected, logged
        assert [e for e in met.events if e[0] == "step_rejected"]
        i0 = met.import_mwh
        t0 = model.true_import_mwh()
        line.set_load(10000000)  # 10 kW: ~568 pulses/min
        run(met, 2 * 60000)
        assert model.cf_cnt < 2000  # wrapped
        assert close(met.import_mwh - i0, model.true_import_mwh() - t0, 2 * lsb_mwh(chip) + 1)


def test_bl_garbage_frames_dropped():
    for spi in BUSES:
        line, model, chip = make_bl(spi=spi)
        met = metering.Metering(chip, clock)
        met.begin()
        line.set_load(3000000)
        for kind in ("checksum", "header", "truncated", "noise"):
            run(met, 20000)
            model.inject_garbage_frame(kind)
            errors = chip.read_errors
            met.poll(clock.ticks_ms())
            assert chip.read_errors > errors, kind
        run(met, 60000)
        assert close(met.import_mwh, model.true_import_mwh(), lsb_mwh(chip) + 1)
        assert not [e for e in met.events if e[0] == "step_rejected"]
        model.inject_garbage_frame("checksum", count=10)  # a dead line: the poll fails, retries later
        assert met.poll(clock.ticks_ms()) == metering.RETRY_POLL_MS
        assert met.events[-1][0] == "chip_error"


def test_bl_reset_mid_run_loses_nothing():
    for spi in BUSES:
        line, model, chip = make_bl(spi=spi)
        met = metering.Metering(chip, clock)
        met.begin()
        line.set_load(5000000)
        t0 = model.true_import_mwh()
        run(met, HOUR_MS // 2)
        world.advance_to(world.now_ms + 3700)
        model.inject_reset()  # between polls: CF_CNT restarts from 0, the pulses before are gone
        run(met, HOUR_MS // 2)
        truth = model.true_import_mwh() - t0
        assert "chip_reset" in [e[0] for e in met.events]
        assert model.regs[0x19] == 0x8F
        assert close(met.import_mwh, truth, 2 * lsb_mwh(chip) + 2), (met.import_mwh, truth)


def test_bl_calibration_from_2_percent_off():
    for spi in BUSES:
        line, model, chip = make_bl(spi=spi, v_error_ppm=-20000)
        met = metering.Metering(chip, clock)
        met.begin()
        line.set_load(2300000)
        met.poll(clock.ticks_ms())
        m = met.measurements
        assert close(m.volts_cv, 22540, 2) and close(m.power_w, 2254, 1)  # V and P 2 % low before
        cal = met.calibrate({"volts_cv": 23000, "current_ma": 10000, "power_w": 2300})
        m = met.measurements
        assert close(m.volts_cv, 23000, 23) and close(m.current_ma, 10000, 10) and close(m.power_w, 2300, 2)
        hour_within_a_permille(met, model)
        chip2 = BL0942(chip._bus, clock, calibration=cal, cs=chip._cs)
        assert chip2.MWH_PER_COUNT == chip.MWH_PER_COUNT


def test_bl_calibration_rejects_wrong_reference_as_the_atm_does():
    line, model, chip = make_bl(spi=True)
    met = metering.Metering(chip, clock)
    before = met.begin()
    line.set_load(2300000)
    met.poll(clock.ticks_ms())
    with raises(ValueError):
        met.calibrate((23000, 10000, 3300))  # 43 % off: not a plausible reference
    with raises(ValueError):
        met.calibrate((23000, 100, 23))  # too small a load to calibrate
    assert chip.calibration() == before
    assert [e[0] for e in met.events].count("calibration_failed") == 2


def test_bl_warm_restart_recovers_pulses():
    for spi in BUSES:
        line, model, chip = make_bl(spi=spi)
        met = metering.Metering(chip, clock)
        met.begin()
        line.set_load(4000000)
        run(met, 10 * 60000)
        saved = met.state()
        t_saved = model.true_import_mwh()
        world.advance_to(world.now_ms + 60000)  # the MCU restarts; the chip keeps counting
        chip2 = BL0942(chip._bus, clock, cs=chip._cs)
        met2 = metering.Metering(chip2, clock)
        met2.restore(saved)
        met2.begin()
        assert met2.warm
        run(met2, 60000)
        assert close(met2.import_mwh - saved["import_mwh"], model.true_import_mwh() - t_saved, lsb_mwh(chip) + 1)


def test_poll_limit_figures():
    # ATM90E26: 65535 counts * 31.25 mWh at 60 A * 440 V overflow in 279 s: poll <= 69.8 s
    assert metering.poll_limit_ms(0xFFFF, (125, 4), 60000, 44000) == 69817
    line, model, chip = make_atm()
    met = metering.Metering(chip, clock)
    assert met.max_poll_ms == metering.IDLE_POLL_MS

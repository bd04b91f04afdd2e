"""HIL: the meter's clock across power cuts (simulated board, examples/meter.toml).

The ESP32's own RTC has no battery: every cut restarts it at 2000-01-01. The DS3231 on the I2C
bus keeps counting on its coin cell. These tests cut the power, check on the bench that the MCU's
clock really was lost and the DS3231's kept, and check that the meter bills and disconnects as if
nothing happened: the grace period runs out on time, the cut comes only inside the 10:00-13:00
window, and each day's fixed charge (Rs 5 a day in service) is taken exactly once.
"""
import datetime

from tests.hil._helpers import advance_to, pm, status  # noqa: F401  (pm: a fixture)
from tests.hil.test_connection import assert_on, cut_time, last_event, run_out_at

FIXED_PAISE = 500  # [tariff] fixed_paise_per_day


def cut_and_restore(m, off_s, warning):
    m.bench.power_cut(warning=warning)
    m.bench.advance(off_s)
    m.bench.power_restore()
    c = m.bench.clocks()
    # the ESP32's own RTC started again at 2000-01-01 at this power-up; the DS3231 did not, and
    # the firmware set the MCU's clock from it
    assert c["mcu_rtc_at_boot"] < datetime.datetime(2000, 1, 2), c
    assert not c["rtc_lost"] and c["mcu_rtc"] == c["rtc"]
    return c


def test_cuts_lose_the_mcu_clock_but_billing_and_cutting_stay_right(pm):
    m = pm
    run_out_at(m, datetime.datetime(2026, 11, 30, 14, 0))  # Monday 14:00: grace until Tue 14:00
    # Monday evening: a cut with warning for three hours
    advance_to(m, datetime.datetime(2026, 11, 30, 19, 0))
    c = cut_and_restore(m, 3 * 3600, warning=True)
    assert c["rtc"] == datetime.datetime(2026, 11, 30, 22, 0)
    s = status(m)
    assert s["clock"] == "2026-11-30T22:00:00" and s["clock_trusted"]
    # over midnight without warning: off 23:30 -> 00:45 Tuesday
    advance_to(m, datetime.datetime(2026, 11, 30, 23, 30))
    cut_and_restore(m, 75 * 60, warning=False)
    assert status(m)["clock"].startswith("2026-12-01T00:45")
    # Tuesday: two more short cuts; the grace ends at 14:00, after the window: no cut Tuesday
    advance_to(m, datetime.datetime(2026, 12, 1, 9, 0))
    cut_and_restore(m, 600, warning=True)
    advance_to(m, datetime.datetime(2026, 12, 1, 15, 0))
    cut_and_restore(m, 60, warning=False)
    s = assert_on(m)
    assert s["grace_remaining_s"] == 0
    # overnight into Wednesday without power; still on before the window opens
    advance_to(m, datetime.datetime(2026, 12, 1, 22, 0))
    cut_and_restore(m, 11 * 3600 + 1800, warning=True)  # back Wednesday 09:30
    advance_to(m, datetime.datetime(2026, 12, 2, 9, 59))
    assert_on(m)
    advance_to(m, datetime.datetime(2026, 12, 2, 11, 0))
    assert not m.bench.relay_closed()
    t = cut_time(m)
    assert datetime.datetime(2026, 12, 2, 10, 0) <= t <= datetime.datetime(2026, 12, 2, 10, 2), t
    # one fixed charge per closed day, each taken once, whatever the cuts did
    daily = m.link.call("daily")["daily"]
    dates = [d["date"] for d in daily]
    assert len(dates) == len(set(dates)), dates  # no day closed twice
    days = {d["date"]: d for d in daily}
    # the fixed charge accrues by the second in service (docs/tariff.md): 30 November from the
    # clock set in the afternoon, 1 December whole although the power was cut four times
    assert 0 < days["2026-11-30"]["fixed_paise"] < FIXED_PAISE, days["2026-11-30"]
    assert days["2026-12-01"]["fixed_paise"] == FIXED_PAISE, days["2026-12-01"]
    fixed = [e for e in m.link.call("account")["tail"] if e.get("kind") == "fixed"]
    assert fixed, m.link.call("account")
    assert m.link.call("clock")["rtc"] == "ok"


def test_without_its_battery_the_rtc_loses_the_time_and_the_meter_says_so(pm):
    m = pm
    assert m.link.call("clock")["rtc"] == "ok"
    m.bench.rtc_battery(False)
    m.bench.advance(60)  # powered: the DS3231 runs on the supply
    assert m.link.call("clock")["trusted"]
    m.bench.power_cut(warning=True)
    m.bench.advance(3600)
    m.bench.power_restore()
    c = m.bench.clocks()
    assert c["rtc_lost"] and c["rtc"] < datetime.datetime(2000, 1, 2)
    clk = m.link.call("clock")
    assert clk["rtc"] == "lost" and clk["clock"] is None and not clk["trusted"]
    assert status(m)["clock"] is None
    assert last_event(m, "clock_untrusted") is not None
    # a technician sets the clock: the chip's flag clears and the meter trusts its time again
    m.bench.rtc_battery(True)
    m.bench.set_clock(datetime.datetime(2026, 11, 30, 10, 5))
    clk = m.link.call("clock")
    assert clk["rtc"] == "ok" and clk["trusted"] and clk["clock"] == "2026-11-30T10:05:00"
    assert not m.bench.clocks()["rtc_lost"]

"""HIL: connection control on the simulated board (docs/connection.md), with virtual time.

examples/meter.toml: grace 24 h, disconnection window 10:00-13:00, no cut on Sundays nor on
2026-12-25 / 2027-01-26, sanctioned load 2000 W + 10 % (overload above 2200 W).

What a consumer or a technician sees is checked: the relay contacts (bench), `status`/`relay`
fields, the meter's event log and the LCD.
"""
import datetime
import re

import pytest

from host_tools import provisioning
from host_tools import sts as hsts
from host_tools.hil.bench import to_seconds
from tests.hil._helpers import advance_to, codes, credit, events, pm, status  # noqa: F401  (pm: a fixture)

CONFIG = "examples/meter.toml"
# days pass in virtual time, loads are set: a labgrid place without the simulator's bench skips these
pytestmark = pytest.mark.lg_feature("sim-bench")
RUPEE = "\x00"
OFF_NO_CREDIT = ("\x02OFF: no credit", "Please recharge")


def lcd(m):
    return [line.rstrip() for line in m.bench.lcd()]


def last_event(m, code):
    for e in reversed(events(m)):
        if e["code"] == code:
            return e
    return None


def run_out_at(m, when, watts=2000):
    """Make the balance reach zero at about `when` (within a poll or two): credit a little
    now, set the clock so that a `watts` load uses it up exactly at `when`, then switch the load
    off. Returns the wall second the grace started (the meter's own record)."""
    m.bench.set_clock(when - datetime.timedelta(hours=1))  # fixed charges of skipped days first
    b = status(m)["balance_paise"]
    want = 150  # paise on the balance after the credit
    c = (want - b) * 4 // 3 + 2  # a quarter of a credit goes to the arrears
    r = credit(m, c)
    assert r["balance_paise"] > 0
    paise_per_hour = watts * 350 * 105 // 100 // 1000  # slab 1: Rs 3.50/kWh + 5 % duty
    lead_s = r["balance_paise"] * 3600 // paise_per_hour
    m.bench.set_clock(when - datetime.timedelta(seconds=lead_s))
    m.bench.set_load(watts)
    for _ in range(200):
        m.bench.advance(10)
        if status(m)["balance_paise"] <= 0:
            break
    m.bench.set_load(0)
    m.bench.advance(6)
    s = status(m)
    assert s["balance_paise"] <= 0 and s["relay"] == "closed"
    ev = last_event(m, "grace_started")
    assert ev is not None
    assert abs(ev["t"] - to_seconds(when)) <= 120, ev
    return ev["t"]


def assert_cut_for_credit(m):
    assert not m.bench.relay_closed()
    s = status(m)
    assert s["relay"] == "open" and s["relay_reason"] == "credit"
    assert m.link.call("relay")["hint"] == "Recharge to restore"
    m.bench.press("BACK")  # the first idle screen (it may be auto-scrolling after an event)
    assert tuple(lcd(m)) == OFF_NO_CREDIT


def assert_on(m):
    assert m.bench.relay_closed()
    s = status(m)
    assert s["relay"] == "closed" and s["relay_reason"] == "none"
    return s


def cut_time(m):
    ev = last_event(m, "disconnect_credit")
    assert ev is not None
    return datetime.datetime(2000, 1, 1) + datetime.timedelta(seconds=ev["t"])


# -- credit: grace, window, days without cuts -------------------------------------------------

def test_runs_out_monday_afternoon_cut_wednesday_in_window(pm):
    m = pm
    start = run_out_at(m, datetime.datetime(2026, 11, 30, 14, 0))
    s = status(m)
    assert 86400 - 300 <= s["grace_remaining_s"] <= 86400
    assert lcd(m)[0] != OFF_NO_CREDIT[0]

    # Tuesday: the grace ends at 14:00, after that day's window -> power stays on all day
    advance_to(m, datetime.datetime(2026, 12, 1, 12, 59))
    s = assert_on(m)
    assert 0 < s["grace_remaining_s"] <= 2 * 3600
    hint = m.link.call("relay")["hint"]
    assert hint.startswith("Recharge within"), hint
    advance_to(m, datetime.datetime(2026, 12, 1, 23, 0))
    s = assert_on(m)
    assert s["grace_remaining_s"] == 0
    assert m.link.call("relay")["hint"] == "Recharge now"
    advance_to(m, datetime.datetime(2026, 12, 2, 9, 59))
    assert_on(m)
    assert "disconnect_credit" not in codes(m)

    # Wednesday: cut inside the window
    advance_to(m, datetime.datetime(2026, 12, 2, 12, 59))
    assert_cut_for_credit(m)
    t = cut_time(m)
    assert t.date() == datetime.date(2026, 12, 2) and 10 <= t.hour < 13
    assert t - datetime.datetime(2000, 1, 1) >= datetime.timedelta(seconds=start + 86400)


def test_runs_out_monday_morning_cut_tuesday(pm):
    m = pm
    run_out_at(m, datetime.datetime(2026, 11, 30, 8, 0), watts=2100)
    advance_to(m, datetime.datetime(2026, 12, 1, 7, 50))
    assert_on(m)
    advance_to(m, datetime.datetime(2026, 12, 1, 10, 30))
    assert_cut_for_credit(m)
    t = cut_time(m)
    assert t.date() == datetime.date(2026, 12, 1) and 10 <= t.hour < 13


def test_runs_out_friday_evening_no_cut_sunday_cut_monday(pm):
    m = pm
    run_out_at(m, datetime.datetime(2026, 12, 4, 19, 0))
    advance_to(m, datetime.datetime(2026, 12, 5, 18, 0))  # Saturday, grace still running
    assert status(m)["grace_remaining_s"] > 0
    advance_to(m, datetime.datetime(2026, 12, 6, 11, 0))  # Sunday in the window: no cut
    s = assert_on(m)
    assert s["grace_remaining_s"] == 0
    advance_to(m, datetime.datetime(2026, 12, 6, 23, 59))
    assert_on(m)
    advance_to(m, datetime.datetime(2026, 12, 7, 9, 59))  # Monday before the window
    assert_on(m)
    advance_to(m, datetime.datetime(2026, 12, 7, 12, 0))
    assert_cut_for_credit(m)
    t = cut_time(m)
    assert t.date() == datetime.date(2026, 12, 7) and 10 <= t.hour < 13


def test_holiday_is_skipped(pm):
    """Runs out Thursday 24 Dec 08:00; the grace ends on Friday 25 Dec (a listed holiday) before
    its window: no cut on Christmas, cut on Saturday 26 Dec in the window."""
    m = pm
    run_out_at(m, datetime.datetime(2026, 12, 24, 8, 0), watts=2100)
    advance_to(m, datetime.datetime(2026, 12, 25, 11, 30))
    s = assert_on(m)
    assert s["grace_remaining_s"] == 0
    advance_to(m, datetime.datetime(2026, 12, 25, 23, 0))
    assert_on(m)
    advance_to(m, datetime.datetime(2026, 12, 26, 12, 30))
    assert_cut_for_credit(m)
    t = cut_time(m)
    assert t.date() == datetime.date(2026, 12, 26) and 10 <= t.hour < 13


# -- credit while cut -------------------------------------------------------------------------

def cut_now(m):
    """A meter cut for credit: ran out Monday 09:30 (a 2100 W load), cut Tuesday 10:00."""
    run_out_at(m, datetime.datetime(2026, 11, 30, 9, 30), watts=2100)
    advance_to(m, datetime.datetime(2026, 12, 1, 10, 5))
    assert_cut_for_credit(m)


def test_remote_credit_reconnects_within_2s_and_shows_balance(pm):
    m = pm
    cut_now(m)
    r = credit(m, 50000)
    assert r["balance_paise"] > 0
    m.bench.advance(2)
    assert m.bench.relay_closed()
    s = assert_on(m)
    assert s["balance_paise"] == r["balance_paise"]
    line1, line2 = lcd(m)
    assert line1 == "Credit accepted"
    assert line2.startswith("+" + RUPEE + "500.00")
    m.bench.advance(9)  # the result message is gone: the main screen shows the new balance
    s = status(m)
    from ui import format_rupees

    line1, line2 = lcd(m)
    assert line1.startswith(RUPEE + format_rupees(s["balance_paise"])), (line1, line2)
    assert line1.endswith("\x01ON")
    assert line2.endswith("kWh")
    assert "reconnect" in codes(m)


def test_keypad_token_reconnects_within_2s(pm):
    m = pm
    cut_now(m)
    key = provisioning.load(CONFIG).sts_key
    now = to_seconds(m.bench.now())
    token = hsts.vend_credit(key, 300, now - 60)  # 300 units of 0.1 kWh = Rs 300
    m.bench.type_keys(token)
    assert lcd(m)[1].endswith("20/20")
    m.bench.press("ENTER")
    m.bench.advance(2)
    assert m.bench.relay_closed()
    s = assert_on(m)
    assert s["balance_paise"] > 0
    line1, line2 = lcd(m)
    assert line1 == "Credit accepted", (line1, line2)
    assert line2.startswith("+" + RUPEE + "300.00")
    m.bench.advance(9)
    from ui import format_rupees

    assert lcd(m)[0].startswith(RUPEE + format_rupees(status(m)["balance_paise"]))
    assert m.link.call("account")["last_credit_paise"] == 30000


def test_credit_too_small_to_clear_the_debt_keeps_it_cut(pm):
    m = pm
    cut_now(m)
    m.bench.advance(2 * 86400)  # two more days of fixed charges: a debt of some Rs 10
    b = status(m)["balance_paise"]
    assert b < -500
    r = credit(m, 400)  # Rs 4: Rs 1 to the arrears, Rs 3 to the balance -> still in debt
    assert r["balance_paise"] == b + 300
    m.bench.advance(2)
    assert_cut_for_credit(m)
    r = credit(m, (-r["balance_paise"]) * 4 // 3 + 200)
    assert r["balance_paise"] > 0
    m.bench.advance(2)
    assert_on(m)


def test_remote_disconnect_and_auto(pm):
    m = pm
    credit(m, 50000)
    r = m.link.call("relay open", key=m.key)
    assert r == {"relay": "open", "relay_reason": "remote"}
    assert not m.bench.relay_closed()
    m.bench.press("BACK")
    assert tuple(lcd(m)) == ("\x02OFF by DISCOM", "Call DISCOM")
    credit(m, 10000)  # credit does not lift a remote disconnect
    m.bench.advance(2)
    assert not m.bench.relay_closed()
    m.bench.power_cut()
    m.bench.advance(60)
    m.bench.power_restore()
    assert status(m)["relay_reason"] == "remote"
    assert not m.bench.relay_closed()
    r = m.link.call("relay auto", key=m.key)
    assert r == {"relay": "closed", "relay_reason": "none"}
    assert m.bench.relay_closed()
    m.bench.press("BACK")
    assert lcd(m)[0].endswith("\x01ON")


def test_welded_relay_is_reported(pm):
    m = pm
    credit(m, 50000)
    m.bench.inject("relay", "weld")
    m.link.call("relay open", key=m.key)
    m.bench.advance(5)
    assert m.bench.relay_closed()  # the contacts did not follow
    r = m.link.call("relay")
    assert r["relay"] == "closed" and r["relay_reason"] == "remote"
    assert r["fault"] == "welded" and r["faults"] == 1
    assert "relay_fault" in codes(m)
    m.bench.press("UP")  # the last idle screen: the fault for the consumer to report
    assert tuple(lcd(m)) == ("\x04Call DISCOM", "Relay fault")
    m.bench.inject("relay", "repair")
    assert seconds_until(m, lambda: not m.bench.relay_closed(), 600, step=30) is not None
    r = m.link.call("relay")
    assert r["relay"] == "open" and r["fault"] is None
    m.link.call("relay auto", key=m.key)
    assert m.bench.relay_closed()


# -- overload ---------------------------------------------------------------------------------

def assert_overload_open(m, reason):
    assert not m.bench.relay_closed()
    s = status(m)
    assert s["relay"] == "open" and s["relay_reason"] == reason


def seconds_until(m, pred, most, step=5):
    """Advance in `step` s until pred() holds; the virtual seconds it took (None: not within
    `most`)."""
    t = 0
    while t < most:
        m.bench.advance(step)
        t += step
        if pred():
            return t
    return None


def test_overload_trip_retry_and_lockout(pm):
    m = pm
    credit(m, 100000)
    m.bench.set_load(2150)  # within sanctioned + 10 %: never trips
    m.bench.advance(120)
    assert_on(m)
    assert m.link.call("relay")["hint"] == ""

    m.bench.set_load(2500)
    m.bench.advance(20)
    assert m.bench.relay_closed()  # not yet 30 s above the limit
    assert m.link.call("relay")["hint"] == "Overload: reduce load"
    t = seconds_until(m, lambda: not m.bench.relay_closed(), 30)
    assert t is not None, "no trip within 50 s at 2500 W"
    assert_overload_open(m, "overload")
    m.bench.press("BACK")
    l1, l2 = lcd(m)
    assert l1 == "\x02OFF: overload"
    assert re.fullmatch(r"Back on in (2:00|1:[0-5]\d)", l2), l2
    assert m.link.call("relay")["hint"].startswith("Overload: retry")
    m.bench.advance(65)
    assert_overload_open(m, "overload")
    m.bench.press("BACK")
    assert re.fullmatch(r"Back on in 0:[0-5]\d", lcd(m)[1]), lcd(m)
    # closes again 2 min after the trip
    t = seconds_until(m, m.bench.relay_closed, 60, step=2)
    assert t is not None and t >= 35, t
    assert status(m)["relay_reason"] == "none"

    # the load is still too high: trips 2, 3 and 4 (within 30 min) -> lockout
    for trip in (2, 3, 4):
        t = seconds_until(m, lambda: not m.bench.relay_closed(), 75)
        assert t is not None and t >= 30, "trip %d after %s s" % (trip, t)
        if trip < 4:
            assert_overload_open(m, "overload")
            t = seconds_until(m, m.bench.relay_closed, 130)
            assert t is not None and t >= 115, "retry after trip %d: %s s" % (trip, t)
    assert_overload_open(m, "overload_lockout")
    m.bench.press("BACK")
    assert tuple(lcd(m)) == ("\x02OFF: overload", "ENTER: power on")
    m.bench.press("DOWN")
    assert tuple(lcd(m)) == ("Reduce load,", "then press ENTER")
    m.bench.advance(3600)  # no retry in a lockout
    assert_overload_open(m, "overload_lockout")
    assert m.link.call("relay")["hint"] == "Overload lockout: press ENTER"
    assert "overload_lockout" in codes(m)

    m.bench.set_load(1000)
    m.bench.press("ENTER")
    m.bench.advance(1)
    assert m.bench.relay_closed()
    assert status(m)["relay_reason"] == "none"
    assert tuple(lcd(m)) == ("Lockout cleared", "Power coming on")
    assert codes(m).count("overload_ack") == 1
    # the consumer's recent events (menu): each in words that fit the line, none twice
    m.bench.press("MENU")
    pages = []
    for _ in range(20):
        m.bench.press("DOWN")
        if lcd(m)[0] == "Tariff       1/4":
            break  # round the menu once
        pages.append(lcd(m))
    ev = [l2 for l1, l2 in pages if re.match(r"\d/\d ", l1)]
    assert len(ev) == 5, pages
    assert "Power turned on" in ev and ev.count("Lockout cleared") == 1, ev
    m.bench.press("BACK")
    m.bench.advance(300)
    assert_on(m)


@pytest.mark.parametrize("board", ["sim", "sim_bl0942"])
def test_overload_from_an_idle_meter_trips_after_30_s_of_it(meter_factory, board):
    """An idle meter polls its chip once a minute; the chip's energy pulses (ATM90E26 CF1, BL0942
    CF1) wake it when a load starts, so an overload switched on from nothing is still timed from
    its start."""
    m = meter_factory(config=CONFIG, board=board)
    credit(m, 100000)
    m.bench.advance(600)  # no load: the meter has gone to its once-a-minute polling
    m.bench.set_load(2500)  # above 2000 W + 10 %
    m.bench.advance(29)
    assert m.bench.relay_closed(), "tripped before the overload had lasted 30 s"
    m.bench.advance(7)  # 30 s from the load's first energy pulse, on the 5 s poll grid
    assert not m.bench.relay_closed()
    assert status(m)["relay_reason"] == "overload"


def test_overload_lockout_reset_by_technician(pm):
    m = pm
    credit(m, 100000)
    m.bench.set_load(500)
    m.bench.advance(70)
    m.bench.set_load(3000)
    for trip in range(4):
        assert seconds_until(m, lambda: not m.bench.relay_closed(), 75) is not None
        if trip < 3:
            assert seconds_until(m, m.bench.relay_closed, 130) is not None
    assert_overload_open(m, "overload_lockout")
    m.bench.press("DOWN")  # ENTER is not pressed; only a key that does not acknowledge
    m.bench.advance(600)
    assert_overload_open(m, "overload_lockout")
    m.bench.set_load(500)
    r = m.link.call("overload reset", key=m.key)
    assert r["relay"] == "closed"
    assert m.bench.relay_closed()
    assert status(m)["relay_reason"] == "none"
    m.bench.press("BACK")
    assert lcd(m)[0].startswith(RUPEE)  # main screen: balance, relay on
    assert lcd(m)[0].endswith("\x01ON")


def test_short_overload_does_not_trip(pm):
    m = pm
    credit(m, 100000)
    m.bench.set_load(1500)
    m.bench.advance(70)
    for _ in range(5):
        m.bench.set_load(2600)
        m.bench.advance(20)
        m.bench.set_load(1500)
        m.bench.advance(20)
    assert_on(m)
    assert "overload_trip" not in codes(m)


# -- power cuts -------------------------------------------------------------------------------

def test_cut_meter_stays_cut_across_power_cycles(pm):
    m = pm
    cut_now(m)
    m.bench.power_cut()
    m.bench.advance(3600)
    m.bench.power_restore()
    assert_cut_for_credit(m)
    m.bench.power_cut(warning=False)
    m.bench.advance(600)
    m.bench.power_restore()
    m.bench.advance(30)
    assert_cut_for_credit(m)
    # next day, outside the window: still cut, only credit reconnects
    m.bench.advance(20 * 3600)
    assert_cut_for_credit(m)
    credit(m, 50000)
    m.bench.advance(2)
    assert_on(m)


def test_grace_keeps_counting_without_power(pm):
    m = pm
    run_out_at(m, datetime.datetime(2026, 11, 30, 14, 0))
    g0 = status(m)["grace_remaining_s"]
    m.bench.advance(10 * 3600)
    m.bench.power_cut()
    m.bench.advance(5 * 3600)  # five hours without mains: the RTC keeps time
    m.bench.power_restore()
    s = status(m)
    assert s["relay"] == "closed"
    assert g0 - 15 * 3600 - 120 <= s["grace_remaining_s"] <= g0 - 15 * 3600 + 10, (g0, s)
    # the grace still ends Tuesday ~14:00 and the cut still comes Wednesday in the window
    advance_to(m, datetime.datetime(2026, 12, 1, 16, 0))
    s = assert_on(m)
    assert s["grace_remaining_s"] == 0
    m.bench.power_cut()
    advance_to(m, datetime.datetime(2026, 12, 2, 10, 30))
    m.bench.power_restore()
    m.bench.advance(5)
    assert_cut_for_credit(m)


def test_overload_state_survives_power_cycles(pm):
    m = pm
    credit(m, 100000)
    m.bench.set_load(500)
    m.bench.advance(70)
    m.bench.set_load(3000)
    assert seconds_until(m, lambda: not m.bench.relay_closed(), 75) is not None
    assert_overload_open(m, "overload")
    m.bench.power_cut()
    m.bench.advance(30)  # time without mains counts towards the 2 min retry
    m.bench.power_restore()
    m.bench.set_load(3000)  # the appliances are still on (the simulator restarts without load)
    assert_overload_open(m, "overload")
    m.bench.press("BACK")
    l1, l2 = lcd(m)
    assert l1 == "\x02OFF: overload"
    assert re.fullmatch(r"Back on in 1:[0-3]\d", l2), l2
    t = seconds_until(m, m.bench.relay_closed, 120, step=2)
    assert t is not None and 50 <= t <= 95, t

    # trips 2..4 -> lockout; a lockout survives a cut with and without warning
    for trip in (2, 3, 4):
        assert seconds_until(m, lambda: not m.bench.relay_closed(), 75) is not None, trip
        if trip < 4:
            assert seconds_until(m, m.bench.relay_closed, 130) is not None, trip
    assert_overload_open(m, "overload_lockout")
    for warning in (True, False):
        m.bench.power_cut(warning=warning)
        m.bench.advance(3600)
        m.bench.power_restore()
        m.bench.advance(5)
        assert_overload_open(m, "overload_lockout")
        m.bench.press("BACK")
        assert tuple(lcd(m)) == ("\x02OFF: overload", "ENTER: power on")
    m.bench.set_load(500)
    m.bench.press("ENTER")
    m.bench.advance(1)
    assert_on(m)


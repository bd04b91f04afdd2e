import civiltime as ct
from connection import ConnectionPolicy, ConnectionConfigError, parse_window
from _check import raises

H = 3600
M = 60
MON = ct.seconds(2026, 11, 30)  # a Monday, 00:00
CFG = {"sanctioned_load_w": 5000, "overload_margin_percent": 10, "holidays": ["2026-12-25"]}


def policy(**kw):
    cfg = dict(CFG)
    cfg.update(kw)
    return ConnectionPolicy(cfg)


def drive(p, start, end, step, balance=0, emergency=False, trusted=True, power=0):
    """update() every `step` seconds in [start, end); the list of (t, closed) changes."""
    changes = []
    last = p.closed
    t = start
    while t < end:
        c = p.update(t, balance, emergency, trusted, power if p.closed else 0)
        if c != last:
            changes.append((t, c))
            last = c
        t += step
    return changes


def codes(p):
    return [c for c, _ in p.take_events()]


def test_defaults():
    p = ConnectionPolicy({"sanctioned_load_w": 3000})
    assert p.grace_s == 24 * H
    assert p.window == (10 * H, 13 * H)
    assert p.no_cut_weekdays == [6]
    assert p.limit_w == 3300
    assert p.closed and p.reason == "none"


def test_monday_afternoon_zero_cuts_wednesday_morning():
    p = policy()
    t0 = MON + 14 * H
    assert p.update(t0, 0, False, True, 800)
    assert codes(p) == ["grace_started"]
    assert p.grace_remaining_s(t0) == 24 * H
    # the meter may sleep until Wednesday 10:00: Tuesday's window ends before the grace does
    assert p.next_check_s(t0) == (2 * 24 - 4) * H
    # closed all of Monday and Tuesday, and Wednesday before 10:00
    assert drive(p, t0, MON + 2 * 24 * H + 10 * H, 10 * M) == []
    assert p.grace_remaining_s(MON + 2 * 24 * H) == 0
    assert p.screen_hint(MON + 2 * 24 * H) == "Recharge now"
    wed10 = MON + 2 * 24 * H + 10 * H
    assert drive(p, wed10, wed10 + 3 * H, 10 * M) == [(wed10, False)]
    assert p.reason == "credit"
    assert "disconnect_credit" in codes(p)
    assert p.screen_hint() == "Recharge to restore"
    assert p.next_check_s(wed10) is None  # only a credit can change it now


def test_cut_happens_at_first_check_inside_window():
    p = policy()
    p.update(MON + 14 * H, 0, False, True, 0)
    wed = MON + 2 * 24 * H
    # meter only woke at 11:37: still inside the window, cut then
    assert not p.update(wed + 11 * H + 37 * M, -500, False, True, 0)
    # but waking at 13:00 Wednesday would be too late: Thursday 10:00 instead
    p = policy()
    p.update(MON + 14 * H, 0, False, True, 0)
    assert p.update(wed + 13 * H, 0, False, True, 0)
    assert p.next_check_s(wed + 13 * H) == 21 * H


def test_friday_evening_zero_skips_sunday():
    fri = MON + 4 * 24 * H  # 2026-12-04
    assert ct.civil(fri)[6] == 4
    p = policy()
    t0 = fri + 19 * H
    p.update(t0, 0, False, True, 0)
    sat, sun, mon = fri + 24 * H, fri + 2 * 24 * H, fri + 3 * 24 * H
    assert p.next_check_s(t0) == mon + 10 * H - t0
    assert drive(p, t0, mon, 15 * M) == []  # Saturday window is inside grace, Sunday never
    assert p.update(sun + 11 * H, 0, False, True, 0)  # even inside the window
    assert drive(p, mon, mon + 24 * H, 15 * M) == [(mon + 10 * H, False)]
    assert sat  # grace ended Saturday 19:00
    assert p.reason == "credit"


def test_holiday_skipped():
    thu = ct.seconds(2026, 12, 24)  # Thursday; Friday the 25th is a listed holiday
    assert ct.civil(thu)[6] == 3
    p = policy()
    t0 = thu + 8 * H
    p.update(t0, 0, False, True, 0)
    fri, sat = thu + 24 * H, thu + 2 * 24 * H
    assert not p.cut_allowed(fri + 11 * H)
    assert p.cut_allowed(sat + 11 * H)
    assert drive(p, t0, sat + 24 * H, 10 * M) == [(sat + 10 * H, False)]


def test_credit_while_cut_closes_immediately():
    p = policy(grace_hours=0)
    t = MON + 10 * H + 5 * M
    assert not p.update(t, 0, False, True, 0)
    p.take_events()
    # a token at 22:00 on a Sunday-eve or any time: reconnect at once
    t2 = t + 3 * 24 * H + 12 * H
    assert p.update(t2, 10000, False, True, 0)
    assert p.reason == "none"
    assert p.take_events() == [("reconnect", "credit")]
    assert p.grace_remaining_s(t2) is None


def test_credit_during_grace_clears_grace():
    p = policy()
    p.update(MON + 9 * H, 0, False, True, 0)
    p.update(MON + 12 * H, 500, False, True, 0)
    assert codes(p) == ["grace_started", "grace_cleared"]
    assert p.grace_remaining_s(MON + 12 * H) is None
    # running out again starts a new full grace
    p.update(MON + 20 * H, 0, False, True, 0)
    assert p.grace_remaining_s(MON + 20 * H) == 24 * H


def test_emergency_credit_prevents_cut_and_reconnects():
    p = policy(grace_hours=0)
    tue10 = MON + 24 * H + 10 * H
    assert drive(p, tue10, tue10 + 3 * H, 5 * M, balance=-2000, emergency=True) == []
    assert p.grace_remaining_s(tue10) is None
    assert not p.update(tue10 + 3 * H - 1, -2000, False, True, 0)  # emergency ran out
    assert p.update(tue10 + 3 * H, -2000, True, True, 0)  # emergency credit taken: reconnect
    assert p.take_events()[-1] == ("reconnect", "credit")


def test_untrusted_clock_never_cuts_for_credit():
    p = policy(grace_hours=0)
    assert drive(p, MON, MON + 7 * 24 * H, 20 * M, balance=-100, trusted=False) == []
    assert p.grace_remaining_s(MON) is None
    assert p.next_check_s(MON) is None
    assert drive(p, MON, MON + 24 * H, 20 * M, balance=-100, trusted=True) == [(MON + 10 * H, False)]
    # once cut, losing the clock does not reconnect: only credit does
    assert not p.update(MON + 30 * H, -100, False, False, 0)
    assert not p.update(None, -100, False, False, 0)
    assert p.update(MON + 31 * H, 100, False, False, 0)


def test_grace_starts_when_clock_becomes_trusted():
    p = policy()
    p.update(MON + 9 * H, 0, False, False, 0)
    assert p.grace_remaining_s(MON + 9 * H) is None
    p.update(MON + 15 * H, 0, False, True, 0)
    assert p.grace_remaining_s(MON + 15 * H) == 24 * H


def test_clock_set_back_never_extends_grace_beyond_full():
    p = policy()
    p.update(MON + 24 * H, 0, False, True, 0)
    p.update(MON, 0, False, True, 0)
    assert p.grace_remaining_s(MON) == 24 * H


def overload_cycle(p, t, power=6000):
    """Overload from t until a trip; returns the trip time."""
    while p.update(t, 100000, False, True, power):
        t += 5
    return t


def test_overload_trip_retry_lockout_acknowledge():
    p = policy()
    t = MON + 20 * H
    assert p.update(t, 100000, False, True, 5500)  # at the limit is fine
    assert p.next_check_s(t) is None
    assert p.update(t, 100000, False, True, 5501)
    assert p.next_check_s(t) == 30
    assert p.screen_hint(t) == "Overload: reduce load"
    assert p.update(t + 29, 100000, False, True, 6000)
    assert not p.update(t + 30, 100000, False, True, 6000)
    assert p.reason == "overload"
    ev = p.take_events()
    assert ev[0][0] == "overload_trip" and "trip 1 of 4" in ev[0][1]
    assert p.next_check_s(t + 30) == 120
    assert p.screen_hint(t + 45) == "Overload: retry 1:45"
    assert not p.update(t + 149, 100000, False, True, 0)
    assert p.update(t + 150, 100000, False, True, 0)
    assert p.take_events() == [("reconnect", "overload")]
    trips = [t + 30]
    t = t + 150
    for _ in range(3):
        t = overload_cycle(p, t)
        trips.append(t)
        if p.reason == "overload":
            t = t + 120
            assert p.update(t, 100000, False, True, 0)
    assert trips[-1] - trips[0] < 30 * M
    assert p.reason == "overload_lockout"
    assert "overload_lockout" in codes(p)
    assert p.next_check_s(t) is None
    assert drive(p, t, t + 5 * H, 5 * M, balance=100000) == []
    assert not p.closed
    assert p.screen_hint() == "Overload lockout: press ENTER"
    assert p.acknowledge(t + 5 * H)
    assert p.closed and p.reason == "none"
    assert codes(p) == ["overload_ack", "reconnect"]
    assert not p.acknowledge(t + 5 * H)


def test_overload_trips_spread_out_do_not_lock():
    p = policy()
    t = MON
    for _ in range(6):
        t = overload_cycle(p, t)
        assert p.reason == "overload"
        t += 11 * M  # retry long over; 3 trips fit in 30 min, never 4
        assert p.update(t, 100000, False, True, 0)


def test_overload_needs_sustained_power():
    p = policy()
    t = MON
    for i in range(100):
        power = 6000 if i % 6 else 1000  # dips below the limit every 30 s
        assert p.update(t + i * 5, 100000, False, True, power)


def test_overload_gap_restarts_count():
    p = policy()
    p.update(MON, 1, False, True, 9000)
    assert p.update(MON + 61, 1, False, True, 9000)  # 61 s without a sample: count restarts
    assert p.update(MON + 90, 1, False, True, 9000)
    assert not p.update(MON + 91, 1, False, True, 9000)


def test_overload_uses_ticks_when_given():
    p = policy()
    base = (1 << 30) - 10000  # ticks wrap during the count
    assert p.update(MON, 1, False, True, 9000, base)
    assert p.update(MON, 1, False, True, 9000, (base + 29999) & ((1 << 30) - 1))
    assert not p.update(MON, 1, False, True, 9000, (base + 30000) & ((1 << 30) - 1))


def test_technician_reset_and_disabled_overload():
    p = policy(overload_lockout_trips=1)
    overload_cycle(p, MON)
    assert p.reason == "overload_lockout"
    p.reset_overload()
    assert p.closed and codes(p)[-2:] == ["overload_reset", "reconnect"]
    p = policy(sanctioned_load_w=0)
    assert p.limit_w is None
    assert drive(p, MON, MON + H, 10, balance=1, power=100000) == []


def test_remote_and_tamper_override():
    p = policy()
    p.update(MON, 500, False, True, 0)
    assert not p.set_remote(True)
    assert p.reason == "remote" and p.screen_hint() == "Disconnected by utility"
    assert not p.update(MON + 10, 500, False, True, 0)
    assert not p.set_tamper(True)
    assert p.reason == "tamper"
    assert not p.set_remote(False)
    assert p.set_tamper(False)
    assert codes(p) == ["remote_disconnect", "tamper_disconnect", "remote_connect",
                        "tamper_cleared", "reconnect"]
    # credit does not lift a remote disconnect
    p.set_remote(True)
    assert not p.update(MON + 20, 99999, False, True, 0)


def test_power_cycle_keeps_cut_and_grace():
    p = policy()
    t0 = MON + 14 * H
    p.update(t0, 0, False, True, 0)
    st = p.state()
    q = policy()
    q.restore(st)
    # five hours without power; grace kept counting in wall time
    assert q.grace_remaining_s(t0 + 5 * H) == 19 * H
    assert q.next_check_s(t0 + 5 * H) == p.next_check_s(t0 + 5 * H)
    wed = MON + 2 * 24 * H
    assert not q.update(wed + 10 * H, 0, False, True, 0)
    r = policy()
    r.restore(q.state())
    assert not r.closed and r.reason == "credit"
    assert not r.update(wed + 20 * H, 0, False, False, 0)  # stays cut, even without a clock
    assert r.update(wed + 21 * H, 1, False, False, 0)


def test_power_cycle_keeps_overload_timers():
    p = policy()
    t = overload_cycle(p, MON)
    st = p.state()
    q = policy()
    q.restore(st)
    assert q.reason == "overload" and q.overload_retry_s(t) == 120
    assert not q.update(t + 60, 1, False, True, 0)  # the minute without power counted
    assert q.update(t + 120, 1, False, True, 0)
    p = policy(overload_lockout_trips=1)
    overload_cycle(p, MON)
    q = policy()
    q.restore(p.state())
    assert drive(q, MON + H, MON + 48 * H, H, balance=1) == []
    assert q.reason == "overload_lockout"


def test_state_is_plain_data():
    p = policy()
    p.update(MON + 14 * H, 0, False, True, 6000)
    st = p.state()
    for k in st:
        v = st[k]
        assert v is None or isinstance(v, (bool, int, str, list)), k
    assert st["grace_start"] == MON + 14 * H
    with raises(ValueError):
        p.restore({"v": 99})


def test_config_errors():
    with raises(ConnectionConfigError):
        ConnectionPolicy({})
    bad = [
        {"window": "10-13"},
        {"window": "13:00-10:00"},
        {"window": "10:00-25:00"},
        {"window": 10},
        {"grace_hours": -1},
        {"grace_hours": "24"},
        {"grace_hours": True},
        {"no_cut_weekdays": ["sunday", "funday"]},
        {"no_cut_weekdays": "sun"},
        {"no_cut_weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
        {"holidays": ["2026-02-30"]},
        {"holidays": ["25/12/2026"]},
        {"holidays": "2026-12-25"},
        {"sanctioned_load_w": -5},
        {"overload_margin_percent": 500},
        {"overload_trip_s": 0},
        {"grace_hour": 24},
    ]
    for extra in bad:
        with raises(ConnectionConfigError) as e:
            policy(**extra)
        assert "connection." in str(e.value)
    with raises(ValueError):  # ConnectionConfigError is a ValueError
        policy(window="x")


def test_config_accepts_variants():
    p = policy(window="09:30-24:00", no_cut_weekdays=["Sat", "sunday"], holidays=[])
    assert p.window == (9 * H + 30 * M, 24 * H)
    assert p.no_cut_weekdays == [5, 6]
    assert parse_window(" 10:00 - 13:00 ") == (10 * H, 13 * H)


def test_screen_hint_during_grace():
    p = policy()
    p.update(MON + 14 * H, 0, False, True, 0)
    assert p.screen_hint(MON + 14 * H) == "Recharge within 24h"
    assert p.screen_hint(MON + 14 * H + 23 * H + 30 * M) == "Recharge within 30m"
    q = policy()
    q.update(MON, 100, False, True, 0)
    assert q.screen_hint(MON) == ""


# --- what the technician reads when a setting is refused ------------------------------------

def config_error(*args):
    with raises(ConnectionConfigError) as e:
        ConnectionPolicy(*args)
    return str(e.value)


def error_of(**kw):
    cfg = dict(CFG)
    cfg.update(kw)
    return config_error(cfg)


def test_config_errors_name_the_setting_and_what_is_wrong():
    assert config_error() == \
        "connection.sanctioned_load_w: required (watts; 0 turns overload protection off)"
    assert config_error([1]) == "connection: expected a table of settings"
    cases = [
        ({"grace_hour": 24}, "connection.grace_hour: unknown setting"),
        ({"grace_hours": "24"}, "connection.grace_hours: expected an integer, got '24'"),
        ({"grace_hours": 721}, "connection.grace_hours: 721 is outside 0..720"),
        ({"window": 10}, "connection.window: expected 'HH:MM-HH:MM', got 10"),
        ({"window": "10-13"}, "connection.window: expected 'HH:MM-HH:MM', got '10'"),
        ({"window": "9:30-13:00"}, "connection.window: expected 'HH:MM-HH:MM', got '9:30'"),
        ({"window": "10:00-1:00"}, "connection.window: expected 'HH:MM-HH:MM', got '1:00'"),
        ({"window": "ab:00-13:00"}, "connection.window: expected 'HH:MM-HH:MM', got 'ab:00'"),
        ({"window": "10:00-13:xy"}, "connection.window: expected 'HH:MM-HH:MM', got '13:xy'"),
        ({"window": "10:60-13:00"}, "connection.window: no such time of day '10:60'"),
        ({"window": "23:00-24:30"}, "connection.window: no such time of day '24:30'"),
        ({"window": "10:00-10:00"},
         "connection.window: '10:00-10:00' must start before it ends, within one day"),
        ({"no_cut_weekdays": "sun"}, 'connection.no_cut_weekdays: expected a list like ["sun"]'),
        ({"no_cut_weekdays": [3]}, "connection.no_cut_weekdays: 3 is not a day name"),
        ({"no_cut_weekdays": ["funday"]},
         "connection.no_cut_weekdays: unknown day 'funday' (use mon..sun)"),
        ({"no_cut_weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
         "connection.no_cut_weekdays: every day is excluded; the meter could never disconnect "
         "for credit"),
        ({"holidays": "2026-12-25"}, 'connection.holidays: expected a list like ["2026-12-25"]'),
        ({"holidays": [20261225]}, "connection.holidays: 20261225 is not a YYYY-MM-DD date"),
        ({"holidays": ["2026-12-5"]}, "connection.holidays: '2026-12-5' is not a YYYY-MM-DD date"),
        ({"holidays": ["2026-02-30"]}, "connection.holidays: '2026-02-30' is not a valid date"),
    ]
    for extra, message in cases:
        assert error_of(**extra) == message, (extra, error_of(**extra))


RANGES = (("grace_hours", 0, 720), ("sanctioned_load_w", 0, 1000000),
          ("overload_margin_percent", 0, 100), ("overload_trip_s", 1, 3600),
          ("overload_retry_s", 1, 86400), ("overload_lockout_trips", 1, 100),
          ("overload_lockout_window_s", 60, 86400))


def test_config_ranges_accept_both_ends_and_refuse_one_beyond():
    for key, lo, hi in RANGES:
        policy(**{key: lo})
        policy(**{key: hi})
        for v in (lo - 1, hi + 1):
            assert error_of(**{key: v}) == "connection.%s: %d is outside %d..%d" % (key, v, lo, hi)
    assert policy(window="10:59-13:00").window == (10 * H + 59 * M, 13 * H)
    assert policy(window="00:00-24:00").window == (0, 24 * H)
    days = [ct.iso_date(MON + i * 24 * H) for i in range(401)]
    assert len(policy(holidays=days[:400]).holidays) == 400
    assert error_of(holidays=days) == "connection.holidays: 401 dates, at most 400"


# --- the event log: what happened, with the detail a technician reads -----------------------

def test_credit_events_carry_the_grace_end_and_the_cut_time():
    p = policy()
    p.update(MON + 14 * H, 0, False, True, 0)
    assert p.take_events() == [("grace_started", ct.iso(MON + 38 * H))]
    p.update(MON + 15 * H, 500, False, True, 0)
    assert p.take_events() == [("grace_cleared", "")]
    p = policy(grace_hours=0)
    t = MON + 10 * H + 5 * M
    p.update(t, 0, False, True, 0)
    assert p.take_events() == [("grace_started", ct.iso(t)), ("disconnect_credit", ct.iso(t))]


def test_override_events_have_no_detail():
    p = policy()
    p.set_remote(True)
    p.set_remote(False)
    p.set_tamper(True)
    p.set_tamper(False)
    assert p.take_events() == [("remote_disconnect", ""), ("remote_connect", ""),
                               ("reconnect", "remote"), ("tamper_disconnect", ""),
                               ("tamper_cleared", ""), ("reconnect", "tamper")]
    assert p.set_tamper(True) is False and p.screen_hint() == "Tamper: call utility"


def test_overload_events_say_the_power_the_limit_and_the_trip_count():
    p = policy()
    overload_cycle(p, MON, 6000)
    assert p.take_events() == [("overload_trip", "6000 W > 5500 W, trip 1 of 4")]
    p = policy(overload_lockout_trips=1)
    overload_cycle(p, MON, 9000)
    assert p.take_events() == [("overload_trip", "9000 W > 5500 W, trip 1 of 1"),
                               ("overload_lockout", "1 trips")]
    assert p.acknowledge(MON + H)
    assert p.take_events() == [("overload_ack", ""), ("reconnect", "overload_lockout")]


def test_technician_reset_logs_only_when_there_was_something_to_reset():
    p = policy()
    p.reset_overload()
    assert p.take_events() == []  # nothing to forget
    t = overload_cycle(p, MON)
    assert p.update(t + 120, 1, False, True, 0)  # retry over; the trip still counts
    p.take_events()
    p.reset_overload()
    assert p.take_events() == [("overload_reset", "")]
    # a long retry wait outlives the lockout window: the wait alone is worth a reset
    p = policy(overload_retry_s=600, overload_lockout_window_s=60)
    t = overload_cycle(p, MON)
    assert not p.update(t + 61, 1, False, True, 0)
    p.take_events()
    assert p.reset_overload()
    assert p.take_events() == [("overload_reset", ""), ("reconnect", "overload")]


def test_the_event_buffer_keeps_the_newest_32():
    p = policy()
    expected = []
    for _ in range(20):
        p.set_remote(True)
        p.set_remote(False)
        expected += [("remote_disconnect", ""), ("remote_connect", ""), ("reconnect", "remote")]
    assert p.take_events() == expected[-32:]


# --- the LCD's hints -------------------------------------------------------------------------

def test_a_new_meter_shows_no_hint():
    assert policy().screen_hint() == ""


def test_grace_hint_rounds_up_to_the_next_hour_or_minute():
    p = policy()
    t0 = MON + 14 * H
    p.update(t0, 0, False, True, 0)
    assert p.screen_hint() == "Recharge within 24h"  # as of the last update
    end = t0 + 24 * H
    assert p.screen_hint(end - H - 1) == "Recharge within 2h"
    assert p.screen_hint(end - H) == "Recharge within 1h"
    assert p.screen_hint(end - H + 1) == "Recharge within 60m"
    assert p.screen_hint(end - 61) == "Recharge within 2m"
    assert p.screen_hint(end - 60) == "Recharge within 1m"
    assert p.grace_remaining_s(end - 1) == 1
    assert p.screen_hint(end - 1) == "Recharge within 1m"
    assert p.screen_hint(end) == "Recharge now"


def test_overload_retry_countdown():
    p = policy()
    t = overload_cycle(p, MON)
    assert p.screen_hint(t) == "Overload: retry 2:00"
    assert p.next_check_s(t + 15) == 105
    assert p.screen_hint(t + 120) == "Overload: retry 0:00"  # due: the next update closes it
    assert p.overload_retry_s(t + 120) == 0 and p.overload_retry_s(t + 125) == 0
    assert p.next_check_s(t + 200) == 0  # overdue: update now


def test_overload_retry_counts_milliseconds_and_shows_whole_seconds_rounded_up():
    p = policy()
    assert p.update(MON, 1, False, True, 9000, 0)
    assert not p.update(MON, 1, False, True, 9000, 30000)  # trip: 120 s from tick 30000
    assert not p.update(MON, 1, False, True, 0, 30000 + 118999)
    assert p.overload_retry_s() == 2 and p.next_check_s(MON) == 2  # 1.001 s left
    assert p.screen_hint() == "Overload: retry 0:02"
    assert p.overload_retry_s(MON + 1) == 1  # a wall second later: 1 ms left
    assert not p.update(MON, 1, False, True, 0, 30000 + 118999)  # a poll in the same tick
    assert p.overload_retry_s() == 2
    assert not p.update(MON, 1, False, True, 0, 30000 + 119999)
    assert p.overload_retry_s() == 1  # 1 ms left: still open
    assert not p.update(MON, 1, False, True, 0, 30000 + 119999)
    assert p.update(MON, 1, False, True, 0, 30000 + 120000)


def test_clock_set_back_never_lengthens_the_overload_retry():
    p = policy()
    t = overload_cycle(p, MON + 12 * H)
    assert not p.update(t - H, 1, False, True, 0)
    assert p.overload_retry_s(t - H) == 120
    assert p.update(t - H + 120, 1, False, True, 0)


def test_an_update_with_no_time_reference_counts_no_time():
    p = policy()
    p.update(None, 1, False, False, 9000, 0)
    assert not p.update(None, 1, False, False, 9000, 30000)
    assert not p.update(None, 1, False, False, 0, 30000 + 119999)  # 1 ms of the retry left
    q = policy()
    q.restore(p.state())  # a reset: no wall time saved, ticks start over
    assert not q.update(None, 1, False, False, 0, 5)
    assert q.overload_retry_s() == 1


# --- when the meter must look again ----------------------------------------------------------

def test_next_check_while_power_is_over_the_limit():
    p = policy()
    p.update(MON, 1, False, True, 9000)
    p.update(MON + 10, 1, False, True, 9000)
    assert p.next_check_s(MON + 10) == 20
    assert p.next_check_s(MON + 15) == 15


def test_next_check_is_the_sooner_of_an_overload_trip_and_a_grace_end():
    p = policy()
    p.update(MON + 14 * H, 0, False, True, 9000)
    assert p.next_check_s(MON + 14 * H) == 30


def test_next_cut_search_gives_up_after_400_days():
    start = ct.seconds(2026, 11, 29)  # a Sunday
    mondays = [ct.iso_date(start + (1 + 7 * i) * 24 * H) for i in range(58)]
    p = policy(no_cut_weekdays=["tue", "wed", "thu", "fri", "sat", "sun"], holidays=mondays[:57])
    assert p.next_cut_s(start) is None  # day 400 (a free Monday) is beyond the search
    assert p.next_cut_s(start + 24 * H) == start + 400 * 24 * H + 10 * H


# --- overload timing boundaries --------------------------------------------------------------

def test_samples_exactly_a_minute_apart_still_count_as_sustained():
    p = policy()
    p.update(MON, 1, False, True, 9000)
    assert not p.update(MON + 60, 1, False, True, 9000)


def lockout_after_second_trip(gap_ms):
    """Two 1 s overload trips gap_ms apart, lockout at 2 trips in 60 s: the reason after."""
    p = policy(overload_lockout_trips=2, overload_lockout_window_s=60, overload_retry_s=1,
               overload_trip_s=1)
    p.update(MON, 1, False, True, 9000, 0)
    assert not p.update(MON, 1, False, True, 9000, 1000)
    assert p.update(MON, 1, False, True, 0, 2000)
    t2 = 1000 + gap_ms
    assert p.update(MON, 1, False, True, 9000, t2 - 1000)
    assert not p.update(MON, 1, False, True, 9000, t2)
    return p.reason


def test_lockout_window_counts_trips_less_than_its_length_apart():
    assert lockout_after_second_trip(59999) == "overload_lockout"
    assert lockout_after_second_trip(60000) == "overload"


def test_power_over_the_limit_while_the_relay_is_open_never_trips():
    # a bypass or a welded contact: the meter sees load while it holds the relay open for credit
    p = policy(grace_hours=0)
    t = MON + 10 * H + 5 * M
    assert not p.update(t, 0, False, True, 0)
    p.take_events()
    for i in range(1, 20):
        assert not p.update(t + 10 * i, 0, False, True, 9000)
    assert p.take_events() == []
    assert p.update(t + 300, 5000, False, True, 9000)  # a recharge reconnects at once
    assert p.reason == "none"
    # that reading was taken with the relay open: the 30 s count starts at the next one
    assert p.update(t + 330, 5000, False, True, 9000)
    assert not p.update(t + 360, 5000, False, True, 9000)


# --- the saved record ------------------------------------------------------------------------

def busy_state():
    p = policy(overload_lockout_trips=3)
    t = overload_cycle(p, MON + 14 * H)
    p.update(t + 1, 0, False, True, 0)
    p.set_remote(True)
    p.set_tamper(True)
    return p.state()


def test_a_missing_key_in_a_saved_record_keeps_the_fresh_default():
    fresh = policy().state()
    q = policy()
    q.restore({})
    assert q.state() == fresh and q.take_events() == [] and q.closed
    full = busy_state()
    for key in full:
        if key in ("closed", "reason", "no_credit"):
            continue  # decided again from the rest / defaults to credit_cut
        part = dict(full)
        del part[key]
        q = policy()
        q.restore(part)
        assert q.state()[key] == fresh[key], key


def test_the_saved_record_names_its_format():
    st = policy().state()
    assert st["v"] == 1
    with raises(ValueError) as e:
        policy().restore(dict(st, v=2))
    assert str(e.value) == "connection state: unknown version 2"
    with raises(ValueError) as e:
        policy().restore([st])
    assert str(e.value) == "connection state: expected a dict"


def test_power_cycle_keeps_trips_toward_the_lockout():
    p = policy(overload_lockout_trips=2)
    t = overload_cycle(p, MON)
    assert p.update(t + 120, 1, False, True, 0)
    q = policy(overload_lockout_trips=2)
    q.restore(p.state())
    overload_cycle(q, t + 180)
    assert q.reason == "overload_lockout"

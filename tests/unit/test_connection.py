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

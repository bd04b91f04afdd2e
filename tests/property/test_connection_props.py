"""Connection policy properties over random schedules of consumption, credits, time and events."""
import json

from hypothesis import assume, event, given, settings, strategies as st

import civiltime as ct
from connection import ConnectionPolicy

CFG = {
    "sanctioned_load_w": 5000,
    "overload_margin_percent": 10,
    "grace_hours": 24,
    "window": "10:00-13:00",
    "no_cut_weekdays": ["sun"],
    "holidays": ["2026-12-25", "2027-01-26", "2026-12-02"],
}
HOLIDAY_DAYS = {ct.parse_iso(d) // 86400 for d in CFG["holidays"]}
START = ct.seconds(2026, 11, 28)
MASK = (1 << 30) - 1
KEEP_OPEN_REASONS = ("overload", "overload_lockout", "tamper", "remote")

steps_dt = st.one_of(
    st.sampled_from([0, 1, 5, 10, 29, 30, 31, 60, 119, 120, 121, 600, 1800, 3600, 4 * 3600, 86400]),
    st.integers(0, 3 * 86400),
    st.integers(0, 72).map(lambda h: h * 3600),
)
_tick = st.tuples(st.just("tick"), st.just(0))
_consume = st.tuples(st.just("consume"), st.integers(0, 5000))
actions = st.one_of(
    _tick, _tick, _tick, _tick,
    _consume, _consume,
    st.tuples(st.just("credit"), st.integers(1, 20000)),
    st.tuples(st.just("balance"), st.integers(-5000, 5000)),
    st.tuples(st.just("emergency"), st.sampled_from([False, False, True])),
    st.tuples(st.just("trusted"), st.sampled_from([True, True, False])),
    st.tuples(st.just("power"), st.sampled_from([0, 800, 5500, 5501, 9000])),
    st.tuples(st.just("remote"), st.booleans()),
    st.tuples(st.just("tamper"), st.booleans()),
    st.tuples(st.just("ack"), st.just(0)),
    st.tuples(st.just("reset"), st.just(0)),
    st.tuples(st.just("jump"), st.integers(-2 * 86400, 2 * 86400)),
    st.tuples(st.just("burst"), st.integers(1, 5)),
    st.tuples(st.just("wait"), st.integers(1, 72)),
    st.tuples(st.just("wait"), st.integers(1, 72)),
)
schedules = st.lists(st.tuples(steps_dt, actions), min_size=1, max_size=80)


class World:
    """The meter around the policy: balance, flags, wall clock and ticks."""

    def __init__(self, use_ms):
        self.now = START
        self.mono = 0
        self.balance = 0
        self.emergency = False
        self.trusted = True
        self.power = 0
        self.use_ms = use_ms
        self.episode_start = None  # first trusted update of the present no-credit episode
        self.cuts = []  # (wall second, trusted, no credit, grace served) of each credit cut

    def apply(self, p, dt, action):
        kind, arg = action
        self.now += dt
        self.mono += dt * 1000
        if kind == "consume":
            self.balance -= arg
        elif kind == "credit":
            self.balance += arg
        elif kind == "balance":
            self.balance = arg
        elif kind == "emergency":
            self.emergency = arg
        elif kind == "trusted":
            self.trusted = arg
        elif kind == "power":
            self.power = arg
        elif kind == "remote":
            p.set_remote(arg)
        elif kind == "tamper":
            p.set_tamper(arg)
        elif kind == "ack":
            p.acknowledge(self.now)
        elif kind == "reset":
            p.reset_overload()
        elif kind == "jump":
            self.now = max(START - 86400, self.now + arg)  # the wall clock is set; ticks go on
        elif kind == "burst":
            # arg overload trip cycles: a heavy load held 30 s, then the 2 min retry wait
            self.power = 9000
            for _ in range(arg):
                for step in (0, 15, 15, 60, 60):
                    self.now += step
                    self.mono += step * 1000
                    self._update(p)
        elif kind == "wait":
            # the meter updates every 20 min for arg hours (consumption goes on)
            for _ in range(arg * 3):
                self.now += 1200
                self.mono += 1200 * 1000
                self.balance -= 7 if self.balance > -3000 else 0
                self._update(p)
        return self._update(p)

    def _update(self, p):
        now_ms = (self.mono & MASK) if self.use_ms else None
        before = len(p.events)
        closed = p.update(self.now, self.balance, self.emergency, self.trusted,
                          self.power if p.closed else 0, now_ms)
        no_credit = self.balance <= 0 and not self.emergency
        if not no_credit:
            self.episode_start = None
        elif self.trusted and self.episode_start is None:
            self.episode_start = self.now
        if "disconnect_credit" in [c for c, _ in p.events[before:]]:
            served = self.episode_start is not None and self.now - self.episode_start >= 24 * 3600
            self.cuts.append((self.now, self.trusted, no_credit, served))
        return closed


def in_window(t):
    day, tod = divmod(t, 86400)
    return 10 * 3600 <= tod < 13 * 3600 and ct.weekday(day) != 6 and day not in HOLIDAY_DAYS


def snapshot(p, now):
    return (p.closed, p.reason, p.next_check_s(now), p.grace_remaining_s(now),
            p.screen_hint(now), p.take_events())


@settings(max_examples=400, deadline=None)
@given(schedules, st.booleans())
def test_credit_cut_only_in_window_and_never_while_credit(schedule, use_ms):
    if use_ms:
        schedule = [(dt, a) for dt, a in schedule if a[0] != "jump"]
    p = ConnectionPolicy(CFG)
    w = World(use_ms)
    jumped = False
    for dt, action in schedule:
        jumped = jumped or action[0] == "jump"
        closed = w.apply(p, dt, action)
        no_credit = w.balance <= 0 and not w.emergency
        p.take_events()
        for t, trusted, cut_no_credit, served in w.cuts:
            event("credit cut")
            assert in_window(t), ct.iso(t)
            assert trusted and cut_no_credit
            assert served or jumped  # a clock set back may restart the count: never lengthens it
        w.cuts = []
        if p.reason == "credit":
            assert no_credit
        if p.reason == "overload_lockout":
            event("overload lockout")
        if not no_credit:
            assert closed or p.reason in KEEP_OPEN_REASONS, p.reason
        assert closed == (p.reason == "none")
        n = p.next_check_s(w.now)
        assert n is None or n >= 0


@settings(max_examples=300, deadline=None)
@given(schedules, st.data(), st.booleans())
def test_state_round_trip_gives_same_future(schedule, data, use_ms):
    if use_ms:
        schedule = [(dt, a) for dt, a in schedule if a[0] != "jump"]
        assume(schedule)
    split = data.draw(st.integers(0, len(schedule)))
    p = ConnectionPolicy(CFG)
    w = World(use_ms)
    for dt, action in schedule[:split]:
        w.apply(p, dt, action)
    p.take_events()
    q = ConnectionPolicy(CFG)
    q.restore(json.loads(json.dumps(p.state())))
    assert snapshot(q, w.now) == snapshot(p, w.now)
    wq = World(use_ms)
    wq.__dict__.update(w.__dict__)
    for dt, action in schedule[split:]:
        assert w.apply(p, dt, action) == wq.apply(q, dt, action)
        assert snapshot(p, w.now) == snapshot(q, wq.now)
    assert p.state() == q.state()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3 * 365 * 86400))
def test_next_check_names_the_cut_instant(start_offset):
    """Sleeping until next_check_s and updating then cuts at exactly the first allowed second."""
    p = ConnectionPolicy(CFG)
    t = START + start_offset
    p.update(t, 0, False, True, 0)
    n = p.next_check_s(t)
    assert n is not None
    cut_at = t + n
    assert in_window(cut_at) and cut_at >= t + 24 * 3600
    if n > 0:
        assert p.update(cut_at - 1, 0, False, True, 0)
    assert not p.update(cut_at, 0, False, True, 0)
    assert p.reason == "credit"

"""Matrix keypad driver against the simulated keypad model, through the `machine` shim."""
from _sim import machine, reset, world  # noqa: F401  (boards/sim first: the shim `machine`)

from models.keypad import KeypadModel  # noqa: E402

import ticks  # noqa: E402
from drivers.keypad import Keypad, DEFAULT_KEYMAP  # noqa: E402
from _check import raises  # noqa: E402
from _clock import WorldClock  # noqa: E402

ROWS = (13, 12, 14, 27)
COLS = (26, 25, 33, 32)


def bench(**kw):
    reset()  # a fresh world for every test
    model = KeypadModel(world, ROWS, COLS, DEFAULT_KEYMAP)
    kp = Keypad([machine.Pin(p) for p in ROWS], [machine.Pin(p) for p in COLS], WorldClock(world), **kw)
    return model, kp


class Loop:
    """The meter loop in miniature: run IRQ handlers, poll when due, sleep until the next thing."""

    def __init__(self, kp, model):
        self.kp = kp
        self.model = model
        self.due = world.now_ms
        self.polls = 0
        self.events = []

    def run(self, script, end_ms, drain=True):
        """script: (t_ms, "press" | "release", key name) in time order."""
        kp = self.kp
        i = 0
        while True:
            now = world.now_ms
            while i < len(script) and script[i][0] <= now:
                t, action, name = script[i]
                getattr(self.model, action)(name)
                i += 1
            world.run_irqs(machine._pins)
            if kp.irq_pending or (self.due is not None and self.due <= now):
                self.polls += 1
                d = kp.poll(now)
                self.due = None if d is None else now + d
            while drain:
                e = kp.get()
                if e is None:
                    break
                self.events.append((now, e))
            if now >= end_ms:
                return [e for _, e in self.events]
            nxt = end_ms
            if i < len(script):
                nxt = min(nxt, script[i][0])
            if self.due is not None:
                nxt = min(nxt, self.due)
            world.advance_to(nxt)


def idle_electrically(kp):
    rows_low = all(world.net(p).driven == 0 for p in ROWS)
    armed = all(world.net(p).irq is not None for p in COLS)
    return kp.idle() and rows_low and armed


def test_idle_until_an_irq():
    model, kp = bench()
    assert idle_electrically(kp)
    assert kp.poll(0) is None
    loop = Loop(kp, model)
    loop.run([], 10000)
    assert loop.polls == 1 and loop.events == []


def test_one_event_per_press_after_debounce():
    model, kp = bench()
    loop = Loop(kp, model)
    ev = loop.run([(100, "press", "5"), (600, "release", "5")], 1000)
    assert ev == ["5"]
    t = loop.events[0][0]
    assert 120 <= t <= 130  # 20 ms stable, seen at the 5 ms scan rate
    assert idle_electrically(kp)
    assert loop.due is None
    assert kp.get() is None


def test_scanning_stops_when_released_and_irqs_off_while_scanning():
    model, kp = bench()
    loop = Loop(kp, model)
    loop.run([(10, "press", "UP")], 50)
    assert not kp.idle()
    assert all(world.net(p).irq is None for p in COLS)
    assert kp.held() == ["UP"]
    loop.run([(60, "release", "UP")], 200)
    polls = loop.polls
    assert idle_electrically(kp)
    loop.run([], 5000)
    assert loop.polls == polls  # idle: not polled at all


def test_all_16_keys_map_correctly():
    model, kp = bench()
    loop = Loop(kp, model)
    script = []
    t = 10
    for name in DEFAULT_KEYMAP:
        script.append((t, "press", name))
        script.append((t + 60, "release", name))
        t += 150
    assert loop.run(script, t + 100) == list(DEFAULT_KEYMAP)
    assert sorted(DEFAULT_KEYMAP) == sorted(
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "ENTER", "BACK", "MENU", "UP", "DOWN", "FN"])


def test_bounce_shorter_than_debounce_gives_nothing():
    model, kp = bench()
    loop = Loop(kp, model)
    script = []
    t = 100
    for _ in range(3):  # contact chatter, never stable 20 ms
        script += [(t, "press", "7"), (t + 4, "release", "7")]
        t += 9
    script.append((t + 1, "press", "8"))
    script.append((t + 15, "release", "8"))  # a 14 ms blip
    assert loop.run(script, 400) == []
    assert idle_electrically(kp)


def test_bouncy_press_and_release_give_one_event():
    model, kp = bench()
    loop = Loop(kp, model)
    # scans at 100 (IRQ), 105, 110, ...: the chatter is seen at 105, stable from 110
    script = [(100, "press", "ENTER"), (103, "release", "ENTER"), (108, "press", "ENTER"),
              (111, "release", "ENTER"), (114, "press", "ENTER"),  # settles down
              (400, "release", "ENTER"), (403, "press", "ENTER"), (405, "release", "ENTER"),
              (408, "press", "ENTER"), (411, "release", "ENTER")]  # settles up
    assert loop.run(script, 700) == ["ENTER"]
    assert loop.events[0][0] >= 110 + 20
    assert idle_electrically(kp)


def test_held_key_does_not_repeat():
    model, kp = bench()
    loop = Loop(kp, model)
    assert loop.run([(10, "press", "DOWN"), (8000, "release", "DOWN")], 8100) == ["DOWN"]


def test_long_press():
    model, kp = bench(long_ms=1500)
    loop = Loop(kp, model)
    ev = loop.run([(10, "press", "BACK"), (3000, "release", "BACK"),
                   (4000, "press", "BACK"), (4500, "release", "BACK")], 5000)
    assert ev == ["BACK", "LONG_BACK", "BACK"]
    assert 1530 <= loop.events[1][0] <= 1540


def test_two_keys_overlapping():
    model, kp = bench(long_ms=1000)
    loop = Loop(kp, model)
    ev = loop.run([(10, "press", "1"), (100, "press", "2"), (200, "release", "1"),
                   (300, "release", "2")], 2000)
    assert ev == ["1", "2"]  # no long press while two keys are down, none after


def test_same_column_keys():
    model, kp = bench()
    loop = Loop(kp, model)
    ev = loop.run([(10, "press", "3"), (100, "press", "9"), (200, "press", "ENTER"),
                   (300, "release", "3"), (300, "release", "9"), (300, "release", "ENTER")], 500)
    assert ev == ["3", "9", "ENTER"]


def test_key_held_at_boot():
    reset()
    model = KeypadModel(world, ROWS, COLS, DEFAULT_KEYMAP)
    model.press("FN")
    kp = Keypad([machine.Pin(p) for p in ROWS], [machine.Pin(p) for p in COLS], WorldClock(world))
    assert kp.irq_pending
    loop = Loop(kp, model)
    assert loop.run([(100, "release", "FN")], 300) == ["FN"]


def test_queue_overflow_drops_newest():
    model, kp = bench(queue_len=2)
    loop = Loop(kp, model)
    script = []
    for i, name in enumerate(("1", "2", "3")):
        script += [(10 + 100 * i, "press", name), (60 + 100 * i, "release", name)]
    loop.run(script, 500, drain=False)
    assert kp.any() == 2 and kp.overflows == 1
    assert (kp.get(), kp.get(), kp.get()) == ("1", "2", None)


def test_keymap_must_fit():
    reset()
    with raises(ValueError):
        Keypad([machine.Pin(p) for p in ROWS], [machine.Pin(p) for p in COLS], WorldClock(world), keymap=("1", "2"))


class Lcg:
    """Deterministic pseudo-random numbers, the same on CPython and MicroPython."""

    def __init__(self, seed):
        self.x = seed

    def __call__(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % n


def test_garbage_sequences():
    for seed in (1, 2, 3):
        model, kp = bench(long_ms=700)
        loop = Loop(kp, model)
        rnd = Lcg(seed)
        script = []
        t = 0
        for _ in range(400):
            t += rnd(40)
            name = DEFAULT_KEYMAP[rnd(16)]
            script.append((t, "press" if rnd(2) else "release", name))
        ev = loop.run(script, t + 10)
        valid = set(DEFAULT_KEYMAP) | set("LONG_" + k for k in DEFAULT_KEYMAP)
        assert all(e in valid for e in ev)
        assert len([e for e in ev if not e.startswith("LONG_")]) <= model.presses
        model.release_all()
        loop.run([], t + 300)
        assert idle_electrically(kp)
        assert kp.held() == []
        # and it still works afterwards
        assert loop.run([(t + 400, "press", "0"), (t + 500, "release", "0")], t + 700)[-1] == "0"


def test_ticks_wrap():
    model, kp = bench()
    world.now_ms = ticks.PERIOD - 30  # the loop hands the driver wrapped ticks
    model.press("9")
    world.run_irqs(machine._pins)
    events = []
    now = world.now_ms
    while now < ticks.PERIOD + 100:
        d = kp.poll(now & (ticks.PERIOD - 1))
        e = kp.get()
        if e:
            events.append((now, e))
        now += d if d else 5
    assert [e for _, e in events] == ["9"]
    assert events[0][0] - (ticks.PERIOD - 30) <= 25

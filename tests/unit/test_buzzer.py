"""Buzzer driver against the simulated buzzer model, through the `machine` shim."""
from _sim import machine, reset, world  # noqa: F401  (boards/sim first: the shim `machine`)

from models.buzzer import BuzzerModel  # noqa: E402

import ticks  # noqa: E402
from drivers.buzzer import Buzzer, PATTERNS  # noqa: E402
from _clock import WorldClock  # noqa: E402

PIN = 4


def bench(**kw):
    reset()  # a fresh world for every test
    model = BuzzerModel(world, PIN, active_high=kw.get("active_high", True))
    bz = Buzzer(machine.Pin(PIN), WorldClock(world), **kw)
    return model, bz


def run(bz, end_ms, late_ms=0):
    """Poll when the driver asks (plus `late_ms`), until end_ms."""
    d = bz.poll(world.now_ms)
    while world.now_ms < end_ms:
        nxt = end_ms if d is None else min(end_ms, world.now_ms + d + late_ms)
        world.advance_to(nxt)
        d = bz.poll(world.now_ms)
    return d


def expected(name, t0):
    out = []
    t = t0
    for on, off in PATTERNS[name]:
        if on:
            out.append((t, on))
        t += on + off
    return out


def test_silent_at_start():
    model, bz = bench()
    assert not model.on() and model.history() == []
    assert bz.poll(0) is None and bz.playing() is None


def test_each_pattern_plays_exactly():
    for name in PATTERNS:
        model, bz = bench()
        world.advance_to(1000)
        assert bz.play(name)
        assert model.on()  # the first tone starts inside play()
        assert bz.playing() == name
        assert run(bz, 5000) is None
        assert model.beeps() == expected(name, 1000), name
        assert not model.on() and bz.playing() is None


def test_patterns_are_distinct():
    shapes = [PATTERNS[n] for n in ("click", "accept", "error", "alert_low", "alert_zero")]
    for i in range(len(shapes)):
        for j in range(i + 1, len(shapes)):
            assert shapes[i] != shapes[j]


def test_poll_returns_time_to_next_edge():
    model, bz = bench()
    bz.play("accept", 0)
    assert bz.poll(0) == 60
    assert bz.poll(30) == 30
    assert bz.poll(60) == 60 and not model.on()
    assert bz.poll(120) == 60 and model.on()
    assert bz.poll(180) is None and not model.on()


def test_late_polls_stretch_not_skip():
    model, bz = bench()
    bz.play("alert_low", 0)
    run(bz, 3000, late_ms=7)
    beeps = model.beeps()
    assert len(beeps) == 3
    assert all(d >= 100 for _, d in beeps)


def test_priority():
    model, bz = bench()
    bz.play("alert_zero", 0)
    world.advance_to(50)
    assert not bz.play("click")  # a key click does not cut the alert
    assert bz.playing() == "alert_zero"
    run(bz, 5000)
    assert model.beeps() == expected("alert_zero", 0)
    model.clear()
    bz.play("click")
    assert bz.play("error")  # higher priority replaces, the tone just continues
    run(bz, 10000)
    assert model.beeps() == [(5000, 400)]


def test_unknown_pattern_and_stop():
    model, bz = bench()
    assert not bz.play("fanfare")
    assert model.history() == []
    bz.play("error")
    world.advance_to(100)
    bz.stop()
    assert not model.on() and bz.poll(world.now_ms) is None
    assert model.beeps() == [(0, 100)]


def test_active_low_pin():
    model, bz = bench(active_high=False)
    assert machine.Pin(PIN).value() == 1  # idle high: silent
    bz.play("click")
    assert model.on() and machine.Pin(PIN).value() == 0
    run(bz, 100)
    assert model.beeps() == [(0, 15)]


def test_pwm_output():
    class PWM:
        def __init__(self):
            self.duties = []

        def duty_u16(self, v):
            self.duties.append(v)

    reset()
    pwm = PWM()
    bz = Buzzer(None, WorldClock(world), pwm=pwm)
    bz.play("accept", 0)
    for t in (60, 120, 180):
        bz.poll(t)
    assert pwm.duties == [0, 32768, 0, 32768, 0]


def test_ticks_wrap():
    model, bz = bench()
    start = ticks.PERIOD - 20
    bz.play("error", start)
    assert bz.poll(ticks.PERIOD - 1) == 381
    assert bz.poll(379) == 1
    assert bz.poll(380) is None

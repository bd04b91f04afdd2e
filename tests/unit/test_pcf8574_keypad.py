"""The keypad behind a PCF8574 expander (drivers/pcf8574.py) against the expander and keypad
models: key events, the /INT wake-up, and a glitch on the /INT pin (GPIO39, errata 3.11)."""
from _sim import machine, reset, world  # noqa: F401  (boards/sim first: the shim `machine`)

from models.keypad import KeypadModel  # noqa: E402
from models.pcf8574 import PCF8574Model  # noqa: E402

from drivers.keypad import Keypad  # noqa: E402
from drivers.pcf8574 import PCF8574  # noqa: E402
from _check import raises  # noqa: E402
from _clock import WorldClock  # noqa: E402

BUS = 0
ADDR = 0x20
INT = 39


def bench():
    reset()
    x = PCF8574Model(world, BUS, ADDR, INT)
    model = KeypadModel(world, x.names[:4], x.names[4:])
    chip = PCF8574(machine.I2C(BUS), ADDR, machine.Pin(INT, machine.Pin.IN))
    kp = Keypad([chip.pin(n) for n in range(4)], [chip.pin(n) for n in range(4, 8)], WorldClock(world))
    return x, model, kp


_due = {}


def run(kp, until_ms):
    """The meter loop in miniature: IRQs, polls when due, sleep until the next deadline."""
    due = _due.get(id(kp))
    events = []
    while world.now_ms < until_ms:
        world.run_irqs(machine._pins)
        if kp.irq_pending or (due is not None and due <= world.now_ms):
            d = kp.poll(world.now_ms)
            due = None if d is None else world.now_ms + d
        while True:
            e = kp.get()
            if e is None:
                break
            events.append(e)
        world.advance_to(min(until_ms, due) if due is not None else until_ms)
    _due[id(kp)] = due
    return events


def test_missing_expander_raises():
    reset()
    with raises(OSError):
        PCF8574(machine.I2C(BUS), ADDR)


def test_idle_rows_latched_low_and_int_armed():
    x, model, kp = bench()
    assert x.latch & 0x0F == 0  # rows P0-P3 pulled low, columns P4-P7 latched high (inputs)
    assert x.latch & 0xF0 == 0xF0
    assert world.net(INT).irq is not None
    assert kp.poll(0) is None


def test_a_press_wakes_through_int_and_gives_one_event():
    x, model, kp = bench()
    model.press("5")
    assert world.pending_irqs == [INT]  # /INT fell: the column changed since the last read
    ev = run(kp, 200)
    model.release("5")
    ev += run(kp, 400)
    assert ev == ["5"]
    assert kp.idle() and world.net(INT).irq is not None


def test_every_key_through_the_expander():
    x, model, kp = bench()
    got = []
    for name in model.keymap:
        model.press(name)
        got += run(kp, world.now_ms + 100)
        model.release(name)
        got += run(kp, world.now_ms + 100)
    assert got == list(model.keymap)


def test_a_glitch_on_the_int_pin_starts_a_scan_that_finds_nothing():
    x, model, kp = bench()
    world.net(INT).irq(machine._pins[INT])  # an ~80 ns low pulse, as errata 3.11 describes
    assert kp.irq_pending
    assert run(kp, 500) == []
    assert kp.idle()

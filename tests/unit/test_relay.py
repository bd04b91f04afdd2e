"""Latching relay driver against the simulated relay model, through the `machine` shim."""
from _sim import machine, reset, world  # noqa: F401  (boards/sim first: the shim `machine`)

from models.line import Line  # noqa: E402
from models.relay import RelayModel  # noqa: E402

from drivers.relay import LatchingRelay, WELDED, FAILED_TO_CLOSE  # noqa: E402
from _check import raises  # noqa: E402
from _clock import WorldClock  # noqa: E402

SET, RESET, SENSE = 25, 26, 27


class Syncer:
    """A metering model stand-in: records the virtual time and relay state at each sync."""

    def __init__(self, line):
        self.line = line
        self.syncs = []

    def sync(self):
        self.syncs.append((world.now_ms, self.line.conducting()))


def bench(closed=True, pulse_ms=60, min_pulse_ms=30, **kw):
    reset()  # a fresh world for every test
    line = Line(world)
    line.set_load(1_000_000)
    model = RelayModel(world, line, SET, RESET, SENSE, min_pulse_ms=min_pulse_ms, closed=closed)
    set_pin = machine.Pin(SET, machine.Pin.OUT, value=0)
    reset_pin = machine.Pin(RESET, machine.Pin.OUT, value=0)
    sense_pin = machine.Pin(SENSE, machine.Pin.IN)
    relay = LatchingRelay(set_pin, reset_pin, sense_pin, WorldClock(world), pulse_ms=pulse_ms, **kw)
    return line, model, relay, set_pin, reset_pin


def test_model_registers_with_line():
    line, model, relay, _, _ = bench()
    assert line.relay is model
    assert line.conducting()
    assert relay.closed()


def test_pulses_switch_contacts():
    line, model, relay, _, _ = bench(closed=True)
    assert relay.open() is True
    assert not model.closed() and not relay.closed()
    assert line.power_mw() == 0
    t0 = world.now_ms
    assert relay.close() is True  # waits out the anti-chatter interval, then pulses
    assert model.closed() and relay.closed()
    assert line.power_mw() == 1_000_000
    assert world.now_ms - t0 >= 1000
    assert model.operations == 2 and model.switches == 2 and model.pulses == 2
    assert model.conflicts == 0 and relay.faults == 0 and relay.operations == 2
    assert model.last_pulse_ms == 60


def test_short_pulse_does_not_switch():
    line, model, relay, _, _ = bench(closed=True, pulse_ms=20)
    assert relay.open() is False
    assert model.closed() and relay.closed()
    assert model.short_pulses == 1 and model.operations == 0
    assert relay.faults == 1 and relay.last_fault == WELDED


def test_exact_minimum_pulse_switches():
    line, model, relay, _, _ = bench(closed=True, pulse_ms=30)
    assert relay.open() is True
    assert not model.closed()


def test_both_coils_never_switch():
    line, model, relay, set_pin, reset_pin = bench(closed=True)
    reset_pin.value(1)
    set_pin.value(1)
    world.advance_to(world.now_ms + 100)
    reset_pin.value(0)
    set_pin.value(0)
    assert model.closed()
    assert model.conflicts == 1 and model.operations == 0


def test_driver_never_energises_both_coils():
    line, model, relay, set_pin, reset_pin = bench(closed=True)
    set_pin.value(1)  # something left the SET coil on
    assert relay.open() is True  # the driver drops SET before it energises RESET
    assert set_pin.value() == 0 and reset_pin.value() == 0
    assert model.conflicts == 0


def test_contacts_move_when_pulse_reaches_minimum():
    line, model, relay, _, _ = bench(closed=True)
    s = Syncer(line)
    line.observers.append(s)
    t0 = world.now_ms
    relay.open()
    # the metering models were synced while current still flowed, 30 ms into the 60 ms pulse
    assert s.syncs == [(t0 + 30, True)]


def test_welded_detected():
    line, model, relay, _, _ = bench(closed=True)
    model.weld()
    assert relay.open() is False
    assert relay.closed()
    assert relay.faults == 1 and relay.last_fault == WELDED and relay.fault == WELDED
    assert relay.take_events() == [("relay_fault", "welded")]
    assert line.power_mw() == 1_000_000  # current still flows through welded contacts
    # the same fault seen again is not a new fault
    assert relay.verify(False) is False
    assert relay.faults == 1
    assert relay.events == []


def test_weld_closes_open_contacts():
    line, model, relay, _, _ = bench(closed=False)
    model.weld()
    assert relay.closed()
    assert relay.verify(False) is False and relay.last_fault == WELDED


def test_failed_to_close_detected():
    line, model, relay, _, _ = bench(closed=False)
    model.fail_open()
    assert relay.close() is False
    assert not relay.closed()
    assert relay.last_fault == FAILED_TO_CLOSE and relay.faults == 1
    model.repair()
    assert relay.close() is True
    assert relay.fault is None and relay.faults == 1


def test_sense_confirms_real_state():
    line, model, relay, _, _ = bench(closed=True)
    assert relay.verify(True) is True
    model._move(False)  # contacts opened behind the driver's back
    assert relay.closed() is False
    assert relay.verify(True) is False
    assert relay.last_fault == FAILED_TO_CLOSE


def test_apply_is_idempotent_and_gives_up_on_dead_relay():
    line, model, relay, _, _ = bench(closed=True)
    assert relay.apply(True) is True
    assert model.pulses == 0  # already closed: no pulse
    assert relay.apply(False) is True
    assert relay.apply(False) is True
    assert model.pulses == 1
    model.fail_open()
    for _ in range(5):
        assert relay.apply(True) is False
    assert model.pulses == 1 + 2  # one attempt plus one retry, then no more chatter
    assert relay.faults == 1


def test_minimum_interval_between_operations():
    line, model, relay, _, _ = bench(closed=True, min_interval_ms=5000)
    relay.open()
    assert relay.ready_in_ms() > 4000
    t0 = world.now_ms
    relay.close()
    assert world.now_ms - t0 >= 4900
    assert relay.ready_in_ms() > 4000


def test_sense_edge_wakes_firmware():
    line, model, relay, _, _ = bench(closed=True)
    seen = []
    sense = machine.Pin(SENSE, machine.Pin.IN)
    sense.irq(lambda p: seen.append(p), trigger=machine.Pin.IRQ_FALLING | machine.Pin.IRQ_RISING)
    relay.open()
    assert world.wake
    world.run_irqs({SENSE: sense})
    assert seen == [sense]


def test_bad_pulse_length_rejected():
    reset()
    p = machine.Pin(SET, machine.Pin.OUT)
    with raises(ValueError):
        LatchingRelay(p, p, p, WorldClock(world), pulse_ms=0)


class GlitchyPin:
    """A sense input that reads one wrong level (a GPIO36 glitch, ESP32 errata 3.11) at read `at`."""

    def __init__(self, level, at):
        self.level = level
        self.at = at
        self.reads = 0

    def value(self, v=None):
        self.reads += 1
        return (1 - self.level) if self.reads == self.at else self.level


def test_one_glitched_sense_read_does_not_change_the_contact_state():
    for level in (0, 1):
        for at in (1, 2, 3):
            pin = GlitchyPin(level, at)
            relay = LatchingRelay(GlitchyPin(0, 0), GlitchyPin(0, 0), pin, WorldClock(world))
            assert relay.closed() == (level == 1), (level, at)

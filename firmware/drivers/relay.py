"""Latching (bistable) load relay: two coils, timed pulses, contact sense.

Hardware
- SET coil: a pulse closes the contacts (load connected).
- RESET coil: a pulse opens the contacts (load disconnected).
- The contacts stay where they are with no coil energised (no holding current).
- Contact sense input: reads `sense_closed_level` (default 1) when the contacts are closed,
  the other level when they are open. It reports the real contact position, so a welded or
  failed contact shows up as a mismatch with what was commanded.

Rules this driver keeps
- Never both coils at once: the other coil is driven off before a coil is energised, and a
  coil is always de-energised when the pulse ends (also if the sleep raises).
- Pulse length `pulse_ms` (default 60 ms; relay datasheets typically need 30-50 ms minimum).
- No chatter: two operations are at least `min_interval_ms` apart; an operation asked for
  sooner waits (clock.sleep_ms) for the rest of the interval. `apply()` pulses only when the
  sensed state differs, and gives up after `retries` extra attempts on a dead relay.
- A mismatch between the commanded and the sensed state is a fault: counted once when it is
  first seen ("welded": commanded open but still closed; "failed_to_close": commanded closed but
  still open), kept in `last_fault`, and queued in `events` as ("relay_fault", kind).

The pins are configured objects with `value()` (machine.Pin on the device, the shim on the
simulated board); `clock` gives `ticks_ms()` and `sleep_ms(ms)`.
"""
import ticks

WELDED = "welded"
FAILED_TO_CLOSE = "failed_to_close"
_MAX_EVENTS = 16


class LatchingRelay:
    def __init__(self, set_pin, reset_pin, sense_pin, clock, pulse_ms=60, min_interval_ms=1000,
                 settle_ms=5, sense_closed_level=1, retries=1):
        if not isinstance(pulse_ms, int) or not 0 < pulse_ms <= 1000:
            raise ValueError("pulse_ms must be 1..1000")
        if not isinstance(min_interval_ms, int) or not 0 <= min_interval_ms <= 60000:
            raise ValueError("min_interval_ms must be 0..60000")
        self._set = set_pin
        self._reset = reset_pin
        self._sense = sense_pin
        self._clock = clock
        self.pulse_ms = pulse_ms
        self.min_interval_ms = min_interval_ms
        self.settle_ms = settle_ms
        self._closed_level = 1 if sense_closed_level else 0
        self.retries = retries
        self._set.value(0)
        self._reset.value(0)
        self._last_op = None  # ticks_ms when the last pulse ended
        self.commanded = None  # True closed / False open / None: nothing commanded since boot
        self._attempts = 0  # pulses towards the current commanded state
        self.operations = 0  # coil pulses given
        self.faults = 0  # mismatches seen (each counted once when it appears)
        self.last_fault = None  # "welded" / "failed_to_close" / None
        self.fault = None  # the mismatch present now, or None
        self.events = []  # (code, detail) for the event log; the owner drains it

    # -- state ----------------------------------------------------------------------------
    def closed(self):
        """True when the contact sense says the contacts are closed (load connected). Two reads of
        three agree: the sense input may sit on GPIO36, which the ESP32 pulls low for ~80 ns when
        its ADC or radio powers up (errata 3.11), and one glitched read must not look like a fault."""
        p = self._sense
        n = (p.value() == self._closed_level) + (p.value() == self._closed_level)
        if n == 1:
            n += p.value() == self._closed_level
        return n >= 2

    def verify(self, expected):
        """True if the sensed state is `expected`; a new mismatch is recorded as a fault."""
        expected = bool(expected)
        if self.closed() == expected:
            self.fault = None
            return True
        kind = FAILED_TO_CLOSE if expected else WELDED
        if self.fault != kind:
            self.fault = kind
            self.faults += 1
            self.last_fault = kind
            if len(self.events) >= _MAX_EVENTS:
                self.events.pop(0)
            self.events.append(("relay_fault", kind))
        return False

    def take_events(self):
        ev = self.events
        self.events = []
        return ev

    # -- operations -----------------------------------------------------------------------
    def close(self):
        """Pulse the SET coil; True if the contacts are then sensed closed."""
        return self._operate(True)

    def open(self):
        """Pulse the RESET coil; True if the contacts are then sensed open."""
        return self._operate(False)

    def apply(self, want_closed):
        """Bring the contacts to `want_closed`, pulsing only if the sense says otherwise.

        Safe to call on every loop pass: a relay that does not follow is pulsed at most
        1 + `retries` times for the same target, then left alone (the fault stays reported).
        """
        want = bool(want_closed)
        if self.commanded != want:
            self._attempts = 0
        if self.closed() == want:
            self.commanded = want
            self.fault = None
            return True
        if self.commanded == want and self._attempts > self.retries:
            return self.verify(want)
        return self._operate(want)

    def ready_in_ms(self):
        """ms before another operation may start without waiting (0: now)."""
        if self._last_op is None:
            return 0
        gone = ticks.diff(self._clock.ticks_ms(), self._last_op)
        if gone < 0 or gone >= self.min_interval_ms:
            return 0
        return self.min_interval_ms - gone

    def _operate(self, want):
        wait = self.ready_in_ms()
        if wait:
            self._clock.sleep_ms(wait)
        coil, other = (self._set, self._reset) if want else (self._reset, self._set)
        if self.commanded != want:
            self._attempts = 0
        self.commanded = want
        self._attempts += 1
        other.value(0)
        coil.value(1)
        try:
            self._clock.sleep_ms(self.pulse_ms)
        finally:
            coil.value(0)
            self._last_op = self._clock.ticks_ms()
            self.operations += 1
        if self.settle_ms:
            self._clock.sleep_ms(self.settle_ms)
        return self.verify(want)

"""Buzzer: named on/off patterns, played from the meter loop without blocking.

The usual part is an active (self-oscillating) buzzer switched by a transistor on one pin:
`Buzzer(pin, clock)`. A passive piezo needs a square wave: pass `pwm=` an object with
`duty_u16(v)` (machine.PWM set up at its resonant frequency, e.g. 2.7 kHz); the driver then
switches the duty between 50 % and 0 instead of the pin.

A pattern is a tuple of (on_ms, off_ms) pairs. `play(name)` starts it at once (the first tone
switches on inside the call); `poll(now_ms)` switches at the pattern's edges and returns the ms
until the next edge, or None when nothing is playing. Each segment is timed from when the
previous edge was actually made, so a late poll lengthens a tone rather than skipping it.
Patterns have priorities: a pattern does not interrupt one of higher priority (a key click
never cuts an alert short); equal or higher priority replaces what is playing.
"""
from ticks import add, diff

PATTERNS = {
    "click": ((15, 0),),  # key press
    "accept": ((60, 60), (60, 0)),  # token accepted, command done: two short chirps
    "error": ((400, 0),),  # wrong token, invalid entry: one long tone
    "alert_low": ((100, 100), (100, 100), (100, 0)),  # credit low: three short
    "alert_zero": ((400, 200), (400, 200), (400, 0)),  # credit exhausted / disconnecting: three long
}

PRIORITY = {"click": 0, "accept": 1, "error": 1, "alert_low": 2, "alert_zero": 3}

_HALF_DUTY = 32768


class Buzzer:
    def __init__(self, pin, clock, patterns=PATTERNS, priority=PRIORITY, active_high=True, pwm=None):
        self._pin = pin
        self._clock = clock
        self._patterns = patterns
        self._priority = priority
        self._active_high = active_high
        self._pwm = pwm
        self._pat = None  # the pattern playing
        self._name = None
        self._i = 0  # segment index
        self._in_on = False  # in the on part of segment _i
        self._on = False  # what the buzzer is doing
        self._due = 0  # ticks of the next edge
        if pwm is None:
            pin.init(pin.OUT, value=0 if active_high else 1)
        self._drive(False)

    def _drive(self, on):
        self._on = on
        if self._pwm is not None:
            self._pwm.duty_u16(_HALF_DUTY if on else 0)
        else:
            self._pin.value(1 if on == self._active_high else 0)

    def _set(self, on):
        if on != self._on:
            self._drive(on)

    def play(self, name, now_ms=None):
        """Start pattern `name`; False if unknown or a higher-priority pattern is playing."""
        pat = self._patterns.get(name)
        if pat is None:
            return False
        if self._pat is not None and self._priority.get(name, 1) < self._priority.get(self._name, 1):
            return False
        if now_ms is None:
            now_ms = self._clock.ticks_ms()
        self._pat = pat
        self._name = name
        self._i = -1
        self._in_on = False
        self._due = now_ms
        self.poll(now_ms)
        return True

    def stop(self):
        self._pat = None
        self._name = None
        self._set(False)

    def playing(self):
        """Name of the pattern playing, or None."""
        return self._name

    def poll(self, now_ms):
        """Make the edges that are due; return ms until the next one, or None when silent."""
        pat = self._pat
        if pat is None:
            return None
        while True:
            d = diff(self._due, now_ms)
            if d > 0:
                return d
            if self._in_on:
                self._in_on = False
                self._set(False)
                self._due = add(now_ms, pat[self._i][1])
                continue
            self._i += 1
            if self._i >= len(pat):
                self._pat = None
                self._name = None
                return None
            on_ms = pat[self._i][0]
            self._in_on = True
            self._set(on_ms > 0)
            self._due = add(now_ms, on_ms)

"""Wrapping millisecond ticks, as the device's time.ticks_ms() gives them.

Ticks wrap at 2**30 (about 12.4 days) so they stay MicroPython small ints on ESP32; every
comparison goes through diff(), which is right across the wrap for spans under 6 days.
"""

PERIOD = 1 << 30
_HALF = PERIOD >> 1
_MASK = PERIOD - 1


def add(ticks, delta):
    return (ticks + delta) & _MASK


def diff(a, b):
    """a - b in ms, signed, correct across the wrap."""
    return ((a - b + _HALF) & _MASK) - _HALF

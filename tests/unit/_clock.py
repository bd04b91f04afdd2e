"""The unit tests' virtual clocks, one copy for every driver and service under test.

`Clock` is time the test moves by hand (`clock.ms += n`); `WorldClock` is the simulated board's
time, so that a driver's sleeps pass in the world its device models live in. Both wrap like the
device's time.ticks_ms(), so code under test sees what it would on the board.
"""
from ticks import PERIOD

_MASK = PERIOD - 1


class Clock:
    """Ticks the test sets; a sleep moves them on, as the time it waits would."""

    def __init__(self, ms=0):
        self.ms = ms

    def ticks_ms(self):
        return self.ms & _MASK

    def sleep_ms(self, ms):
        self.ms += ms


class WorldClock:
    """The sim world's clock: sleeps advance the world, microseconds carried to a whole ms."""

    def __init__(self, world):
        self.world = world
        self.us = 0

    def ticks_ms(self):
        return self.world.now_ms & _MASK

    def sleep_ms(self, ms):
        self.world.advance_to(self.world.now_ms + ms)

    def sleep_us(self, us):
        self.us += us
        if self.us >= 1000:
            self.world.advance_to(self.world.now_ms + self.us // 1000)
            self.us %= 1000

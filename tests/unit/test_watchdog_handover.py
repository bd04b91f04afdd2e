"""After `repl` the main loop no longer feeds the ESP32's watchdog, which cannot be stopped:
hal.DeviceBoard hands it to a hardware timer for a bounded time (firmware/hal.py)."""
import hal


class FakeTimer:
    PERIODIC = 1
    made = []

    def __init__(self, n):
        FakeTimer.made.append(self)
        self.callback = None
        self.period = None
        self.stopped = False

    def init(self, period, mode, callback):
        self.period = period
        self.callback = callback

    def deinit(self):
        self.stopped = True


class FakeMachine:
    Timer = FakeTimer


class FakeWdt:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


def test_fed_every_10_s_for_the_time_given_then_left_to_reset():
    m = FakeMachine()
    board = hal.DeviceBoard(m)
    wdt = FakeWdt()
    board.hand_over_watchdog(wdt, 15 * 60 * 1000)
    t = FakeTimer.made[-1]
    assert t.period == 10000 and wdt.feeds == 1
    ticks = 0
    while not t.stopped and ticks < 1000:
        t.callback(t)
        ticks += 1
    assert wdt.feeds == 1 + 90  # 15 minutes of 10 s feeds, never a 120 s gap
    assert t.stopped and ticks == 91  # then nobody feeds it: the meter resets into service

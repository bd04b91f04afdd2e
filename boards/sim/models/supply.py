"""Power supply and watchdog: the two things that can stop the MCU from outside the firmware.

`PowerLoss` and `WatchdogReset` derive from BaseException so no `except Exception` in firmware
can swallow them; the simulator's boot code catches them and ends the process the way the
real event ends the CPU.
"""


class PowerLoss(BaseException):
    pass


class WatchdogReset(BaseException):
    pass


class Supply:
    """Mains to the meter's own power supply; a brown-out follows mains loss after the hold-up."""

    HOLDUP_MS = 40  # bulk capacitor keeps the MCU alive this long after mains-sense drops

    def __init__(self, world, sense_pin):
        self.world = world
        self.sense_pin = sense_pin
        self.mains = True
        self.brownout_at = None
        world.drive_from(sense_pin, lambda: 1 if self.mains else 0)
        world.sleepers.append(self)

    def cut(self):
        self.mains = False
        self.brownout_at = self.world.now_ms + self.HOLDUP_MS
        self.world.inputs_changed()

    def next_event_ms(self):
        return self.brownout_at

    def run_event(self, now_ms):
        raise PowerLoss()


class Watchdog:
    """Task watchdog: not fed within the timeout of virtual time, it resets the MCU."""

    def __init__(self, world):
        self.world = world
        self.timeout = None
        self.deadline = None
        world.sleepers.append(self)

    def start(self, timeout_ms):
        self.timeout = timeout_ms
        self.feed()

    def feed(self):
        if self.timeout is not None:
            self.deadline = self.world.now_ms + self.timeout

    def next_event_ms(self):
        return self.deadline

    def run_event(self, now_ms):
        raise WatchdogReset()

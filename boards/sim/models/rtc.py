"""Battery-backed real-time clock chip, plus the MCU's RTC RAM.

The clock counts whole seconds from when it was set, on mains or battery. Without a battery it
restarts at 2000-01-01 00:00:00 when power returns, as an unset RTC does. The RTC RAM keeps its
contents across resets (watchdog, soft reset) but not across a power cut, like ESP32 RTC memory.
"""
import civiltime

MEMORY_SIZE = 2048


class RTCChip:
    def __init__(self, world, seconds=None, memory=b""):
        self.world = world
        self._base_s = 0 if seconds is None else seconds
        self._base_ms = world.now_ms
        self._mem = bytes(memory[:MEMORY_SIZE])
        self.writes = 0
        # where the RAM's contents live between MCU resets: the bench's reset button kills the
        # simulator process, so every write goes to this file (None: kept in memory only)
        self.memory_path = None

    def seconds(self):
        return self._base_s + (self.world.now_ms - self._base_ms) // 1000

    def set_seconds(self, secs):
        self._base_s = secs
        self._base_ms = self.world.now_ms

    def datetime(self):
        y, m, d, hh, mm, ss, wd = civiltime.civil(self.seconds())
        return (y, m, d, wd, hh, mm, ss, 0)

    def set_datetime(self, dt):
        y, m, d, _wd, hh, mm, ss = dt[:7]
        self.set_seconds(civiltime.seconds(y, m, d, hh, mm, ss))

    def memory(self):
        return self._mem

    def set_memory(self, data):
        if len(data) > MEMORY_SIZE:
            raise ValueError("RTC memory holds %d bytes" % MEMORY_SIZE)
        self._mem = bytes(data)
        self.writes += 1
        if self.memory_path:
            with open(self.memory_path, "wb") as f:
                f.write(self._mem)

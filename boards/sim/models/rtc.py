"""The ESP32's own RTC: a clock with no battery, and the RTC RAM.

The clock keeps counting across MCU resets (watchdog, reset button, soft reset) but restarts at
2000-01-01 00:00:00 whenever the power returns, as the real one does. It counts at the same rate
as the board's DS3231, so it is kept as an offset from that chip's count (written to
`offset_path` on every change, so it survives the simulator's restart on a reset).

The RTC RAM keeps its contents across resets but not across a power cut, like ESP32 RTC memory.
"""
import civiltime

MEMORY_SIZE = 2048


class McuRtc:
    def __init__(self, world, chip, power_on=True, memory=b"", offset_path=None):
        self.world = world
        self.chip = chip
        self.offset_path = offset_path
        self._mem = bytes(memory[:MEMORY_SIZE])
        self.writes = 0
        # where the RAM's contents live between MCU resets: the bench's reset button kills the
        # simulator process, so every write goes to this file (None: kept in memory only)
        self.memory_path = None
        offset = None if power_on else self._load()
        if offset is None:
            offset = -chip.seconds()  # power returned: the clock starts again at 2000-01-01
        self._set_offset(offset)
        self.at_boot = self.seconds()  # what the firmware found when the MCU started
        chip.on_set = self._chip_set

    def _load(self):
        if not self.offset_path:
            return None
        try:
            with open(self.offset_path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _set_offset(self, offset):
        self._offset = offset
        if self.offset_path:
            with open(self.offset_path, "w") as f:
                f.write(str(offset))

    def _chip_set(self, old, new):
        self._set_offset(self._offset + old - new)  # this clock does not move with the chip's

    def seconds(self):
        return self.chip.seconds() + self._offset

    def set_seconds(self, secs):
        self._set_offset(secs - self.chip.seconds())

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

"""DS3231 battery-backed RTC model at I2C register level (address 0x68).

What the chip does that a driver can see (Maxim DS3231 datasheet):
- Registers 00h-12h, one register pointer: a write sets the pointer with its first byte and
  writes the rest with auto-increment; a read continues from the pointer; the pointer wraps
  from 12h to 00h. Time registers are BCD; the time is latched at the START of a read.
- Writing the seconds register restarts the one-second countdown.
- Control 0Eh powers up as 1Ch; /EOSC (bit 7) set stops the oscillator once on battery.
- Status 0Fh: OSF (bit 7) is set when the oscillator stopped (first power, no battery during a
  power cut, /EOSC on battery) and stays set until written 0; writing 1 does not set it.
- Power-up without a valid time: 2000-01-01 00:00:00 and OSF set.

The time survives the simulator's restarts the way the coin cell keeps it: the bench passes the
seconds the chip counted (or None when the battery was out during a cut) at every power-up; the
other registers (control, status, aging) are written to `state_path` on every change.
"""
import civiltime

_TIME_REGS = 7
_NREGS = 0x13
_CONTROL = 0x0E
_STATUS = 0x0F
_AGING = 0x10
_OSF = 0x80
_EOSC = 0x80
_STATUS_CLEAR_ONLY = 0x83  # OSF, A2F, A1F: a write can only clear them
_STATUS_WRITABLE = 0x08  # EN32kHz


def _bcd(b):
    return (b >> 4) * 10 + (b & 0x0F)


def _to_bcd(n):
    return ((n // 10) << 4) | (n % 10)


class DS3231Model:
    def __init__(self, world, bus_id, addr, seconds=None, state_path=None):
        self.world = world
        self.state_path = state_path
        self.regs = bytearray(_NREGS)
        self.regs[_CONTROL] = 0x1C
        self.regs[_STATUS] = 0x88  # OSF | EN32kHz: power applied for the first time
        self.regs[0x11] = 25  # 25.00 degrees C
        self.ptr = 0
        self.writes = 0
        self.on_set = None  # told (old, new seconds) when the time is set: the MCU's own RTC
        if seconds is not None:
            saved = self._load()
            if saved is not None:
                self.regs[_CONTROL], self.regs[_STATUS], self.regs[_AGING] = saved
                if self.regs[_CONTROL] & _EOSC:
                    self.regs[_STATUS] |= _OSF  # the oscillator stopped while on battery
            else:
                self.regs[_STATUS] = 0x08  # a fresh chip set at the factory: valid time
        self._base_s = 0 if seconds is None else seconds
        self._base_ms = world.now_ms
        self._save()
        world.attach_i2c(bus_id, addr, self)

    # -- persistence of the non-time registers (the coin cell keeps them) ---------------------
    def _load(self):
        if not self.state_path:
            return None
        try:
            with open(self.state_path, "rb") as f:
                b = f.read()
        except OSError:
            return None
        return (b[0], b[1], b[2]) if len(b) == 3 else None

    def _save(self):
        if self.state_path:
            with open(self.state_path, "wb") as f:
                f.write(bytes((self.regs[_CONTROL], self.regs[_STATUS], self.regs[_AGING])))

    # -- time -----------------------------------------------------------------------------------
    def seconds(self):
        return self._base_s + (self.world.now_ms - self._base_ms) // 1000

    def lost(self):
        return bool(self.regs[_STATUS] & _OSF)

    def set_seconds(self, secs):
        """The bench's (factory programmer's) setting: a valid time, OSF cleared."""
        old = self.seconds()
        self._base_s = secs
        self._base_ms = self.world.now_ms
        self.regs[_STATUS] &= ~_OSF & 0xFF
        self._save()
        if self.on_set:
            self.on_set(old, secs)

    def _latch(self):
        y, mo, d, hh, mm, ss, wd = civiltime.civil(self.seconds())
        r = self.regs
        r[0] = _to_bcd(ss)
        r[1] = _to_bcd(mm)
        r[2] = _to_bcd(hh)
        r[3] = wd + 1
        r[4] = _to_bcd(d)
        r[5] = _to_bcd(mo) | (0x80 if y >= 2100 else 0)
        r[6] = _to_bcd(y % 100)

    def _unlatch(self, reset_countdown):
        r = self.regs
        h = r[2]
        hh = (_bcd(h & 0x1F) % 12 + (12 if h & 0x20 else 0)) if h & 0x40 else _bcd(h & 0x3F)
        y = 2000 + _bcd(r[6]) + (100 if r[5] & 0x80 else 0)
        secs = civiltime.seconds(y, _bcd(r[5] & 0x1F), _bcd(r[4]), hh, _bcd(r[1]), _bcd(r[0] & 0x7F))
        now = self.world.now_ms
        old = self.seconds()
        phase = 0 if reset_countdown else (now - self._base_ms) % 1000
        self._base_s = secs
        self._base_ms = now - phase
        if self.on_set:
            self.on_set(old, secs)

    # -- I2C ------------------------------------------------------------------------------------
    def i2c_write(self, data):
        if not data:
            return
        self.ptr = data[0] % _NREGS
        if len(data) == 1:
            return
        self._latch()
        time_written = False
        seconds_written = False
        others = False
        for b in data[1:]:
            p = self.ptr
            if p < _TIME_REGS:
                self.regs[p] = b
                time_written = True
                if p == 0:
                    seconds_written = True
            elif p == _STATUS:
                r = self.regs[_STATUS]
                r = (r & ~_STATUS_CLEAR_ONLY & ~_STATUS_WRITABLE) | (r & b & _STATUS_CLEAR_ONLY) | (b & _STATUS_WRITABLE)
                self.regs[_STATUS] = r & 0xFF
                others = True
            elif p in (0x11, 0x12):
                pass  # temperature: read-only
            else:
                self.regs[p] = b
                others = True
            self.ptr = (p + 1) % _NREGS
            self.writes += 1
        if time_written:
            self._unlatch(seconds_written)
        if others:
            self._save()

    def i2c_read(self, n):
        self._latch()  # the user buffers take the time at the START
        out = bytearray(n)
        for i in range(n):
            out[i] = self.regs[self.ptr]
            self.ptr = (self.ptr + 1) % _NREGS
        return bytes(out)

"""DS3231 battery-backed real-time clock (TCXO, +-2 ppm) on I2C, address 0x68.

Why: the ESP32's own RTC has no battery; it restarts at 2000-01-01 after every power cut, and a
meter without the date bills nothing and never disconnects. The DS3231 keeps counting on its
coin cell while the mains is off.

Registers (Maxim DS3231 datasheet, "Timekeeping Registers"), BCD unless noted:

    00h seconds   00-59              04h date     01-31
    01h minutes   00-59              05h month    01-12, bit 7 CENTURY (year 99 -> 00 toggles it)
    02h hours     bit 6 12/24 (1 = 12-hour, then bit 5 PM), 24-hour: 00-23
    03h day       1-7 (user-defined, sequential: here 1 = Monday)
    06h year      00-99
    0Eh control   bit 7 /EOSC (1 stops the oscillator on battery), bit 2 INTCN; power-on 1Ch
    0Fh status    bit 7 OSF: the oscillator stopped (first power, battery flat or missing,
                  /EOSC on battery): the time is invalid until it is set and OSF written to 0
                  bit 3 EN32kHz, bit 2 BSY, bits 1..0 alarm flags
    11h/12h       temperature, MSB signed degrees C, bits 7..6 of 12h quarter degrees

A read is latched at the I2C START, so one burst read of 00h-06h is one consistent instant.
Writing the seconds register restarts the one-second countdown.

    DS3231(i2c, addr=0x68)   checks the chip (OSError(ENODEV) if nothing answers or the register
                             file is not a DS3231's), leaves the oscillator running on battery
    lost()                   -> True if OSF is set: the time is not to be trusted
    datetime()               -> (year, month, day, weekday 0=Mon, hh, mm, ss) or None when lost()
    set_datetime(y, mo, d, wd, hh, mm, ss)   writes the time, then clears OSF
    temperature_q()          -> die temperature in quarter degrees C (int)

All traffic goes through _read_reg/_write_reg (buffers allocated once).
"""
from errno import ENODEV

from drivers import const


ADDR = const(0x68)
_SECONDS = const(0x00)
_CONTROL = const(0x0E)
_STATUS = const(0x0F)
_TEMP_MSB = const(0x11)
_REGS = const(0x13)  # 00h..12h

_EOSC = const(0x80)  # control: oscillator off on battery
_OSF = const(0x80)  # status: oscillator stopped
_CENTURY = const(0x80)
_H12 = const(0x40)
_PM = const(0x20)

# bits that read 0 on a DS3231 in every state: a register file with one of them set is not ours
_ZERO_BITS = ((0x00, 0x80), (0x01, 0x80), (0x03, 0xF8), (0x04, 0xC0), (0x05, 0x60), (0x0F, 0x70),
              (0x12, 0x3F))


def _bcd(b):
    return (b >> 4) * 10 + (b & 0x0F)


def _to_bcd(n):
    return ((n // 10) << 4) | (n % 10)


class DS3231:
    def __init__(self, i2c, addr=ADDR):
        self._i2c = i2c
        self._addr = addr
        self._one = bytearray(1)
        self._time = bytearray(7)
        self._wbuf = bytearray(8)
        regs = bytearray(_REGS)
        self._read_reg(_SECONDS, regs)  # OSError(ENODEV) from the bus when nothing answers
        for reg, mask in _ZERO_BITS:
            if regs[reg] & mask:
                raise OSError(ENODEV)  # something else answers at this address
        if regs[_CONTROL] & _EOSC:
            self._write_byte(_CONTROL, regs[_CONTROL] & ~_EOSC)  # keep counting on the battery

    # -- bus ------------------------------------------------------------------------------------
    def _read_reg(self, reg, buf):
        self._i2c.readfrom_mem_into(self._addr, reg, buf)

    def _write_reg(self, reg, data):
        self._i2c.writeto_mem(self._addr, reg, data)

    def _read_byte(self, reg):
        self._read_reg(reg, self._one)
        return self._one[0]

    def _write_byte(self, reg, value):
        self._one[0] = value & 0xFF
        self._write_reg(reg, self._one)

    # -- clock ----------------------------------------------------------------------------------
    def lost(self):
        return bool(self._read_byte(_STATUS) & _OSF)

    def datetime(self):
        if self.lost():
            return None
        t = self._time
        self._read_reg(_SECONDS, t)
        h = t[2]
        if h & _H12:  # 12-hour mode (never set by this driver, but honoured)
            hh = _bcd(h & 0x1F) % 12 + (12 if h & _PM else 0)
        else:
            hh = _bcd(h & 0x3F)
        year = 2000 + _bcd(t[6]) + (100 if t[5] & _CENTURY else 0)
        return (year, _bcd(t[5] & 0x1F), _bcd(t[4]), (t[3] - 1) % 7, hh, _bcd(t[1]), _bcd(t[0] & 0x7F))

    def set_datetime(self, year, month, day, weekday, hh, mm, ss):
        if not 2000 <= year <= 2199:
            raise ValueError("year out of the DS3231's range")
        w = self._wbuf
        yy = year - 2000
        w[0] = _to_bcd(ss)
        w[1] = _to_bcd(mm)
        w[2] = _to_bcd(hh)  # 24-hour mode
        w[3] = weekday % 7 + 1
        w[4] = _to_bcd(day)
        w[5] = _to_bcd(month) | (_CENTURY if yy >= 100 else 0)
        w[6] = _to_bcd(yy % 100)
        self._write_reg(_SECONDS, memoryview(w)[:7])
        status = self._read_byte(_STATUS)
        self._write_byte(_STATUS, status & ~_OSF)  # the time is valid from now on

    def temperature_q(self):
        t = self._time
        mv = memoryview(t)[:2]
        self._read_reg(_TEMP_MSB, mv)
        msb = t[0] - 256 if t[0] & 0x80 else t[0]
        return msb * 4 + (t[1] >> 6)

"""PCF8574 8-bit I2C port expander, offered as eight Pin-like objects (the keypad's lines).

Why: the ESP32 has too few free GPIOs for a 4x4 matrix keypad next to the metering IC, two relay
coils, three UARTs and the tamper inputs; behind an expander on the existing I2C bus the keypad
costs one interrupt pin instead of eight. `drivers/keypad.py` scans `ExpanderPin`s exactly as it
scans `machine.Pin`s.

Chip (NXP PCF8574 datasheet): one quasi-bidirectional port, no registers. Writing one byte sets
the port latch: a 0 bit pulls that line low (strong), a 1 bit leaves it to a weak ~100 uA
current source, so a line latched 1 is also an input with a pull-up. Reading one byte returns
the levels on the eight lines. The open-drain /INT output goes low when an input line changes
from the level last read or written and is released by the next read or write of the port.

    PCF8574(i2c, addr, int_pin=None)   int_pin: machine.Pin wired to /INT (board pull-up)
    pin(n) -> ExpanderPin              n = 0..7 (P0..P7)
    read_port() / write_port(byte)     all bus traffic goes through these two

ExpanderPin has the subset of machine.Pin the keypad uses: init(mode, pull, value), value([v]),
irq(handler, trigger) (every line shares the chip's /INT: a handler set on any of them fires on
an /INT falling edge, None on all of them switches the interrupt off).
A missing chip raises OSError(ENODEV) from the bus at construction (the latch is written once).
"""
from drivers import const


_ALL_HIGH = const(0xFF)  # power-on latch: every line a weak-pull-up input


class PCF8574:
    def __init__(self, i2c, addr, int_pin=None):
        self._i2c = i2c
        self._addr = addr
        self._latch = _ALL_HIGH
        self._buf = bytearray(1)
        self._int = int_pin
        self._handlers = [None] * 8
        self.write_port(_ALL_HIGH)
        self._pins = tuple(ExpanderPin(self, n) for n in range(8))

    def pin(self, n):
        return self._pins[n]

    def read_port(self):
        self._i2c.readfrom_into(self._addr, self._buf)
        return self._buf[0]

    def write_port(self, value):
        self._latch = value & 0xFF
        self._buf[0] = self._latch
        self._i2c.writeto(self._addr, self._buf)

    def _set_bit(self, n, level):
        mask = 1 << n
        v = (self._latch | mask) if level else (self._latch & ~mask)
        if v != self._latch:
            self.write_port(v)

    def _set_irq(self, n, handler, trigger):
        self._handlers[n] = handler
        first = None
        for h in self._handlers:
            if h is not None:
                first = h
                break
        if self._int is not None:
            self._int.irq(handler=first, trigger=trigger if first is not None else 0)


class ExpanderPin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    IRQ_FALLING = 1
    IRQ_RISING = 2

    def __init__(self, chip, n):
        self._chip = chip
        self._n = n

    def init(self, mode=-1, pull=-1, value=None):
        if value is not None:
            self._chip._set_bit(self._n, value)
        elif mode == self.IN:
            self._chip._set_bit(self._n, 1)  # quasi-bidirectional: an input is a latched 1

    def value(self, v=None):
        if v is None:
            return (self._chip.read_port() >> self._n) & 1
        self._chip._set_bit(self._n, 1 if v else 0)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def irq(self, handler=None, trigger=IRQ_FALLING):
        self._chip._set_irq(self._n, handler, trigger)

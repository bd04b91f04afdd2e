"""The `machine` module of the simulated board: MicroPython's classes, wired to device models.

It shadows the unix port's built-in `machine` (it is first on MICROPYPATH), so board and driver
code written for ESP32 runs unchanged. Behaviour follows the real port where a driver could tell
the difference: a missing I2C address raises OSError(ENODEV), SPI chips answer only when their
chip select is low and the bus mode matches, UART bytes arrive at the line rate.
"""
from world import world

ENODEV = 19
_pins = {}


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 1
    IRQ_RISING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self._net = world.net(id)
        _pins[id] = self
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None):
        if pull == Pin.PULL_UP:
            self._net.pull = 1
        elif pull == Pin.PULL_DOWN:
            self._net.pull = 0
        if mode == Pin.IN:
            self._set(None)
        if value is not None:
            self._set(1 if value else 0)
        elif mode in (Pin.OUT, Pin.OPEN_DRAIN) and self._net.driven is None:
            self._set(0)

    def _set(self, level):
        n = self._net
        if n.driven == level:
            return
        n.driven = level
        if level is not None:
            for fn in n.watchers:
                fn(level)

    def value(self, v=None):
        if v is None:
            return self._net.level()
        self._set(1 if v else 0)

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self._set(1)

    def off(self):
        self._set(0)

    def irq(self, handler=None, trigger=3, hard=False):
        n = self._net
        n.irq = handler
        n.trigger = trigger
        n.last = n.level()


def _floating(b):
    return 0xFF


def _wrong_edge(b):
    return (b * 0x5B + 0x3C) & 0xFF  # sampled on the wrong edge: shifted garbage


class SPI:
    MSB = 0

    def __init__(self, id, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=0, sck=None, mosi=None, miso=None):
        self.id = id
        self.init(baudrate, polarity, phase)

    def init(self, baudrate=1000000, polarity=0, phase=0, **kw):
        self.baudrate = baudrate
        self.mode = (polarity << 1) | phase

    def _device(self):
        """The exchange function for this transfer: chip select cannot change inside one call."""
        dev = world.spi_selected(self.id)
        if dev is None:
            return _floating  # MISO floats high with nobody driving it
        if getattr(dev, "SPI_MODE", self.mode) != self.mode:
            return _wrong_edge
        return dev.spi_exchange

    def _xfer(self, b):
        return self._device()(b) & 0xFF

    def write(self, buf):
        x = self._device()
        for b in buf:
            x(b)

    def read(self, n, write=0):
        x = self._device()
        return bytes(x(write) & 0xFF for _ in range(n))

    def readinto(self, buf, write=0):
        x = self._device()
        for i in range(len(buf)):
            buf[i] = x(write) & 0xFF

    def write_readinto(self, out, into):
        x = self._device()
        for i in range(len(out)):
            into[i] = x(out[i]) & 0xFF

    def deinit(self):
        pass


class SoftSPI(SPI):
    pass


class I2C:
    def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = id
        self.freq = freq

    def _dev(self, addr):
        dev = world.i2c.get(self.id, {}).get(addr)
        if dev is None:
            raise OSError(ENODEV)
        return dev

    def scan(self):
        return sorted(world.i2c.get(self.id, {}).keys())

    def writeto(self, addr, buf, stop=True):
        self._dev(addr).i2c_write(bytes(buf))
        return len(buf) + 1

    def writevto(self, addr, vector, stop=True):
        data = b"".join(bytes(v) for v in vector)
        return self.writeto(addr, data, stop)

    def readfrom(self, addr, nbytes, stop=True):
        return bytes(self._dev(addr).i2c_read(nbytes))

    def readfrom_into(self, addr, buf, stop=True):
        data = self.readfrom(addr, len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self.writeto(addr, bytes([memaddr]) + bytes(buf))

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        self.writeto(addr, bytes([memaddr]), False)
        return self.readfrom(addr, nbytes)

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self.writeto(addr, bytes([memaddr]), False)
        self.readfrom_into(addr, buf)


class SoftI2C(I2C):
    pass


class UART:
    def __init__(self, id, baudrate=9600, bits=8, parity=None, stop=1, tx=None, rx=None, timeout=0, **kw):
        self.id = id
        self.init(baudrate, bits, parity, stop, timeout=timeout)

    def init(self, baudrate=9600, bits=8, parity=None, stop=1, timeout=0, **kw):
        self.baudrate = baudrate
        self.timeout = timeout

    def write(self, buf):
        dev = world.uart_models.get(self.id)
        if dev is not None:
            dev.uart_receive(bytes(buf), self.baudrate)
        return len(buf)

    def any(self):
        return world.uart_pending(self.id)

    def read(self, n=-1):
        if n is None or n < 0:
            n = 1 << 16
        if world.uart_pending(self.id) < n and self.timeout:
            # a blocking read waits on the line (virtual time) up to the timeout
            end = world.now_ms + self.timeout
            while world.now_ms < end and world.uart_pending(self.id) < n:
                world.busy_to(end)
        data = world.uart_take(self.id, n)
        return bytes(data) if data else None

    def readinto(self, buf, nbytes=None):
        n = len(buf) if nbytes is None else nbytes
        data = self.read(n)
        if not data:
            return None
        for i in range(len(data)):
            buf[i] = data[i]
        return len(data)

    def flush(self):
        pass


class RTC:
    """The ESP32's own RTC, with no battery (boards/sim/models/rtc.py): its clock restarts at
    2000-01-01 at every power-up, its RAM survives resets but not power cuts."""

    def datetime(self, dt=None):
        if dt is None:
            return world.mcu_rtc.datetime()
        world.mcu_rtc.set_datetime(dt)

    def memory(self, data=None):
        if data is None:
            return world.mcu_rtc.memory()
        world.mcu_rtc.set_memory(data)


class WDT:
    def __init__(self, id=0, timeout=5000):
        world.watchdog.start(timeout)

    def feed(self):
        world.watchdog.feed()


def reset():
    raise SystemExit(3)  # the simulator restarts the process: a hard reset


def soft_reset():
    raise SystemExit(0)


def idle():
    pass


def freq(hz=None):
    return 240000000


def unique_id():
    return b"\x24\x0a\xc4\x00\x51\x3d"

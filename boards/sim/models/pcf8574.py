"""PCF8574 I2C port expander model: eight quasi-bidirectional lines and the /INT output.

The lines are nets of the simulated world named `<prefix>0`..`<prefix>7`, so a device model
(the keypad matrix) wires to them exactly as it wires to MCU pins. A latched 0 drives the net
low; a latched 1 leaves it to the weak pull-up (what other models drive decides the level).
A read returns the eight levels. /INT (open-drain, on an MCU pin with a pull-up) is low while
any line differs from the levels at the last port read or write, as on the chip.
"""


class PCF8574Model:
    def __init__(self, world, bus_id, addr, int_pin, prefix="X"):
        self.world = world
        self.names = tuple("%s%d" % (prefix, n) for n in range(8))
        self.latch = 0xFF
        self.reads = 0
        self.writes = 0
        for name in self.names:
            world.net(name).pull = 1
        self._snap = self._levels()
        self.int_pin = int_pin
        if int_pin is not None:
            world.net(int_pin).pull = 1
            world.drive_from(int_pin, self._int_level)
        world.attach_i2c(bus_id, addr, self)

    def _levels(self):
        v = 0
        for n, name in enumerate(self.names):
            if self.world.net(name).level():
                v |= 1 << n
        return v

    def _int_level(self):
        return 0 if self._levels() != self._snap else None

    def i2c_write(self, data):
        for b in data:
            self.writes += 1
            self.latch = b
            for n, name in enumerate(self.names):
                self.world.net(name).driven = None if (b >> n) & 1 else 0
        self._snap = self._levels()
        self.world.inputs_changed()

    def i2c_read(self, n):
        self.reads += 1
        v = self._levels()
        self._snap = v
        self.world.inputs_changed()
        return bytes([v] * n)

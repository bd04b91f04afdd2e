"""A 16x2 HD44780 character LCD on a PCF8574 I2C backpack.

`PCF8574` part: every byte the MCU writes sets the 8 quasi-bidirectional pins (power-on: all
high); a read returns the pin levels (a pin written 1 is a weak pull-up the LCD can pull low).
`HD44780` part: decodes the pins the expander drives. A falling edge of E with R/W low latches
the data pins: 8-bit interface after power-on (D0-D3 are not wired on the backpack: they read 0),
two nibbles per byte, high first, after a function set with DL=0. It executes the instruction
set with the DDRAM layout of the real part (line 1 at 0x00-0x27, line 2 at 0x40-0x67 in 2-line
mode; one 80-character line in 1-line mode), CGRAM glyphs, entry mode, display and cursor shift.
Reads (R/W high) return the busy flag and address counter (RS low) or RAM data (RS high).

Timing, in the world's whole milliseconds: the chip ignores everything for 40 ms after power-on,
the first instruction after power-on keeps it busy 4.1 ms, clear and home 1.52 ms; an
instruction completed while busy is dropped (counted in `ignored`). Shorter execution times
(37-43 us) cannot be told apart at 1 ms resolution and are not checked. RS or R/W changing in
the same expander write that raises E violates the address set-up time: counted in
`setup_violations` (the byte is still taken).

`text()` returns what a person reading the glass sees: blank rows while the display is off or
the chip not initialised, one row in 1-line mode; A00 ROM characters as Unicode (0x5C is a yen
sign, 0x7E/0x7F arrows, 0xDF a degree sign), CGRAM codes as chr(0..7) (see `glyph(code)`, or
pass `glyph_chars={rows_tuple: "char"}` to render known glyphs as a character).
"""

# PCF8574 bit numbers of (RS, RW, E, backlight, D4, D5, D6, D7): the common backpack wiring.
PCF8574_PINS = (0, 1, 2, 3, 4, 5, 6, 7)

POWER_ON_MS = 40
FIRST_US = 4100
CLEAR_US = 1520

_ROM = {0x5C: "\u00a5", 0x7E: "\u2192", 0x7F: "\u2190", 0xDF: "\u00b0"}


def _rom_char(code):
    if code < 0x10:
        return chr(code & 7)  # CGRAM (0x08-0x0F mirror 0x00-0x07)
    if code < 0x20:
        return " "  # blank in the A00 ROM
    c = _ROM.get(code)
    return c if c is not None else chr(code)


class LCDModel:
    """PCF8574 + HD44780 attached to I2C bus `i2c_bus_id` at `addr`."""

    def __init__(self, world, i2c_bus_id, addr=0x27, cols=16, rows=2, pins=PCF8574_PINS):
        self.world = world
        self.cols = cols
        self.rows = rows
        rs, rw, e, bl, d4, d5, d6, d7 = pins
        self._rs = 1 << rs
        self._rw = 1 << rw
        self._e = 1 << e
        self._bl = 1 << bl
        self._d = (1 << d4, 1 << d5, 1 << d6, 1 << d7)
        self.i2c_writes = 0
        self.i2c_bytes = 0
        self.setup_violations = 0
        self.power_on()
        world.attach_i2c(i2c_bus_id, addr, self)

    def power_on(self):
        """Vcc rises now: expander pins all high, the chip in its reset state."""
        self.latch = 0xFF
        self.powered_ms = self.world.now_ms
        self.eight_bit = True
        self.two_lines = False
        self.font_5x10 = False
        self.display_on = False
        self.cursor_on = False
        self.blink_on = False
        self.increment = True
        self.entry_shift = False
        self.ac = 0
        self.in_cgram = False
        self.shift = 0  # display shift: visible column 0 shows DDRAM offset `shift`
        self.ddram = bytearray(b" " * 128)
        self.cgram = bytearray(64)
        self.instructions = 0  # instructions and data writes executed
        self.ignored = 0  # dropped: power-on period or busy
        self._phase = 0  # 4-bit mode: 0 = next strobe is a high nibble
        self._hi = 0
        self._read_val = 0
        self._t_exec = None
        self._busy_us = 0

    # -- I2C (PCF8574) ---------------------------------------------------------------------
    def i2c_write(self, data):
        self.i2c_writes += 1
        self.i2c_bytes += len(data)
        for b in data:
            self._pins(b)

    def i2c_read(self, n):
        return bytes([self.pin_levels()] * n)

    def pin_levels(self):
        v = self.latch
        if v & self._rw and v & self._e:  # the LCD drives D4-D7 during a read
            nib = self._read_nibble()
            for i in range(4):
                if not (nib >> i) & 1:
                    v &= ~self._d[i]
        return v

    def backlight(self):
        return bool(self.latch & self._bl)

    # -- HD44780 interface -----------------------------------------------------------------
    def _pins(self, new):
        old = self.latch
        self.latch = new
        e = self._e
        if new & e and not old & e:  # E rises
            if (old ^ new) & (self._rs | self._rw):
                self.setup_violations += 1
            if new & self._rw:
                self._start_read(new)
        elif old & e and not new & e:  # E falls: the strobe
            self._strobe(old)

    def _nibble_of(self, v):
        d = self._d
        return (1 if v & d[0] else 0) | (2 if v & d[1] else 0) | (4 if v & d[2] else 0) | (8 if v & d[3] else 0)

    def _awake(self):
        return self.world.now_ms - self.powered_ms >= POWER_ON_MS

    def _busy(self):
        if self._t_exec is None or not self._busy_us:
            return False
        return (self.world.now_ms - self._t_exec) * 1000 < self._busy_us

    def _strobe(self, pins):
        if not self._awake():
            if not pins & self._rw:
                self.ignored += 1
            return
        rs = bool(pins & self._rs)
        nib = self._nibble_of(pins)
        if pins & self._rw:
            self._end_read(rs)
            return
        if self.eight_bit:
            self._execute(nib << 4, rs)  # D0-D3 not connected
        elif self._phase == 0:
            self._hi = nib
            self._phase = 1
        else:
            self._phase = 0
            self._execute((self._hi << 4) | nib, rs)

    def _start_read(self, pins):
        if not self._awake() or (not self.eight_bit and self._phase == 1):
            return
        if pins & self._rs:
            self._read_val = self._ram()[self._ram_index()]
        else:
            self._read_val = (0x80 if self._busy() else 0) | (self.ac & 0x7F)

    def _read_nibble(self):
        if self.eight_bit or self._phase == 0:
            return self._read_val >> 4
        return self._read_val & 0x0F

    def _end_read(self, rs):
        if not self.eight_bit:
            self._phase ^= 1
            if self._phase:
                return
        if rs:
            self._step_ac()

    # -- instruction set -------------------------------------------------------------------
    def _execute(self, b, rs):
        if self._busy():
            self.ignored += 1
            return
        us = 0
        if self.instructions == 0:
            us = FIRST_US  # the first function set of the init-by-instruction sequence
        self.instructions += 1
        if rs:
            self._ram()[self._ram_index()] = b
            self._step_ac()
            if self.entry_shift and not self.in_cgram:
                self.shift += 1 if self.increment else -1
        elif b & 0x80:  # set DDRAM address
            self.in_cgram = False
            self.ac = b & 0x7F
        elif b & 0x40:  # set CGRAM address
            self.in_cgram = True
            self.ac = b & 0x3F
        elif b & 0x20:  # function set
            self.two_lines = bool(b & 0x08)
            self.font_5x10 = bool(b & 0x04) and not self.two_lines
            eight = bool(b & 0x10)
            if eight != self.eight_bit:
                self.eight_bit = eight
                self._phase = 0
        elif b & 0x10:  # cursor or display shift
            right = bool(b & 0x04)
            if b & 0x08:
                self.shift += -1 if right else 1
            else:
                saved = self.increment
                self.increment = right
                self._step_ac()
                self.increment = saved
        elif b & 0x08:  # display on/off control
            self.display_on = bool(b & 0x04)
            self.cursor_on = bool(b & 0x02)
            self.blink_on = bool(b & 0x01)
        elif b & 0x04:  # entry mode set
            self.increment = bool(b & 0x02)
            self.entry_shift = bool(b & 0x01)
        elif b & 0x02:  # return home
            self.ac = 0
            self.in_cgram = False
            self.shift = 0
            us = CLEAR_US
        elif b & 0x01:  # clear display
            for i in range(len(self.ddram)):
                self.ddram[i] = 0x20
            self.ac = 0
            self.in_cgram = False
            self.shift = 0
            self.increment = True
            us = CLEAR_US
        self._t_exec = self.world.now_ms
        self._busy_us = us if us >= 1000 else 0

    def _ram(self):
        return self.cgram if self.in_cgram else self.ddram

    def _ram_index(self):
        return self.ac & (0x3F if self.in_cgram else 0x7F)

    def _step_ac(self):
        a = self.ac
        if self.in_cgram:
            self.ac = (a + (1 if self.increment else -1)) & 0x3F
        elif self.two_lines:  # 0x00-0x27 and 0x40-0x67, each running into the other
            if self.increment:
                self.ac = 0x40 if a == 0x27 else 0x00 if a == 0x67 else (a + 1) & 0x7F
            else:
                self.ac = 0x27 if a == 0x40 else 0x67 if a == 0x00 else (a - 1) & 0x7F
        elif self.increment:
            self.ac = 0 if a >= 0x4F else a + 1
        else:
            self.ac = 0x4F if a == 0 else a - 1

    # -- what the bench and tests look at ----------------------------------------------------
    def text(self, glyph_chars=None):
        """The rows as a person sees them (blank while off)."""
        blank = " " * self.cols
        if not self.display_on or not self._awake():
            return [blank] * self.rows
        out = []
        for row in range(self.rows):
            if self.two_lines:
                if row > 1:
                    out.append(blank)
                    continue
                base, span = 0x40 * row, 40
            else:
                if row > 0:
                    out.append(blank)
                    continue
                base, span = 0, 80
            chars = []
            for col in range(self.cols):
                code = self.ddram[base + (col + self.shift) % span]
                ch = None
                if glyph_chars is not None and code < 0x10:
                    ch = glyph_chars.get(self.glyph(code))
                chars.append(ch if ch is not None else _rom_char(code))
            out.append("".join(chars))
        return out

    def glyph(self, code):
        """CGRAM character `code` (0-7, 8-15 mirror) as 8 row values, bit 4 = left column."""
        c = (code & 7) * 8
        return tuple(self.cgram[c + i] & 0x1F for i in range(8))

    def cursor(self):
        """(col, row) of the visible cursor in DDRAM terms, or None when hidden."""
        if not (self.display_on and (self.cursor_on or self.blink_on)) or self.in_cgram:
            return None
        return (self.ac & 0x3F, 1 if self.ac & 0x40 else 0)

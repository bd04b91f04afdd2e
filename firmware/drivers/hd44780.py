"""HD44780-compatible character LCD (16x2) behind a PCF8574 I2C expander, 4-bit mode.

The chip logic (init sequence, instructions, the shadow screen, custom glyphs, text mapping)
lives in `HD44780`, which calls a transport's `_byte(value, rs)`, `_nibble(n)`, `_flush()`
and `_set_backlight(on)`. `HD44780_PCF8574` is the transport of the usual backpack.

Traffic is kept low: the driver keeps a shadow of what the glass shows and `show()` sends only
the characters that changed (a DDRAM address command per changed run; a one-character gap is
rewritten rather than re-addressed), and everything one call produces goes out in a single I2C
write. The chip is never read: every wait is timed (datasheet maxima plus margin):

    power on -> first instruction   > 40 ms   (Vcc 2.7 V; 15 ms at 4.5 V)   we wait 50 ms
    1st 0x3 (8-bit function set)    > 4.1 ms                                 5 ms
    2nd 0x3                         > 100 us                                 150 us
    clear display, return home      1.52 ms                                  2 ms
    any other instruction / data    37 us / 41 us: covered by the I2C time, the next strobe is
                                    at least two expander bytes (>= 45 us at 400 kHz) later.

Text: printable ASCII maps to itself except '\\' and '~' (the A00 ROM shows them as a yen sign
and an arrow); characters 0x00-0x07 are the custom glyphs (constants below); a few Unicode
characters map to their ROM or glyph codes ('\u20b9' rupee, '\u00b0' degree, arrows); anything
else becomes '?'. Text calls never raise; I2C errors are counted, `ok` turns False and the
driver re-initialises the LCD (and redraws the shadow) every few `show()` calls until it answers.
"""
from drivers import const


# Instruction set (HD44780U datasheet, table 6)
_CLEAR = const(0x01)  # 1.52 ms; also sets I/D=1 and the display shift to 0
_HOME = const(0x02)  # 1.52 ms
_ENTRY = const(0x04)  # | _ENTRY_INC (I/D) | _ENTRY_SHIFT (S)
_ENTRY_INC = const(0x02)
_CONTROL = const(0x08)  # | _DISPLAY_ON (D) | _CURSOR_ON (C) | _BLINK_ON (B)
_DISPLAY_ON = const(0x04)
_CURSOR_ON = const(0x02)
_BLINK_ON = const(0x01)
_FUNCTION = const(0x20)  # | 0x10 (DL 8-bit) | _TWO_LINES (N) | 0x04 (F 5x10)
_TWO_LINES = const(0x08)
_SET_CGRAM = const(0x40)
_SET_DDRAM = const(0x80)

_POWER_ON_MS = const(50)
_WAKE1_MS = const(5)
_WAKE_US = const(150)
_CLEAR_MS = const(2)
_RETRY_EVERY = const(32)  # show() calls between re-init attempts while the LCD is not answering

_SPACE = const(0x20)
_QUESTION = const(0x3F)

# Custom glyphs (CGRAM codes 0-7; 5x8 dots, one byte per row, bit 4 = leftmost column).
RUPEE = "\x00"
RELAY_CLOSED = "\x01"  # supply connected: a closed switch
RELAY_OPEN = "\x02"  # supply disconnected: an open switch
SIGNAL = "\x03"  # link / signal bars
BELL = "\x04"  # alert (low credit)
# codes 5, 6, 7 are free: define_glyph(code, rows)

GLYPHS = (
    (0x1F, 0x02, 0x1F, 0x02, 0x1C, 0x08, 0x04, 0x02),  # RUPEE: two bars, bowl, diagonal leg
    (0x00, 0x00, 0x00, 0x01, 0x1F, 0x11, 0x00, 0x00),  # RELAY_CLOSED: lever down on both posts
    (0x00, 0x02, 0x04, 0x09, 0x11, 0x11, 0x00, 0x00),  # RELAY_OPEN: lever lifted off a post
    (0x01, 0x01, 0x05, 0x05, 0x15, 0x15, 0x15, 0x00),  # SIGNAL: three rising bars
    (0x04, 0x0E, 0x0E, 0x0E, 0x1F, 0x00, 0x04, 0x00),  # BELL: bell and clapper
)

# Unicode code point -> character code (glyph or A00 ROM)
_SPECIAL = {
    0x20B9: 0x00,  # rupee sign -> RUPEE glyph
    0x00B0: 0xDF,  # degree sign (ROM)
    0x2192: 0x7E,  # right arrow (ROM)
    0x2190: 0x7F,  # left arrow (ROM)
}

# PCF8574 bit numbers of (RS, RW, E, backlight, D4, D5, D6, D7): the common backpack wiring.
PCF8574_PINS = (0, 1, 2, 3, 4, 5, 6, 7)


def _code(o):
    """Character code for code point o."""
    if 0x20 <= o <= 0x7D and o != 0x5C:
        return o
    if o < 8:
        return o
    return _SPECIAL.get(o, _QUESTION)


class HD44780:
    """Chip logic; a transport subclass supplies _byte(), _nibble(), _flush(), _set_backlight()."""

    def __init__(self, clock, cols=16, rows=2):
        if clock is None:
            raise TypeError("clock required")
        if not 1 <= rows <= 4:
            raise ValueError("rows")
        self._clock = clock
        self.cols = cols
        self.rows = rows
        self._shadow = bytearray(cols * rows)  # character codes the glass shows
        self._line = bytearray(cols)  # scratch for encoding one call's text
        self._glyphs = list(GLYPHS) + [None] * (8 - len(GLYPHS))
        self._control = _DISPLAY_ON
        self._ac = -1  # DDRAM address in the chip's address counter, -1 unknown
        self._col = 0
        self._row = 0
        self._retry = 0
        self.ok = False
        self.errors = 0
        self.init()

    # -- chip setup -------------------------------------------------------------------------
    def init(self):
        """Initialise by instruction (datasheet figure 24); returns True if the LCD answered."""
        self.ok = True
        self._retry = 0
        self._idle()  # the expander's idle state: E low, RS low, backlight as set
        self._flush()
        if not self.ok:
            return False
        self._sleep_ms(_POWER_ON_MS)
        self._nibble(0x3)  # function set, 8-bit (the low nibble is not wired)
        self._sleep_ms(_WAKE1_MS)
        self._nibble(0x3)
        self._sleep_us(_WAKE_US)
        self._nibble(0x3)
        self._sleep_us(_WAKE_US)
        self._nibble(0x2)  # function set: 4-bit interface from the next strobe on
        self._sleep_us(_WAKE_US)
        for cmd in (
            _FUNCTION | (_TWO_LINES if self.rows > 1 else 0),  # 4-bit, 2 lines, 5x8 dots
            _CONTROL,  # display off
            _CLEAR,  # clear display
        ):
            self._byte(cmd, 0)
        self._sleep_ms(_CLEAR_MS)
        self._byte(_ENTRY | _ENTRY_INC, 0)  # entry mode: increment, no display shift
        for code in range(8):
            g = self._glyphs[code]
            if g is not None:
                self._load_glyph(code, g)
        self._byte(_SET_DDRAM, 0)
        self._byte(_CONTROL | self._control, 0)  # display on, cursor and blink as set
        self._flush()
        s = self._shadow
        for i in range(len(s)):
            s[i] = _SPACE
        self._ac = 0
        self._col = self._row = 0
        self._place_cursor()
        self._flush()
        return self.ok

    def reinit(self):
        """Re-run the init sequence and redraw what the shadow holds (after a glitch)."""
        old = bytes(self._shadow)
        col, row = self._col, self._row
        if not self.init():
            self._shadow[:] = old
            self._col, self._row = col, row
            return False
        cols = self.cols
        for r in range(self.rows):
            self._update(r, 0, old[r * cols:(r + 1) * cols], cols)
        self._col, self._row = col, row
        self._place_cursor()
        self._flush()
        return self.ok

    def _load_glyph(self, code, rows):
        self._byte(_SET_CGRAM | (code << 3), 0)
        for r in rows:
            self._byte(r & 0x1F, 1)
        self._ac = -1  # the address counter now points into CGRAM

    def define_glyph(self, code, rows):
        """Custom character `code` (0-7) from 8 row bytes (5 bits each, bit 4 = left)."""
        if not 0 <= code < 8:
            raise ValueError("glyph code 0-7")
        g = tuple(rows)[:8]
        g = g + (0,) * (8 - len(g))
        self._glyphs[code] = g
        self._load_glyph(code, g)
        self._place_cursor()
        self._flush()

    def glyph(self, code):
        return self._glyphs[code & 7]

    # -- switches ---------------------------------------------------------------------------
    def backlight(self, on=None):
        """Set the backlight; with no argument, return whether it is on."""
        if on is None:
            return self._backlight_on()
        self._set_backlight(bool(on))
        self._flush()

    def display(self, on):
        """Blank the glass (contents kept) or show it again."""
        if on:
            self._control |= _DISPLAY_ON
        else:
            self._control &= ~_DISPLAY_ON
        self._byte(_CONTROL | self._control, 0)
        self._flush()

    def cursor(self, show=False, blink=False):
        """Underline cursor and/or blinking block at the position set by move_to()/write()."""
        self._control = (self._control & _DISPLAY_ON) | (_CURSOR_ON if show else 0) | (_BLINK_ON if blink else 0)
        self._byte(_CONTROL | self._control, 0)
        self._place_cursor()
        self._flush()

    # -- text -------------------------------------------------------------------------------
    def clear(self):
        """Clear the glass with the clear instruction (waits 2 ms); cursor to 0,0."""
        self._byte(_CLEAR, 0)
        self._sleep_ms(_CLEAR_MS)
        s = self._shadow
        for i in range(len(s)):
            s[i] = _SPACE
        self._ac = 0
        self._col = self._row = 0
        self._place_cursor()
        self._flush()

    def move_to(self, col, row):
        self._col = min(max(col, 0), self.cols)
        self._row = min(max(row, 0), self.rows - 1)
        self._place_cursor()
        self._flush()

    def write(self, text):
        """Write at the cursor and advance it; text past the end of the row is dropped."""
        n = self._encode(text, self.cols - self._col, False)
        self._update(self._row, self._col, self._line, n)
        self._col += n
        self._place_cursor()
        self._flush()
        self._maybe_retry()

    def show(self, line1, line2=""):
        """The whole screen (two rows); only characters that differ from the glass are sent,
        in one I2C write."""
        self._update(0, 0, self._line, self._encode(line1, self.cols, True))
        if self.rows > 1:
            self._update(1, 0, self._line, self._encode(line2, self.cols, True))
        self._place_cursor()
        self._flush()
        self._maybe_retry()

    def text(self):
        """What the driver believes the glass shows: one str per row (glyphs as chr(0..7))."""
        c = self.cols
        s = self._shadow
        return ["".join([chr(x) for x in s[r * c:(r + 1) * c]]) for r in range(self.rows)]

    def _encode(self, text, limit, pad):
        out = self._line
        i = 0
        if isinstance(text, str):
            for ch in text:
                if i >= limit:
                    break
                out[i] = _code(ord(ch))
                i += 1
        else:
            if not isinstance(text, (bytes, bytearray)):
                text = str(text) if text is not None else ""
                return self._encode(text, limit, pad)
            for o in text:
                if i >= limit:
                    break
                out[i] = _code(o)
                i += 1
        if pad:
            while i < limit:
                out[i] = _SPACE
                i += 1
        return i

    def _update(self, row, col, codes, n):
        """Send codes[0:n] for row from col, skipping characters the glass already shows."""
        shadow = self._shadow
        cols = self.cols
        base = row * cols + col
        row_addr = self._row_addr(row)
        for i in range(n):
            c = codes[i]
            if shadow[base + i] == c:
                continue
            a = row_addr + col + i
            if self._ac != a:
                p = self._ac - row_addr  # a one-character gap costs less rewritten than skipped
                if p == col + i - 1 and p >= 0:
                    self._byte(shadow[row * cols + p], 1)
                else:
                    self._byte(_SET_DDRAM | a, 0)
            self._byte(c, 1)
            shadow[base + i] = c
            self._ac = a + 1

    def _row_addr(self, row):
        """DDRAM address of the row's first column: 0x00, 0x40, then cols past each (4 rows)."""
        return (0x40 if row & 1 else 0) + (self.cols if row & 2 else 0)

    def _place_cursor(self):
        if self._control & (_CURSOR_ON | _BLINK_ON):
            a = self._row_addr(self._row) + self._col
            if self._ac != a:
                self._byte(_SET_DDRAM | a, 0)
                self._ac = a

    def _maybe_retry(self):
        if not self.ok:
            self._retry += 1
            if self._retry >= _RETRY_EVERY:
                self.reinit()

    def _sleep_ms(self, ms):
        self._flush()
        self._clock.sleep_ms(ms)

    def _sleep_us(self, us):
        self._flush()
        self._clock.sleep_us(us)


class HD44780_PCF8574(HD44780):
    """The LCD on a PCF8574 backpack: each byte written to the expander sets its 8 pins.

    One HD44780 byte is four expander bytes (high nibble with E high, E low, low nibble with E
    high, E low); when RS changes, one more byte sets RS before E rises (address set-up time).
    R/W is held low: the driver never reads the LCD.
    """

    def __init__(self, i2c, addr=0x27, clock=None, cols=16, rows=2, pins=PCF8574_PINS, backlight=True):
        self._i2c = i2c
        self._addr = addr
        rs, _rw, e, bl, d4, d5, d6, d7 = pins
        self._rs = 1 << rs
        self._e = 1 << e
        self._bl_bit = 1 << bl
        self._nib = bytearray(16)  # data nibble -> expander bits
        for n in range(16):
            v = 0
            for i, p in enumerate((d4, d5, d6, d7)):
                if (n >> i) & 1:
                    v |= 1 << p
            self._nib[n] = v
        self._bl = self._bl_bit if backlight else 0
        self._buf = bytearray(4 * (cols + 2) * rows + 8)  # a full redraw fits one write
        self._mv = memoryview(self._buf)
        self._n = 0
        self._last = self._bl  # the last byte queued (E always low in it)
        super().__init__(clock, cols, rows)

    def _idle(self):
        self._room(1)
        self._last = self._bl  # E, RS, R/W low
        self._buf[self._n] = self._last
        self._n += 1

    def _room(self, k):
        if self._n + k > len(self._buf):
            self._flush()

    def _byte(self, v, rs):
        if not self.ok:
            return
        self._room(5)
        b = self._buf
        n = self._n
        base = (self._rs if rs else 0) | self._bl
        hi = self._nib[v >> 4] | base
        lo = self._nib[v & 0x0F] | base
        if (self._last ^ base) & self._rs:
            b[n] = hi  # RS settles before E rises
            n += 1
        e = self._e
        b[n] = hi | e
        b[n + 1] = hi  # E falls: the chip latches the high nibble
        b[n + 2] = lo | e
        b[n + 3] = lo  # E falls: low nibble, the instruction executes
        self._n = n + 4
        self._last = lo

    def _nibble(self, v):
        """One strobe with RS=0 (the 8-bit-mode function sets of the init sequence)."""
        if not self.ok:
            return
        self._room(3)
        b = self._buf
        n = self._n
        x = self._nib[v & 0x0F] | self._bl
        if self._last & self._rs:
            b[n] = x
            n += 1
        b[n] = x | self._e
        b[n + 1] = x
        self._n = n + 2
        self._last = x

    def _flush(self):
        n = self._n
        if not n:
            return
        self._n = 0
        if not self.ok:
            return
        try:
            self._i2c.writeto(self._addr, self._mv[:n])
        except OSError:
            self.ok = False
            self.errors += 1

    def _set_backlight(self, on):
        self._bl = self._bl_bit if on else 0
        self._last = (self._last & ~self._bl_bit) | self._bl
        if self.ok:
            self._room(1)
            self._buf[self._n] = self._last
            self._n += 1

    def _backlight_on(self):
        return bool(self._bl)

"""4x4 matrix keypad: event-driven scanning with debounce, one event per press.

Layout (front view) and DEFAULT_KEYMAP (row-major):

            C0      C1      C2      C3
    R0      1       2       3       UP
    R1      4       5       6       DOWN
    R2      7       8       9       MENU
    R3      BACK    0       ENTER   FN

Electrical: rows are open-drain outputs (0 = pulled low, 1 = released), columns are inputs with
pull-ups (the ESP32's internal ~45 k, or 10 k external; GPIO34-39 have none) and falling-edge
IRQs. Open-drain rows mean two keys held in one column never short a high row to a low one. The
driver sets the pin modes itself through the Pin objects it is given.

Idle: every row is pulled low, so any key pulls its column low; the falling edge runs the IRQ
handler, which only sets `irq_pending` (and wakes `board.wait`). `poll(now_ms)` then disables
the column IRQs and scans every SCAN_MS (5 ms): one row low at a time, settle 10 us, read the
columns. A change of the raw 16-key state restarts the debounce timer; a state that has been
stable for DEBOUNCE_MS (20 ms) becomes the debounced state, and each key newly down in it
queues one event (its name). Holding a key never repeats it; with `long_ms` set, holding one key
alone that long queues one more event, "LONG_" + name. When all keys are up and stable the
rows are pulled low again, the IRQs re-armed, the columns checked once more (a press in between
would have no edge) and `poll` returns None: nothing to do until the next IRQ.

Events wait in a preallocated ring of `queue_len` names; `get()` returns the oldest or None.
When it is full, new events are dropped (counted in `overflows`).
"""
from drivers import const
from ticks import diff


SCAN_MS = const(5)
DEBOUNCE_MS = const(20)
_SETTLE_US = const(10)

DEFAULT_KEYMAP = (
    "1", "2", "3", "UP",
    "4", "5", "6", "DOWN",
    "7", "8", "9", "MENU",
    "BACK", "0", "ENTER", "FN",
)
LONG_PREFIX = "LONG_"


class Keypad:
    def __init__(self, row_pins, col_pins, clock, keymap=DEFAULT_KEYMAP, debounce_ms=DEBOUNCE_MS,
                 scan_ms=SCAN_MS, long_ms=None, queue_len=8):
        self._rows = tuple(row_pins)
        self._cols = tuple(col_pins)
        self._keymap = tuple(keymap)
        if len(self._keymap) != len(self._rows) * len(self._cols):
            raise ValueError("keymap needs rows x cols names")
        self._long_names = tuple(LONG_PREFIX + k for k in self._keymap)
        self._clock = clock
        self._debounce = debounce_ms
        self._scan_ms = scan_ms
        self._long_ms = long_ms
        self._q = [None] * queue_len
        self._qh = 0
        self._qn = 0
        self.overflows = 0
        self.irq_pending = False
        self._handler = self._irq  # bound once: the IRQ path allocates nothing
        self._active = False
        self._stable = 0  # debounced state, bit r*ncols+c = key down
        self._raw = 0  # last raw scan
        self._since = 0  # when _raw last changed
        self._down_at = 0  # when the single held key went down (long press)
        self._long_done = True
        for p in self._rows:
            p.init(p.OPEN_DRAIN, value=0)
        for p in self._cols:
            p.init(p.IN, p.PULL_UP)
        self._arm()

    # -- interrupt side ---------------------------------------------------------------------
    def _irq(self, pin):
        self.irq_pending = True

    def _arm(self):
        """Rows low, column IRQs on; a column already low (key held) counts as an IRQ."""
        for p in self._rows:
            p.value(0)
        for p in self._cols:
            p.irq(handler=self._handler, trigger=p.IRQ_FALLING)
        for p in self._cols:
            if not p.value():
                self.irq_pending = True

    def _disarm(self):
        for p in self._cols:
            p.irq(handler=None)

    # -- scanning ---------------------------------------------------------------------------
    def _scan(self):
        rows = self._rows
        cols = self._cols
        sleep_us = self._clock.sleep_us
        for p in rows:
            p.value(1)
        bits = 0
        bit = 1
        for r in rows:
            r.value(0)
            sleep_us(_SETTLE_US)
            for c in cols:
                if not c.value():
                    bits |= bit
                bit <<= 1
            r.value(1)
        for p in rows:
            p.value(0)
        return bits

    def poll(self, now_ms):
        """Scan if a key is (or may be) down; return ms until the next poll, or None when idle."""
        if not self._active:
            if not self.irq_pending:
                return None
            self._active = True
            self._disarm()
            self._raw = self._stable
            self._since = now_ms
        self.irq_pending = False
        raw = self._scan()
        if raw != self._raw:
            self._raw = raw
            self._since = now_ms
        elif raw != self._stable and diff(now_ms, self._since) >= self._debounce:
            pressed = raw & ~self._stable
            self._stable = raw
            if pressed:
                i = 0
                while pressed:
                    if pressed & 1:
                        self._put(self._keymap[i])
                    pressed >>= 1
                    i += 1
                self._down_at = now_ms
                self._long_done = False
        s = self._stable
        if (self._long_ms is not None and not self._long_done and s and not s & (s - 1)
                and diff(now_ms, self._down_at) >= self._long_ms):
            self._long_done = True
            i = 0
            while not (s >> i) & 1:
                i += 1
            self._put(self._long_names[i])
        if raw or s:
            return self._scan_ms
        self._active = False
        self._arm()
        return self._scan_ms if self.irq_pending else None

    # -- events -----------------------------------------------------------------------------
    def _put(self, name):
        q = self._q
        if self._qn >= len(q):
            self.overflows += 1
            return
        q[(self._qh + self._qn) % len(q)] = name
        self._qn += 1

    def get(self):
        """The oldest key event (a key name), or None."""
        if not self._qn:
            return None
        q = self._q
        name = q[self._qh]
        q[self._qh] = None
        self._qh = (self._qh + 1) % len(q)
        self._qn -= 1
        return name

    def any(self):
        """Number of queued events."""
        return self._qn

    def held(self):
        """Names of the keys down in the debounced state."""
        s = self._stable
        return [self._keymap[i] for i in range(len(self._keymap)) if (s >> i) & 1]

    def idle(self):
        return not self._active and not self.irq_pending

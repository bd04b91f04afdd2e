"""Consumer display and keypad menus: a pure state machine, no drivers.

The meter fills a `MeterView` with what it knows, feeds key names to `UI.key()`, and copies
`UI.render()` (two 16-character lines) to the LCD and `UI.backlight()` to its backlight. The UI
never reads a clock of its own: every call takes the board's `ticks_ms` (`now_ms`), and
`next_refresh_ms()` says how long the meter may sleep before the screen changes by time alone.

Modes: idle (status screens, auto-scrolling for a while after a key or an event), menu (info
pages), entry (typing a 20-digit token). Messages (token results, alerts) lie over any mode for
a few seconds; any key dismisses them and then acts as usual. No input makes it raise: unknown
key names are ignored, and an internal error resets the UI to the idle screen and goes to the
`on_error` hook (the meter logs it as an `internal_error` event).
Screens, navigation and timings: docs/consumer-display.md.
"""
import civiltime
import ticks

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):  # type: ignore[misc]  # CPython has no micropython.const
        return x


W = 16  # LCD columns

# LCD glyph codes (drivers/hd44780.py defines the same codes; the UI imports no driver).
RUPEE = "\x00"
RELAY_CLOSED = "\x01"
RELAY_OPEN = "\x02"
BELL = "\x04"

TOKEN_DIGITS = 20

# Timings, ms (UI attributes of the same names can be changed per instance).
SCROLL_MS = 4000  # each idle screen while auto-scrolling
ACTIVE_MS = 120000  # auto-scroll runs this long after a key, an event, a message
HOLD_MS = 30000  # a screen chosen with UP/DOWN/BACK stays this long before scrolling resumes
BACKLIGHT_MS = 30000  # backlight on after the last key, result or alert
RESULT_MS = 8000  # token / emergency / acknowledge results
NOTIFY_MS = 10000  # alerts from notify()
NOTICE_MS = 3000  # short hints ("Need 20 digits", "not available")
WAIT_MS = 5000  # "Checking token" until result() arrives
MENU_MS = 60000  # menu closes after this long without a key
ENTRY_MS = 60000  # a half-typed token is dropped after this long without a key

MAX_MESSAGES = 4
OLD_RECHARGE_S = 300 * 86400  # an older last recharge shows month and year instead of the day
MAX_LIST = 9  # tariff lines, events and flags shown (keeps "9/9" to 3 characters)

_KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
         "ENTER", "BACK", "MENU", "UP", "DOWN", "FN", "LONG_BACK")

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Event codes (meter log) in consumer words; others are shown as the code with spaces. Tables of
# constant pairs: frozen, they take no heap (a dict would be built on it at import).
_EVENTS = (
    ("credit", "Recharge"),
    ("emergency_credit", "Emergency credit"),
    ("low_balance", "Low balance"),
    ("grace_started", "Credit ran out"),
    ("grace_cleared", "Credit restored"),
    ("disconnect_credit", "Off: no credit"),
    ("reconnect", "Power back on"),
    ("relay_closed", "Power turned on"),  # each text fits the 16 columns
    ("relay_open", "Power turned off"),
    ("overload_trip", "Overload: off"),
    ("overload_lockout", "Overload lockout"),
    ("overload_ack", "Lockout cleared"),
    ("overload_reset", "Overload reset"),
    ("remote_disconnect", "Off by DISCOM"),
    ("remote_connect", "On by DISCOM"),
    ("tamper_disconnect", "Tamper: off"),
    ("tamper_cleared", "Tamper cleared"),
    ("relay_fault", "Relay fault"),
    ("power_fail", "Mains failed"),
    ("boot", "Meter started"),
    ("clock_set", "Clock set"),
    ("clock_lost", "Clock lost"),
    ("clock_jump", "Clock jumped"),
    ("provisioned", "Meter set up"),
    ("token_accepted", "Token accepted"),
    ("clock_untrusted", "Clock doubtful"),
    ("metering_ic_error", "Metering fault"),
    ("internal_error", "Internal error"),
)

_FLAGS = (
    ("TAMPER", "Tamper detected"),
    ("CLOCK", "Clock not set"),
    ("RELAY FAULT", "Relay fault"),
)


class MeterView:
    """What the meter knows, filled by the meter before each render. A fresh view holds defaults,
    so it renders. Money in paise, energy in mWh (1 kWh = 1,000,000 mWh). The defaults are set in
    __init__, not as class attributes: the meter sets every attribute on its one instance, and a
    class dict of the same names would be a second copy on the heap (208 bytes on the ESP32).

    now_s                wall seconds since 2000-01-01 local (civiltime), None: clock not set
    balance_paise        account balance (negative while in debt)
    import_mwh           cumulative import register (the reading consumers photograph)
    export_mwh           cumulative export register (a screen only when > 0)
    power_w              present import power, W
    volts_cv             voltage, centivolts
    current_ma           current, mA
    last_credit_paise    amount of the last recharge (0: none yet)
    last_credit_s        wall second of the last recharge, None if unknown
    arrears_paise        arrears still to be recovered (a screen only when > 0)
    days_remaining       estimated whole days the balance lasts, None: no estimate
    serial               meter serial number (str)
    relay_closed         bool: the load is connected
    relay_reason         why it is open: "none", "credit", "overload", "overload_lockout",
                         "tamper", "remote" (connection policy `reason`)
    hint                 connection policy `screen_hint()` ("Recharge within 23h", ...)
    overload_retry_s     seconds before an overload retry (policy `overload_retry_s()`), None: none
    flags                short fault strings: "TAMPER", "CLOCK", "RELAY FAULT", ...
    emergency_available  bool: emergency credit may be taken now
    emergency_active     bool: emergency credit taken and not yet repaid
    provisioned          bool: the meter is set up (False: "Meter not set up")
    keypad_locked_s      0, or seconds the token keypad stays locked
  Info pages (filled when `UI.wants_info()`):
    tariff_lines         short strings, one per tariff line ("0-100 3.50")
    slab_label           the slab the next kWh falls in ("100-200"); slab_rate_paise its rate
    last_bill            last closed month (month, total, energy, fixed, duty, rebate,
                         surcharges) in paise, None before the first
    month_mwh            import this billing month so far
    month_charges_paise  charges this billing month so far
    recent_events        [(secs or None/-1, code), ...] newest first
    overload_text        overload state in words ("No overload", "Overload: retry 1:45")
    """

    def __init__(self):
        self.now_s = None
        self.balance_paise = 0
        self.import_mwh = 0
        self.export_mwh = 0
        self.power_w = 0
        self.volts_cv = 0
        self.current_ma = 0
        self.last_credit_paise = 0
        self.last_credit_s = None
        self.arrears_paise = 0
        self.days_remaining = None
        self.serial = ""
        self.relay_closed = True
        self.relay_reason = "none"
        self.hint = ""
        self.overload_retry_s = None
        self.flags = ()
        self.emergency_available = False
        self.emergency_active = False
        self.provisioned = True
        self.keypad_locked_s = 0
        self.tariff_lines = ()
        self.slab_label = ""
        self.slab_rate_paise = None
        self.last_bill = None
        self.month_mwh = 0
        self.month_charges_paise = 0
        self.recent_events = ()
        self.overload_text = ""


# -- formatting ---------------------------------------------------------------------------------

BILL_NAMES = ("", "Total", "Energy", "Fixed charge", "Duty", "Rebate", "Surcharges")


def _bill_items(b):
    """Fields of the last bill shown, one page each: total, energy, fixed, duty, then rebate and
    surcharges when the bill has them."""
    if not b:
        return (0,)
    return (1, 2, 3, 4) + tuple(k for k in (5, 6) if b[k])


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _int(v):
    return v if _is_int(v) else 0


def _text(v):
    if v is None:
        return ""
    return v if isinstance(v, str) else str(v)


def _fit(s):
    """Exactly W characters: padded with spaces or cut."""
    s = _text(s)
    n = len(s)
    if n == W:
        return s
    if n > W:
        return s[:W]
    return s + " " * (W - n)


def _lr(left, right):
    """left and right aligned on one line; left is cut if both do not fit."""
    gap = W - len(left) - len(right)
    if gap < 0:
        left = left[:max(0, W - len(right) - 1)]
        gap = W - len(left) - len(right)
    return left + " " * max(gap, 0) + right


def _rjust(s):
    return " " * (W - len(s)) + s if len(s) < W else s


def format_rupees(paise):
    """Rupees from integer paise with Indian digit grouping: 12345678 -> "1,23,456.78",
    -1234 -> "-12.34". Anything but an int gives "--"."""
    if not _is_int(paise):
        return "--"
    sign = "-" if paise < 0 else ""
    r, p = divmod(-paise if paise < 0 else paise, 100)
    s = str(r)
    if len(s) > 3:
        head, tail = s[:-3], s[-3:]
        parts = []
        while len(head) > 2:
            parts.insert(0, head[-2:])
            head = head[:-2]
        parts.insert(0, head)
        s = ",".join(parts) + "," + tail
    return "%s%s.%02d" % (sign, s, p)


def _money(paise):
    """"₹1,234.56" / "-₹12.34" with the rupee glyph; never a cut number (falls back to plain
    digits, then to "₹ -- ")."""
    if not _is_int(paise):
        return RUPEE + "--"
    s = format_rupees(paise)
    if s[0] == "-":
        s = "-" + RUPEE + s[1:]
    else:
        s = RUPEE + s
    if len(s) > W:
        s = s.replace(",", "")
        if len(s) > W:
            s = RUPEE + " --"
    return s


def _added(paise):
    s = "+" + _money(paise)
    return s + " added" if len(s) + 6 <= W else s


def format_kwh(mwh):
    """Energy register in kWh with three decimals (Wh), truncated like a register:
    1234567890 mWh -> "1234.567 kWh"."""
    if not _is_int(mwh):
        return "-- kWh"
    sign = "-" if mwh < 0 else ""
    wh = (-mwh if mwh < 0 else mwh) // 1000
    s = "%s%d.%03d kWh" % (sign, wh // 1000, wh % 1000)
    if len(s) > W:
        s = "%s%d kWh" % (sign, wh // 1000)
        if len(s) > W:  # no register gets there; never show cut digits
            s = "-- kWh"
    return s


def _mmss(secs):
    if secs >= 3600:
        return "%d:%02d:%02d" % (secs // 3600, secs // 60 % 60, secs % 60)
    return "%d:%02d" % (secs // 60, secs % 60)


def _wrap(text, prefix=""):
    """Words of text over two lines (the first starts with prefix); the rest is dropped."""
    lines = [prefix, ""]
    words = [0, 0]
    row = 0
    for w in _text(text).split():
        while row < 2:
            cur = lines[row]
            add = (" " + w) if words[row] else w
            if len(cur) + len(add) <= W:
                lines[row] = cur + add
                words[row] += 1
                break
            if not words[row]:  # a word longer than the line
                lines[row] = (cur + w)[:W]
                words[row] = 1
                break
            row += 1
        if row >= 2:
            break
    return lines[0], lines[1]


def _words(table, key):
    """The text a (key, text) table gives key, None if it has none."""
    for k, t in table:
        if k == key:
            return t
    return None


def _event_text(code):
    code = _text(code)
    t = _words(_EVENTS, code)
    if t is None and code.startswith("token_"):
        t = "Token refused"
    if t is None:
        t = code.replace("_", " ")
        if t:
            t = t[0].upper() + t[1:]
    return t


# -- pages --------------------------------------------------------------------------------------
# A page is an int: its kind in the low bits, its item above them (which flag, tariff line,
# event or bill field; below MAX_LIST), so a page list holds no objects of its own.
_KIND_BITS = const(5)
_KIND_MASK = const(31)

# Idle screen kinds (index into _IDLE), in the order _idle_pages() lists them.
_UNPROV = const(0)
_KWH = const(1)
_OFF = const(2)  # why the power is off
_OFF_LOAD = const(3)  # what to do about an overload
_EMERG = const(4)
_MAIN = const(5)
_HINT = const(6)
_LOAD = const(7)
_VOLT = const(8)
_RECHARGE = const(9)
_ARREARS = const(10)
_DAYS = const(11)
_EXPORT = const(12)
_SERIAL = const(13)
_CLOCK = const(14)
_FLAG = const(15)  # item: which flag

# Menu sections (index into _MENU), in the order _menu_pages() lists them.
_M_EMERG = const(0)
_M_TARIFF = const(1)  # item: which tariff line
_M_SLAB = const(2)
_M_MONTH = const(3)  # item 0: energy, 1: charges
_M_BILL = const(4)  # item: which of _bill_items()
_M_EVENTS = const(5)  # item: which event
_M_OVERLOAD = const(6)

# Slots of a message: (kind, line1, line2, ms shown, countdown seconds or None).
_MSG_KIND = const(0)
_MSG_LINE1 = const(1)
_MSG_LINE2 = const(2)
_MSG_MS = const(3)
_MSG_SECS = const(4)


def _lockout(v):
    return not v.relay_closed and v.relay_reason == "overload_lockout"


def _overload_retry(v):
    """Seconds to the overload retry the policy counts down, None when there is none to show."""
    if v.relay_closed or v.relay_reason != "overload":
        return None
    s = v.overload_retry_s
    return s if _is_int(s) and s >= 0 else None


# -- the page tables ----------------------------------------------------------------------------
# _IDLE and _MENU: a render function (view, item) -> (line1, line2) per kind, indexed by kind.
# The functions are defined inside a builder and live only in its tuple: as module globals each
# would also take a slot of the module's dict (28 bytes of heap a function instead of 16).

def _idle_screens():
    """The idle screens, by kind (_UNPROV .. _FLAG)."""

    def unprov(v, i):
        return "Meter not set up", "Call DISCOM"

    def kwh(v, i):
        return "Meter reading", _rjust(format_kwh(v.import_mwh))

    def off(v, i):
        r = v.relay_reason
        if r == "credit":
            return RELAY_OPEN + "OFF: no credit", "Please recharge"
        if r == "overload":
            s = _overload_retry(v)
            l2 = "Back on in " + _mmss(s) if s is not None else "Reduce load"
            return RELAY_OPEN + "OFF: overload", l2
        if r == "overload_lockout":
            return RELAY_OPEN + "OFF: overload", "ENTER: power on"
        if r == "tamper":
            return RELAY_OPEN + "OFF: tamper", "Call DISCOM"
        if r == "remote":
            return RELAY_OPEN + "OFF by DISCOM", "Call DISCOM"
        return RELAY_OPEN + "Power OFF", _text(v.hint)

    def off_load(v, i):
        if v.relay_reason == "overload_lockout":
            return "Reduce load,", "then press ENTER"
        return "Too much load:", "switch some off"

    def emerg(v, i):
        if v.emergency_active:
            return "Emergency credit", "in use"
        return "Emergency credit", "Press FN to take"

    def main(v, i):
        bal = _money(v.balance_paise)
        on = bool(v.relay_closed)
        status = bal
        for right in ((RELAY_CLOSED + "ON") if on else (RELAY_OPEN + "OFF"),
                      RELAY_CLOSED if on else RELAY_OPEN, ""):
            if len(bal) + len(right) + (1 if right else 0) <= W:
                status = _lr(bal, right)
                break
        return status, _rjust(format_kwh(v.import_mwh))

    def hint(v, i):
        return _wrap(v.hint, BELL)

    def load(v, i):
        p = v.power_w
        ma = v.current_ma
        amps = "%d.%02d A" % (ma // 1000, ma % 1000 // 10) if _is_int(ma) and ma >= 0 else ""
        return "Present load", _lr(("%d W" % p) if _is_int(p) else "-- W", amps)

    def volt(v, i):
        cv = v.volts_cv
        if _is_int(cv) and cv >= 0:
            dv = (cv + 5) // 10
            return "Voltage", _rjust("%d.%d V" % (dv // 10, dv % 10))
        return "Voltage", _rjust("-- V")

    def recharge(v, i):
        p = v.last_credit_paise
        if not _is_int(p) or p <= 0:
            return "Last recharge", "none yet"
        t = v.last_credit_s
        if not _is_int(t) or t < 0:
            return "Last recharge", _money(p)
        y, mo, d = civiltime.civil_from_days(t // civiltime.SECONDS_PER_DAY)
        now = v.now_s
        if _is_int(now) and now - t > OLD_RECHARGE_S:  # the day alone would be ambiguous
            return "Recharged %s'%02d" % (_MONTHS[mo - 1], y % 100), _money(p)
        return "Recharged %d %s" % (d, _MONTHS[mo - 1]), _money(p)

    def arrears(v, i):
        return "Arrears left", _money(v.arrears_paise)

    def days(v, i):
        d = v.days_remaining
        if d <= 0:
            return "Credit lasts", "under 1 day"
        return "Credit lasts", "about %d day%s" % (d, "" if d == 1 else "s")

    def export(v, i):
        return "Exported energy", _rjust(format_kwh(v.export_mwh))

    def serial(v, i):
        return "Meter serial no.", _text(v.serial)

    def clock(v, i):
        s = v.now_s
        if not _is_int(s) or s < 0:
            return "Date and time", "not set"
        y, mo, d, hh, mm, _ss, wd = civiltime.civil(s)
        wd_name = civiltime.WEEKDAYS[wd]
        return ("Date  %02d-%02d-%04d" % (d, mo, y),
                "Time  %02d:%02d  %s" % (hh, mm, wd_name[0].upper() + wd_name[1:]))

    def flag(v, i):
        flags = v.flags
        n = min(len(flags), MAX_LIST)
        f = _text(flags[i])
        l1 = BELL + "Call DISCOM"
        if n > 1:
            l1 = _lr(l1, "%d/%d" % (i + 1, n))
        return l1, _words(_FLAGS, f) or f

    return (unprov, kwh, off, off_load, emerg, main, hint, load, volt, recharge, arrears, days,
            export, serial, clock, flag)


def _menu_screens():
    """The menu pages, by section (_M_EMERG .. _M_OVERLOAD)."""

    def emerg(v, i):
        if v.emergency_active:
            return "Emergency credit", "in use"
        return "Emergency credit", "ENTER to take"

    def tariff(v, i):
        lines = v.tariff_lines or ()
        n = min(len(lines), MAX_LIST)
        if not n:
            return "Tariff", "not available"
        return _lr("Tariff", "%d/%d" % (i + 1, n) if n > 1 else ""), _text(lines[i])

    def slab(v, i):
        if v.slab_rate_paise is None:
            return "Slab now", "not available"
        r = v.slab_rate_paise
        return _lr("Slab now", v.slab_label), _rjust("%d.%02d/kWh" % (r // 100, r % 100))

    def month(v, i):
        if i == 0:
            return "Month so far", _rjust(format_kwh(v.month_mwh))
        return "Month charges", _rjust(_money(v.month_charges_paise))

    def bill(v, i):
        b = v.last_bill
        if not b:
            return "Last bill", "none yet"
        k = _bill_items(b)[i]
        if k == 1:
            return _lr("Bill", b[0]), _rjust(_money(b[1]))
        return BILL_NAMES[k], _rjust(_money(b[k]))

    def events(v, i):
        evs = v.recent_events or ()
        n = min(len(evs), MAX_LIST)
        if not n:
            return "Recent events", "none"
        ev = evs[i]
        secs, code = ev[0], ev[1]
        when = "--"
        if _is_int(secs) and secs >= 0:
            y, mo, d, hh, mm, _ss, _wd = civiltime.civil(secs)
            when = "%d %s %02d:%02d" % (d, _MONTHS[mo - 1], hh, mm)
        return _lr("%d/%d" % (i + 1, n), when), _event_text(code)

    def overload(v, i):
        """The policy's words, clearer ones when the relay is open for an overload."""
        if _lockout(v):
            return "Overload lockout", "Press ENTER"
        s = _overload_retry(v)
        if s is not None:
            return "Overload: off", "Back on in " + _mmss(s)
        t = _text(v.overload_text) or "No overload"
        if len(t) <= W:
            return "Overload", t
        return _wrap(t)

    return (emerg, tariff, slab, month, bill, events, overload)


_IDLE = _idle_screens()
_MENU = _menu_screens()
del _idle_screens, _menu_screens  # built once


# -- the state machine --------------------------------------------------------------------------

class UI:
    SCROLL_MS = SCROLL_MS
    ACTIVE_MS = ACTIVE_MS
    HOLD_MS = HOLD_MS
    BACKLIGHT_MS = BACKLIGHT_MS
    RESULT_MS = RESULT_MS
    NOTIFY_MS = NOTIFY_MS
    NOTICE_MS = NOTICE_MS
    WAIT_MS = WAIT_MS
    MENU_MS = MENU_MS
    ENTRY_MS = ENTRY_MS

    def __init__(self, view, on_error=None):
        self.view = view
        self.on_error = on_error  # (place, exception): an error the UI recovered from
        self.mode = "idle"  # "idle" | "menu" | "entry"
        self._quiet = False  # an error went to on_error and no screen has rendered since
        self._digits = ""
        self._t_entry = 0  # last key in entry mode
        self._menu = 0  # index into _menu_pages()
        self._t_menu = 0
        self._page = None  # idle page shown; None: the first one
        self._t_page = 0  # when it started (scroll phase)
        self._active = None  # ticks when auto-scroll ends; None: resting on the first screen
        self._hold = None  # ticks when a screen chosen by hand starts scrolling again
        self._bl = None  # ticks when the backlight goes off; None: off
        self._msgs = []  # message tuples, slots _MSG_KIND .. _MSG_SECS
        self._t_msg = 0  # when the first message started

    # -- inputs ---------------------------------------------------------------------------
    def key(self, name, now_ms):
        """A key name from the keypad. Returns an action tuple or None:
        ("token", "<20 digits>"), ("emergency",), ("ack_overload",)."""
        try:
            return self._key(name, now_ms)
        except Exception as e:  # never let a key break the meter loop
            self._recover("ui key", e)
            return None

    def result(self, kind, now_ms, amount_paise=None, detail=None):
        """Show the outcome of a token, emergency credit or acknowledge for RESULT_MS."""
        try:
            self._tick(now_ms)
            l1, l2, secs = self._result_text(kind, amount_paise, detail)
            self._msgs = [m for m in self._msgs if m[_MSG_KIND] == "notify"]
            self._msgs.insert(0, (kind, l1, l2, self.RESULT_MS, secs))
            self._t_msg = now_ms
            self._light(now_ms)
            self._activate(now_ms)
        except Exception as e:
            self._recover("ui result", e)

    def notify(self, text, now_ms):
        """An alert (low balance, power restored, ...) for NOTIFY_MS; lights the backlight and
        restarts auto-scroll. Up to MAX_MESSAGES wait in turn; a newer alert replaces the last
        waiting one when full."""
        try:
            self._tick(now_ms)
            text = _text(text).strip()
            if len(text) <= W:
                l1, l2 = BELL + "Notice", text
            else:
                l1, l2 = _wrap(text, BELL)
            if not self._msgs:
                self._t_msg = now_ms
            elif len(self._msgs) >= MAX_MESSAGES:
                self._msgs.pop()  # the newest waiting one makes room
            self._msgs.append(("notify", l1, l2, self.NOTIFY_MS, None))
            self._light(now_ms)
            self._activate(now_ms)
        except Exception as e:
            self._recover("ui notify", e)

    def wake(self, now_ms):
        """Something happened: (re)start auto-scroll from the first screen if resting, else
        make it last ACTIVE_MS from now. The backlight is left alone."""
        try:
            self._tick(now_ms)
            self._activate(now_ms)
        except Exception as e:
            self._recover("ui wake", e)

    # -- outputs --------------------------------------------------------------------------
    def render(self, now_ms):
        """(line1, line2), each exactly 16 characters (glyphs as "\\x00".."\\x04")."""
        try:
            self._tick(now_ms)
            l1, l2 = self._screen(now_ms)
            self._quiet = False
            return _fit(l1), _fit(l2)
        except Exception as e:
            self._recover("ui render", e)
            try:
                l1, l2 = self._screen(now_ms)
                return _fit(l1), _fit(l2)
            except Exception:  # reported already; the first idle screen is broken too
                return _fit("Meter"), _fit("")

    def backlight(self, now_ms):
        try:
            self._tick(now_ms)
        except Exception as e:
            self._recover("ui backlight", e)
        return self._bl is not None

    def wants_info(self):
        """True while the menu is open: the meter then fills the info-page attributes."""
        return self.mode == "menu"

    def next_refresh_ms(self, now_ms):
        """ms until the screen or backlight changes by time alone; None: not until an input."""
        try:
            return self._next(now_ms)
        except Exception as e:
            self._recover("ui refresh", e)
            return 1000  # look again soon, but never a busy loop

    # -- internals: time ------------------------------------------------------------------
    def _recover(self, where, exc):
        """Back to the resting idle screen after an internal error, which goes to `on_error`
        unless one went there since the last screen rendered: a screen that fails at every
        refresh (once a second after an error) is one event, not one a second."""
        self.mode = "idle"
        self._digits = ""
        self._msgs = []
        self._page = None
        self._hold = None
        self._active = None
        if self._quiet or self.on_error is None:
            return
        self._quiet = True  # already while reporting: its event wakes the UI, which may fail again
        try:
            self.on_error(where, exc)
        except Exception:
            pass  # the log failed too: the screen still works

    def _light(self, now):
        self._bl = ticks.add(now, self.BACKLIGHT_MS)

    def _activate(self, now):
        if self._active is None:
            self._page = None
            self._t_page = now
            self._hold = None
        self._active = ticks.add(now, self.ACTIVE_MS)

    def _leave(self, t):
        """Back to the idle screens, starting at the first."""
        self.mode = "idle"
        self._digits = ""
        self._page = None
        self._t_page = t
        self._hold = None

    def _tick(self, now):
        """Apply every timeout due at now."""
        msgs = self._msgs
        while msgs:
            e = ticks.diff(now, self._t_msg)
            if e < 0:
                self._t_msg = now
                break
            ms = msgs[0][_MSG_MS]
            if e < ms:
                break
            msgs.pop(0)
            self._t_msg = ticks.add(self._t_msg, ms)
            if not msgs:  # the last message is gone: the idle screens start again at the first
                self._page = None
                self._t_page = self._t_msg
                self._hold = None
        if self._bl is not None and ticks.diff(now, self._bl) >= 0:
            self._bl = None
        if self.mode == "entry" and ticks.diff(now, self._t_entry) >= self.ENTRY_MS:
            self._leave(ticks.add(self._t_entry, self.ENTRY_MS))
        if self.mode == "menu" and ticks.diff(now, self._t_menu) >= self.MENU_MS:
            self._leave(ticks.add(self._t_menu, self.MENU_MS))
        if self._active is not None and ticks.diff(now, self._active) >= 0:
            self._active = None
            self._hold = None
            self._page = None
        if self._active is None or self._msgs:
            return  # resting, or a message hides the screens (they restart after it)
        if self._hold is not None:
            if ticks.diff(now, self._hold) < 0:
                return
            self._t_page = self._hold
            self._hold = None
        e = ticks.diff(now, self._t_page)
        if e < 0:
            self._t_page = now
        elif e >= self.SCROLL_MS:
            steps = e // self.SCROLL_MS
            pages = self._idle_pages()
            i = self._index(pages, self._page)
            self._page = pages[(i + steps) % len(pages)]
            self._t_page = ticks.add(self._t_page, steps * self.SCROLL_MS)

    def _next(self, now):
        self._tick(now)
        best = None
        cands = []
        if self._msgs:
            e = ticks.diff(now, self._t_msg)
            m = self._msgs[0]
            cands.append(m[_MSG_MS] - e)
            if m[_MSG_SECS] is not None and m[_MSG_SECS] - e // 1000 > 0:
                cands.append(1000 - e % 1000)
        if self._bl is not None:
            cands.append(ticks.diff(self._bl, now))
        if self.mode == "entry":
            cands.append(self.ENTRY_MS - ticks.diff(now, self._t_entry))
        elif self.mode == "menu":
            cands.append(self.MENU_MS - ticks.diff(now, self._t_menu))
        elif not self._msgs:
            if self._active is not None:
                cands.append(ticks.diff(self._active, now))
                if self._hold is not None:
                    cands.append(ticks.diff(self._hold, now))
                else:
                    cands.append(self.SCROLL_MS - ticks.diff(now, self._t_page))
            kind = self._current_page() & _KIND_MASK
            if kind == _CLOCK:  # the next minute
                s = self.view.now_s
                if _is_int(s):
                    cands.append((60 - s % 60) * 1000)
            elif kind == _OFF and _overload_retry(self.view) is not None:  # the next second
                cands.append(1000)
        for c in cands:
            if best is None or c < best:
                best = c
        if best is not None and best < 0:
            best = 0
        return best

    # -- internals: keys ------------------------------------------------------------------
    def _key(self, name, now):
        if not isinstance(name, str) or name not in _KEYS:
            return None
        self._tick(now)
        self._light(now)
        self._activate(now)
        if self._msgs:  # a key dismisses messages, then acts on the first idle screen
            self._msgs = []
            self._page = None
            self._t_page = now
            self._hold = None
        if len(name) == 1:
            return self._digit(name, now)
        if self.mode == "entry":
            return self._entry_key(name, now)
        if self.mode == "menu":
            return self._menu_key(name, now)
        return self._idle_key(name, now)

    def _notice(self, l1, l2, now, kind="notice", ms=None, secs=None):
        self._msgs = [(kind, l1, l2, self.NOTICE_MS if ms is None else ms, secs)]
        self._t_msg = now

    def _digit(self, d, now):
        locked = _int(self.view.keypad_locked_s)
        if locked > 0:
            if self.mode != "entry":
                self._leave(now)
            self._notice("Keypad locked", "", now, "locked", self.RESULT_MS, locked)
            return None
        if self.mode != "entry":
            self.mode = "entry"
            self._digits = ""
        if len(self._digits) < TOKEN_DIGITS:
            self._digits += d
        self._t_entry = now
        return None

    def _entry_key(self, name, now):
        self._t_entry = now
        if name == "BACK":
            self._digits = self._digits[:-1]
            if not self._digits:
                self._leave(now)
        elif name == "LONG_BACK":
            self._leave(now)
        elif name == "ENTER":
            n = len(self._digits)
            if n < TOKEN_DIGITS:
                self._notice("Need %d digits" % TOKEN_DIGITS, "You typed %d" % n, now)
                return None
            tok = self._digits
            self._leave(now)
            self._notice("Checking token", "Please wait", now, "wait", self.WAIT_MS)
            return ("token", tok)
        return None  # MENU, UP, DOWN, FN: nothing while typing

    def _idle_key(self, name, now):
        if name in ("UP", "DOWN"):
            pages = self._idle_pages()
            i = self._index(pages, self._page) + (1 if name == "DOWN" else -1)
            self._page = pages[i % len(pages)]
            self._t_page = now
            self._hold = ticks.add(now, self.HOLD_MS)
        elif name == "BACK":
            self._page = None
            self._t_page = now
            self._hold = ticks.add(now, self.HOLD_MS)
        elif name == "MENU":
            self.mode = "menu"
            self._menu = 0
            self._t_menu = now
        elif name == "FN":
            self._fn(now)
        elif name == "ENTER":
            if _lockout(self.view):
                return ("ack_overload",)
        return None

    def _fn(self, now):
        v = self.view
        if v.emergency_available and not v.emergency_active:
            self.mode = "menu"
            self._menu = 0  # the emergency page is the first menu page when offered
            self._t_menu = now
        else:
            self._notice("Emergency credit", "in use" if v.emergency_active else "not available", now)

    def _menu_key(self, name, now):
        self._t_menu = now
        pages = self._menu_pages()
        n = len(pages)
        i = self._menu % n
        if name == "UP":
            i -= 1
        elif name == "DOWN":
            i += 1
        elif name == "MENU":  # next section
            sec = pages[i] & _KIND_MASK
            while i < n and pages[i] & _KIND_MASK == sec:
                i += 1
        elif name == "BACK":
            self._leave(now)
            return None
        elif name == "FN":
            self._fn(now)
            return None
        elif name == "ENTER":
            v = self.view
            sec = pages[i] & _KIND_MASK
            if sec == _M_EMERG and v.emergency_available and not v.emergency_active:
                self._leave(now)
                self._notice("Emergency credit", "Please wait", now, "wait", self.WAIT_MS)
                return ("emergency",)
            if sec == _M_OVERLOAD and _lockout(v):
                self._leave(now)
                return ("ack_overload",)
        self._menu = i % n
        return None

    # -- internals: pages -----------------------------------------------------------------
    @staticmethod
    def _index(pages, page):
        if page is None:
            return 0
        for i in range(len(pages)):
            if pages[i] == page:
                return i
        return 0

    def _current_page(self):
        if self._msgs or self.mode != "idle":
            return None
        pages = self._idle_pages()
        return pages[self._index(pages, self._page)]

    def _idle_pages(self):
        v = self.view
        if not v.provisioned:
            pages = [_UNPROV, _KWH, _SERIAL, _CLOCK]
        else:
            pages = []
            if not v.relay_closed:
                pages.append(_OFF)
                if v.relay_reason in ("overload", "overload_lockout"):
                    pages.append(_OFF_LOAD)
            if v.emergency_active or v.emergency_available:
                pages.append(_EMERG)
            pages.append(_MAIN)
            if v.relay_closed and _text(v.hint):
                pages.append(_HINT)
            pages.append(_LOAD)
            pages.append(_VOLT)
            pages.append(_RECHARGE)
            if _int(v.arrears_paise) > 0:
                pages.append(_ARREARS)
            if _is_int(v.days_remaining):
                pages.append(_DAYS)
            if _int(v.export_mwh) > 0:
                pages.append(_EXPORT)
            pages.append(_SERIAL)
            pages.append(_CLOCK)
        flags = v.flags or ()
        for i in range(min(len(flags), MAX_LIST)):
            pages.append(_FLAG | i << _KIND_BITS)
        return pages

    def _menu_pages(self):
        v = self.view
        pages = []
        if v.emergency_available or v.emergency_active:
            pages.append(_M_EMERG)
        # items per section, _M_TARIFF onwards: one page each, at least one per section
        items = (len(v.tariff_lines or ()), 1, 2, len(_bill_items(v.last_bill)),
                 len(v.recent_events or ()), 1)
        for k in range(len(items)):
            for i in range(max(1, min(items[k], MAX_LIST))):
                pages.append((_M_TARIFF + k) | i << _KIND_BITS)
        return pages

    def _screen(self, now):
        if self._msgs:
            return self._message(now)
        if self.mode == "entry":
            return self._entry_screen()
        if self.mode == "menu":
            pages = self._menu_pages()
            page = pages[self._menu % len(pages)]
            return _MENU[page & _KIND_MASK](self.view, page >> _KIND_BITS)
        pages = self._idle_pages()
        page = pages[self._index(pages, self._page)]
        return _IDLE[page & _KIND_MASK](self.view, page >> _KIND_BITS)

    def _message(self, now):
        m = self._msgs[0]
        secs = m[_MSG_SECS]
        if secs is None:
            return m[_MSG_LINE1], m[_MSG_LINE2]
        left = secs - ticks.diff(now, self._t_msg) // 1000  # keypad lock countdown
        return m[_MSG_LINE1], "Try in " + _mmss(left if left > 0 else 0)

    def _entry_screen(self):
        d = self._digits
        n = len(d)
        s = d + ("_" if n < TOKEN_DIGITS else "")
        groups = [s[i:i + 4] for i in range(0, len(s), 4)]
        l1 = " ".join(groups[:3])
        l2 = " ".join(groups[3:]) or "Token"
        return l1, _lr(l2, "%d/%d" % (n, TOKEN_DIGITS))

    def _result_text(self, kind, amount, detail):
        """(line1, line2, countdown seconds or None) for a result kind."""
        refused = "Token refused"
        if kind == "accepted":
            if _is_int(amount):
                return "Credit accepted", _added(amount), None
            return "Token accepted", "Done", None
        if kind == "used":
            return refused, "Already used", None
        if kind == "old":
            return refused, "Too old", None
        if kind == "crc":
            return refused, "Wrong meter/typo", None
        if kind in ("invalid", "class"):
            d = detail if isinstance(detail, str) else ""
            if d and len(d) <= W:
                return refused, d[0].upper() + d[1:], None
            return refused, "Invalid token", None
        if kind == "format":
            return refused, "Check the digits", None
        if kind == "expired":  # the decoder key's expiry (KEN) is before the token's TID
            return refused, "Key expired", None
        if kind == "range":  # authentic, but asks for a value the meter cannot take
            return refused, "Out of range", None
        if kind == "locked":
            if isinstance(detail, dict):
                detail = detail.get("seconds")
            secs = detail if _is_int(detail) else _int(self.view.keypad_locked_s)
            return "Keypad locked", "", secs
        if kind == "emergency_granted":
            if _is_int(amount):
                return "Emergency credit", _added(amount), None
            return "Emergency credit", "given", None
        if kind == "emergency_refused":
            return "Emergency credit", "not available", None
        if kind == "ack_ok":
            return "Lockout cleared", "Power coming on", None
        return _text(kind), _text(detail), None

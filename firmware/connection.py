"""Connection policy: whether the load relay must be closed, and why not when it is open.

Pure logic: no hardware, no clock of its own. The meter calls `update()` with the present inputs
after every metering poll, right after any credit (token, remote credit, emergency credit), and
at the instant `next_check_s()` names; it then drives the relay to `closed`. See
docs/connection.md for the rules.

Time: `now_s` is wall time, seconds since 2000-01-01 00:00 local (civiltime); `now_ms` is the
optional wrapping ticks_ms. Credit rules use wall time only (grace start is an absolute second,
so a grace period survives power cuts). Overload timers are kept as durations advanced by the
time between updates (ticks when both updates gave `now_ms`, else wall seconds), so they too
survive a power cut and do not depend on the tick counter's base.
"""
import civiltime
import ticks

REASON_NONE = "none"
REASON_CREDIT = "credit"
REASON_OVERLOAD = "overload"
REASON_LOCKOUT = "overload_lockout"
REASON_TAMPER = "tamper"
REASON_REMOTE = "remote"

DEFAULTS = {
    "grace_hours": 24,
    "window": "10:00-13:00",
    "no_cut_weekdays": ["sun"],
    "holidays": [],
    "overload_margin_percent": 10,
    "overload_trip_s": 30,
    "overload_retry_s": 120,
    "overload_lockout_trips": 4,
    "overload_lockout_window_s": 1800,
}
REQUIRED = ("sanctioned_load_w",)

# Overload time counts only between power samples at most this far apart: a longer gap
# (a power cut, a missed poll) restarts the 30 s count instead of assuming it stayed over.
MAX_SAMPLE_GAP_MS = 60000
MAX_EVENTS = 32
MAX_HOLIDAYS = 400
STATE_VERSION = 1

_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ConnectionConfigError(ValueError):
    pass


def _ceil_s(ms):
    return -((-ms) // 1000)


def _int(cfg, key, lo, hi):
    v = cfg[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConnectionConfigError("connection.%s: expected an integer, got %r" % (key, v))
    if not lo <= v <= hi:
        raise ConnectionConfigError("connection.%s: %d is outside %d..%d" % (key, v, lo, hi))
    return v


def _hhmm(text, key):
    parts = text.split(":")
    if len(parts) != 2 or len(parts[0]) != 2 or len(parts[1]) != 2:
        raise ConnectionConfigError("connection.%s: expected 'HH:MM-HH:MM', got %r" % (key, text))
    try:
        hh, mm = int(parts[0]), int(parts[1])
    except ValueError:
        raise ConnectionConfigError("connection.%s: expected 'HH:MM-HH:MM', got %r" % (key, text))
    if hh > 24 or mm > 59 or (hh == 24 and mm):
        raise ConnectionConfigError("connection.%s: no such time of day %r" % (key, text))
    return hh * 3600 + mm * 60


def parse_window(text, key="window"):
    """'10:00-13:00' -> (36000, 46800): seconds after midnight, start inclusive, end exclusive."""
    if not isinstance(text, str) or text.count("-") != 1:
        raise ConnectionConfigError("connection.%s: expected 'HH:MM-HH:MM', got %r" % (key, text))
    a, b = text.split("-")
    start, end = _hhmm(a.strip(), key), _hhmm(b.strip(), key)
    if start >= end:
        raise ConnectionConfigError("connection.%s: %r must start before it ends, within one day"
                                    % (key, text))
    return start, end


def _weekdays(v):
    if not isinstance(v, (list, tuple)):
        raise ConnectionConfigError("connection.no_cut_weekdays: expected a list like [\"sun\"]")
    out = []
    for name in v:
        if not isinstance(name, str):
            raise ConnectionConfigError("connection.no_cut_weekdays: %r is not a day name" % (name,))
        n = name.strip().lower()
        if n in civiltime.WEEKDAYS:
            d = civiltime.WEEKDAYS.index(n)
        elif n in _FULL_DAYS:
            d = _FULL_DAYS.index(n)
        else:
            raise ConnectionConfigError("connection.no_cut_weekdays: unknown day %r (use mon..sun)"
                                        % (name,))
        if d not in out:
            out.append(d)
    if len(out) == 7:
        raise ConnectionConfigError("connection.no_cut_weekdays: every day is excluded; "
                                    "the meter could never disconnect for credit")
    return out


def _holidays(v):
    if not isinstance(v, (list, tuple)):
        raise ConnectionConfigError("connection.holidays: expected a list like [\"2026-12-25\"]")
    if len(v) > MAX_HOLIDAYS:
        raise ConnectionConfigError("connection.holidays: %d dates, at most %d"
                                    % (len(v), MAX_HOLIDAYS))
    days = set()
    for text in v:
        if not isinstance(text, str) or len(text) != 10:
            raise ConnectionConfigError("connection.holidays: %r is not a YYYY-MM-DD date" % (text,))
        try:
            s = civiltime.parse_iso(text)
        except ValueError:
            raise ConnectionConfigError("connection.holidays: %r is not a valid date" % (text,))
        days.add(s // civiltime.SECONDS_PER_DAY)
    return days


class ConnectionPolicy:
    """Decides the relay. Attributes after each call: `closed` (bool), `reason` (string)."""

    def __init__(self, config=None):
        cfg = {}
        for k in DEFAULTS:
            cfg[k] = DEFAULTS[k]
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise ConnectionConfigError("connection: expected a table of settings")
        for k in config:
            if k not in DEFAULTS and k not in REQUIRED:
                raise ConnectionConfigError("connection.%s: unknown setting" % (k,))
            cfg[k] = config[k]
        for k in REQUIRED:
            if k not in cfg:
                raise ConnectionConfigError("connection.%s: required (watts; 0 turns overload "
                                            "protection off)" % k)
        self.grace_s = _int(cfg, "grace_hours", 0, 720) * 3600
        self.window = parse_window(cfg["window"])
        self.no_cut_weekdays = _weekdays(cfg["no_cut_weekdays"])
        self.holidays = _holidays(cfg["holidays"])
        self.sanctioned_load_w = _int(cfg, "sanctioned_load_w", 0, 1000000)
        margin = _int(cfg, "overload_margin_percent", 0, 100)
        # overload when power_w > limit_w; None: overload protection off
        self.limit_w = None
        if self.sanctioned_load_w:
            self.limit_w = self.sanctioned_load_w * (100 + margin) // 100
        self.trip_ms = _int(cfg, "overload_trip_s", 1, 3600) * 1000
        self.retry_ms = _int(cfg, "overload_retry_s", 1, 86400) * 1000
        self.lockout_trips = _int(cfg, "overload_lockout_trips", 1, 100)
        self.lockout_window_ms = _int(cfg, "overload_lockout_window_s", 60, 86400) * 1000

        self.closed = True
        self.reason = REASON_NONE
        self.events = []
        # credit
        self._grace_start = None  # wall second the balance was first seen exhausted
        self._credit_cut = False
        self._no_credit = False  # last update: balance <= 0 and no emergency credit
        self._trusted = False  # last update: clock trusted
        # overrides
        self._remote = False
        self._tamper = False
        # overload (durations in ms)
        self._over_ms = None  # how long power has been over the limit, None if not over
        self._retry_left_ms = None  # time left before the retry after a trip, None if none
        self._trip_ages = []  # ages of the trips inside the lockout window
        self._locked = False
        # time of the last update
        self._last_s = None
        self._last_ms = None

    # -- inputs ---------------------------------------------------------------------------
    def update(self, now_s, balance_paise, emergency_active, clock_trusted, power_w, now_ms=None):
        """Take the present inputs; return True if the relay must be closed."""
        was_closed = self.closed
        dt = self._elapsed(now_s, now_ms)
        trusted = bool(clock_trusted) and now_s is not None
        self._trusted = trusted
        self._overload(dt, power_w, was_closed)
        self._credit(now_s, balance_paise > 0 or bool(emergency_active), trusted)
        self._decide()
        return self.closed

    def set_remote(self, open):
        """Authenticated remote command: True disconnects, False lifts a remote disconnect."""
        open = bool(open)
        if open != self._remote:
            self._remote = open
            self._event("remote_disconnect" if open else "remote_connect", "")
        self._decide()
        return self.closed

    def set_tamper(self, active):
        active = bool(active)
        if active != self._tamper:
            self._tamper = active
            self._event("tamper_disconnect" if active else "tamper_cleared", "")
        self._decide()
        return self.closed

    def acknowledge(self, now_s=None):
        """The consumer pressed ENTER on an overload lockout. True if a lockout was lifted.

        `now_s` is accepted for symmetry with the other inputs; the lockout has no timing.
        """
        if not self._locked:
            return False
        self._clear_overload()
        self._event("overload_ack", "")
        self._decide()
        return True

    def reset_overload(self):
        """Technician reset: forget trips, the retry wait and any lockout."""
        active = self._locked or self._retry_left_ms is not None or self._trip_ages
        self._clear_overload()
        if active:
            self._event("overload_reset", "")
        self._decide()
        return self.closed

    def take_events(self):
        ev = self.events
        self.events = []
        return ev

    # -- queries --------------------------------------------------------------------------
    def cut_allowed(self, now_s):
        """True if `now_s` is inside the disconnection window on a day that allows it."""
        day, tod = divmod(now_s, civiltime.SECONDS_PER_DAY)
        if not self.window[0] <= tod < self.window[1]:
            return False
        return civiltime.weekday(day) not in self.no_cut_weekdays and day not in self.holidays

    def next_cut_s(self, from_s):
        """First wall second >= from_s where a credit disconnection is allowed (None: none
        within a year and a bit, e.g. a holiday list covering everything)."""
        day, tod = divmod(from_s, civiltime.SECONDS_PER_DAY)
        start, end = self.window
        for i in range(400):
            d = day + i
            if civiltime.weekday(d) in self.no_cut_weekdays or d in self.holidays:
                continue
            if i == 0:
                if tod >= end:
                    continue
                return d * civiltime.SECONDS_PER_DAY + max(tod, start)
            return d * civiltime.SECONDS_PER_DAY + start
        return None

    def grace_remaining_s(self, now_s):
        """Seconds of grace left (0: over, waiting for a window), None if no grace is running."""
        if self._grace_start is None or self._credit_cut:
            return None
        left = self._grace_start + self.grace_s - now_s
        return left if left > 0 else 0

    def overload_retry_s(self, now_s=None):
        """Seconds until the relay closes again after an overload trip, None if not tripped."""
        if self._retry_left_ms is None:
            return None
        left = self._retry_left_ms - self._since_ms(now_s)
        return _ceil_s(left) if left > 0 else 0

    def next_check_s(self, now_s):
        """Seconds from now_s to the next instant the decision could change by time alone
        (grace end reaching a window, an overload retry or trip); None: only new inputs can
        change it. 0 means call update() now."""
        best = None
        since = self._since_ms(now_s)
        if self._retry_left_ms is not None:
            best = self._min(best, _ceil_s(self._retry_left_ms - since))
        if self._over_ms is not None:
            wake = min(self.trip_ms - self._over_ms, MAX_SAMPLE_GAP_MS)
            best = self._min(best, _ceil_s(wake - since))
        if (now_s is not None and self._no_credit and self._trusted and not self._credit_cut
                and self._grace_start is not None):
            t = self.next_cut_s(max(now_s, self._grace_start + self.grace_s))
            if t is not None:
                best = self._min(best, t - now_s)
        return best

    def screen_hint(self, now_s=None):
        """Short text telling the consumer what to do ("" when there is nothing to say)."""
        r = self.reason
        if r == REASON_TAMPER:
            return "Tamper: call utility"
        if r == REASON_REMOTE:
            return "Disconnected by utility"
        if r == REASON_CREDIT:
            return "Recharge to restore"
        if r == REASON_LOCKOUT:
            return "Overload lockout: press ENTER"
        if r == REASON_OVERLOAD:
            left = self.overload_retry_s(now_s) or 0
            return "Overload: retry %d:%02d" % (left // 60, left % 60)
        if self._over_ms is not None:
            return "Overload: reduce load"
        if self._no_credit:
            t = now_s if now_s is not None else self._last_s
            left = self.grace_remaining_s(t) if t is not None else None
            if left:
                if left >= 3600:
                    return "Recharge within %dh" % ((left + 3599) // 3600)
                return "Recharge within %dm" % ((left + 59) // 60)
            return "Recharge now"
        return ""

    # -- persistence ----------------------------------------------------------------------
    def state(self):
        return {
            "v": STATE_VERSION,
            "closed": self.closed,
            "reason": self.reason,
            "grace_start": self._grace_start,
            "credit_cut": self._credit_cut,
            "no_credit": self._no_credit,
            "trusted": self._trusted,
            "remote": self._remote,
            "tamper": self._tamper,
            "ovl_over_ms": self._over_ms,
            "ovl_retry_ms": self._retry_left_ms,
            "ovl_trips": list(self._trip_ages),
            "ovl_locked": self._locked,
            "t": self._last_s,
        }

    def restore(self, st):
        """Take back a state(); a missing key keeps its fresh default."""
        if not isinstance(st, dict):
            raise ValueError("connection state: expected a dict")
        if st.get("v", STATE_VERSION) != STATE_VERSION:
            raise ValueError("connection state: unknown version %r" % (st.get("v"),))
        self._grace_start = _opt_int(st.get("grace_start"))
        self._credit_cut = bool(st.get("credit_cut", False))
        self._no_credit = bool(st.get("no_credit", self._credit_cut))
        self._trusted = bool(st.get("trusted", False))
        self._remote = bool(st.get("remote", False))
        self._tamper = bool(st.get("tamper", False))
        self._over_ms = _opt_int(st.get("ovl_over_ms"))
        self._retry_left_ms = _opt_int(st.get("ovl_retry_ms"))
        self._trip_ages = [int(a) for a in st.get("ovl_trips", ())]
        self._locked = bool(st.get("ovl_locked", False))
        self._last_s = _opt_int(st.get("t"))
        self._last_ms = None  # ticks do not survive a reset: the next update uses wall time
        self.closed = bool(st.get("closed", True))
        self.reason = st.get("reason", REASON_NONE) if not self.closed else REASON_NONE
        self._decide()

    # -- insides --------------------------------------------------------------------------
    @staticmethod
    def _min(a, b):
        if b < 0:
            b = 0
        return b if a is None or b < a else a

    def _since_ms(self, now_s):
        if now_s is None or self._last_s is None or now_s <= self._last_s:
            return 0
        return (now_s - self._last_s) * 1000

    def _event(self, code, detail):
        if len(self.events) >= MAX_EVENTS:
            self.events.pop(0)
        self.events.append((code, detail))

    def _elapsed(self, now_s, now_ms):
        dt = 0
        if now_ms is not None and self._last_ms is not None:
            dt = ticks.diff(now_ms, self._last_ms)
        elif now_s is not None and self._last_s is not None:
            dt = (now_s - self._last_s) * 1000
        self._last_ms = now_ms
        if now_s is not None:
            self._last_s = now_s
        return dt if dt > 0 else 0

    def _credit(self, now_s, has_credit, trusted):
        self._no_credit = not has_credit
        if has_credit:
            if self._grace_start is not None and not self._credit_cut:
                self._event("grace_cleared", "")
            self._grace_start = None
            self._credit_cut = False
            return
        if not trusted:
            return  # no grace start and no cut on an unset clock; a cut meter stays cut
        if self._grace_start is None:
            self._grace_start = now_s
            self._event("grace_started", civiltime.iso(now_s + self.grace_s))
        elif now_s < self._grace_start:
            self._grace_start = now_s  # clock set back: never more than a full grace from now
        if self._credit_cut:
            return
        if now_s >= self._grace_start + self.grace_s and self.cut_allowed(now_s):
            self._credit_cut = True
            self._event("disconnect_credit", civiltime.iso(now_s))

    def _overload(self, dt, power_w, was_closed):
        if self._trip_ages:
            keep = []
            for a in self._trip_ages:
                a += dt
                if a < self.lockout_window_ms:
                    keep.append(a)
            self._trip_ages = keep
        if self._retry_left_ms is not None:
            self._retry_left_ms -= dt
            if self._retry_left_ms <= 0:
                self._retry_left_ms = None
        if (self.limit_w is None or self._locked or self._retry_left_ms is not None
                or not was_closed or power_w is None or power_w <= self.limit_w):
            self._over_ms = None
            return
        if self._over_ms is None or dt > MAX_SAMPLE_GAP_MS:
            self._over_ms = 0
        else:
            self._over_ms += dt
        if self._over_ms < self.trip_ms:
            return
        self._over_ms = None
        self._trip_ages.append(0)
        n = len(self._trip_ages)
        self._event("overload_trip", "%d W > %d W, trip %d of %d"
                    % (power_w, self.limit_w, n, self.lockout_trips))
        if n >= self.lockout_trips:
            self._locked = True
            self._event("overload_lockout", "%d trips" % n)
        else:
            self._retry_left_ms = self.retry_ms

    def _clear_overload(self):
        self._locked = False
        self._retry_left_ms = None
        self._trip_ages = []
        self._over_ms = None

    def _decide(self):
        if self._tamper:
            r = REASON_TAMPER
        elif self._remote:
            r = REASON_REMOTE
        elif self._credit_cut:
            r = REASON_CREDIT
        elif self._locked:
            r = REASON_LOCKOUT
        elif self._retry_left_ms is not None:
            r = REASON_OVERLOAD
        else:
            r = REASON_NONE
        closed = r == REASON_NONE
        if closed and not self.closed:
            self._event("reconnect", self.reason)
        if not closed:
            self._over_ms = None
        self.closed = closed
        self.reason = r


def _opt_int(v):
    return None if v is None else int(v)

"""The COSEM object model of the meter (IS 15959 logical names), read from the live meter.

The table is compact data: one tuple per object (logical name, class, version, who may read
it, what it is). Values are produced on request from `src` (dlms/source.py: the running
meter's energy, measurements, account, relay, event log and block-load ring), as generators
that write one small chunk at a time, so a profile of any length goes out in blocks without
being held in memory.

Access: the public client (0x10) reads the association, the clock and the nameplate; the
reader (0x20, LLS) reads everything; the utility (0x30, HLS) reads everything, sets the clock
and operates the disconnect control.
"""
import civiltime
from dlms import axdr
from dlms.xdlms import (PUBLIC, READER, UTILITY, Refused, DENIED, UNDEFINED, CLASS_INCONSISTENT,
                        TYPE_UNMATCHED, SCOPE_VIOLATED, UNAVAILABLE, OTHER, CONFORMANCE, PDU_SIZE)


def ln(text):
    """'1.0.1.8.0.255' -> 6 bytes (used when the table is built, once)."""
    return bytes(int(x) for x in text.split("."))


def obis(b):
    return "%d.%d.%d.%d.%d.%d" % tuple(b)


# units (IEC 62056-6-2)
U_TIME_S = 7
U_W = 27
U_WH = 30
U_A = 33
U_V = 35
U_HZ = 44
U_NONE = 255

CLOCK = ln("0.0.1.0.0.255")
ASSOC = ln("0.0.40.0.0.255")
SERIAL = ln("0.0.96.1.0.255")
MAKER = ln("0.0.96.1.1.255")
FIRMWARE = ln("1.0.0.2.0.255")
METER_TYPE = ln("0.0.94.91.9.255")
CATEGORY = ln("0.0.94.91.11.255")
RATING = ln("0.0.94.91.12.255")
NAMEPLATE = ln("0.0.94.91.10.255")
CAPTURE_PERIOD = ln("1.0.0.8.4.255")
IMPORT = ln("1.0.1.8.0.255")
EXPORT = ln("1.0.2.8.0.255")
VOLTAGE = ln("1.0.12.7.0.255")
CURRENT = ln("1.0.11.7.0.255")
POWER = ln("1.0.1.7.0.255")
PF = ln("1.0.13.7.0.255")
FREQ = ln("1.0.14.7.0.255")
BLOCK_IMPORT = ln("1.0.1.29.0.255")
BLOCK_EXPORT = ln("1.0.2.29.0.255")
AVG_VOLTAGE = ln("1.0.12.27.0.255")
INSTANT = ln("1.0.94.91.0.255")
BLOCK_LOAD = ln("1.0.99.1.0.255")
DAILY = ln("1.0.99.2.0.255")
BILLING = ln("1.0.98.1.0.255")
DISCONNECT = ln("0.0.96.3.10.255")
LIMITER = ln("0.0.17.0.0.255")
METERING_MODE = ln("0.0.94.96.19.255")
PAYMENT_MODE = ln("0.0.94.96.20.255")
LAST_RECHARGE = ln("0.0.94.96.21.255")
LAST_RECHARGE_TIME = ln("0.0.94.96.22.255")
TOTAL_AT_RECHARGE = ln("0.0.94.96.23.255")
BALANCE = ln("0.0.94.96.24.255")
BALANCE_TIME = ln("0.0.94.96.25.255")
ARREARS = ln("0.0.94.96.26.255")

# object kinds
K_ASSOC, K_CLOCK, K_DATA, K_REG, K_PROFILE, K_DISCONNECT, K_LIMITER = range(7)

# registers: logical name -> (A-XDR type, scaler, unit)
REGISTERS = {
    IMPORT: (axdr.UINT32, 0, U_WH),
    EXPORT: (axdr.UINT32, 0, U_WH),
    VOLTAGE: (axdr.UINT16, -2, U_V),
    CURRENT: (axdr.UINT32, -3, U_A),
    POWER: (axdr.INT32, 0, U_W),
    PF: (axdr.INT16, -3, U_NONE),
    FREQ: (axdr.UINT16, -2, U_HZ),
    BLOCK_IMPORT: (axdr.UINT32, 0, U_WH),
    BLOCK_EXPORT: (axdr.UINT32, 0, U_WH),
    AVG_VOLTAGE: (axdr.UINT16, -2, U_V),
}

EVENT_GROUPS = 7  # 0 voltage, 1 current, 2 power, 3 transaction, 4 other, 5 non-rollover, 6 control
EVENT_PROFILE = [ln("0.0.99.98.%d.255" % g) for g in range(EVENT_GROUPS)]
EVENT_CODE = [ln("0.0.96.11.%d.255" % g) for g in range(EVENT_GROUPS)]

# the meter's event log codes -> (IS 15959 group, event id); docs/dlms.md lists them
EVENT_IDS = {
    "overload_trip": (1, 51), "overload_ack": (1, 52), "overload_reset": (1, 52),
    "power_fail": (2, 101), "boot": (2, 102),
    "clock_set": (3, 151), "provisioned": (3, 152), "credit": (3, 153), "emergency_credit": (3, 154),
    "link_key_set": (3, 155), "dlms_clock_set": (3, 151),
    "tamper_disconnect": (4, 201), "tamper_cleared": (4, 202), "clock_jump": (4, 203),
    "clock_lost": (4, 204), "metering_ic_error": (4, 205),
    "cover_open": (5, 251),
    "relay_open": (6, 301), "relay_closed": (6, 302),
}

# profiles: logical name -> capture objects ((class, logical name, attribute), ...)
_CLOCK_COL = (8, CLOCK, 2)
PROFILES = {
    NAMEPLATE: ((1, SERIAL, 2), (1, MAKER, 2), (1, FIRMWARE, 2), (1, METER_TYPE, 2), (1, CATEGORY, 2),
                (1, RATING, 2)),
    INSTANT: (_CLOCK_COL, (3, VOLTAGE, 2), (3, CURRENT, 2), (3, POWER, 2), (3, PF, 2), (3, FREQ, 2),
              (3, IMPORT, 2), (3, EXPORT, 2)),
    BLOCK_LOAD: (_CLOCK_COL, (3, BLOCK_IMPORT, 2), (3, BLOCK_EXPORT, 2), (3, AVG_VOLTAGE, 2)),
    DAILY: (_CLOCK_COL, (3, IMPORT, 2), (3, EXPORT, 2), (1, BALANCE, 2)),
    BILLING: (_CLOCK_COL, (3, IMPORT, 2), (3, EXPORT, 2)),
    ln("1.0.94.91.3.255"): ((3, VOLTAGE, 3), (3, CURRENT, 3), (3, POWER, 3), (3, PF, 3), (3, FREQ, 3),
                            (3, IMPORT, 3), (3, EXPORT, 3)),
    ln("1.0.94.91.4.255"): ((3, BLOCK_IMPORT, 3), (3, BLOCK_EXPORT, 3), (3, AVG_VOLTAGE, 3)),
    ln("1.0.94.91.5.255"): ((3, IMPORT, 3), (3, EXPORT, 3)),
    ln("1.0.94.91.6.255"): ((3, IMPORT, 3), (3, EXPORT, 3)),
    ln("1.0.94.91.7.255"): (),
}
for _g in range(EVENT_GROUPS):
    PROFILES[EVENT_PROFILE[_g]] = (_CLOCK_COL, (1, EVENT_CODE[_g], 2))

# the object table: (logical name, class, version, lowest association that reads it, kind)
TABLE = [
    (ASSOC, 15, 1, PUBLIC, K_ASSOC),
    (CLOCK, 8, 0, PUBLIC, K_CLOCK),
    (SERIAL, 1, 0, PUBLIC, K_DATA),
    (MAKER, 1, 0, PUBLIC, K_DATA),
    (FIRMWARE, 1, 0, PUBLIC, K_DATA),
    (METER_TYPE, 1, 0, PUBLIC, K_DATA),
    (CATEGORY, 1, 0, PUBLIC, K_DATA),
    (RATING, 1, 0, PUBLIC, K_DATA),
    (NAMEPLATE, 7, 1, PUBLIC, K_PROFILE),
    (CAPTURE_PERIOD, 1, 0, READER, K_DATA),
]
for _r in (IMPORT, EXPORT, VOLTAGE, CURRENT, POWER, PF, FREQ, BLOCK_IMPORT, BLOCK_EXPORT, AVG_VOLTAGE):
    TABLE.append((_r, 3, 0, READER, K_REG))
for _p in PROFILES:
    if _p != NAMEPLATE:
        TABLE.append((_p, 7, 1, READER, K_PROFILE))
for _g in range(EVENT_GROUPS):
    TABLE.append((EVENT_CODE[_g], 1, 0, READER, K_DATA))
for _d in (METERING_MODE, PAYMENT_MODE, LAST_RECHARGE, LAST_RECHARGE_TIME, TOTAL_AT_RECHARGE, BALANCE,
           BALANCE_TIME, ARREARS):
    TABLE.append((_d, 1, 0, READER, K_DATA))
TABLE.append((DISCONNECT, 70, 0, READER, K_DISCONNECT))
TABLE.append((LIMITER, 71, 0, READER, K_LIMITER))
TABLE = tuple(TABLE)

ATTRIBUTES = {K_ASSOC: 9, K_CLOCK: 9, K_DATA: 2, K_REG: 3, K_PROFILE: 8, K_DISCONNECT: 4, K_LIMITER: 11}
METHODS = {K_ASSOC: 1, K_DISCONNECT: 2}


def _writable(kind, attr):
    return kind == K_CLOCK and attr == 2


def find(name):
    for i in range(len(TABLE)):
        if TABLE[i][0] == name:
            return i
    return -1


class Model:
    """Answers GET/SET/ACTION for the table above from the meter `src`."""

    def __init__(self, src):
        self.src = src

    def _lookup(self, level, cls, name):
        i = find(name)
        if i < 0:
            raise Refused(UNDEFINED)
        entry = TABLE[i]
        if entry[1] != cls:
            raise Refused(CLASS_INCONSISTENT)
        if level < entry[3]:
            raise Refused(DENIED)  # the object is not in this association's list
        return entry

    # -- GET ---------------------------------------------------------------------------------
    def get(self, level, cls, name, attr, sel, w):
        name_, _cls, ver, _lvl, kind = self._lookup(level, cls, name)
        if attr < 1 or attr > ATTRIBUTES[kind]:
            raise Refused(UNDEFINED)
        if kind == K_ASSOC and attr == 7:
            raise Refused(DENIED)  # the secret is never read
        if sel is not None and not (kind == K_PROFILE and attr == 2):
            raise Refused(SCOPE_VIOLATED)
        if attr == 1:
            return _one(w.octets, name)
        if kind == K_PROFILE:
            return self._profile(name, attr, sel, w)
        if kind == K_ASSOC:
            return self._association(level, attr, w)
        return _one(self._value, kind, name, attr, w)

    def _value(self, kind, name, attr, w):
        s = self.src
        if kind == K_REG:
            if attr == 3:
                t, scaler, unit = REGISTERS[name]
                w.scaler_unit(scaler, unit)
            else:
                w.integer(REGISTERS[name][0], self._register(name))
        elif kind == K_DATA:
            self._data(name, w)
        elif kind == K_CLOCK:
            self._clock(attr, w)
        elif kind == K_DISCONNECT:
            closed = s.relay_closed()
            if attr == 2:
                w.boolean(closed)
            elif attr == 3:
                w.integer(axdr.ENUM, 1 if closed else 0)
            else:
                w.integer(axdr.ENUM, 2)  # control mode 2: remote/local disconnect, remote reconnect
        elif kind == K_LIMITER:
            self._limiter(attr, w)

    def _register(self, name):
        s = self.src
        if name == IMPORT:
            return s.import_mwh() // 1000
        if name == EXPORT:
            return s.export_mwh() // 1000
        if name in (BLOCK_IMPORT, BLOCK_EXPORT, AVG_VOLTAGE):
            imp, exp, volts = s.block_now()
            return imp // 1000 if name == BLOCK_IMPORT else (exp // 1000 if name == BLOCK_EXPORT else volts)
        m = s.measurements()
        if name == VOLTAGE:
            return m.volts_cv
        if name == CURRENT:
            return m.current_ma
        if name == POWER:
            return m.power_w
        if name == PF:
            return m.pf_milli
        return m.freq_chz

    def _data(self, name, w):
        s = self.src
        if name == SERIAL:
            w.visible(s.serial())
        elif name == MAKER:
            w.visible(s.manufacturer())
        elif name == FIRMWARE:
            w.visible(s.firmware())
        elif name == METER_TYPE:
            w.integer(axdr.UINT8, 5)  # single phase, two wire (IS 15959)
        elif name == CATEGORY:
            w.visible("C1")
        elif name == RATING:
            w.visible(s.rating())
        elif name == CAPTURE_PERIOD:
            w.integer(axdr.UINT32, s.capture_period_s())
        elif name == METERING_MODE:
            w.integer(axdr.UINT8, 0)  # import billed (export metered, not credited)
        elif name == PAYMENT_MODE:
            w.integer(axdr.UINT8, 1)  # prepaid
        elif name == LAST_RECHARGE:
            w.integer(axdr.UINT32, s.last_recharge()[0])
        elif name == LAST_RECHARGE_TIME:
            t = s.last_recharge()[1]
            w.datetime(t if t is not None and t >= 0 else None)
        elif name == TOTAL_AT_RECHARGE:
            w.integer(axdr.INT32, s.balance_at_recharge())
        elif name == BALANCE:
            w.integer(axdr.INT32, s.balance_paise())
        elif name == BALANCE_TIME:
            w.datetime(s.now_s())
        elif name == ARREARS:
            w.integer(axdr.UINT32, s.arrears_paise())
        else:
            for g in range(EVENT_GROUPS):
                if name == EVENT_CODE[g]:
                    w.integer(axdr.UINT16, s.last_event_id(g))
                    return
            raise Refused(UNAVAILABLE)

    def _clock(self, attr, w):
        s = self.src
        if attr == 2:
            now = s.now_s()
            w.datetime(now, axdr.NOT_SPECIFIED_DEVIATION, 0 if s.clock_trusted() else 0x01)
        elif attr == 3:
            w.integer(axdr.INT16, 330)  # IST, minutes from UTC (docs/dlms.md)
        elif attr == 4:
            w.integer(axdr.UINT8, 0 if s.clock_trusted() else 0x01)
        elif attr in (5, 6):
            w.datetime(None)
        elif attr == 7:
            w.integer(axdr.INT8, 0)
        elif attr == 8:
            w.boolean(False)  # India keeps no daylight saving
        else:
            w.integer(axdr.ENUM, 1)  # crystal

    def _limiter(self, attr, w):
        s = self.src
        sanctioned, limit, trip_s, retry_s = s.limiter()
        if attr == 2:
            w.structure(3)
            w.integer(axdr.UINT16, 3)
            w.octets(POWER)
            w.integer(axdr.INT8, 2)
        elif attr == 3:
            w.integer(axdr.INT32, limit)
        elif attr in (4, 5):
            w.integer(axdr.INT32, sanctioned)
        elif attr == 6:
            w.integer(axdr.UINT32, trip_s)
        elif attr == 7:
            w.integer(axdr.UINT32, retry_s)
        elif attr == 8:
            w.structure(3)
            w.integer(axdr.UINT16, 0)
            w.datetime(None)
            w.integer(axdr.UINT32, 0)
        elif attr == 9:
            w.array(0)
        elif attr == 10:
            w.boolean(False)
        else:
            w.structure(2)
            for _ in range(2):
                w.structure(2)
                w.octets(bytes(6))
                w.integer(axdr.UINT16, 0)

    # -- association object --------------------------------------------------------------------
    def _association(self, level, attr, w):
        if attr == 2:
            return self._object_list(level, w)
        return _one(self._assoc_attr, level, attr, w)

    def _assoc_attr(self, level, attr, w):
        if attr == 3:
            w.structure(2)
            w.integer(axdr.INT8, (0x10, 0x20, 0x30)[level])
            w.integer(axdr.UINT16, 1)
        elif attr == 4:
            w.octets(b"\x60\x85\x74\x05\x08\x01\x01")
        elif attr == 5:
            w.structure(6)
            w.byte(axdr.BIT_STRING)
            w.byte(24)
            w.uint(CONFORMANCE, 3)
            w.integer(axdr.UINT16, PDU_SIZE)
            w.integer(axdr.UINT16, PDU_SIZE)
            w.integer(axdr.UINT8, 6)
            w.integer(axdr.INT8, 0)
            w.octets(b"")
        elif attr == 6:
            w.octets(b"\x60\x85\x74\x05\x08\x02" + bytes(((0, 1, 5)[level],)))
        elif attr == 8:
            w.integer(axdr.ENUM, 2)  # associated
        else:
            w.octets(bytes(6))  # no security setup object

    def _object_list(self, level, w):
        """Attribute 2: the objects this association may use, with its access rights."""
        count = 0
        for e in TABLE:
            if level >= e[3]:
                count += 1
        w.array(count)
        yield
        for e in TABLE:
            if level < e[3]:
                continue
            name, cls, ver, _lvl, kind = e
            w.structure(4)
            w.integer(axdr.UINT16, cls)
            w.integer(axdr.UINT8, ver)
            w.octets(name)
            w.structure(2)
            n = ATTRIBUTES[kind]
            w.array(n)
            for a in range(1, n + 1):
                w.structure(3)
                w.integer(axdr.INT8, a)
                mode = 1
                if kind == K_ASSOC and a == 7:
                    mode = 0
                elif level == UTILITY and _writable(kind, a):
                    mode = 3
                w.integer(axdr.ENUM, mode)
                w.null()
            m = METHODS.get(kind, 0)
            w.array(m)
            for a in range(1, m + 1):
                w.structure(2)
                w.integer(axdr.INT8, a)
                w.integer(axdr.ENUM, 1 if (kind == K_ASSOC or level == UTILITY) else 0)
            yield

    # -- profiles ----------------------------------------------------------------------------
    def _profile(self, name, attr, sel, w):
        cols = PROFILES[name]
        if attr == 3:
            return self._captures(cols, w)
        if attr == 2:
            return self._buffer(name, cols, sel, w)
        return _one(self._profile_attr, name, attr, w)

    def _profile_attr(self, name, attr, w):
        if attr == 4:
            w.integer(axdr.UINT32, self.src.capture_period_s() if name == BLOCK_LOAD else 0)
        elif attr == 5:
            w.integer(axdr.ENUM, 1)  # FIFO
        elif attr == 6:
            w.structure(4)
            w.integer(axdr.UINT16, 0)
            w.octets(bytes(6))
            w.integer(axdr.INT8, 0)
            w.integer(axdr.UINT16, 0)
        elif attr in (7, 8):
            w.integer(axdr.UINT32, self._entries(name) if attr == 7 else self._capacity(name))

    def _captures(self, cols, w):
        w.array(len(cols))
        for c in cols:
            w.structure(4)
            w.integer(axdr.UINT16, c[0])
            w.octets(c[1])
            w.integer(axdr.INT8, c[2])
            w.integer(axdr.UINT16, 0)
        yield

    def _entries(self, name):
        s = self.src
        if name == BLOCK_LOAD:
            return s.block_count()
        if name == DAILY:
            return len(s.daily())
        if name == BILLING:
            return len(s.billing())
        for g in range(EVENT_GROUPS):
            if name == EVENT_PROFILE[g]:
                return s.event_count(g)
        return 1

    def _capacity(self, name):
        s = self.src
        if name == BLOCK_LOAD:
            return s.block_capacity()
        if name == DAILY:
            return s.daily_capacity()
        if name == BILLING:
            return s.billing_capacity()
        if name in EVENT_PROFILE:
            return s.event_capacity()
        return 1

    def _buffer(self, name, cols, sel, w):
        """Attribute 2 of a profile: rows oldest first, filtered by the selective access."""
        first, last, t_from, t_to, c_from, c_to = 1, 0, None, None, 1, len(cols)
        if sel is not None:
            sid, arg = sel
            try:
                if sid == 1:  # range descriptor: restricting object, from, to, selected values
                    t_from = axdr.datetime_seconds(arg[1])
                    t_to = axdr.datetime_seconds(arg[2])
                    if t_from is None or t_to is None or arg[0][1] != CLOCK:
                        raise Refused(OTHER)
                    if arg[3]:
                        c_from, c_to = _columns(cols, arg[3])
                elif sid == 2:  # entry descriptor: from entry, to entry, from value, to value
                    first, last = arg[0], arg[1]
                    c_from = arg[2] if arg[2] else 1
                    c_to = arg[3] if arg[3] else len(cols)
                    if first < 1 or (last and last < first) or c_from > c_to or c_to > len(cols):
                        raise Refused(OTHER)
                else:
                    raise Refused(OTHER)
            except (TypeError, IndexError):
                raise Refused(TYPE_UNMATCHED)
        rows = self._rows(name)
        count = self._entries(name) if t_from is None else None
        return self._emit(rows, count, first, last, t_from, t_to, c_from, c_to, w)

    def _emit(self, rows, count, first, last, t_from, t_to, c_from, c_to, w):
        ncol = c_to - c_from + 1
        if count is not None:
            # entry selection: the count is known before the rows
            n = count
            if last and last < n:
                n = last
            n = n - first + 1
            if n < 0:
                n = 0
            w.array(n)
            yield
            k = 0
            sent = 0
            for row in rows:
                k += 1
                if k < first:
                    continue
                if sent >= n:
                    break
                self._row(row, c_from, ncol, w)
                sent += 1
                yield
            while sent < n:  # the source shrank while we read: keep the promised count
                w.structure(0)
                sent += 1
                yield
            return
        # date range: count the rows first (one pass), then send them (a second pass)
        n = 0
        for row in rows:
            t = row[0]
            if t is not None and t_from <= t <= t_to:
                n += 1
        w.array(n)
        yield
        sent = 0
        for row in self._rows_again():
            t = row[0]
            if t is not None and t_from <= t <= t_to and sent < n:
                self._row(row, c_from, ncol, w)
                sent += 1
                yield
        while sent < n:
            w.structure(0)
            sent += 1
            yield

    def _row(self, row, c_from, ncol, w):
        w.structure(ncol)
        for c in range(c_from - 1, c_from - 1 + ncol):
            _cell(row[c], row[-1][c], w)

    def _rows(self, name):
        self._again = name
        return self._row_source(name)

    def _rows_again(self):
        return self._row_source(self._again)

    def _row_source(self, name):
        """Rows as tuples: values, then last a tuple of each column's A-XDR type (0: date-time;
        2: a structure of scaler and unit)."""
        s = self.src
        if name == NAMEPLATE:
            t = (axdr.VISIBLE_STRING,) * 4
            yield (s.serial(), s.manufacturer(), s.firmware(), 5, "C1", s.rating(),
                   (axdr.VISIBLE_STRING, axdr.VISIBLE_STRING, axdr.VISIBLE_STRING, axdr.UINT8,
                    axdr.VISIBLE_STRING, axdr.VISIBLE_STRING))
        elif name == INSTANT:
            m = s.measurements()
            yield (s.now_s(), m.volts_cv, m.current_ma, m.power_w, m.pf_milli, m.freq_chz,
                   s.import_mwh() // 1000, s.export_mwh() // 1000,
                   (0, axdr.UINT16, axdr.UINT32, axdr.INT32, axdr.INT16, axdr.UINT16, axdr.UINT32,
                    axdr.UINT32))
        elif name == BLOCK_LOAD:
            types = (0, axdr.UINT32, axdr.UINT32, axdr.UINT16)
            for t, imp, exp, volts in s.block_rows():
                yield (t, imp // 1000, exp // 1000, volts, types)
        elif name == DAILY:
            types = (0, axdr.UINT32, axdr.UINT32, axdr.INT32)
            for t, imp, exp, bal in s.daily_rows():
                yield (t, imp // 1000, exp // 1000, bal, types)
        elif name == BILLING:
            types = (0, axdr.UINT32, axdr.UINT32)
            for t, imp, exp in s.billing_rows():
                yield (t, imp // 1000, exp // 1000, types)
        elif name in EVENT_PROFILE:
            g = EVENT_PROFILE.index(name)
            types = (0, axdr.UINT16)
            for t, eid in s.event_rows(g):
                yield (t, eid, types)
        else:
            cols = PROFILES[name]
            row = []
            for c in cols:
                row.append(REGISTERS[c[1]][1:])
            row.append((2,) * len(cols))
            yield tuple(row)

    # -- SET / ACTION --------------------------------------------------------------------------
    def set(self, level, cls, name, attr, value):
        entry = self._lookup(level, cls, name)
        kind = entry[4]
        if attr < 1 or attr > ATTRIBUTES[kind]:
            raise Refused(UNDEFINED)
        if not _writable(kind, attr) or level < UTILITY:
            raise Refused(DENIED)
        secs = axdr.datetime_seconds(value)
        if secs is None:
            raise Refused(TYPE_UNMATCHED)
        self.src.set_clock(secs)

    def action(self, level, cls, name, method, param):
        entry = self._lookup(level, cls, name)
        kind = entry[4]
        if method < 1 or method > METHODS.get(kind, 0):
            raise Refused(UNDEFINED)
        if level < UTILITY:
            raise Refused(DENIED)
        if kind == K_DISCONNECT:
            if param != 0:
                raise Refused(TYPE_UNMATCHED)
            self.src.remote_relay(method == 1)
            return
        raise Refused(DENIED)


def _columns(cols, selected):
    """A contiguous column range from a range descriptor's selected values (capture objects)."""
    idx = []
    for s in selected:
        for k in range(len(cols)):
            if cols[k][1] == s[1] and cols[k][2] == s[2]:
                idx.append(k + 1)
    if not idx:
        raise Refused(OTHER)
    lo, hi = min(idx), max(idx)
    if hi - lo + 1 != len(idx):
        raise Refused(OTHER)
    return lo, hi


def _cell(v, t, w):
    if t == 0:
        w.datetime(v)
    elif t == 2:
        w.scaler_unit(v[0], v[1])
    elif t == axdr.VISIBLE_STRING:
        w.visible(v)
    else:
        w.integer(t, v)


def _one(fn, *args):
    """A value that is one chunk: a generator that writes it once."""
    fn(*args)
    yield


def midnight_after(day):
    return (day + 1) * civiltime.SECONDS_PER_DAY

"""A-XDR encoding of COSEM data (IEC 62056-6-2 / Green Book): tags, lengths, date-time.

`Writer` appends tagged values to a caller's bytearray at a position and never allocates; it
raises `Overflow` when the buffer is full so the caller can send what it has (GET with blocks).
`read(buf, pos)` decodes one tagged value into ints, bytes, str, lists (for SET values, ACTION
parameters and selective-access descriptors, which are small).
"""
import civiltime

NULL = 0
ARRAY = 1
STRUCTURE = 2
BOOLEAN = 3
BIT_STRING = 4
INT32 = 5
UINT32 = 6
OCTET_STRING = 9
VISIBLE_STRING = 10
UTF8_STRING = 12
INT8 = 15
INT16 = 16
UINT8 = 17
UINT16 = 18
INT64 = 20
UINT64 = 21
ENUM = 22

# size in bytes of each fixed-size type by tag (0: not a fixed-size type): boolean 3, integers,
# enum 22, float32 23, float64 24, date-time 25, date 26, time 27
_SIZE = b"\x00\x00\x00\x01\x00\x04\x04\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x01\x02\x00\x08\x08\x01\x04\x08\x0c\x05\x04"


def _signed(tag):
    return tag == INT32 or tag == INT8 or tag == INT16 or tag == INT64

NOT_SPECIFIED_DEVIATION = 0x8000


class Overflow(Exception):
    pass


class DecodeError(ValueError):
    pass


class Writer:
    """Appends A-XDR to buf[pos:]. `n` is the position after the last byte written."""

    def __init__(self, buf, pos=0, end=None):
        self.buf = buf
        self.n = pos
        self.end = len(buf) if end is None else end

    def byte(self, b):
        if self.n >= self.end:
            raise Overflow()
        self.buf[self.n] = b
        self.n += 1

    def raw(self, data):
        k = len(data)
        if self.n + k > self.end:
            raise Overflow()
        self.buf[self.n:self.n + k] = data
        self.n += k

    def length(self, k):
        """BER-style length: one byte below 128, else 0x81/0x82 and the bytes."""
        if k < 0x80:
            self.byte(k)
        elif k < 0x100:
            self.byte(0x81)
            self.byte(k)
        else:
            self.byte(0x82)
            self.byte(k >> 8)
            self.byte(k & 0xFF)

    def uint(self, v, size):
        for s in range((size - 1) * 8, -8, -8):
            self.byte((v >> s) & 0xFF)

    # tagged values ---------------------------------------------------------------------------
    def null(self):
        self.byte(NULL)

    def array(self, count):
        self.byte(ARRAY)
        self.length(count)

    def structure(self, count):
        self.byte(STRUCTURE)
        self.length(count)

    def boolean(self, v):
        self.byte(BOOLEAN)
        self.byte(1 if v else 0)

    def integer(self, tag, v):
        """Any fixed-size integer type (INT8 ... UINT64, ENUM); negative values in two's complement."""
        size = _SIZE[tag]
        if v < 0:
            v += 1 << (8 * size)
        self.byte(tag)
        self.uint(v, size)

    def octets(self, data):
        self.byte(OCTET_STRING)
        self.length(len(data))
        self.raw(data)

    def visible(self, text):
        data = text.encode() if isinstance(text, str) else text
        self.byte(VISIBLE_STRING)
        self.length(len(data))
        self.raw(data)

    def datetime(self, secs, deviation=NOT_SPECIFIED_DEVIATION, status=0):
        """A COSEM date-time as the octet-string of 12 bytes that clocks and profiles use;
        None writes the 'not specified' value."""
        self.byte(OCTET_STRING)
        self.byte(12)
        self.datetime_bytes(secs, deviation, status)

    def datetime_bytes(self, secs, deviation=NOT_SPECIFIED_DEVIATION, status=0):
        if secs is None:
            self.raw(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\xff")
            return
        y, mo, d, hh, mm, ss, wd = civiltime.civil(secs)
        self.uint(y, 2)
        self.byte(mo)
        self.byte(d)
        self.byte(wd + 1)  # COSEM: 1 = Monday
        self.byte(hh)
        self.byte(mm)
        self.byte(ss)
        self.byte(0)  # hundredths
        self.uint(deviation & 0xFFFF, 2)
        self.byte(status)

    def scaler_unit(self, scaler, unit):
        self.structure(2)
        self.integer(INT8, scaler)
        self.integer(ENUM, unit)


def read_length(buf, pos):
    b = buf[pos]
    pos += 1
    if b < 0x80:
        return b, pos
    k = b & 0x7F
    if k == 0 or k > 2:
        raise DecodeError("length form")
    v = 0
    for _ in range(k):
        v = (v << 8) | buf[pos]
        pos += 1
    return v, pos


def read(buf, pos, end=None, depth=0):
    """Decode one tagged value at buf[pos]: (value, next position). Arrays and structures become
    lists; strings bytes (octet) or str (visible); integers ints."""
    if end is None:
        end = len(buf)
    if depth > 8:
        raise DecodeError("nesting too deep")
    try:
        if pos >= end:
            raise DecodeError("truncated")
        tag = buf[pos]
        pos += 1
        if tag == NULL:
            return None, pos
        if tag in (ARRAY, STRUCTURE):
            count, pos = read_length(buf, pos)
            if count > 64:
                raise DecodeError("too many elements")
            out = []
            for _ in range(count):
                v, pos = read(buf, pos, end, depth + 1)
                out.append(v)
            return out, pos
        if tag in (OCTET_STRING, VISIBLE_STRING, UTF8_STRING, BIT_STRING):
            k, pos = read_length(buf, pos)
            if tag == BIT_STRING:
                k = (k + 7) // 8
            if pos + k > end:
                raise DecodeError("truncated")
            data = bytes(buf[pos:pos + k])
            if tag in (VISIBLE_STRING, UTF8_STRING):
                data = data.decode()
            return data, pos + k
        size = _SIZE[tag] if tag < len(_SIZE) else 0
        if not size:
            raise DecodeError("type %d not supported" % tag)
        if pos + size > end:
            raise DecodeError("truncated")
        if tag >= 23:  # floats, date-time, date, time: raw bytes
            return bytes(buf[pos:pos + size]), pos + size
        v = 0
        for i in range(size):
            v = (v << 8) | buf[pos + i]
        if _signed(tag) and v >= 1 << (8 * size - 1):
            v -= 1 << (8 * size)
        if tag == BOOLEAN:
            v = v != 0
        return v, pos + size
    except IndexError:
        raise DecodeError("truncated")


def datetime_seconds(data):
    """Seconds since 2000 (local) from a 12-byte COSEM date-time; None if not a full date-time."""
    if not isinstance(data, (bytes, bytearray)) or len(data) != 12:
        return None
    y = (data[0] << 8) | data[1]
    mo, d, hh, mm, ss = data[2], data[3], data[5], data[6], data[7]
    if y == 0xFFFF or mo > 12 or mo < 1 or d < 1 or d > 31 or hh > 23 or mm > 59 or ss > 59:
        return None
    if y < 2000 or d > civiltime.days_in_month(y, mo):
        return None
    return civiltime.seconds(y, mo, d, hh, mm, ss)

"""Power-cut-safe records and logs on the flash filesystem (pure; never imports machine).

Store(root): named records (JSON-able dicts), each kept as two files `name.a` / `name.b`:

    header 12 bytes  <4sII  magic b"MRc2", seq (u32), length (u32)
    payload          `length` bytes of compact UTF-8 JSON
    trailer 4 bytes  <I     crc32 over the record name, the header and the payload, so a copy
                            renamed or truncated, torn or bit-flipped never validates.
    The CRC trails the payload so the JSON can be streamed into the file as it is produced.

save() writes the slot that does NOT hold the newest valid copy, with seq = newest + 1, in one
file write, and returns only after the filesystem has committed it (close). The newest copy is
never touched, so a power cut at any instant leaves either the previous value or the new one.
load() validates both copies and returns the valid one with the higher seq; a copy that exists
but fails validation is reported by discarded() as (name, slot, reason).

Log(store_or_root, name, capacity, seg_bytes): bounded append-only log in segment files
`name.<n>` (n increasing). Each record is framed

    header 8 bytes   <BBHI  magic 0x4C, version 1, length (u16), crc32 (header 0..3 + payload)
    payload          `length` bytes of compact UTF-8 JSON

append() opens the newest segment for append and writes one framed record (one small write),
starting a new segment when this one would pass seg_bytes; whole oldest segments are deleted
once the remaining ones still hold `capacity` records. A record that fails its check ends that
segment's valid part (reported through discarded()); a bad tail in the newest segment makes the
next append start a new segment, so a good record never follows a bad one.

See docs/persistence.md for the formats and what a power cut at each step leaves.
"""
import io
import json
import os
import struct
from binascii import crc32

MAGIC = b"MRc2"
HEADER = "<4sII"
HEADER_LEN = 12
MAX_RECORD = 16384  # payload bytes; a longer length field is corruption (bounds memory at load)

LOG_MAGIC = 0x4C
LOG_VERSION = 1
LOG_HEADER = "<BBHI"
LOG_HEADER_LEN = 8
LOG_MAX_RECORD = 4096

SLOTS = ("a", "b")

_ENOENT = 2
_EEXIST = 17


def _encode(obj):
    try:
        s = json.dumps(obj, separators=(",", ":"))
    except TypeError:  # very old MicroPython json without separators
        s = json.dumps(obj)
    return s.encode()


class _Sink(io.IOBase):
    """What json.dump writes: counted, checksummed and passed on to a file if one is given.
    (A stream class, as MicroPython's json.dump writes only to streams.)"""

    def __init__(self, crc=0, f=None):
        self.crc = crc
        self.n = 0
        self.f = f

    def write(self, piece):
        b = piece.encode() if isinstance(piece, str) else piece
        self.crc = crc32(b, self.crc)
        self.n += len(b)
        if self.f is not None:
            self.f.write(b)
        return len(b)


def _dump(obj, stream):
    try:
        json.dump(obj, stream, separators=(",", ":"))
    except TypeError:  # very old MicroPython json without separators
        json.dump(obj, stream)


def _check_name(name):
    if not name or not isinstance(name, str):
        raise ValueError("bad record name")
    for ch in name:
        if not (ch.isalpha() or ch.isdigit() or ch in "_-"):
            raise ValueError("bad record name %r" % name)


def _join(root, fname):
    if not root:
        return fname
    if root.endswith("/"):
        return root + fname
    return root + "/" + fname


def _makedirs(path):
    if not path or path == "/":
        return
    parts = path.split("/")
    cur = "/" if path.startswith("/") else ""
    for p in parts:
        if not p:
            continue
        cur = _join(cur, p) if cur else p
        try:
            os.mkdir(cur)
        except OSError as e:
            if e.args[0] != _EEXIST:
                raise


def _errno(e):
    return e.args[0] if e.args else None


def _close(f):
    # CPython (host tests) buffers writes; flush so close has nothing left to lose.
    f.flush()
    f.close()


def _write_file(path, data, mode):
    """Write `data` and close (the commit). Returns only when the filesystem has committed it."""
    f = open(path, mode)
    try:
        f.write(data)
        _close(f)
    except BaseException:
        # The write or the commit failed (or the power went): close again so the file object
        # is marked closed and no finaliser retries the commit later; keep the first error.
        try:
            f.close()
        except BaseException:
            pass
        raise


class Store:
    """A/B checksummed records in directory `root` (created if missing)."""

    def __init__(self, root):
        self.root = root
        _makedirs(root)
        self.writes = 0  # file writes (one per save / append)
        self._meta = {}  # name -> (seq, slot) of the newest valid copy; seq 0/slot None: none
        self._disc = []

    def path(self, name, slot):
        return _join(self.root, "%s.%s" % (name, slot))

    # -- reading --------------------------------------------------------------------------
    def _read_slot(self, name, slot):
        """(seq, payload bytes) of a valid copy, None if absent, or a reason string if bad."""
        try:
            f = open(self.path(name, slot), "rb")
        except OSError as e:
            if _errno(e) == _ENOENT:
                return None
            return "io %s" % _errno(e)
        try:
            head = f.read(HEADER_LEN)
            if len(head) < HEADER_LEN:
                return "short"
            magic, seq, length = struct.unpack(HEADER, head)
            if magic != MAGIC:
                return "magic"
            if length > MAX_RECORD:
                return "length"
            payload = f.read(length) if length else b""
            if len(payload) != length:
                return "length"
            tail = f.read(4)
            if len(tail) != 4 or f.read(1):
                return "length"
            crc = struct.unpack("<I", tail)[0]
            c = crc32(name.encode())
            c = crc32(head, c)
            c = crc32(payload, c) & 0xFFFFFFFF
            if c != crc:
                return "crc"
            return (seq, payload)
        except OSError as e:
            return "io %s" % _errno(e)
        finally:
            f.close()

    def _scan(self, name, decode):
        """Validate both copies; remember the newest; return its object (or payload) or None.

        Only the newest valid copy is decoded (the older one only if the newest is not JSON): a
        large record parsed twice at once can need more heap than a small meter has at boot."""
        best = None  # (seq, slot, payload) of the newest valid copy
        older = None  # (seq, slot) of the other valid copy: read again only if the newest is not JSON
        for slot in SLOTS:
            got = self._read_slot(name, slot)
            if got is None:
                continue
            if isinstance(got, str):
                self._disc.append((name, slot, got))
                continue
            if best is None or got[0] > best[0]:
                if best is not None:
                    older = (best[0], best[1])
                best = (got[0], slot, got[1])
            else:
                older = (got[0], slot)
            got = None  # one payload in RAM at a time
        while best is not None:
            seq, slot, value = best
            best = None
            if decode:
                try:
                    value = json.loads(value)
                except ValueError:
                    self._disc.append((name, slot, "json"))
                    if older is not None:
                        got = self._read_slot(name, older[1])
                        if not isinstance(got, str) and got is not None:
                            best = (got[0], older[1], got[1])
                        older = None
                    continue
            self._meta[name] = (seq, slot)
            return value
        self._meta[name] = (0, None)
        return None

    def load(self, name):
        """The newest valid copy of record `name` as an object, or None if there is none."""
        _check_name(name)
        return self._scan(name, True)

    def discarded(self):
        """(name, slot, reason) of every copy that failed validation since the last call."""
        out = list(self._disc)
        self._disc.clear()  # in place: Logs built on this Store share the list
        return out

    # -- writing --------------------------------------------------------------------------
    def save(self, name, obj):
        """Commit `obj` (JSON-able) durably; returns the sequence number it was written with.

        The JSON is streamed into the file twice over (once to measure it, once to write and
        checksum it) instead of being built as one string: a meter's heap, fragmented after
        months of running, may hold no single block as large as the record."""
        _check_name(name)
        counter = _Sink()
        _dump(obj, counter)
        length = counter.n
        if length > MAX_RECORD:
            raise ValueError("record %s too large: %d bytes" % (name, length))
        meta = self._meta.get(name)
        if meta is None:
            self._scan(name, False)
            meta = self._meta[name]
        seq, slot = meta
        target = "b" if slot == "a" else "a"
        seq += 1
        head = struct.pack("<4sII", MAGIC, seq, length)
        # Until the write below has returned we do not know what `target` holds.
        self._meta.pop(name, None)
        f = open(self.path(name, target), "wb")
        try:
            f.write(head)
            sink = _Sink(crc32(head, crc32(name.encode())), f)
            _dump(obj, sink)
            if sink.n != length:
                raise ValueError("record %s changed while it was written" % name)
            f.write(struct.pack("<I", sink.crc & 0xFFFFFFFF))  # the CRC trails the payload
            _close(f)
        except BaseException:
            try:  # mark it closed so no finaliser commits it later; keep the first error
                f.close()
            except BaseException:
                pass
            raise
        self.writes += 1
        self._meta[name] = (seq, target)
        return seq

    def delete(self, name):
        """Remove both copies: the older first, so a cut in between leaves the newest value."""
        _check_name(name)
        self._scan(name, False)
        seq, slot = self._meta[name]
        order = ("b", "a") if slot == "a" else ("a", "b")
        for s in order:
            try:
                os.remove(self.path(name, s))
            except OSError as e:
                if _errno(e) != _ENOENT:
                    raise
        self._meta[name] = (0, None)


class Log:
    """Bounded append-only log of JSON-able records; see the module docstring."""

    def __init__(self, store_or_root, name, capacity, seg_bytes=2048):
        _check_name(name)
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        if isinstance(store_or_root, Store):
            self.root = store_or_root.root
            self._disc = store_or_root._disc
            self._store = store_or_root
        else:
            self.root = store_or_root
            _makedirs(self.root)
            self._disc = []
            self._store = None
        self.name = name
        self.capacity = capacity
        self.seg_bytes = seg_bytes
        self.writes = 0
        self._segs = []  # [seg number, valid record count, valid bytes], oldest first
        self._rotate = False  # newest segment has a bad tail: next append opens a new one
        self._open()

    def discarded(self):
        """(name, segment, reason) of every bad record found since the last call (shared with
        the Store this log was built on, so either call drains the same list)."""
        out = list(self._disc)
        self._disc.clear()
        return out

    def _path(self, seg):
        return _join(self.root, "%s.%d" % (self.name, seg))

    def _open(self):
        prefix = self.name + "."
        nums = []
        for fname in os.listdir(self.root):
            if fname.startswith(prefix):
                rest = fname[len(prefix):]
                if rest and rest.isdigit():
                    nums.append(int(rest))
        nums.sort()
        for i, n in enumerate(nums):
            count, size, bad = self._parse(n, None)
            if bad is not None:
                self._disc.append((self.name, n, bad))
                if i == len(nums) - 1:
                    self._rotate = True
            self._segs.append([n, count, size])

    def _parse(self, seg, out):
        """Walk one segment's records until the first bad one: (count, valid bytes, reason or
        None). With a list `out`, also append each decoded record to it. Memory: one record."""
        count = 0
        pos = 0
        try:
            f = open(self._path(seg), "rb")
        except OSError as e:
            if _errno(e) == _ENOENT:
                return 0, 0, None
            return 0, 0, "io %s" % _errno(e)
        try:
            while True:
                head = f.read(LOG_HEADER_LEN)
                if not head:
                    return count, pos, None
                if len(head) < LOG_HEADER_LEN:
                    return count, pos, "short @%d" % pos
                magic, ver, length, crc = struct.unpack(LOG_HEADER, head)
                if magic != LOG_MAGIC or ver != LOG_VERSION:
                    return count, pos, "magic @%d" % pos
                payload = f.read(length) if length else b""
                if len(payload) != length:
                    return count, pos, "short @%d" % pos
                if crc32(payload, crc32(head[:4])) & 0xFFFFFFFF != crc:
                    return count, pos, "crc @%d" % pos
                if out is not None:
                    try:
                        out.append(json.loads(payload))
                    except ValueError:
                        return count, pos, "json @%d" % pos
                count += 1
                pos += LOG_HEADER_LEN + length
        except OSError as e:
            return count, pos, "io %s" % _errno(e)
        finally:
            f.close()

    def _total(self):
        t = 0
        for s in self._segs:
            t += s[1]
        return t

    def count(self):
        """Number of records records() returns (at most capacity)."""
        return min(self._total(), self.capacity)

    def append(self, record):
        """Durably add one record (JSON-able) at the end; drops whole oldest segments beyond
        capacity after the new record is committed."""
        payload = _encode(record)
        if len(payload) > LOG_MAX_RECORD:
            raise ValueError("log record too large: %d bytes" % len(payload))
        head = struct.pack("<BBH", LOG_MAGIC, LOG_VERSION, len(payload))
        crc = crc32(payload, crc32(head)) & 0xFFFFFFFF
        data = head + struct.pack("<I", crc) + payload
        seg = self._segs[-1] if self._segs else None
        if (seg is None or self._rotate
                or (seg[1] and seg[2] + len(data) > self.seg_bytes)):
            seg = [(seg[0] + 1) if seg else 0, 0, 0]
            self._segs.append(seg)
            self._rotate = False
        # The file may hold our record or not until the write returns: a bad tail either way
        # leads to a new segment at the next boot, and a good one to the count below. A write
        # that raises may still have left its bytes, which no count covers: later records must
        # not follow them in this segment, or the count would stop short of the newest.
        self._rotate = True
        _write_file(self._path(seg[0]), data, "ab")
        self._rotate = False
        self.writes += 1
        if self._store is not None:
            self._store.writes += 1
        seg[1] += 1
        seg[2] += len(data)
        self._drop()

    def _drop(self):
        total = self._total()
        while len(self._segs) > 1 and total - self._segs[0][1] >= self.capacity:
            n, cnt, _ = self._segs[0]
            try:
                os.remove(self._path(n))
            except OSError as e:
                if _errno(e) != _ENOENT:
                    raise
            self._segs.pop(0)
            total -= cnt

    def _read(self, segs, skip):
        """Decoded records of segments `segs` (oldest first), the first `skip` left out."""
        out = []
        for s in segs:
            recs = []
            self._parse(s[0], recs)
            del recs[s[1]:]  # never more than counted (the count is what was committed)
            if skip >= len(recs):
                skip -= len(recs)
                continue
            if skip:
                del recs[:skip]
                skip = 0
            out.extend(recs)
        return out

    def records(self):
        """All kept records (at most capacity), oldest first."""
        return self._read(self._segs, max(0, self._total() - self.capacity))

    def iter_records(self):
        """All kept records, oldest first, one segment in memory at a time (a reader of the
        whole log, e.g. the DLMS event profiles, never holds all of it)."""
        skip = max(0, self._total() - self.capacity)
        for s in list(self._segs):
            recs = []
            self._parse(s[0], recs)
            del recs[s[1]:]  # never more than counted
            if skip >= len(recs):
                skip -= len(recs)
                continue
            if skip:
                del recs[:skip]
                skip = 0
            for r in recs:
                yield r

    def last(self, n):
        """The newest n records (fewer if the log holds fewer), oldest first."""
        n = min(n, self.count())
        if n <= 0:
            return []
        # read only the trailing segments that hold the newest n records
        have = 0
        start = len(self._segs)
        while start > 0 and have < n:
            start -= 1
            have += self._segs[start][1]
        return self._read(self._segs[start:], have - n)


JOURNAL_MAGIC = b"PFj1"
JOURNAL_HEADER = "<4sIH"
JOURNAL_HEADER_LEN = 10
JOURNAL_SLOT = 256  # one NOR page: a record is one page program
_BLANK_SLOT = b"\xff" * JOURNAL_SLOT


class PageJournal:
    """Small records in a raw flash area that is erased ahead of use, so a write is one page
    program (0.7 ms typical, 3 ms worst case) and never waits for an erase (45-400 ms): what the
    meter writes in the 40 ms between the mains-sense warning and the brown-out, and once a
    minute while energy flows (docs/persistence.md has the wear arithmetic).

    `dev` is a block device with the extended protocol (readblocks/writeblocks with offset,
    ioctl 4 count, 5 size, 6 erase): an `esp32.Partition` on the ESP32, the simulated chip's spare
    area on the sim board. Each 256-byte slot holds one record:

        header 10 bytes  <4sIH  magic b"PFj1", seq (u32), length (u16)
        payload          `length` bytes of compact JSON
        trailer 4 bytes  <I     crc32 of header and payload; the rest of the slot stays 0xFF

    Slots are written in order through the sectors, round the area. The sector after the one in
    use is kept erased by prepare() (normal running only), so a write always finds an erased slot;
    when it does not (prepare() has not run since the sector filled), write() returns False rather
    than erase. A torn write fails its CRC and is skipped; last() is the valid record with the
    highest seq. The area needs at least 3 sectors, so the sector prepare() erases never holds the
    newest record.
    """

    def __init__(self, dev):
        self.dev = dev
        self.sector_size = dev.ioctl(5, 0)
        self.sectors = dev.ioctl(4, 0)
        if self.sectors < 3:
            raise ValueError("journal needs at least 3 sectors")
        self.per_sector = self.sector_size // JOURNAL_SLOT
        self.writes = 0
        self.erases = 0
        self._page = bytearray(JOURNAL_SLOT)
        self._seq = 0
        self._last = None  # (sector, slot) of the newest valid record
        self._scan()

    # -- reading --------------------------------------------------------------------------------
    def _read_slot(self, sector, slot):
        """'blank', None (used but not valid) or (seq, payload bytes)."""
        buf = self._page
        if self.dev.readblocks(sector, buf, slot * JOURNAL_SLOT):
            return None
        if buf == _BLANK_SLOT:
            return "blank"
        magic, seq, length = struct.unpack_from(JOURNAL_HEADER, buf, 0)
        end = JOURNAL_HEADER_LEN + length
        if magic != JOURNAL_MAGIC or end + 4 > JOURNAL_SLOT:
            return None
        crc = struct.unpack_from("<I", buf, end)[0]
        if crc32(memoryview(buf)[:end]) & 0xFFFFFFFF != crc:
            return None
        return seq, bytes(buf[JOURNAL_HEADER_LEN:end])

    def _scan(self):
        blank_sector = bytearray(self.sectors)
        best = None
        for sec in range(self.sectors):
            all_blank = True
            for slot in range(self.per_sector):
                got = self._read_slot(sec, slot)
                if got == "blank":
                    continue
                all_blank = False
                if got is not None and (best is None or got[0] > best[0]):
                    best = (got[0], sec, slot)
            blank_sector[sec] = 1 if all_blank else 0
        if best is None:
            self._sector, self._slot = 0, 0
            if not blank_sector[0]:
                self._erase(0)
        else:
            self._seq = best[0]
            self._last = (best[1], best[2])
            self._sector = best[1]
            self._slot = best[2] + 1
            while self._slot < self.per_sector and self._read_slot(self._sector, self._slot) != "blank":
                self._slot += 1  # a torn write after the newest record: skip its slot
            if self._slot >= self.per_sector:
                self._sector = (self._sector + 1) % self.sectors
                self._slot = 0
                if not blank_sector[self._sector]:
                    self._erase(self._sector)
        self._ahead = bool(blank_sector[(self._sector + 1) % self.sectors])

    def last(self):
        """The newest valid record (decoded), or None."""
        if self._last is None:
            return None
        got = self._read_slot(self._last[0], self._last[1])
        if not isinstance(got, tuple):
            return None
        try:
            return json.loads(got[1])
        except ValueError:
            return None

    # -- writing --------------------------------------------------------------------------------
    def ready(self):
        """An erased slot is waiting: write() will cost one page program."""
        return self._slot < self.per_sector

    def write(self, obj):
        """One page program of `obj` (JSON-able) into an erased slot; never erases. Returns False
        when no erased slot is left (prepare() has not run since the sector filled)."""
        payload = _encode(obj)
        end = JOURNAL_HEADER_LEN + len(payload)
        if end + 4 > JOURNAL_SLOT:
            raise ValueError("journal record too large: %d bytes" % len(payload))
        if not self.ready():
            return False
        buf = self._page
        seq = self._seq + 1
        struct.pack_into(JOURNAL_HEADER, buf, 0, JOURNAL_MAGIC, seq, len(payload))
        buf[JOURNAL_HEADER_LEN:end] = payload
        struct.pack_into("<I", buf, end, crc32(memoryview(buf)[:end]) & 0xFFFFFFFF)
        at = (self._sector, self._slot)
        # until the program returns the slot is neither blank nor known good: move past it first
        self._slot += 1
        r = self.dev.writeblocks(at[0], memoryview(buf)[:end + 4], at[1] * JOURNAL_SLOT)
        if r:
            raise OSError(-r if r < 0 else r)
        self.writes += 1
        self._seq = seq
        self._last = at
        if self._slot >= self.per_sector and self._ahead:
            self._sector = (self._sector + 1) % self.sectors
            self._slot = 0
            self._ahead = False
        return True

    def prepare(self):
        """Erase the next sector if it is not erased yet (a sector erase: normal running only).
        Returns True if it erased one."""
        if not self.ready() and self._ahead is False:
            # the current sector is full and nothing was erased ahead: take the next one now
            nxt = (self._sector + 1) % self.sectors
            self._erase(nxt)
            self._sector, self._slot = nxt, 0
            self._ahead = False
        if self._ahead:
            return False
        self._erase((self._sector + 1) % self.sectors)
        self._ahead = True
        return True

    def _erase(self, sector):
        r = self.dev.ioctl(6, sector)
        if r:
            raise OSError(-r if r < 0 else r)
        self.erases += 1

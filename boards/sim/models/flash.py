"""NOR flash chip model served to `vfs.VfsLfs2` as a block device (runs on MicroPython and CPython).

Datasheet-style summary of the simulated part (the ESP32 module's SPI NOR flash, data partition):

    sector (erase block)   4096 bytes          erase: every bit of the sector -> 1 (0xFF)
    sectors                512 (2 MiB)         program: bits can only go 1 -> 0 (new = old AND data)
    program granularity    any byte range within one sector (littlefs programs 32-byte multiples)
    read                   any byte range, no wear

Block-device protocol (MicroPython's extended protocol, as VfsLfs2 uses it):

    readblocks(block, buf, offset=0)    read len(buf) bytes at block*4096+offset
    writeblocks(block, buf, offset)     PROGRAM only (AND); with offset=None (simple protocol,
                                        e.g. FAT) each whole block is erased then programmed
    ioctl(op, arg)                      1 init, 2 deinit, 3 sync -> 0; 4 -> block count;
                                        5 -> block size; 6 -> erase block `arg`, 0

Storage: `FlashChip(path)` keeps the image in a host file (created erased, 0xFF, at full size),
so the flash survives restarts of the simulator; every operation goes straight to the file.
`FlashChip()` keeps it in memory, only for sectors that are not erased (sparse), for tests.

Counters: `reads`, `read_bytes`, `programs`, `program_bytes`, `erases`, `ops` (= programs +
erases, the operations a power cut can hit), `overprograms` (programs that tried to turn a 0 bit
back into 1 -- the chip ANDs anyway; a correct flash user never does this); `counts()` as a dict.

Timing (Winbond W25Q32FV datasheet, AC characteristics; typical / maximum): page program tPP
0.7 / 3 ms per 256-byte page touched, 4 KB sector erase tSE 45 / 400 ms. `FlashChip(...,
timing=TYPICAL or WORST or None, wait_ms=fn)`: each program/erase first lets its time pass through
`wait_ms` (the simulated board's virtual clock, where the supply's brown-out can fire); if the
power goes meanwhile (`wait_ms` raises), a deterministic prefix of the operation reached the cells,
the chip is dead, and the exception goes on. `timing=None` (the default): operations take no time.
`set_timing(t)` changes it later (a test's worst case).

Spare area: `FlashChip(..., spare_path=P, spare_blocks=K)` adds K sectors after the `block_count`
that littlefs sees (kept in their own file, so the filesystem image stays a plain 2 MiB file);
`spare()` is a block device over just them (the power-fail journal's partition: firmware/store.py
PageJournal). Counters, timing and armed cuts are the chip's, shared by both areas.

Power cut: `arm(after_ops=N, tear=False, seed=0)`: the Nth program/erase from now is cut. Without
tear nothing of it reaches the cells; with tear a prefix of it does (length drawn from `seed`, so a
cut replays exactly): for a program the first k bytes are programmed, for an erase the first k
bytes of the sector read 0xFF and the rest keeps its old content. The operation then raises
`PowerCut`, and the chip is dead: every later access through this object fails with -5 (EIO)
without touching the cells (an error code, not an exception, so littlefs unwinds cleanly when the
firmware's cleanup code or a file finaliser runs after the cut; counted in `dead_accesses`).
`power_cycle()` returns a fresh `FlashChip` over the same cells (the old object stays dead, so a
filesystem instance that was running when the power went can never write to the new session).

`PowerCut` derives from BaseException so no firmware `except Exception` handler swallows it.
"""

SECTOR_SIZE = 4096
SECTOR_COUNT = 512
PAGE_SIZE = 256

# Winbond W25Q32FV (32 Mbit SPI NOR): page program tPP, 4 KB sector erase tSE, in microseconds
TYPICAL = {"page_program_us": 700, "sector_erase_us": 45000}
WORST = {"page_program_us": 3000, "sector_erase_us": 400000}
PROFILES = {"typical": TYPICAL, "worst": WORST, "none": None}

_ERASED = b"\xff" * SECTOR_SIZE
_EIO = -5


class PowerCut(BaseException):
    """The supply failed during a flash operation (raised by the chip model)."""


class _Rng:
    """xorshift32: tiny, deterministic, identical on MicroPython and CPython."""

    def __init__(self, seed):
        self.s = (seed * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF or 1

    def next(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s


class _MemCells:
    """Sparse in-memory cells: erased sectors are not stored."""

    def __init__(self, block_size, block_count):
        self.bs = block_size
        self.blocks = {}

    def read(self, block, off, buf):
        b = self.blocks.get(block)
        n = len(buf)
        if b is None:
            buf[:] = _erased(self.bs)[:n]
        else:
            buf[:] = b[off:off + n]

    def write(self, block, off, data):
        b = self.blocks.get(block)
        if b is None:
            b = bytearray(_erased(self.bs))
            self.blocks[block] = b
        b[off:off + len(data)] = data

    def erase(self, block):
        self.blocks.pop(block, None)

    def close(self):
        pass


class _FileCells:
    """Cells in a host file; writes go to the OS at once (survive a killed simulator)."""

    def __init__(self, path, block_size, block_count):
        size = block_size * block_count
        self.bs = block_size
        try:
            f = open(path, "r+b")
        except OSError:
            f = None
        if f is None:
            f = open(path, "w+b")
            chunk = _erased(block_size)
            for _ in range(block_count):
                f.write(chunk)
            f.flush()
        else:
            f.seek(0, 2)
            have = f.tell()
            if have != size:
                f.close()
                raise ValueError("flash image %s is %d bytes, expected %d" % (path, have, size))
        self.f = f

    def read(self, block, off, buf):
        self.f.seek(block * self.bs + off)
        got = self.f.readinto(buf)
        if got != len(buf):
            raise OSError(5)

    def write(self, block, off, data):
        self.f.seek(block * self.bs + off)
        self.f.write(data)
        self.f.flush()

    def erase(self, block):
        self.write(block, 0, _erased(self.bs))

    def close(self):
        self.f.close()


def _erased(n):
    return _ERASED if n == SECTOR_SIZE else b"\xff" * n


class _Spare:
    """Block device over the chip's spare sectors (numbered from 0)."""

    def __init__(self, chip):
        self.chip = chip

    def readblocks(self, block, buf, offset=0):
        c = self.chip
        if c._gone():
            return _EIO
        c.reads += 1
        c.read_bytes += len(buf)
        c._check(c.block_count + block, offset, len(buf), True)
        c._spare_cells.read(block, offset, buf)
        return 0

    def writeblocks(self, block, buf, offset=None):
        c = self.chip
        if c._gone():
            return _EIO
        if offset is None:
            c._erase(c.block_count + block, True)
            offset = 0
        c._program(c.block_count + block, offset, buf, True)
        return 0

    def ioctl(self, op, arg):
        c = self.chip
        if op == 4:
            return c.spare_blocks
        if op == 5:
            return c.block_size
        if op == 6:
            if c._gone():
                return _EIO
            c._erase(c.block_count + arg, True)
            return 0
        if op in (1, 2, 3):
            return 0
        return None


class FlashChip:
    """NOR flash block device; see the module docstring for geometry and protocol."""

    def __init__(self, path=None, block_size=SECTOR_SIZE, block_count=SECTOR_COUNT, _cells=None,
                 spare_path=None, spare_blocks=0, timing=None, wait_ms=None):
        self.block_size = block_size
        self.block_count = block_count
        self.spare_blocks = spare_blocks
        self.spare_path = spare_path
        self.path = path
        if _cells is not None:
            self._cells, self._spare_cells = _cells
        else:
            if path is None:
                self._cells = _MemCells(block_size, block_count)
            else:
                self._cells = _FileCells(path, block_size, block_count)
            self._spare_cells = None
            if spare_blocks:
                self._spare_cells = (_MemCells(block_size, spare_blocks) if spare_path is None
                                     else _FileCells(spare_path, block_size, spare_blocks))
        self.timing = timing
        self._wait_ms = wait_ms
        self._busy_us = 0  # time owed below one millisecond
        self.busy_ms = 0  # virtual time spent in programs and erases
        self.dead = False
        self.dead_accesses = 0
        self._left = 0  # ops until the armed cut, 0 = not armed
        self._tear = False
        self._rng = None
        self.reset_counts()

    # -- counters ---------------------------------------------------------------------------
    def reset_counts(self):
        self.reads = 0
        self.read_bytes = 0
        self.programs = 0
        self.program_bytes = 0
        self.erases = 0
        self.overprograms = 0

    @property
    def ops(self):
        return self.programs + self.erases

    def counts(self):
        return {
            "reads": self.reads,
            "read_bytes": self.read_bytes,
            "programs": self.programs,
            "program_bytes": self.program_bytes,
            "erases": self.erases,
            "erase_bytes": self.erases * self.block_size,
            "ops": self.programs + self.erases,
            "overprograms": self.overprograms,
        }

    # -- power ------------------------------------------------------------------------------
    def arm(self, after_ops=1, tear=False, seed=0):
        """Cut the power on the `after_ops`-th program/erase from now (1 = the next one)."""
        if after_ops < 1:
            raise ValueError("after_ops must be >= 1")
        self._left = after_ops
        self._tear = bool(tear)
        self._rng = _Rng(seed)

    def disarm(self):
        self._left = 0

    @property
    def armed(self):
        return self._left > 0

    def power_cycle(self):
        """A new chip object over the same cells (counters zero, not armed); this one stays dead."""
        self.dead = True
        self._left = 0
        return FlashChip(self.path, self.block_size, self.block_count, _cells=(self._cells, self._spare_cells),
                         spare_path=self.spare_path, spare_blocks=self.spare_blocks, timing=self.timing,
                         wait_ms=self._wait_ms)

    def spare(self):
        """The spare sectors as a block device of their own (None if the chip has none)."""
        return _Spare(self) if self.spare_blocks else None

    def set_timing(self, timing, wait_ms=None):
        self.timing = timing
        if wait_ms is not None:
            self._wait_ms = wait_ms

    def _take_time(self, us):
        """Let an operation's time pass; returns the exception if the power went meanwhile."""
        if not self.timing or self._wait_ms is None:
            return None
        self._busy_us += us
        ms = self._busy_us // 1000
        if not ms:
            return None
        self._busy_us -= ms * 1000
        self.busy_ms += ms
        try:
            self._wait_ms(ms)
        except BaseException as e:  # the supply browned out while the chip was busy
            return e
        return None

    def close(self):
        self.dead = True
        self._cells.close()
        if self._spare_cells is not None:
            self._spare_cells.close()

    def _cells_of(self, block):
        """(cells, block within them): the spare sectors follow the main ones."""
        if block < self.block_count:
            return self._cells, block
        return self._spare_cells, block - self.block_count

    def _gone(self):
        if self.dead:
            self.dead_accesses += 1
            return True
        return False

    def _cut_now(self):
        """Count one program/erase; True if this is the one the armed cut hits."""
        if self._left:
            self._left -= 1
            if self._left == 0:
                return True
        return False

    def _torn_len(self, n):
        return self._rng.next() % n if (self._tear and n) else 0

    # -- cells ------------------------------------------------------------------------------
    def _check(self, block, off, n, spare=False):
        limit = self.block_count + (self.spare_blocks if spare else 0)
        if block < 0 or block >= limit or off < 0 or off + n > self.block_size:
            raise ValueError("flash access out of range: block %d off %d len %d" % (block, off, n))

    def _program(self, block, off, data, spare=False):
        n = len(data)
        self._check(block, off, n, spare)
        cut = self._cut_now()
        lost = None
        if not cut and n and self.timing:
            pages = (off + n - 1) // PAGE_SIZE - off // PAGE_SIZE + 1
            lost = self._take_time(pages * self.timing["page_program_us"])
        if cut:
            n = self._torn_len(n)
            data = data[:n]
        elif lost is not None:
            n = _Rng(self.programs + self.erases).next() % n  # part of the page reached the cells
            data = data[:n]
        self.programs += 1
        self.program_bytes += n
        cells, cb = self._cells_of(block)
        if n:
            old = bytearray(n)
            cells.read(cb, off, old)
            if old != _erased(n):
                new = bytearray(n)
                over = False
                for i in range(n):
                    o = old[i]
                    d = data[i]
                    if d & ~o & 0xFF:
                        over = True
                    new[i] = o & d
                if over:
                    self.overprograms += 1
                data = new
            cells.write(cb, off, data)
        if cut:
            self.dead = True
            raise PowerCut("power cut while programming block %d" % block)
        if lost is not None:
            self.dead = True
            raise lost

    def _erase(self, block, spare=False):
        self._check(block, 0, 0, spare)
        cut = self._cut_now()
        lost = None
        if not cut and self.timing:
            lost = self._take_time(self.timing["sector_erase_us"])
        self.erases += 1
        cells, cb = self._cells_of(block)
        if cut or lost is not None:
            k = self._torn_len(self.block_size) if cut else _Rng(self.programs + self.erases).next() % self.block_size
            if k:
                cells.write(cb, 0, _erased(k))
            self.dead = True
            if lost is not None:
                raise lost
            raise PowerCut("power cut while erasing block %d" % block)
        cells.erase(cb)

    # -- block-device protocol ----------------------------------------------------------------
    def readblocks(self, block, buf, offset=0):
        if self._gone():
            return _EIO
        n = len(buf)
        self.reads += 1
        self.read_bytes += n
        if offset + n <= self.block_size:
            self._check(block, offset, n)
            self._cells.read(block, offset, buf)
            return 0
        if offset or n % self.block_size:
            raise ValueError("read crosses a block: block %d off %d len %d" % (block, offset, n))
        # simple protocol: several whole blocks
        mv = memoryview(buf)
        bs = self.block_size
        for i in range(n // bs):
            self._check(block + i, 0, bs)
            self._cells.read(block + i, 0, mv[i * bs:(i + 1) * bs])
        return 0

    def writeblocks(self, block, buf, offset=None):
        if self._gone():
            return _EIO
        if offset is not None:
            self._program(block, offset, buf)
            return 0
        mv = memoryview(buf)
        bs = self.block_size
        if len(buf) % bs:
            raise ValueError("simple-protocol write must be whole blocks")
        for i in range(len(buf) // bs):
            self._erase(block + i)
            self._program(block + i, 0, mv[i * bs:(i + 1) * bs])
        return 0

    def ioctl(self, op, arg):
        if op == 4:
            return self.block_count
        if op == 5:
            return self.block_size
        if op == 6:
            if self._gone():
                return _EIO
            self._erase(arg)
            return 0
        if op in (1, 2, 3):
            return 0
        return None

    # -- test helpers -------------------------------------------------------------------------
    def image(self, block=None):
        """Bytes of one block, or of the whole chip (tests and tools; not counted)."""
        if block is not None:
            buf = bytearray(self.block_size)
            self._cells.read(block, 0, buf)
            return bytes(buf)
        out = bytearray()
        for b in range(self.block_count):
            out.extend(self.image(b))
        return bytes(out)

    def wipe(self):
        """Erase the whole chip without counting (a factory-fresh part)."""
        for b in range(self.block_count):
            self._cells.erase(b)

"""The block load profile: energy per capture period (15 or 30 minutes) in a ring on flash.

One file of fixed 16-byte slots: block number (end time // period), import and export mWh of
the block, average voltage (cV), CRC-16. Block b lives in slot b % slots, so a write touches one
slot and a read of entry k is a seek; a slot torn by a power cut fails its CRC and is skipped.
The block in progress is kept in RAM; after a reset it counts from the restart.
"""
import os
import struct

from dlms.hdlc import fcs16

MWH_PER_KWH = 1000000
SLOT = 16
_FMT = ">IIIH"
SLOTS = 960  # 10 days of 15-minute blocks, 20 days of 30-minute blocks: 15 KB of flash


class BlockRing:
    def __init__(self, root, period_s, slots=SLOTS):
        self.period = period_s
        self.slots = slots
        self.path = "%s/blp%d.bin" % (root, period_s)
        self._buf = bytearray(SLOT)  # slot reads
        self._wbuf = bytearray(SLOT)  # the slot being written
        self.newest = -1  # block number of the newest stored block
        self.count = 0
        self._block = None  # the block in progress: its number, and energy at its start
        self._ik0 = self._ip0 = self._ek0 = self._ep0 = 0
        self._vsum = self._vn = 0
        self._imp = self._exp = 0
        self._open(root)

    def _open(self, root):
        for name in os.listdir(root):  # another period's ring is of no use any more
            if name.startswith("blp") and name.endswith(".bin") and root + "/" + name != self.path:
                try:
                    os.remove(root + "/" + name)
                except OSError:
                    pass
        try:
            f = open(self.path, "rb")
        except OSError:
            f = None
        if f is None:
            with open(self.path, "wb") as f:
                z = bytes(SLOT * 32)
                for _ in range(self.slots // 32):
                    f.write(z)
            return
        with f:
            chunk = bytearray(SLOT * 32)
            mv = memoryview(chunk)
            while True:
                n = f.readinto(chunk)
                if not n:
                    break
                for k in range(0, n - SLOT + 1, SLOT):
                    b = self._valid(mv[k:k + SLOT])
                    if b is not None:
                        self.count += 1
                        if b > self.newest:
                            self.newest = b

    def _valid(self, rec):
        if fcs16(rec, 0, 14) != (rec[14] << 8) | rec[15]:
            return None
        b = (rec[0] << 24) | (rec[1] << 16) | (rec[2] << 8) | rec[3]
        return b if b else None

    def sample(self, now_s, imp_kwh, imp_part, exp_kwh, exp_part, volts_cv):
        """After every metering poll: close the block when its period has ended. Energy comes as
        whole kWh and mWh parts, and is kept relative to the block's start, so a 32-bit port
        does this with small ints whatever the meter's total."""
        b = now_s // self.period + 1  # the block ending at the next boundary
        if self._block is None or b < self._block:  # start, or the clock was set back
            self._start(b, imp_kwh, imp_part, exp_kwh, exp_part)
        elif b > self._block:
            imp = (imp_kwh - self._ik0) * MWH_PER_KWH + imp_part - self._ip0
            exp = (exp_kwh - self._ek0) * MWH_PER_KWH + exp_part - self._ep0
            self._store(self._block, imp, exp, self._vsum // self._vn if self._vn else 0)
            self._start(b, imp_kwh, imp_part, exp_kwh, exp_part)
        self._imp = (imp_kwh - self._ik0) * MWH_PER_KWH + imp_part - self._ip0
        self._exp = (exp_kwh - self._ek0) * MWH_PER_KWH + exp_part - self._ep0
        self._vsum += volts_cv
        self._vn += 1

    def _start(self, b, imp_kwh, imp_part, exp_kwh, exp_part):
        self._block = b
        self._ik0, self._ip0, self._ek0, self._ep0 = imp_kwh, imp_part, exp_kwh, exp_part
        self._vsum = self._vn = 0

    def now(self):
        """The block in progress: import mWh, export mWh, average voltage so far."""
        return self._imp, self._exp, (self._vsum // self._vn if self._vn else 0)

    def _store(self, b, imp, exp, volts):
        slot = b % self.slots
        old = self._read(slot)
        rec = self._wbuf
        struct.pack_into(_FMT, rec, 0, b, imp & 0xFFFFFFFF, exp & 0xFFFFFFFF, volts & 0xFFFF)
        c = fcs16(rec, 0, 14)
        rec[14] = c >> 8
        rec[15] = c & 0xFF
        with open(self.path, "r+b") as f:
            f.seek(slot * SLOT)
            f.write(rec)
        if old is None:
            self.count += 1
        if b > self.newest:
            self.newest = b

    def _read(self, slot, f=None):
        rec = self._buf
        if f is None:
            with open(self.path, "rb") as g:
                g.seek(slot * SLOT)
                n = g.readinto(rec)
        else:
            f.seek(slot * SLOT)
            n = f.readinto(rec)
        if n != SLOT:
            return None
        return self._valid(rec)

    def rows(self):
        """(end time, import mWh, export mWh, average cV) of each stored block, oldest first.
        The file is opened for a few slots at a time and closed before they are handed out, so
        a read that pauses between blocks of a DLMS transfer (or is abandoned) holds no file."""
        if self.newest < 0:
            return
        b = self.newest - self.slots + 1
        batch = []
        while b <= self.newest:
            with open(self.path, "rb") as f:
                while b <= self.newest and len(batch) < 8:
                    if b > 0 and self._read(b % self.slots, f) == b:
                        _b, imp, exp, volts = struct.unpack_from(_FMT, self._buf, 0)
                        batch.append((b * self.period, imp, exp, volts))
                    b += 1
            for row in batch:
                yield row
            batch = []

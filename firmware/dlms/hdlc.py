"""HDLC framing for DLMS (IEC 62056-46), server side: one client at a time, window 1.

Bytes from the port go through `feed()`; a frame is recognised by its flags, its length field and
its check sequences (HCS over the header, FCS over the whole frame, both CRC-16/X.25), never by
the flags alone, because DLMS HDLC does not stuff bytes. A bad frame is dropped and the bytes after
its opening flag are searched again, so garbage or a client that vanished mid-frame costs at most
that frame. Buffers are allocated once: a receive frame, a transmit frame, a PDU each way.

The application gets a whole PDU (segments joined, LLC header removed) through
`app.handle(client_sap, rx, n, tx, off) -> length` and writes its reply into `tx` from `off`;
the reply goes out in as many I frames as the negotiated information field needs, each
following one after the client's RR.
"""
import ticks

FLAG = 0x7E
SNRM = 0x93
UA = 0x73
DISC = 0x53
DM = 0x1F
FRMR = 0x97
UI = 0x13
PF = 0x10
SEGMENT = 0x08

DEFAULT_INFO = 128  # IEC 62056-46 default maximum information field, each way
MAX_INFO = 128  # the largest information field this server takes or sends (its frame buffers)
LLC_REQUEST = b"\xe6\xe6\x00"
LLC_REPLY = b"\xe6\xe7\x00"
FRAME_GAP_MS = 1000  # a frame whose bytes stop for this long is abandoned
INACTIVITY_MS = 120000  # a connection silent this long is dropped (the client went away)


# CRC-16/X.25 table (polynomial 0x8408 reflected), low byte first: a constant, so a frozen image
# keeps it in flash and not on the heap
_TABLE = (
    b"\x00\x00\x89\x11\x12\x23\x9b\x32\x24\x46\xad\x57\x36\x65\xbf\x74"
    b"\x48\x8c\xc1\x9d\x5a\xaf\xd3\xbe\x6c\xca\xe5\xdb\x7e\xe9\xf7\xf8"
    b"\x81\x10\x08\x01\x93\x33\x1a\x22\xa5\x56\x2c\x47\xb7\x75\x3e\x64"
    b"\xc9\x9c\x40\x8d\xdb\xbf\x52\xae\xed\xda\x64\xcb\xff\xf9\x76\xe8"
    b"\x02\x21\x8b\x30\x10\x02\x99\x13\x26\x67\xaf\x76\x34\x44\xbd\x55"
    b"\x4a\xad\xc3\xbc\x58\x8e\xd1\x9f\x6e\xeb\xe7\xfa\x7c\xc8\xf5\xd9"
    b"\x83\x31\x0a\x20\x91\x12\x18\x03\xa7\x77\x2e\x66\xb5\x54\x3c\x45"
    b"\xcb\xbd\x42\xac\xd9\x9e\x50\x8f\xef\xfb\x66\xea\xfd\xd8\x74\xc9"
    b"\x04\x42\x8d\x53\x16\x61\x9f\x70\x20\x04\xa9\x15\x32\x27\xbb\x36"
    b"\x4c\xce\xc5\xdf\x5e\xed\xd7\xfc\x68\x88\xe1\x99\x7a\xab\xf3\xba"
    b"\x85\x52\x0c\x43\x97\x71\x1e\x60\xa1\x14\x28\x05\xb3\x37\x3a\x26"
    b"\xcd\xde\x44\xcf\xdf\xfd\x56\xec\xe9\x98\x60\x89\xfb\xbb\x72\xaa"
    b"\x06\x63\x8f\x72\x14\x40\x9d\x51\x22\x25\xab\x34\x30\x06\xb9\x17"
    b"\x4e\xef\xc7\xfe\x5c\xcc\xd5\xdd\x6a\xa9\xe3\xb8\x78\x8a\xf1\x9b"
    b"\x87\x73\x0e\x62\x95\x50\x1c\x41\xa3\x35\x2a\x24\xb1\x16\x38\x07"
    b"\xcf\xff\x46\xee\xdd\xdc\x54\xcd\xeb\xb9\x62\xa8\xf9\x9a\x70\x8b"
    b"\x08\x84\x81\x95\x1a\xa7\x93\xb6\x2c\xc2\xa5\xd3\x3e\xe1\xb7\xf0"
    b"\x40\x08\xc9\x19\x52\x2b\xdb\x3a\x64\x4e\xed\x5f\x76\x6d\xff\x7c"
    b"\x89\x94\x00\x85\x9b\xb7\x12\xa6\xad\xd2\x24\xc3\xbf\xf1\x36\xe0"
    b"\xc1\x18\x48\x09\xd3\x3b\x5a\x2a\xe5\x5e\x6c\x4f\xf7\x7d\x7e\x6c"
    b"\x0a\xa5\x83\xb4\x18\x86\x91\x97\x2e\xe3\xa7\xf2\x3c\xc0\xb5\xd1"
    b"\x42\x29\xcb\x38\x50\x0a\xd9\x1b\x66\x6f\xef\x7e\x74\x4c\xfd\x5d"
    b"\x8b\xb5\x02\xa4\x99\x96\x10\x87\xaf\xf3\x26\xe2\xbd\xd0\x34\xc1"
    b"\xc3\x39\x4a\x28\xd1\x1a\x58\x0b\xe7\x7f\x6e\x6e\xf5\x5c\x7c\x4d"
    b"\x0c\xc6\x85\xd7\x1e\xe5\x97\xf4\x28\x80\xa1\x91\x3a\xa3\xb3\xb2"
    b"\x44\x4a\xcd\x5b\x56\x69\xdf\x78\x60\x0c\xe9\x1d\x72\x2f\xfb\x3e"
    b"\x8d\xd6\x04\xc7\x9f\xf5\x16\xe4\xa9\x90\x20\x81\xbb\xb3\x32\xa2"
    b"\xc5\x5a\x4c\x4b\xd7\x79\x5e\x68\xe1\x1c\x68\x0d\xf3\x3f\x7a\x2e"
    b"\x0e\xe7\x87\xf6\x1c\xc4\x95\xd5\x2a\xa1\xa3\xb0\x38\x82\xb1\x93"
    b"\x46\x6b\xcf\x7a\x54\x48\xdd\x59\x62\x2d\xeb\x3c\x70\x0e\xf9\x1f"
    b"\x8f\xf7\x06\xe6\x9d\xd4\x14\xc5\xab\xb1\x22\xa0\xb9\x92\x30\x83"
    b"\xc7\x7b\x4e\x6a\xd5\x58\x5c\x49\xe3\x3d\x6a\x2c\xf1\x1e\x78\x0f"
)


def fcs16(buf, start, end):
    """CRC-16/X.25 of buf[start:end] (what HDLC transmits, low byte first)."""
    c = 0xFFFF
    t = _TABLE
    for i in range(start, end):
        k = ((c ^ buf[i]) & 0xFF) << 1
        c = (c >> 8) ^ t[k] ^ (t[k + 1] << 8)
    return c ^ 0xFFFF


class Hdlc:
    """Server-side HDLC: frames, the connection (NDM/NRM), sequence numbers, segmentation."""

    def __init__(self, port, app, server_upper=1, clock=None, pdu_size=512):
        self.port = port
        self.app = app
        self.clock = clock
        self.server_upper = server_upper
        self._rb = bytearray(MAX_INFO + 24)  # one received frame, flags excluded
        self._rn = 0  # bytes of the frame so far (0: hunting for a flag or just after one)
        self._want = 0  # the frame's length from its format field (0: not known yet)
        self._hdr = 0  # where the header ends once known; -1 when checked
        self._in_frame = False
        self._tb = bytearray(MAX_INFO + 24)  # the last I frame sent, flags included (for repeats)
        self._tn = 0
        self._sb = bytearray(48)  # supervisory and unnumbered frames
        self.rx = bytearray(pdu_size)  # the request PDU (segments joined)
        self._rxn = 0
        self.tx = bytearray(pdu_size + 3)  # LLC header + the reply PDU
        self._txn = 0
        self._txpos = 0  # how much of tx went out
        self.connected = False
        self.client = None  # client SAP of the connection
        self._addr = bytearray(4)  # the server address as the client wrote it
        self._alen = 1
        self.vs = 0  # send sequence number V(S)
        self.vr = 0  # receive sequence number V(R)
        self.max_tx = DEFAULT_INFO
        self.max_rx = DEFAULT_INFO
        self._last_byte_ms = 0
        self._last_frame_ms = 0
        self._again = None
        self.errors = 0  # frames dropped (bad FCS, bad format, wrong sequence)
        self.frames = 0  # good frames received

    # -- receiving ---------------------------------------------------------------------------
    def feed(self, data, n):
        """Take n received bytes from data."""
        now = self.clock.ticks_ms() if self.clock else 0
        if self._rn and self.clock and ticks.diff(now, self._last_byte_ms) > FRAME_GAP_MS:
            self._drop(False)  # the rest of that frame never came
        self._last_byte_ms = now
        for i in range(n):
            self._byte(data[i])
            while self._again:  # bytes of a dropped frame, searched again for a frame
                again = self._again
                self._again = None
                for k in range(len(again)):
                    self._byte(again[k])
                    if self._again:  # dropped again: what is left of `again` follows it
                        self._again = self._again + again[k + 1:]
                        break

    def _byte(self, b):
        if not self._in_frame:
            if b == FLAG:
                self._in_frame = True
                self._rn = 0
                self._want = 0
                self._hdr = 0
            return
        n = self._rn
        if n == 0 and b == FLAG:
            return  # back-to-back flags
        if self._want and n == self._want:
            if b == FLAG:
                self._rn = 0  # the closing flag may open the next frame
                self._want = 0
                self._hdr = 0
                self._frame(n)
            else:
                self._drop(True)
            return
        if n >= len(self._rb):
            self._drop(True)
            return
        self._rb[n] = b
        n += 1
        self._rn = n
        if n > 2 and self._hdr >= 0 and not self._header(n):
            self._drop(True)
            return
        if n == 2:
            f = self._rb[0]
            want = ((f & 0x07) << 8) | b
            if f & 0xF0 != 0xA0 or want < 7 or want > len(self._rb):
                self._drop(True)
                return
            self._want = want

    def _header(self, n):
        """Check the header as soon as it is complete (addresses, control, HCS), so a false
        start with a long length field is given up at once. False: not a frame."""
        rb = self._rb
        if self._hdr == 0:
            d = 2
            while d < n and not rb[d] & 1:
                d += 1
            if d >= n:
                return d - 2 < 4  # the server address goes on (at most 4 bytes)
            if d - 2 + 1 not in (1, 2, 4):
                return False
            self._hdr = d + 3  # client address and control follow the server address
        end = self._hdr
        if n == end - 1 and not rb[n - 1] & 1:
            return False  # the client address is one byte
        if n == end + 2 and self._want > end + 4:
            self._hdr = -1  # checked
            return fcs16(rb, 0, end) == rb[end] | (rb[end + 1] << 8)
        if n >= end and self._want <= end + 4:
            self._hdr = -1  # no information field: only the FCS, at the end
        return True

    def _drop(self, rescan, flag=False, n=None):
        """Abandon the frame in the buffer; look for a flag inside it that may start a real one
        (`flag`: the byte that ended it was a flag, which may open the next frame)."""
        if n is None:
            n = self._rn
        self._rn = 0
        self._want = 0
        self._in_frame = False
        self.errors += 1
        if not rescan:
            return
        rb = self._rb
        for i in range(n):
            if rb[i] == FLAG:
                self._again = bytes(rb[i:n]) + (b"\x7e" if flag else b"")  # rare: a bad frame
                return
        if flag:
            self._again = b"\x7e"

    def _frame(self, n):
        rb = self._rb
        if fcs16(rb, 0, n - 2) != rb[n - 2] | (rb[n - 1] << 8):
            self._drop(True, True, n)
            return
        # addresses: server (1, 2 or 4 bytes), then the client's one byte; each ends with bit 0 set
        i = 2
        while i < n and not rb[i] & 1:
            i += 1
        alen = i - 1
        if alen not in (1, 2, 4) or i + 2 >= n or not rb[i + 1] & 1:
            self.errors += 1
            return
        if alen == 4:
            upper = ((rb[2] >> 1) << 7) | (rb[3] >> 1)
        else:
            upper = rb[2] >> 1
        client = rb[i + 1] >> 1
        ctrl = rb[i + 2]
        hdr = i + 3  # where the HCS is, if there is an information field
        info = 0
        info_len = 0
        if n > hdr + 2:
            if fcs16(rb, 0, hdr) != rb[hdr] | (rb[hdr + 1] << 8):
                self.errors += 1
                return
            info = hdr + 2
            info_len = n - 2 - info
        if upper != self.server_upper:
            return  # another logical device (or meter) on the line: not ours to answer
        self.frames += 1
        if self.clock:
            self._last_frame_ms = self.clock.ticks_ms()
        for k in range(alen):
            self._addr[k] = rb[2 + k]
        self._alen = alen
        self._control(client, ctrl, info, info_len, rb[0] & SEGMENT)

    def _control(self, client, ctrl, info, info_len, segmented):
        if ctrl & ~PF == SNRM & ~PF:
            self._snrm(client, info, info_len)
            return
        if ctrl & ~PF == DISC & ~PF:
            if self.connected and client == self.client:
                self._release()
                self._send_u(client, UA, None, 0)
            else:
                self._send_u(client, DM, None, 0)
            return
        if not self.connected or client != self.client:
            if ctrl & 0x01 == 0 or ctrl & 0x0F == 0x01:
                self._send_u(client, DM, None, 0)  # I or RR outside a connection
            return
        if ctrl & 0x01 == 0:
            self._iframe(ctrl, info, info_len, segmented)
        elif ctrl & 0x0F == 0x01:  # RR
            self._rr((ctrl >> 5) & 7)
        elif ctrl & 0x0F == 0x05:  # RNR: the client is busy; it will send RR
            return
        # anything else (UI, unknown) is ignored

    def _snrm(self, client, info, info_len):
        tx_max = rx_max = DEFAULT_INFO
        rb = self._rb
        if info_len:
            # 81 80 len, then parameters: id, length, value (5 max tx, 6 max rx, 7/8 windows)
            if info_len < 3 or rb[info] != 0x81 or rb[info + 1] != 0x80:
                self._send_u(client, FRMR, None, 0)
                return
            p = info + 3
            end = info + info_len
            while p + 2 <= end:
                pid = rb[p]
                plen = rb[p + 1]
                v = 0
                for k in range(plen):
                    if p + 2 + k < end:
                        v = (v << 8) | rb[p + 2 + k]
                if pid == 5:
                    tx_max = v  # what the client will send: we must receive it
                elif pid == 6:
                    rx_max = v  # what the client can receive
                p += 2 + plen
        if self.connected:
            self._release()
        self.max_tx = min(max(rx_max, 32), MAX_INFO)  # we send to the client
        self.max_rx = min(max(tx_max, 32), MAX_INFO)
        self.connected = True
        self.client = client
        self.vs = 0
        self.vr = 0
        self._rxn = 0
        self._txn = self._txpos = 0
        self._tn = 0
        p = bytearray(b"\x81\x80\x12\x05\x01\x00\x06\x01\x00\x07\x04\x00\x00\x00\x01\x08\x04\x00\x00\x00\x01")
        p[5] = self.max_tx if self.max_tx < 256 else 0
        p[8] = self.max_rx if self.max_rx < 256 else 0
        if self.max_tx > 255 or self.max_rx > 255:
            p = bytearray(b"\x81\x80\x14\x05\x02\x00\x00\x06\x02\x00\x00\x07\x04\x00\x00\x00\x01\x08\x04\x00\x00\x00\x01")
            p[5], p[6] = self.max_tx >> 8, self.max_tx & 0xFF
            p[9], p[10] = self.max_rx >> 8, self.max_rx & 0xFF
        self.app.connect(client)
        self._send_u(client, UA, p, len(p))

    def _release(self):
        self.connected = False
        self.app.release()
        self._txn = self._txpos = 0

    def _iframe(self, ctrl, info, info_len, segmented):
        ns = (ctrl >> 1) & 7
        nr = (ctrl >> 5) & 7
        if ns != self.vr:
            self.errors += 1
            if ns == (self.vr - 1) & 7 and self._tn:
                self._resend()  # our answer to that frame was lost: repeat it
            else:
                self._send_s()  # tell the client which frame we expect
            return
        if nr != self.vs and self._tn:
            self._resend()  # the client has not seen our last frame
            return
        self.vr = (self.vr + 1) & 7
        rb = self._rb
        start = info
        if self._rxn == 0:
            # the first segment carries the LLC header
            if info_len < 3 or rb[info] != 0xE6 or rb[info + 1] != 0xE6:
                self._rxn = 0
                self._send_s()
                return
            start = info + 3
        count = info_len - (start - info)
        if self._rxn + count > len(self.rx):
            self._rxn = 0  # a request larger than the meter accepts: drop it, stay connected
            self.errors += 1
            self._send_s()
            return
        self.rx[self._rxn:self._rxn + count] = rb[start:start + count]
        self._rxn += count
        if segmented:
            self._send_s()  # more segments follow: acknowledge this one
            return
        n = self._rxn
        self._rxn = 0
        self.tx[0:3] = LLC_REPLY
        m = self.app.handle(self.client, self.rx, n, self.tx, 3)
        if not m:
            self._send_s()
            return
        self._txn = 3 + m
        self._txpos = 0
        self._send_next()

    def _rr(self, nr):
        if nr == self.vs:
            if self._txpos < self._txn:
                self._send_next()  # the client acknowledged a segment: the next one
            else:
                self._send_s()
        elif self._tn:
            self._resend()

    # -- transmitting --------------------------------------------------------------------------
    def _head(self, tb, client, ctrl, info_len, seg):
        """Write a frame header into tb; returns where the information field starts."""
        tb[0] = FLAG
        length = 2 + self._alen + 1 + 1 + (info_len + 2 + 2 if info_len else 2)
        tb[1] = 0xA0 | (SEGMENT if seg else 0) | ((length >> 8) & 0x07)
        tb[2] = length & 0xFF
        tb[3] = (client << 1) | 1
        for k in range(self._alen):
            tb[4 + k] = self._addr[k]
        p = 4 + self._alen
        tb[p] = ctrl
        p += 1
        if info_len:
            c = fcs16(tb, 1, p)
            tb[p] = c & 0xFF
            tb[p + 1] = c >> 8
            p += 2
        return p

    def _finish(self, tb, p):
        c = fcs16(tb, 1, p)
        tb[p] = c & 0xFF
        tb[p + 1] = c >> 8
        tb[p + 2] = FLAG
        self.port.write(memoryview(tb)[:p + 3])
        return p + 3

    def _send_u(self, client, ctrl, info, info_len):
        """An unnumbered or supervisory frame (its own buffer: the last I frame is kept)."""
        sb = self._sb
        p = self._head(sb, client, ctrl, info_len, False)
        if info_len:
            sb[p:p + info_len] = info
            p += info_len
        self._finish(sb, p)

    def _send_s(self):
        self._send_u(self.client, (self.vr << 5) | PF | 0x01, None, 0)

    def _send_next(self):
        left = self._txn - self._txpos
        count = left if left <= self.max_tx else self.max_tx
        seg = count < left
        ctrl = (self.vr << 5) | PF | (self.vs << 1)
        tb = self._tb
        p = self._head(tb, self.client, ctrl, count, seg)
        tb[p:p + count] = memoryview(self.tx)[self._txpos:self._txpos + count]
        self._txpos += count
        self._tn = self._finish(tb, p + count)
        self.vs = (self.vs + 1) & 7

    def _resend(self):
        self.port.write(memoryview(self._tb)[:self._tn])

    # -- time ----------------------------------------------------------------------------------
    def poll(self):
        """Drop a connection nobody used for INACTIVITY_MS (the optical head was taken away)."""
        if self.connected and self.clock and ticks.diff(self.clock.ticks_ms(), self._last_frame_ms) > INACTIVITY_MS:
            self._release()

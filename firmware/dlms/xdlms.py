"""The xDLMS application layer of the server: associations (AARQ/AARE, RLRQ/RLRE), GET (normal
and with blocks), SET and ACTION, with the result codes a standard client expects.

Three associations per IS 15959, chosen by the client's HDLC address: 0x10 public (no security),
0x20 meter reader (LLS: the 16-character password), 0x30 utility settings (HLS mechanism 5:
the client proves it holds the key by a GMAC over the server's challenge and the server answers
in kind). A wrong password or GMAC counts toward the link's lockout (`keys`).

A value bigger than the client's PDU goes out in blocks: the object model produces it as a
generator of small chunks, so the meter never holds more than one block of it.
"""
from dlms import axdr
from dlms import gmac

PUBLIC = 0
READER = 1
UTILITY = 2
SAP_LEVEL = {0x10: PUBLIC, 0x20: READER, 0x30: UTILITY}

# application context names (LN referencing, without / with ciphering) and mechanism names
CONTEXT_LN = b"\x60\x85\x74\x05\x08\x01\x01"
MECH_PREFIX = b"\x60\x85\x74\x05\x08\x02"
MECH_LLS = 1
MECH_GMAC = 5

# conformance block bits the server implements (block transfer with GET, get, set,
# selective access, action)
CONFORMANCE = 0x001000 | 0x000010 | 0x000008 | 0x000004 | 0x000001
PDU_SIZE = 256  # the largest request the server accepts and the largest reply it builds

# data-access-result / action-result codes
SUCCESS = 0
HARDWARE_FAULT = 1
TEMPORARY_FAILURE = 2
DENIED = 3  # read-write-denied
UNDEFINED = 4  # object-undefined
CLASS_INCONSISTENT = 9
UNAVAILABLE = 11
TYPE_UNMATCHED = 12
SCOPE_VIOLATED = 13
LONG_GET_ABORTED = 15
NO_LONG_GET = 16
BLOCK_NUMBER_INVALID = 19
OTHER = 250

# ACSE diagnostics (acse-service-user)
DIAG_NONE = 0
DIAG_NO_REASON = 1
DIAG_CONTEXT = 2
DIAG_MECH_UNKNOWN = 11
DIAG_MECH_REQUIRED = 12
DIAG_AUTH_FAILED = 13
DIAG_AUTH_REQUIRED = 14

ASSOCIATION_LN = b"\x00\x00\x28\x00\x00\xff"
SC_AUTH = 0x10  # security control byte of an HLS GMAC: authentication only, suite 0


class Refused(Exception):
    """An object refuses a request: carries the data-access-result / action-result code."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def _ber_length(buf, pos):
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    k = b & 0x7F
    v = 0
    for i in range(k):
        v = (v << 8) | buf[pos + 1 + i]
    return v, pos + 1 + k


class Server:
    """One association at a time on one port. `model` is the object table (objects.Model),
    `keys` the secrets and lockout, `urandom(n)` the challenge source."""

    def __init__(self, model, keys, urandom):
        self.model = model
        self.keys = keys
        self.urandom = urandom
        self.level = None  # association level once associated, else None
        self.pending_hls = False  # HLS association waiting for the client's reply to StoC
        self.sap = None
        self.client_pdu = PDU_SIZE
        self.conformance = 0
        self._stoc = None
        self._ctos = None
        self._client_title = None
        self._mech = 0
        self._blk = bytearray(PDU_SIZE)  # data of the value being sent, one block at a time
        self._blkn = 0
        self._scratch = bytearray(160)  # one chunk of a value being produced
        self._cw = axdr.Writer(self._scratch)
        self._chunk = 0  # bytes of the current chunk not yet copied into a block
        self._chunk_at = 0
        self._gen = None  # the value being sent in blocks (a generator of chunks), or None
        self._block_no = 0
        self._invoke = 0
        self.requests = 0
        self.refusals = 0
        self.fault = None  # the last internal error, for the port to log

    # -- connection (from HDLC) --------------------------------------------------------------
    def connect(self, sap):
        self.release()
        self.sap = sap

    def release(self):
        self.level = None
        self.pending_hls = False
        self._gen = None
        self._stoc = None

    # -- one request -------------------------------------------------------------------------
    def handle(self, sap, rx, n, tx, off):
        """Serve one APDU rx[:n]; write the reply at tx[off:]; return its length (0: none)."""
        self.requests += 1
        if n < 1:
            return 0
        w = axdr.Writer(tx, off)
        tag = rx[0]
        try:
            if tag == 0x60:
                self._aarq(sap, rx, n, w)
            elif tag == 0x62:
                self.release()
                w.raw(b"\x63\x03\x80\x01\x00")  # RLRE, reason normal
            elif self.level is None and not (self.pending_hls and tag == 0xC3):
                self._exception(w, 1, 1)  # no association: service not allowed
            elif tag in (0xC0, 0xC1, 0xC3) and not self._agreed(tag):
                self._exception(w, 1, 2)  # not in the conformance block both sides agreed on
            elif tag == 0xC0:
                self._get(rx, n, w)
            elif tag == 0xC1:
                self._set(rx, n, w)
            elif tag == 0xC3:
                self._action(rx, n, w)
            else:
                self._exception(w, 2, 2)  # service unknown / not supported
        except (IndexError, axdr.DecodeError, ValueError, TypeError):
            w.n = off
            self._gen = None
            self._chunk = 0
            self._exception(w, 2, 3)  # a malformed request: other reason
        except Exception as e:
            # a fault inside the meter (flash read, memory): this request fails, nothing else;
            # the port logs it
            w.n = off
            self._gen = None
            self._chunk = 0
            self._exception(w, 2, 3)
            self.fault = e
        return w.n - off

    def _agreed(self, tag):
        """GET, SET, ACTION: in the negotiated conformance block (the HLS reply always is)."""
        if tag == 0xC3 and self.pending_hls:
            return True
        bit = 0x000010 if tag == 0xC0 else (0x000008 if tag == 0xC1 else 0x000001)
        return bool(self.conformance & bit)

    def _exception(self, w, state_error, service_error):
        w.byte(0xD8)
        w.byte(state_error)
        w.byte(service_error)

    # -- association -------------------------------------------------------------------------
    def _aarq(self, sap, rx, n, w):
        self.release()
        length, pos = _ber_length(rx, 1)
        end = min(pos + length, n)
        context = mech = auth = title = user = None
        while pos < end:
            tag = rx[pos]
            ln, p = _ber_length(rx, pos + 1)
            body = rx[p:p + ln]
            if tag == 0xA1 and ln >= 2:
                context = bytes(body[2:])  # 06 len <oid>
            elif tag == 0xA6 and ln >= 2:
                title = bytes(body[2:])
            elif tag == 0x8B:
                mech = bytes(body)
            elif tag == 0xAC and ln >= 2:
                auth = bytes(body[2:])  # 80 len <password or challenge>
            elif tag == 0xBE and ln >= 2:
                user = bytes(body[2:])  # 04 len <InitiateRequest>
            pos = p + ln
        level = SAP_LEVEL.get(sap)
        mech_id = mech[-1] if mech and len(mech) == 7 and mech[:6] == MECH_PREFIX else (None if mech else 0)
        result, diag = 0, DIAG_NONE
        if context != CONTEXT_LN:
            result, diag = 1, DIAG_CONTEXT
        elif level is None:
            result, diag = 1, DIAG_NO_REASON
        elif mech_id is None:
            result, diag = 1, DIAG_MECH_UNKNOWN
        elif level == READER:
            if mech_id != MECH_LLS:
                result, diag = 1, (DIAG_MECH_REQUIRED if mech_id == 0 else DIAG_MECH_UNKNOWN)
            elif self.keys.locked():
                result, diag = 1, DIAG_AUTH_FAILED
            else:
                pw = self.keys.lls_password()
                if pw is None or auth is None or not _equal(auth, pw):
                    self.keys.failed("DLMS LLS password")
                    result, diag = 1, DIAG_AUTH_FAILED
                else:
                    self.keys.succeeded()
        elif level == UTILITY:
            if mech_id != MECH_GMAC:
                result, diag = 1, (DIAG_MECH_REQUIRED if mech_id == 0 else DIAG_MECH_UNKNOWN)
            elif self.keys.hls_key() is None or self.keys.locked():
                result, diag = 1, DIAG_AUTH_FAILED
            elif title is None or len(title) != 8 or auth is None or not 8 <= len(auth) <= 64:
                result, diag = 1, DIAG_AUTH_FAILED
            else:
                result, diag = 0, DIAG_AUTH_REQUIRED
        conformance = 0
        pdu = PDU_SIZE
        if result == 0:
            parsed = _initiate_request(user)
            if parsed is None:
                result, diag = 1, DIAG_NO_REASON
            else:
                conformance, pdu = parsed
        self._mech = mech_id or 0
        if result == 0:
            self.sap = sap
            self.conformance = conformance & CONFORMANCE
            self.client_pdu = pdu if pdu >= 32 else PDU_SIZE
            if diag == DIAG_AUTH_REQUIRED:
                self.pending_hls = True
                self._ctos = auth
                self._client_title = title
                self._stoc = bytes(self.urandom(16))
            else:
                self.level = level
        # AARE
        w.byte(0x61)
        at = w.n
        w.byte(0)  # length, patched below (the AARE is < 128 bytes)
        w.raw(b"\xa1\x09\x06\x07")
        w.raw(CONTEXT_LN)
        w.raw(b"\xa2\x03\x02\x01")
        w.byte(result)
        w.raw(b"\xa3\x05\xa1\x03\x02\x01")
        w.byte(diag)
        if self.pending_hls:
            w.raw(b"\xa4\x0a\x04\x08")
            w.raw(self.keys.system_title())
        if result == 0 and self._mech:
            w.raw(b"\x88\x02\x07\x80\x89\x07")
            w.raw(MECH_PREFIX)
            w.byte(self._mech)
            if self.pending_hls:
                w.raw(b"\xaa\x12\x80\x10")
                w.raw(self._stoc)
        if result == 0:
            w.raw(b"\xbe\x10\x04\x0e\x08\x00\x06\x5f\x1f\x04\x00")
            c = self.conformance
            w.byte((c >> 16) & 0xFF)
            w.byte((c >> 8) & 0xFF)
            w.byte(c & 0xFF)
            w.uint(PDU_SIZE, 2)
            w.raw(b"\x00\x07")  # VAA name 0x0007 (LN referencing)
        else:
            self.refusals += 1
        w.buf[at] = w.n - at - 1

    def _hls_reply(self, data):
        """The client's f(StoC): SC, IC, GMAC tag. Returns our f(CtoS) or None (refused)."""
        key = self.keys.hls_key()
        self.pending_hls = False
        if (key is None or not isinstance(data, bytes) or len(data) != 17 or data[0] != SC_AUTH
                or self._stoc is None):
            self.keys.failed("DLMS HLS reply")
            return None
        ic = data[1:5]
        ak = self.keys.hls_auth_key()
        tag = gmac.gmac(key, self._client_title + ic, bytes((SC_AUTH,)) + ak + self._stoc)
        if not _equal(tag, data[5:]):
            self.keys.failed("DLMS HLS GMAC")
            return None
        self.keys.succeeded()
        self.level = UTILITY
        my_ic = self.keys.next_ic()
        ic_b = bytes(((my_ic >> 24) & 0xFF, (my_ic >> 16) & 0xFF, (my_ic >> 8) & 0xFF, my_ic & 0xFF))
        mine = gmac.gmac(key, self.keys.system_title() + ic_b, bytes((SC_AUTH,)) + ak + self._ctos)
        self._stoc = None
        return bytes((SC_AUTH,)) + ic_b + mine

    # -- GET ---------------------------------------------------------------------------------
    def _get(self, rx, n, w):
        kind = rx[1]
        invoke = rx[2]
        if kind == 2:  # get-request-next
            block = (rx[3] << 24) | (rx[4] << 16) | (rx[5] << 8) | rx[6]
            if self._gen is None and self._chunk == 0:
                self._get_error(w, invoke, NO_LONG_GET)  # also: the last block went out
            elif block != self._block_no:
                self._gen = None
                self._chunk = 0
                self._get_error(w, invoke, BLOCK_NUMBER_INVALID)
            else:
                self._next_block(w, invoke)
            return
        if kind != 1:
            self._exception(w, 2, 2)  # get-with-list: not in the conformance block
            return
        self._gen = None
        self._chunk = 0
        cls = (rx[3] << 8) | rx[4]
        ln = bytes(rx[5:11])
        attr = rx[11]
        sel = None
        if rx[12]:
            if not self.conformance & 0x000004:
                self._get_error(w, invoke, DENIED)
                return
            sel_id = rx[13]
            value, _ = axdr.read(rx, 14, n)
            sel = (sel_id, value)
        try:
            self._gen = self.model.get(self.level, cls, ln, attr, sel, self._cw)
        except Refused as e:
            self.refusals += 1
            self._get_error(w, invoke, e.code)
            return
        # produce the value: if it fits one block answer normally, else start blocks
        self._blkn = 0
        try:
            full = self._fill(self._room(w, 13))
        except Refused as e:
            self._gen = None
            self._chunk = 0
            self._get_error(w, invoke, e.code)
            return
        if not full:
            w.raw(b"\xc4\x01")
            w.byte(invoke)
            w.byte(0)
            w.raw(memoryview(self._blk)[:self._blkn])
            return
        self._block_no = 0
        self._next_block(w, invoke, True)

    def _room(self, w, header):
        """How much value data fits in the reply after a header of `header` bytes."""
        limit = self.client_pdu if self.client_pdu < PDU_SIZE else PDU_SIZE
        avail = w.end - w.n
        if avail < limit:
            limit = avail
        return limit - header

    def _fill(self, room):
        """Move chunks of the value into the block buffer up to room bytes; True if the
        value goes on beyond them."""
        blk = self._blk
        scratch = self._scratch
        cw = self._cw
        while True:
            if self._chunk:
                take = room - self._blkn
                if take > self._chunk:
                    take = self._chunk
                if take > 0:
                    a = self._chunk_at
                    blk[self._blkn:self._blkn + take] = memoryview(scratch)[a:a + take]
                    self._blkn += take
                    self._chunk -= take
                    self._chunk_at += take
                if self._chunk:
                    return True
            if self._gen is None:
                return False
            cw.n = 0
            try:
                next(self._gen)  # the model writes one chunk into cw
            except StopIteration:
                self._gen = None
            self._chunk = cw.n
            self._chunk_at = 0

    def _next_block(self, w, invoke, first=False):
        """Send the next block of the value (the first one is already in the block buffer)."""
        if not first:
            self._blkn = 0
        self._block_no += 1
        if first:
            more = True
        else:
            try:
                more = self._fill(self._room(w, 13))
            except Refused as e:
                self._gen = None
                self._chunk = 0
                self._get_error(w, invoke, e.code)
                return
        if more and self._chunk == 0 and self._gen is None:
            more = False
        w.raw(b"\xc4\x02")
        w.byte(invoke)
        w.byte(0 if more else 1)  # last-block
        w.uint(self._block_no, 4)
        w.byte(0)  # raw-data
        w.length(self._blkn)
        w.raw(memoryview(self._blk)[:self._blkn])

    def _get_error(self, w, invoke, code):
        w.raw(b"\xc4\x01")
        w.byte(invoke)
        w.byte(1)
        w.byte(code)

    # -- SET ---------------------------------------------------------------------------------
    def _set(self, rx, n, w):
        invoke = rx[2]
        if rx[1] != 1:
            self._exception(w, 2, 2)
            return
        cls = (rx[3] << 8) | rx[4]
        ln = bytes(rx[5:11])
        attr = rx[11]
        pos = 12
        if rx[pos]:
            code = SCOPE_VIOLATED  # selective access on SET: not offered
        else:
            code = SUCCESS
            value, _ = axdr.read(rx, pos + 1, n)
            try:
                self.model.set(self.level, cls, ln, attr, value)
            except Refused as e:
                code = e.code
                self.refusals += 1
        w.raw(b"\xc5\x01")
        w.byte(invoke)
        w.byte(code)

    # -- ACTION ------------------------------------------------------------------------------
    def _action(self, rx, n, w):
        invoke = rx[2]
        if rx[1] != 1:
            self._exception(w, 2, 2)
            return
        cls = (rx[3] << 8) | rx[4]
        ln = bytes(rx[5:11])
        method = rx[11]
        param = None
        if n > 12 and rx[12]:
            param, _ = axdr.read(rx, 13, n)
        reply = None
        code = SUCCESS
        if cls == 15 and ln == ASSOCIATION_LN and method == 1 and (self.pending_hls or self.level is not None):
            if not self.pending_hls:
                code = DENIED
            else:
                reply = self._hls_reply(param)
                if reply is None:
                    code = DENIED
        elif self.level is None:
            code = DENIED
        else:
            try:
                self.model.action(self.level, cls, ln, method, param)
            except Refused as e:
                code = e.code
                self.refusals += 1
        w.raw(b"\xc7\x01")
        w.byte(invoke)
        w.byte(code)
        if reply is not None:
            w.raw(b"\x01\x00")
            w.octets(reply)
        else:
            w.byte(0)


def _initiate_request(user):
    """(conformance, client max PDU) from an xDLMS InitiateRequest, or None if unusable."""
    if not user or user[0] != 0x01:
        return None
    p = 1
    if user[p]:  # dedicated key
        p += 2 + user[p + 1]
    else:
        p += 1
    if user[p]:  # response-allowed
        p += 2
    else:
        p += 1
    if user[p]:  # proposed quality of service
        p += 2
    else:
        p += 1
    if user[p] != 6:
        return None  # DLMS version 6 only
    p += 1
    if user[p:p + 4] != b"\x5f\x1f\x04\x00":
        return None
    conf = (user[p + 4] << 16) | (user[p + 5] << 8) | user[p + 6]
    pdu = (user[p + 7] << 8) | user[p + 8]
    return conf, (pdu if pdu else 0xFFFF)


def _equal(a, b):
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0

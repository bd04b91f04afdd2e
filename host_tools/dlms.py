"""A DLMS/COSEM client session on a meter's optical port, built on Gurux DLMS for Python.

Used by `meterctl dlms read` and by the HIL tests: the protocol (HDLC, AARQ, GET with blocks,
GMAC) is entirely Gurux's, an independent implementation of the standard; this module only
carries its frames over the serial port and retries the SNRM as a hand-held reader does.

    with DlmsSession(port, client=0x20, password="16 characters!!!") as s:
        s.read(GXDLMSRegister("1.0.1.8.0.255"), 2)
"""
import time

import serial
from gurux_dlms import GXByteBuffer, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType, Security
from gurux_dlms.GXDLMSException import GXDLMSException
from gurux_dlms.secure import GXDLMSSecureClient

PUBLIC = 0x10
READER = 0x20
UTILITY = 0x30


class DlmsError(Exception):
    """The meter refused a request or did not answer; `code` is the DLMS error, if any."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class DlmsSession:
    def __init__(self, port, client=PUBLIC, password=None, hls_key=None, hls_auth_key=None,
                 system_title=b"HOSTTOOL", server=1, max_pdu=0xFFFF, max_info=128, timeout=5.0):
        self.port_name = port
        self.timeout = timeout
        if client == READER:
            auth = Authentication.LOW
        elif client == UTILITY:
            auth = Authentication.HIGH_GMAC
        else:
            auth = Authentication.NONE
        c = GXDLMSSecureClient(True, client, server, auth, password.encode() if isinstance(password, str) else password,
                         InterfaceType.HDLC)
        if auth == Authentication.HIGH_GMAC:
            c.ciphering.security = Security.NONE
            c.ciphering.systemTitle = system_title
            c.ciphering.blockCipherKey = hls_key
            c.ciphering.authenticationKey = hls_auth_key or hls_key
        c.setMaxReceivePDUSize(max_pdu)
        c.hdlcSettings.maxInfoRX = max_info
        c.hdlcSettings.maxInfoTX = max_info
        self.client = c
        self.serial = None
        self.frames = []  # (direction, bytes) of the session, for docs and debugging

    # -- session -----------------------------------------------------------------------------
    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    def open(self):
        self.serial = serial.Serial(self.port_name, 9600, bytesize=8, parity="N", stopbits=1, timeout=0.05)
        reply = GXReplyData()
        for attempt in range(3):  # a reader repeats the SNRM if a half frame was on the line
            try:
                self._exchange(self.client.snrmRequest(), reply)
                break
            except DlmsError:
                if attempt == 2:
                    raise
                reply.clear()
        self.client.parseUAResponse(reply.data)
        reply.clear()
        try:
            self._blocks(self.client.aarqRequest(), reply)
            self.client.parseAareResponse(reply.data)
        except GXDLMSException as e:
            raise DlmsError("association refused: %s" % e, getattr(e, "diagnostic", None)) from None
        if self.client.getIsAuthenticationRequired():
            reply.clear()
            self._blocks(self.client.getApplicationAssociationRequest(), reply)
            try:
                self.client.parseApplicationAssociationResponse(reply.data)
            except Exception as e:
                raise DlmsError("HLS authentication failed: %s" % e) from None

    def close(self):
        if self.serial is None:
            return
        try:
            reply = GXReplyData()
            rel = self.client.releaseRequest()
            if rel:
                self._blocks(rel, reply)
            reply.clear()
            self._exchange(self.client.disconnectRequest(), reply)
        except (DlmsError, GXDLMSException, OSError):
            pass
        finally:
            self.serial.close()
            self.serial = None

    # -- services ----------------------------------------------------------------------------
    def read(self, obj, attr):
        reply = GXReplyData()
        self._blocks(self.client.read(obj, attr), reply)
        return self.client.updateValue(obj, attr, reply.value)

    def read_rows_by_entry(self, profile, first, count):
        reply = GXReplyData()
        self._blocks(self.client.readRowsByEntry(profile, first, count), reply)
        return self.client.updateValue(profile, 2, reply.value)

    def read_rows_by_range(self, profile, start, end):
        reply = GXReplyData()
        self._blocks(self.client.readRowsByRange(profile, start, end), reply)
        return self.client.updateValue(profile, 2, reply.value)

    def write(self, obj, attr):
        reply = GXReplyData()
        self._blocks(self.client.write(obj, attr), reply)

    def method(self, data):
        """Send an ACTION request built by a Gurux object's method (e.g. remoteDisconnect)."""
        reply = GXReplyData()
        self._blocks(data, reply)
        return reply.value

    def objects(self):
        reply = GXReplyData()
        self._blocks(self.client.getObjectsRequest(), reply)
        return self.client.parseObjects(reply.data, True)

    # -- transport ---------------------------------------------------------------------------
    def _blocks(self, data, reply):
        """Send a request (one or more frames) and follow the reply through segments and blocks."""
        if isinstance(data, list):
            for d in data:
                reply.clear() if d is not data[-1] else None
                self._blocks(d, reply)
            return
        self._exchange(data, reply)
        while reply.isMoreData():
            self._exchange(self.client.receiverReady(reply), reply)

    def _exchange(self, data, reply):
        if data is None:
            return
        data = bytes(data)
        self.frames.append((">", data))
        self.serial.write(data)
        rd = GXByteBuffer()
        notify = GXReplyData()
        deadline = time.monotonic() + self.timeout
        start = len(self.frames)
        while True:
            chunk = self.serial.read(512)
            if chunk:
                rd.set(chunk)
                deadline = time.monotonic() + self.timeout
                try:
                    if self.client.getData(rd, reply, notify):
                        break
                except GXDLMSException as e:
                    raise DlmsError(str(e), getattr(e, "errorCode", None)) from None
            elif time.monotonic() > deadline:
                raise DlmsError("no answer from the meter on %s" % self.port_name)
        self.frames.append(("<", bytes(rd.array()[:rd.size])))
        del start
        if reply.error:
            raise DlmsError("meter refused: error %d" % reply.error, reply.error)


def read_object(session, obis):
    """Find `obis` in the association's object list and read what a technician wants of it:
    value with scaler and unit (registers), the rows of a profile, the relay's state. A dict."""
    from gurux_dlms.enums import ObjectType

    for o in session.objects():
        if o.logicalName == obis:
            break
    else:
        raise DlmsError("%s is not in this association's object list" % obis, 4)
    out = {"obis": obis, "class": int(o.objectType), "type": type(o).__name__.replace("GXDLMS", "")}
    t = o.objectType
    if t in (ObjectType.REGISTER, ObjectType.EXTENDED_REGISTER):
        session.read(o, 3)
        raw = session.read(o, 2)
        out.update(value=raw, scaler=o.scaler, unit=int(o.unit) if o.unit is not None else None)
    elif t == ObjectType.PROFILE_GENERIC:
        session.read(o, 3)
        out["columns"] = ["%d/%s/%d" % (int(c[0].objectType), c[0].logicalName, c[1].attributeIndex)
                          for c in o.captureObjects]
        rows = session.read(o, 2) if o.captureObjects else []
        out["rows"] = [[_plain(v) for v in r] for r in (rows or [])]
    elif t == ObjectType.CLOCK:
        out["value"] = _plain(session.read(o, 2))
        out["status"] = session.read(o, 4)
    elif t == ObjectType.DISCONNECT_CONTROL:
        out["value"] = {"output_state": session.read(o, 2), "control_state": int(session.read(o, 3)),
                        "control_mode": int(session.read(o, 4))}
    elif t == ObjectType.ASSOCIATION_LOGICAL_NAME:
        out["value"] = ["%d %s" % (int(x.objectType), x.logicalName) for x in session.objects()]
    elif t == ObjectType.LIMITER:
        out["value"] = {"threshold_active": session.read(o, 3), "threshold_normal": session.read(o, 4)}
    else:
        out["value"] = _plain(session.read(o, 2))
    return out


def _plain(v):
    """Gurux values as plain Python: date-times as ISO text, byte strings as hex."""
    if hasattr(v, "value") and hasattr(v.value, "isoformat"):
        return v.value.replace(tzinfo=None).isoformat()
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    return v

"""HDLC framing of the DLMS server (firmware/dlms/hdlc.py), on CPython and MicroPython.

Client frames are built here with a bit-by-bit CRC that is checked against the published
CRC-16/X.25 check value and against an SNRM frame as IEC 62056-46 clients send it.
"""
from dlms import hdlc

from _clock import Clock


def crc_x25(data):
    c = 0xFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
    return c ^ 0xFFFF


def frame(ctrl, info=b"", server=b"\x03", client=0x10, seg=False):
    """A client frame: flag, format, server address, client address, control, [HCS, info], FCS."""
    length = 2 + len(server) + 1 + 1 + 2 + (len(info) + 2 if info else 0)
    body = bytes([0xA0 | (0x08 if seg else 0) | (length >> 8), length & 0xFF]) + server + bytes([(client << 1) | 1, ctrl])
    if info:
        c = crc_x25(body)
        body += bytes([c & 0xFF, c >> 8]) + info
    c = crc_x25(body)
    return b"\x7e" + body + bytes([c & 0xFF, c >> 8]) + b"\x7e"


def parse(raw):
    """Split what the server wrote into frames: (format, dest, src, control, info)."""
    out = []
    i = 0
    while i < len(raw):
        assert raw[i] == 0x7E, raw[i:].hex()
        length = ((raw[i + 1] & 7) << 8) | raw[i + 2]
        body = raw[i + 1:i + 1 + length]
        assert raw[i + 1 + length] == 0x7E
        assert crc_x25(body[:-2]) == body[-2] | (body[-1] << 8), "bad FCS from server"
        k = 2
        dest = body[k]
        k += 1
        src = bytearray()
        while True:
            src.append(body[k])
            k += 1
            if src[-1] & 1:
                break
        ctrl = body[k]
        k += 1
        info = b""
        if length > k + 2:
            assert crc_x25(body[:k]) == body[k] | (body[k + 1] << 8), "bad HCS from server"
            info = bytes(body[k + 2:-2])
        out.append((body[0], dest, bytes(src), ctrl, info))
        i += 2 + length
    return out


class Port:
    def __init__(self):
        self.out = bytearray()

    def write(self, b):
        self.out.extend(b)

    def take(self):
        f = parse(bytes(self.out))
        self.out = bytearray()
        return f


class App:
    def __init__(self, reply=b"\x01\x02\x03"):
        self.reply = reply
        self.pdus = []
        self.connects = []
        self.releases = 0

    def connect(self, sap):
        self.connects.append(sap)

    def release(self):
        self.releases += 1

    def handle(self, sap, rx, n, tx, off):
        self.pdus.append(bytes(rx[:n]))
        tx[off:off + len(self.reply)] = self.reply
        return len(self.reply)


def make(reply=b"\x01\x02\x03"):
    port = Port()
    app = App(reply)
    return hdlc.Hdlc(port, app), port, app


def send(h, data):
    h.feed(bytearray(data), len(data))


def test_fcs_matches_published_check_value():
    assert crc_x25(b"123456789") == 0x906E
    data = bytearray(b"123456789")
    assert hdlc.fcs16(data, 0, len(data)) == 0x906E


def test_snrm_frame_as_clients_send_it():
    # a default client's SNRM to server 1 from client 0x10: 7E A0 07 03 21 93 0F 01 7E
    assert frame(0x93) == bytes.fromhex("7ea00703219 30f017e".replace(" ", ""))


def test_snrm_gets_ua_with_default_parameters():
    h, port, app = make()
    send(h, frame(0x93))
    (f,) = port.take()
    fmt, dest, src, ctrl, info = f
    assert ctrl == 0x73 and dest == 0x21 and src == b"\x03"
    assert info[:3] == b"\x81\x80\x12"
    assert info[3:9] == b"\x05\x01\x80\x06\x01\x80"  # 128 bytes each way
    assert app.connects == [0x10]


def test_snrm_honours_smaller_fields_and_caps_larger_ones_at_the_buffer():
    h, port, app = make()
    params = b"\x81\x80\x12\x05\x01\x40\x06\x01\x64\x07\x04\x00\x00\x00\x01\x08\x04\x00\x00\x00\x01"
    send(h, frame(0x93, params))  # the client sends at most 64, receives at most 100
    (f,) = port.take()
    assert h.max_rx == 64 and h.max_tx == 100
    assert f[4][3:9] == b"\x05\x01\x64\x06\x01\x40"  # the server's view: it sends 100, takes 64
    params = b"\x81\x80\x14\x05\x02\x04\x00\x06\x02\x04\x00\x07\x04\x00\x00\x00\x01\x08\x04\x00\x00\x00\x01"
    send(h, frame(0x93, params))  # 1024 each way: more than the buffers
    (f,) = port.take()
    assert h.max_rx == hdlc.MAX_INFO and h.max_tx == hdlc.MAX_INFO
    assert bytes([0x05, 0x01, hdlc.MAX_INFO, 0x06, 0x01, hdlc.MAX_INFO]) in f[4]


def connect(h, port):
    send(h, frame(0x93))
    port.take()


def iframe(ns, nr, pdu, seg=False, llc=True):
    return frame((nr << 5) | 0x10 | (ns << 1), (b"\xe6\xe6\x00" if llc else b"") + pdu, seg=seg)


def test_information_frame_reaches_application_and_reply_has_llc_and_sequence():
    h, port, app = make()
    connect(h, port)
    send(h, iframe(0, 0, b"\x60\x01\x02"))
    assert app.pdus == [b"\x60\x01\x02"]
    (f,) = port.take()
    assert f[3] == (1 << 5) | 0x10 | (0 << 1)  # N(R)=1, N(S)=0
    assert f[4] == b"\xe6\xe7\x00\x01\x02\x03"
    send(h, iframe(1, 1, b"\xc0\x01"))
    (f,) = port.take()
    assert f[3] == (2 << 5) | 0x10 | (1 << 1)


def test_long_reply_is_segmented_and_each_segment_follows_an_rr():
    reply = bytes(range(256)) + bytes(range(44))  # 300 bytes + LLC header
    h, port, app = make(reply)
    connect(h, port)
    send(h, iframe(0, 0, b"\xc0"))
    got = bytearray()
    frames = port.take()
    assert len(frames) == 1
    while True:
        fmt, dest, src, ctrl, info = frames[0]
        assert len(info) <= 128
        got.extend(info)
        if not fmt & 0x08:
            break
        ns = (ctrl >> 1) & 7
        send(h, frame(((ns + 1) & 7) << 5 | 0x10 | 0x01))  # RR N(R) = next
        frames = port.take()
        assert len(frames) == 1
    assert bytes(got) == b"\xe6\xe7\x00" + reply


def test_segmented_request_is_joined_and_acknowledged():
    h, port, app = make()
    connect(h, port)
    send(h, iframe(0, 0, b"\xaa" * 100, seg=True))
    (f,) = port.take()
    assert f[3] & 0x0F == 0x01 and f[3] >> 5 == 1  # RR, N(R)=1
    assert app.pdus == []
    send(h, iframe(1, 0, b"\xbb" * 50, llc=False))
    assert app.pdus == [b"\xaa" * 100 + b"\xbb" * 50]


def test_out_of_sequence_frame_is_not_delivered_and_repeat_gets_same_answer():
    h, port, app = make()
    connect(h, port)
    send(h, iframe(0, 0, b"\x01"))
    (first,) = port.take()
    send(h, iframe(3, 1, b"\x02"))  # N(S)=3 where 1 is expected
    (f,) = port.take()
    assert app.pdus == [b"\x01"]
    assert f[3] & 0x0F == 0x01 and f[3] >> 5 == 1  # RR: still expecting 1
    send(h, iframe(0, 0, b"\x01"))  # the client repeats frame 0: our answer was lost
    (again,) = port.take()
    assert again == first and app.pdus == [b"\x01"]
    assert h.errors == 2


def test_garbage_between_frames_and_a_truncated_frame_are_skipped():
    h, port, app = make()
    send(h, b"\x00\xff\x7e\x12\x7e\x7e\xa0")  # noise, stray flags, a started header
    send(h, frame(0x93)[:6])  # a frame cut off (the client vanished)
    send(h, b"\x55\xaa")
    send(h, frame(0x93))
    frames = port.take()
    assert [f[3] for f in frames] == [0x73]
    send(h, iframe(0, 0, b"\x42"))
    assert app.pdus == [b"\x42"]


def test_bad_fcs_is_dropped():
    h, port, app = make()
    connect(h, port)
    bad = bytearray(iframe(0, 0, b"\x42"))
    bad[-3] ^= 0xFF
    send(h, bad)
    assert port.take() == [] and app.pdus == [] and h.errors == 1
    send(h, iframe(0, 0, b"\x42"))
    assert app.pdus == [b"\x42"]


def test_information_before_connection_gets_dm_and_disc_releases():
    h, port, app = make()
    send(h, iframe(0, 0, b"\x42"))
    assert [f[3] for f in port.take()] == [0x1F]
    connect(h, port)
    send(h, frame(0x53))
    assert [f[3] for f in port.take()] == [0x73]
    assert app.releases >= 1 and not h.connected


def test_frames_for_another_server_address_are_ignored():
    h, port, app = make()
    send(h, frame(0x93, server=b"\x05"))  # logical device 2
    assert port.take() == []
    send(h, frame(0x93, server=b"\x02\x23"))  # two-byte form, upper 1, lower 0x11
    assert [f[3] for f in port.take()] == [0x73]


def test_bytes_may_arrive_one_at_a_time():
    h, port, app = make()
    for b in frame(0x93):
        send(h, bytes([b]))
    assert [f[3] for f in port.take()] == [0x73]


def test_a_frame_whose_bytes_stop_is_abandoned_and_a_silent_connection_released():
    port = Port()
    app = App()
    clock = Clock(1000)
    h = hdlc.Hdlc(port, app, clock=clock)
    send(h, iframe(0, 0, b"\x42" * 60)[:20])  # a long frame cut off: the client vanished
    clock.ms += hdlc.FRAME_GAP_MS + 1
    send(h, frame(0x93))  # the next reader's SNRM is answered at once
    assert [f[3] for f in port.take()] == [0x73]
    clock.ms += hdlc.INACTIVITY_MS + 1
    h.poll()
    assert not h.connected and app.releases >= 1
    send(h, iframe(0, 0, b"\x42"))
    assert [f[3] for f in port.take()] == [0x1F]  # DM: connect again first

"""A-XDR encoding (firmware/dlms/axdr.py) against encodings written out from the Green Book's
rules (tag, then big-endian value; BER lengths), on CPython and MicroPython."""
import civiltime
from dlms import axdr

from _check import raises


def enc(fn, *args):
    buf = bytearray(64)
    w = axdr.Writer(buf)
    fn(w, *args)
    return bytes(buf[:w.n])


def test_integers_of_every_size_and_sign():
    assert enc(lambda w: w.integer(axdr.UINT32, 1000)) == bytes.fromhex("06000003e8")
    assert enc(lambda w: w.integer(axdr.INT32, -2)) == bytes.fromhex("05fffffffe")
    assert enc(lambda w: w.integer(axdr.UINT16, 23012)) == bytes.fromhex("1259e4")
    assert enc(lambda w: w.integer(axdr.INT16, -950)) == bytes.fromhex("10fc4a")
    assert enc(lambda w: w.integer(axdr.INT8, -3)) == bytes.fromhex("0ffd")
    assert enc(lambda w: w.integer(axdr.UINT8, 5)) == bytes.fromhex("1105")
    assert enc(lambda w: w.integer(axdr.ENUM, 30)) == bytes.fromhex("161e")
    assert enc(lambda w: w.integer(axdr.UINT64, 2 ** 40)) == bytes.fromhex("150000010000000000")


def test_strings_structures_and_lengths():
    assert enc(lambda w: w.octets(bytes([1, 0, 1, 8, 0, 255]))) == bytes.fromhex("0906010001 0800ff".replace(" ", ""))
    assert enc(lambda w: w.visible("AB-1")) == b"\x0a\x04AB-1"
    assert enc(lambda w: w.scaler_unit(-3, 30)) == bytes.fromhex("02020ffd161e")
    assert enc(lambda w: w.boolean(True)) == b"\x03\x01"
    assert enc(lambda w: w.null()) == b"\x00"
    assert enc(lambda w: w.array(200)) == b"\x01\x81\xc8"
    assert enc(lambda w: w.structure(300)) == b"\x02\x82\x01\x2c"


def test_date_time_is_twelve_bytes_with_weekday_and_unspecified_deviation():
    t = civiltime.seconds(2026, 11, 30, 9, 5, 7)  # a Monday
    assert enc(lambda w: w.datetime(t)) == bytes.fromhex("090c07ea0b1e0109050700800000")
    assert enc(lambda w: w.datetime(None)) == bytes.fromhex("090c" "ffffffffffffffffff" "8000" "ff")
    assert axdr.datetime_seconds(bytes.fromhex("07ea0b1e0109050700800000")) == t
    assert axdr.datetime_seconds(bytes.fromhex("07ea0b1f0109050700800000")) is None  # 31 November
    assert axdr.datetime_seconds(b"\xff" * 12) is None


def test_writer_refuses_to_overflow_its_buffer():
    w = axdr.Writer(bytearray(4))
    w.integer(axdr.UINT16, 1)
    with raises(axdr.Overflow):
        w.integer(axdr.UINT16, 2)


def test_read_decodes_nested_values():
    data = bytes.fromhex("0204" "1200080906000001 0000ff".replace(" ", "") + "0ffe" + "0203" "0600000010" "0a024142" "0301")
    v, end = axdr.read(data, 0)
    assert end == len(data)
    assert v == [8, bytes([0, 0, 1, 0, 0, 255]), -2, [16, "AB", True]]


def test_read_rejects_truncated_and_unknown_values():
    for bad in (b"", b"\x06\x00\x00", b"\x09\x05\x01", b"\x01\x02\x11\x01", b"\x02\x81", b"\xee\x00"):
        with raises(axdr.DecodeError):
            axdr.read(bad, 0)

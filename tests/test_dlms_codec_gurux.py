"""The meter's A-XDR encoder and decoder (firmware/dlms/axdr.py) against Gurux's, an independent
implementation: what the meter writes Gurux reads back to the same values, and what Gurux
writes the meter reads. CPython only (Gurux is a host package)."""
import datetime

import pytest
from gurux_dlms import GXByteBuffer
from gurux_dlms.enums import DataType
from gurux_dlms.GXDLMSSettings import GXDLMSSettings
from gurux_dlms.internal._GXCommon import _GXCommon
from gurux_dlms.internal._GXDataInfo import _GXDataInfo

import civiltime
from dlms import axdr


def gurux_read(data):
    info = _GXDataInfo()
    return _GXCommon.getData(GXDLMSSettings(False, None), GXByteBuffer(bytes(data)), info)


def gurux_write(type_, value):
    bb = GXByteBuffer()
    _GXCommon.setData(GXDLMSSettings(False, None), bb, type_, value)
    return bytes(bb.array()[:bb.size])


def ours(fn):
    buf = bytearray(1000)
    w = axdr.Writer(buf)
    fn(w)
    return bytes(buf[:w.n])


INTS = [(axdr.UINT8, 0), (axdr.UINT8, 255), (axdr.INT8, -128), (axdr.INT8, 127), (axdr.UINT16, 65535),
        (axdr.INT16, -32768), (axdr.INT16, -950), (axdr.UINT32, 4294967295), (axdr.INT32, -2147483648),
        (axdr.INT32, 123456789), (axdr.UINT64, 2 ** 63 + 5), (axdr.INT64, -(2 ** 40)), (axdr.ENUM, 30)]


@pytest.mark.parametrize("tag,value", INTS)
def test_integers_read_by_gurux_and_written_by_gurux(tag, value):
    mine = ours(lambda w: w.integer(tag, value))
    assert int(gurux_read(mine)) == value
    theirs = gurux_write(DataType(tag), value)
    assert theirs == mine
    assert axdr.read(theirs, 0) == (value, len(theirs))


def test_strings_and_nested_structures_both_ways():
    name = bytes([1, 0, 99, 1, 0, 255])
    mine = ours(lambda w: (w.structure(3), w.octets(name), w.visible("BR-SIM-000001"), w.array(200),
                           [w.integer(axdr.UINT16, k) for k in range(200)]))
    v = gurux_read(mine)
    assert bytes(v[0]) == name and v[1] == "BR-SIM-000001"
    assert list(v[2]) == list(range(200))
    with pytest.raises(axdr.DecodeError):  # the meter decodes only small values (requests)
        axdr.read(mine, 0)
    small = ours(lambda w: (w.structure(2), w.octets(name), w.array(3), [w.integer(axdr.INT8, -k) for k in range(3)]))
    assert axdr.read(small, 0)[0] == [name, [0, -1, -2]]
    assert [bytes(gurux_read(small)[0]), list(gurux_read(small)[1])] == [name, [0, -1, -2]]
    theirs = gurux_write(DataType.OCTET_STRING, bytes(300))
    assert axdr.read(theirs, 0) == (bytes(300), len(theirs))
    assert theirs[:4] == ours(lambda w: w.octets(bytes(300)))[:4]


def test_date_time_read_by_gurux():
    t = civiltime.seconds(2026, 12, 31, 23, 59, 58)
    mine = ours(lambda w: w.datetime(t))
    v = gurux_read(mine)
    raw = bytes(v)  # Gurux hands back the octets of an octet-string
    assert axdr.datetime_seconds(raw) == t
    decoded = _GXCommon.changeType(GXDLMSSettings(False, None), raw, DataType.DATETIME)
    assert decoded.value.replace(tzinfo=None) == datetime.datetime(2026, 12, 31, 23, 59, 58)

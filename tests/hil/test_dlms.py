"""HIL: the DLMS/COSEM server on the optical port, driven by Gurux DLMS for Python (an
independent implementation of the standard) over the simulated optical pty.

examples/meter.toml gives the meter its [dlms] secrets: the reader's LLS password and the
utility's HLS key. What a head-end or a meter-reading instrument would check is checked: the
values equal what the service link and the LCD show, the relay moves, refusals carry the
standard's result codes, and the meter keeps metering and serving its link meanwhile.
"""
import datetime
import itertools
import os
import time

import pytest
from gurux_dlms import GXReplyData
from gurux_dlms.enums import ErrorCode, ObjectType
from gurux_dlms.GXDateTime import GXDateTime
from gurux_dlms.objects import (GXDLMSAssociationLogicalName, GXDLMSClock, GXDLMSData,
                                GXDLMSDisconnectControl, GXDLMSLimiter, GXDLMSProfileGeneric,
                                GXDLMSRegister)

from host_tools import provisioning
from host_tools.dlms import PUBLIC, READER, UTILITY, DlmsError, DlmsSession
from tests.hil._helpers import codes, status

CONFIG = "examples/meter.toml"
CFG = provisioning.load(CONFIG).sections["dlms"]
PASSWORD = CFG["lls_password"]
KEY = bytes.fromhex(CFG["hls_key"])
_txn = itertools.count(1)


@pytest.fixture
def pm(meter_factory, hil_target):
    m = meter_factory(config=CONFIG)
    if not getattr(m, "optical_port", None):
        pytest.skip("this target has no optical port (--optical-port)")
    return m


def session(m, client=PUBLIC, **kw):
    if client == READER:
        kw.setdefault("password", PASSWORD)
    if client == UTILITY:
        kw.setdefault("hls_key", KEY)
    return DlmsSession(m.optical_port, client=client, **kw)


def dt(value):
    """A Gurux date-time as a naive datetime (the meter keeps local time)."""
    return value.value.replace(tzinfo=None)


def test_public_client_reads_nameplate_and_clock_only(pm):
    with session(pm) as s:
        clock = s.read(GXDLMSClock("0.0.1.0.0.255"), 2)
        assert abs((dt(clock) - pm.bench.now()).total_seconds()) <= 1
        assert s.read(GXDLMSData("0.0.96.1.0.255"), 2) == "BR-SIM-000001"
        plate = GXDLMSProfileGeneric("0.0.94.91.10.255")
        s.read(plate, 3)
        rows = s.read(plate, 2)
        assert rows[0][0] == "BR-SIM-000001" and len(rows) == 1
        # the public object list holds only what public may read
        names = {o.logicalName for o in s.objects()}
        assert "0.0.1.0.0.255" in names and "1.0.1.8.0.255" not in names
        with pytest.raises(DlmsError) as e:
            s.read(GXDLMSRegister("1.0.1.8.0.255"), 2)
        assert e.value.code == ErrorCode.READ_WRITE_DENIED
        # a public write is refused and changes nothing
        c = GXDLMSClock("0.0.1.0.0.255")
        c.time = GXDateTime(datetime.datetime(2030, 1, 1, 0, 0, 0))
        with pytest.raises(DlmsError) as e:
            s.write(c, 2)
        assert e.value.code == ErrorCode.READ_WRITE_DENIED
    assert abs((pm.bench.now() - datetime.datetime(2026, 11, 30, 9, 0)).total_seconds()) < 60
    assert pm.link.call("clock")["clock"].startswith("2026-11-30")


def test_reader_reads_every_object_of_its_list(pm):
    pm.bench.set_load(1500)
    pm.bench.advance(3600)
    with session(pm, READER) as s:
        objs = s.objects()
        assert len(objs) >= 50
        for o in objs:
            order = list(range(1, o.getAttributeCount() + 1))
            if o.objectType == ObjectType.PROFILE_GENERIC:
                order.remove(3)
                order.insert(0, 3)  # Gurux decodes a buffer by its capture objects
            for attr in order:
                if o.logicalName == "0.0.40.0.0.255" and attr == 7:
                    continue  # the secret: never readable
                if attr == 2 and o.objectType == ObjectType.PROFILE_GENERIC and not o.captureObjects:
                    # the events' scaler profile has no scaled column (event rows are time and
                    # code): Gurux will not decode a buffer without columns, so check it raw
                    reply = GXReplyData()
                    s._blocks(s.client.read(o, 2), reply)
                    assert reply.value == [[]]
                    continue
                s.read(o, attr)  # raises on any refusal
        names = {o.logicalName for o in objs}
    want = ["0.0.40.0.0.255", "0.0.1.0.0.255", "0.0.96.1.0.255", "0.0.94.91.10.255", "1.0.1.8.0.255",
            "1.0.2.8.0.255", "1.0.12.7.0.255", "1.0.11.7.0.255", "1.0.1.7.0.255", "1.0.13.7.0.255",
            "1.0.14.7.0.255", "1.0.94.91.0.255", "1.0.99.1.0.255", "1.0.99.2.0.255", "1.0.98.1.0.255",
            "0.0.96.3.10.255", "0.0.17.0.0.255"]
    want += ["1.0.94.91.%d.255" % k for k in range(3, 8)]
    want += ["0.0.99.98.%d.255" % k for k in range(7)] + ["0.0.96.11.%d.255" % k for k in range(7)]
    want += ["0.0.94.96.%d.255" % k for k in range(19, 27)]
    assert not set(want) - names


def test_registers_are_the_live_meter_values(pm):
    pm.bench.set_load(1200, pf=0.9)
    pm.bench.advance(2 * 3600)
    with session(pm, READER) as s:
        regs = {}
        for name in ("1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.12.7.0.255", "1.0.11.7.0.255", "1.0.1.7.0.255",
                     "1.0.13.7.0.255", "1.0.14.7.0.255"):
            r = GXDLMSRegister(name)
            s.read(r, 3)
            s.read(r, 2)
            regs[name] = r
        energy = pm.link.call("energy")
        m = pm.link.call("measure")
        assert regs["1.0.1.8.0.255"].value == energy["import_mwh"] // 1000
        assert regs["1.0.1.8.0.255"].unit == 30 and regs["1.0.1.8.0.255"].scaler == 1
        assert 2350 <= regs["1.0.1.8.0.255"].value <= 2450  # 1.2 kW for 2 h
        assert regs["1.0.12.7.0.255"].value == pytest.approx(m["volts_cv"] / 100)
        assert regs["1.0.11.7.0.255"].value == pytest.approx(m["current_ma"] / 1000)
        assert regs["1.0.1.7.0.255"].value == m["power_w"]
        assert regs["1.0.13.7.0.255"].value == pytest.approx(m["pf_milli"] / 1000)
        assert regs["1.0.14.7.0.255"].value == pytest.approx(m["freq_chz"] / 100)
        inst = GXDLMSProfileGeneric("1.0.94.91.0.255")
        s.read(inst, 3)
        row = s.read(inst, 2)[0]
        assert len(row) == 8 and row[6] == energy["import_mwh"] // 1000
        scal = GXDLMSProfileGeneric("1.0.94.91.3.255")
        s.read(scal, 3)
        assert len(s.read(scal, 2)[0]) == 7


def test_prepaid_objects_and_limiter_follow_the_account(pm):
    pm.link.call("credit 50000 T%d" % next(_txn), key=pm.key)
    st = status(pm)
    with session(pm, READER) as s:
        def data(name):
            return s.read(GXDLMSData(name), 2)

        assert data("0.0.94.96.20.255") == 1  # prepaid
        assert data("0.0.94.96.21.255") == 50000
        assert data("0.0.94.96.24.255") == st["balance_paise"]
        assert data("0.0.94.96.23.255") == st["balance_paise"]
        assert data("0.0.94.96.26.255") == pm.link.call("account")["arrears_paise"]
        lim = GXDLMSLimiter("0.0.17.0.0.255")
        assert s.read(lim, 4) == 2000  # threshold normal: the sanctioned load
        assert s.read(lim, 3) == 2200  # active: sanctioned + 10 % margin, where the meter trips


def test_load_profile_bigger_than_one_pdu_comes_in_blocks(pm):
    # a day and a half: 144 blocks of 15 minutes, some with load
    pm.bench.set_load(800)
    pm.bench.advance(3 * 3600)
    pm.bench.set_load(0)
    pm.bench.advance(33 * 3600)
    energy = pm.link.call("energy")["import_mwh"]
    with session(pm, READER, max_pdu=256) as s:
        pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
        s.read(pg, 3)
        assert s.read(pg, 4) == 900
        n = s.read(pg, 7)
        rows = s.read(pg, 2)
        assert n == len(rows) >= 140
        blocks = [f for d, f in s.frames if d == "<" and b"\xc4\x02" in f]
        assert len(blocks) > 10  # GET with blocks (and HDLC segments) carried it
        times = [dt(r[0]) for r in rows]
        assert times == sorted(times)
        assert all((t - times[0]).total_seconds() % 900 == 0 for t in times)
        assert sum(r[1] for r in rows) == pytest.approx(energy / 1000, abs=len(rows))
        assert max(r[1] for r in rows) == pytest.approx(200, abs=2)  # 800 W for 15 min
        # by entry, and by date range
        some = s.read_rows_by_entry(pg, 2, 3)
        assert [dt(r[0]) for r in some] == times[1:4]
        start = times[10]
        end = times[20]
        span = s.read_rows_by_range(pg, start, end)
        assert [dt(r[0]) for r in span] == times[10:21]
        # daily and billing profiles: the day closed at midnight, the month on 1 December
        daily = GXDLMSProfileGeneric("1.0.99.2.0.255")
        s.read(daily, 3)
        drows = s.read(daily, 2)
        assert [dt(r[0]) for r in drows] == [datetime.datetime(2026, 12, 1)]
        assert drows[0][1] == pm.link.call("daily")["daily"][0]["import_mwh"] // 1000
        bill = GXDLMSProfileGeneric("1.0.98.1.0.255")
        s.read(bill, 3)
        brows = s.read(bill, 2)
        assert [dt(r[0]) for r in brows] == [datetime.datetime(2026, 12, 1)]


def test_utility_disconnects_and_reconnects_the_relay(pm):
    pm.link.call("credit 50000 T%d" % next(_txn), key=pm.key)
    assert pm.bench.relay_closed()
    with session(pm, UTILITY) as s:
        dc = GXDLMSDisconnectControl("0.0.96.3.10.255")
        s.method(dc.remoteDisconnect(s.client))
        assert not pm.bench.relay_closed()
        assert s.read(dc, 2) is False and s.read(dc, 3) == 0
        assert status(pm)["relay_reason"] == "remote"
        s.method(dc.remoteReconnect(s.client))
        assert pm.bench.relay_closed()
        assert s.read(dc, 2) is True and s.read(dc, 3) == 1
    ev = codes(pm, 60)
    assert "remote_disconnect" in ev and "relay_open" in ev and "remote_connect" in ev
    assert ev[-1] == "relay_closed" or "relay_closed" in ev[ev.index("relay_open"):]
    with session(pm, READER) as s:
        ctl = GXDLMSProfileGeneric("0.0.99.98.6.255")
        s.read(ctl, 3)
        ids = [r[1] for r in s.read(ctl, 2)]
        assert ids[-2:] == [301, 302]
        assert s.read(GXDLMSData("0.0.96.11.6.255"), 2) == 302


def test_reader_may_not_operate_the_relay_nor_set_the_clock(pm):
    with session(pm, READER) as s:
        dc = GXDLMSDisconnectControl("0.0.96.3.10.255")
        with pytest.raises(DlmsError) as e:
            s.method(dc.remoteDisconnect(s.client))
        assert e.value.code == ErrorCode.READ_WRITE_DENIED
    assert pm.bench.relay_closed() or status(pm)["relay_reason"] != "remote"


def test_utility_sets_the_clock(pm):
    with session(pm, UTILITY) as s:
        c = GXDLMSClock("0.0.1.0.0.255")
        c.time = GXDateTime(datetime.datetime(2026, 12, 3, 11, 22, 33))
        s.write(c, 2)
    assert pm.link.call("clock")["clock"].startswith("2026-12-03T11:22")
    assert "clock_set" in codes(pm, 60)


def test_wrong_password_and_key_are_refused_and_count_toward_the_lockout(pm):
    with pytest.raises(DlmsError) as e:
        with session(pm, READER, password="x" * 16):
            pass
    assert "Authentication failure" in str(e.value)
    with pytest.raises(DlmsError):
        with session(pm, UTILITY, hls_key=bytes(16)):
            pass
    with pytest.raises(DlmsError):
        with session(pm, READER, password="y" * 16):
            pass
    # three failures: the link's lockout now holds the optical port too (and the link)
    with pytest.raises(DlmsError):
        with session(pm, READER):
            pass
    assert pm.link.command("credit 100 T%d" % next(_txn), key=pm.key).startswith("ERR 423")
    pm.bench.advance(5)
    with session(pm, READER) as s:
        assert s.read(GXDLMSData("0.0.96.1.0.255"), 2) == "BR-SIM-000001"


def test_unknown_object_and_wrong_class_are_refused(pm):
    with session(pm, READER) as s:
        with pytest.raises(DlmsError) as e:
            s.read(GXDLMSRegister("1.0.99.99.9.255"), 2)
        assert e.value.code == ErrorCode.UNDEFINED_OBJECT
        with pytest.raises(DlmsError) as e:
            s.read(GXDLMSData("1.0.1.8.0.255"), 2)  # a register asked for as class 1
        assert e.value.code == ErrorCode.INCONSISTENT_CLASS
        assert s.read(GXDLMSData("0.0.96.1.0.255"), 2) == "BR-SIM-000001"  # still associated


def test_session_runs_while_the_meter_meters_and_serves_its_link(pm):
    pm.bench.set_load(1000)
    with session(pm, READER) as s:
        reg = GXDLMSRegister("1.0.1.8.0.255")
        s.read(reg, 3)
        before = s.read(reg, 2)
        for _ in range(12):  # metering goes on between the session's requests
            pm.bench.advance(60)
            s.read(reg, 2)
        r = pm.link.call("credit 20000 T%d" % next(_txn), key=pm.key)  # a remote credit
        assert r["credited"] == 20000
        after = s.read(reg, 2)
        assert after == pytest.approx(before + 200, abs=5)  # 1 kW for 12 minutes
        assert s.read(GXDLMSData("0.0.94.96.21.255"), 2) == 20000
    # a client that vanishes mid-frame leaves the meter working
    fd = os.open(pm.optical_port, os.O_RDWR | os.O_NOCTTY)
    os.write(fd, bytes.fromhex("7ea02b032110fbafe6e600601da1"))  # half an AARQ
    os.close(fd)
    assert status(pm)["relay"] == "closed"
    pm.bench.advance(600)
    assert pm.link.call("energy")["import_mwh"] > after * 1000
    with session(pm, PUBLIC) as s:  # the next reader gets in (its SNRM resynchronises)
        assert s.read(GXDLMSData("0.0.96.1.0.255"), 2) == "BR-SIM-000001"
    assert "internal_error" not in codes(pm, 60)


def test_hls_client_with_a_small_information_field_and_pdu(pm):
    with session(pm, UTILITY, max_info=64, max_pdu=128) as s:
        a = GXDLMSAssociationLogicalName("0.0.40.0.0.255")
        objs = s.objects()
        assert len(objs) >= 50
        assert s.read(a, 6).mechanismId == 5


def test_meterctl_dlms_read_for_a_technician_without_an_mri(pm):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]

    def meterctl(*argv):
        cmd = [sys.executable, "-m", "host_tools.meterctl", "--config", CONFIG, *argv]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=str(root), timeout=120)

    r = meterctl("--json", "dlms", "read", "1.0.12.7.0.255", "--optical-port", pm.optical_port)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["class"] == 3 and out["unit"] == 35
    assert out["value"] == pytest.approx(pm.link.call("measure")["volts_cv"] / 100)
    r = meterctl("dlms", "read", "0.0.96.1.0.255", "--optical-port", pm.optical_port, "--client", "public")
    assert r.returncode == 0 and "BR-SIM-000001" in r.stdout
    r = meterctl("dlms", "read", "1.0.1.8.0.255", "--optical-port", pm.optical_port, "--client", "public")
    assert r.returncode == 1 and "object list" in r.stderr


def test_the_bl0942_simulated_board_serves_the_optical_port_too(meter_factory, hil_target):
    if hil_target != "sim":
        pytest.skip("a simulated board")
    m = meter_factory(config=CONFIG, board="sim_bl0942")
    m.bench.set_load(600)
    m.bench.advance(1800)
    with session(m, READER) as s:
        reg = GXDLMSRegister("1.0.1.8.0.255")
        s.read(reg, 3)
        assert s.read(reg, 2) == m.link.call("energy")["import_mwh"] // 1000
        assert s.read(GXDLMSData("0.0.96.1.0.255"), 2) == "BR-SIM-000001"


def test_a_service_outside_the_negotiated_conformance_is_refused(pm):
    from gurux_dlms.enums import Conformance
    from gurux_dlms.GXDLMSExceptionResponse import GXDLMSExceptionResponse

    s = session(pm, UTILITY)
    s.client.proposedConformance = (Conformance.GET | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
                                    | Conformance.ACTION)  # no SET
    with s:
        assert not s.client.negotiatedConformance & Conformance.SET
        c = GXDLMSClock("0.0.1.0.0.255")
        c.time = GXDateTime(datetime.datetime(2026, 12, 3, 11, 22, 33))
        with pytest.raises(GXDLMSExceptionResponse):
            s.write(c, 2)
        assert dt(s.read(c, 2)).date() == datetime.date(2026, 11, 30)  # unchanged, still associated


def test_provisioned_capture_period_of_30_minutes(pm):
    import json

    section = dict(CFG, profile_period_min=30)
    pm.link.call("provision dlms %s" % json.dumps(section, separators=(",", ":")), key=pm.key)
    pm.bench.set_load(1000)
    pm.bench.advance(2 * 3600)
    with session(pm, READER) as s:
        assert s.read(GXDLMSData("1.0.0.8.4.255"), 2) == 1800
        pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
        s.read(pg, 3)
        assert s.read(pg, 4) == 1800
        rows = s.read(pg, 2)
        assert len(rows) >= 3 and all(dt(r[0]).minute in (0, 30) for r in rows)
        assert rows[-1][1] == pytest.approx(500, abs=3)  # 1 kW for half an hour
    with pytest.raises(Exception):
        pm.link.call("provision dlms %s" % json.dumps(dict(CFG, profile_period_min=20)), key=pm.key)

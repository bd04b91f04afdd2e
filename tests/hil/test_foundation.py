"""Foundation: the meter boots and says who it is, answers its service port by the protocol
(docs/link-protocol.md), survives garbage on the port without dropping to a REPL, keeps time over
a month of virtual time, and keeps energy and money across a restart.

Every check is what a technician on the service port would see: the banner, `info`, `status`,
`ERR <code>` replies.
"""
import datetime
import pathlib
import random
import re

import pytest

from host_tools import provisioning
from host_tools.link import MeterError, parse_reply, mac
from tests.hil._helpers import status

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "examples" / "meter.toml")
SERIAL = provisioning.load(CONFIG).serial
VERSION = re.search(r'(?m)^VERSION = "([^"]+)"', (ROOT / "firmware" / "meter.py").read_text()).group(1)
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")


def need_sim(hil_target, what):
    if hil_target != "sim":
        pytest.skip("%s needs the simulated board (restart with the same flash)" % what)


def banner_of(m):
    banner = getattr(m, "banner", None)
    if banner is None:
        pytest.skip("this target does not capture the boot banner")
    return banner


def check_banner(banner, serial):
    assert banner.startswith("# meter firmware "), banner
    assert ("firmware %s " % VERSION) in banner, banner
    assert re.search(r"\bserial=%s\b" % re.escape(serial), banner), banner


def restart(m, state_dir, meter_factory, board="sim"):
    """Power the meter down cleanly and start a new process on the same flash and RTC."""
    key = m.key
    m.stop()
    m2 = meter_factory(state_dir=state_dir, board=board)  # no config: nothing re-provisioned
    m2.key = key
    return m2


# -- boot banner ---------------------------------------------------------------------------------

def test_fresh_meter_banner_says_version_and_unprovisioned(meter):
    check_banner(banner_of(meter), "UNPROVISIONED")


def test_provisioned_meter_banner_has_its_serial_again_after_restart(meter_factory, tmp_path, hil_target):
    need_sim(hil_target, "restart")
    state = tmp_path / "meter"
    m = meter_factory(config=CONFIG, state_dir=state)
    assert parse_reply(m.link.command("info"))["serial"] == SERIAL
    m2 = restart(m, state, meter_factory)
    check_banner(m2.banner, SERIAL)
    assert "serial=UNPROVISIONED" not in m2.banner
    # and once more: the serial is a property of the flash, not of the first boot
    m3 = restart(m2, state, meter_factory)
    check_banner(m3.banner, SERIAL)
    assert parse_reply(m3.link.command("info"))["serial"] == SERIAL


# -- info and status -----------------------------------------------------------------------------

def test_info_of_provisioned_and_fresh_meter(meter_factory):
    m = meter_factory(config=CONFIG)
    info = parse_reply(m.link.command("info"))
    assert info["firmware"] == VERSION
    assert info["board"] == getattr(m, "board", info["board"]) and info["board"]
    assert info["serial"] == SERIAL
    assert info["provisioned"] is True
    assert isinstance(info["heap_free"], int) and info["heap_free"] > 0

    fresh = meter_factory()
    info = parse_reply(fresh.link.command("info"))
    assert info["firmware"] == VERSION
    assert info["serial"] == "UNPROVISIONED"
    assert info["provisioned"] is False


def test_status_fields_have_the_documented_types(meter_factory):
    m = meter_factory(config=CONFIG)
    st = status(m)
    assert ISO.match(st["clock"]), st["clock"]
    datetime.datetime.fromisoformat(st["clock"])  # a real date and time, not just the right shape
    for k in ("energy_import_mwh", "energy_export_mwh", "balance_paise", "arrears_paise"):
        assert type(st[k]) is int, (k, st[k])
    assert st["relay"] in ("closed", "open")
    assert isinstance(st["relay_reason"], str) and st["relay_reason"]
    assert isinstance(st["clock_trusted"], bool)
    # the reported relay is the real contact position
    try:
        closed = m.bench.relay_closed()
    except Exception:  # a bench without contact sense
        closed = None
    if closed is not None:
        assert st["relay"] == ("closed" if closed else "open")


def test_status_clock_is_the_bench_clock(meter_factory, hil_target):
    need_sim(hil_target, "reading the bench clock")
    m = meter_factory(config=CONFIG)
    now = m.bench.now()
    assert datetime.datetime.fromisoformat(status(m)["clock"]) == now.replace(microsecond=0)


# -- protocol errors -----------------------------------------------------------------------------

def test_unknown_command_is_a_clear_404(meter):
    with pytest.raises(MeterError) as e:
        meter.link.call("frobnicate now")
    assert e.value.code == 404
    assert "frobnicate" in e.value.message and "help" in e.value.message
    # the meter is fine afterwards
    assert "clock" in status(meter)


def test_malformed_auth_is_refused_and_changes_nothing(meter_factory):
    m = meter_factory(config=CONFIG)
    before = status(m)["balance_paise"]
    reply = m.link.command("auth")
    assert reply.startswith("ERR 4"), reply
    reply = m.link.command("auth 7")
    assert reply.startswith("ERR 400"), reply
    ch = parse_reply(m.link.command("challenge"))
    seq = ch["seq"] + 1
    reply = m.link.command("auth %d %s credit 50000 T-forged" % (seq, "00" * 32))
    assert reply.startswith("ERR 403"), reply
    ch = parse_reply(m.link.command("challenge"))
    reply = m.link.command("auth notanumber %s credit 50000 T-forged" % mac(m.key, ch["challenge"], seq,
                                                                           "credit 50000 T-forged"))
    assert reply.startswith("ERR 4"), reply
    assert status(m)["balance_paise"] == before


def test_credit_without_auth_is_401(meter_factory):
    m = meter_factory(config=CONFIG)
    before = status(m)["balance_paise"]
    with pytest.raises(MeterError) as e:
        m.link.call("credit 50000 T-open")
    assert e.value.code == 401
    assert status(m)["balance_paise"] == before
    # the same command authenticated is accepted: the 401 was about authentication only
    got = m.link.call("credit 50000 T-open", key=m.key)
    assert got["credited"] == 50000
    assert status(m)["balance_paise"] > before


# -- garbage on the service port -----------------------------------------------------------------

def _garbage_lines(rng, n):
    """n request lines (bytes, without newline), each of which must get exactly one ERR reply."""
    printable = bytes(range(0x21, 0x7F))
    lines = []
    for i in range(n):
        kind = i % 6
        if kind == 0:  # random printable junk (never blank: a blank line gets no reply)
            body = bytes(rng.choice(printable) for _ in range(rng.randint(1, 80)))
            line = b"~" + body  # no command starts with '~': junk, never a real command by luck
        elif kind == 1:  # binary bytes anywhere in a line
            line = bytes(rng.choice(b"\x00\x01\x03\x04\x1b\x7f\x80\xfe\xff") for _ in range(rng.randint(1, 8)))
            line = b"status" + line + b"more"
        elif kind == 2:  # raw random bytes, no newline among them
            line = bytes(rng.choice([b for b in range(256) if b != 0x0A]) for _ in range(rng.randint(1, 64)))
            if not any(b < 0x20 and b not in (0x09, 0x0D) or b > 0x7E for b in line):
                line += b"\xff"
        elif kind == 3:  # over-long printable line
            line = bytes(rng.choice(printable) for _ in range(rng.randint(1201, 1500)))
        elif kind == 4:  # Ctrl-C / Ctrl-D as a technician's terminal would send them
            line = rng.choice([b"\x03", b"\x03\x03", b"\x04", b"\x03\x04", b"info\x03", b"\x04status"])
        else:  # unknown words and broken syntax
            line = rng.choice([b"statu", b"STATUS", b"events x", b"daily -1", b"auth", b"credit", b"~~~",
                               b"relay open", b"setclock 2026-01-01T00:00:00"])
        lines.append(line)
    return lines


def test_a_thousand_garbage_lines_leave_the_meter_serving_and_metering(meter_factory, hil_target):
    need_sim(hil_target, "virtual time")
    m = meter_factory(config=CONFIG)
    before = status(m)
    rng = random.Random(1234)
    codes = {}
    for i, line in enumerate(_garbage_lines(rng, 1000)):
        if i % 7 == 3:  # some lines arrive in pieces: no newline first, the newline later
            cut = len(line) // 2
            m.link.send_raw(line[:cut])
            m.link.send_raw(line[cut:])
            m.link.send_raw(b"\r\n")
        else:
            m.link.send_raw(line + b"\n")
        reply = m.link.read_line()
        assert reply.startswith("ERR "), (line[:60], reply)
        code = int(reply.split()[1])
        codes[code] = codes.get(code, 0) + 1
        if len(line) > 1200:
            assert code == 413, (len(line), reply)
        elif any(b < 0x20 and b not in (0x09, 0x0D) or b > 0x7E for b in line):
            assert code == 400, (line[:60], reply)
    assert set(codes) >= {400, 401, 404, 413}, codes

    # a raw burst (every byte value, newlines included) read back only up to a sync command
    blob = bytes(rng.randrange(256) for _ in range(20000)) + b"\x03\x04\xff\x00"
    m.link.send_raw(blob + b"\nclock\n")
    for _ in range(5000):
        reply = m.link.read_line()
        if reply.startswith("OK"):
            break
        assert reply.startswith("ERR "), reply
    assert "seconds" in parse_reply(reply)

    # Ctrl-C does not interrupt the firmware, Ctrl-D does not soft-reset it
    m.link.send_raw(b"\x03\x03\r\n")
    assert m.link.read_line().startswith("ERR 400")
    m.link.send_raw(b"\x04\r\n")
    assert m.link.read_line().startswith("ERR 400")
    m.link.drain()
    after = status(m)
    assert ISO.match(after["clock"])
    assert after["balance_paise"] == before["balance_paise"]
    assert after["energy_import_mwh"] == before["energy_import_mwh"]
    assert after["relay"] == before["relay"]
    assert sum(n.startswith("# meter firmware") for n in m.link.notices) == 1, "the meter rebooted"
    assert m.exits == [], "the meter process restarted: %s" % m.exits

    # and it still meters: a 1 kW load for 10 minutes shows up as energy
    m.bench.set_load(1000)
    m.bench.advance(600)
    m.bench.set_load(0)
    m.bench.advance(10)
    rose = status(m)["energy_import_mwh"] - before["energy_import_mwh"]
    assert 150_000 <= rose <= 170_000, rose  # 166,667 mWh less at most one poll's worth at the end


# -- time ----------------------------------------------------------------------------------------

def test_clock_agrees_with_the_bench_after_30_idle_days(meter_factory, hil_target):
    need_sim(hil_target, "virtual time")
    m = meter_factory(config=CONFIG)
    start = m.bench.now()
    balance = status(m)["balance_paise"]
    m.bench.advance(30 * 86400)
    expected = (start + datetime.timedelta(days=30)).replace(microsecond=0)
    st = status(m)
    assert datetime.datetime.fromisoformat(st["clock"]) == expected, (st["clock"], expected)
    assert st["clock_trusted"] is True
    assert parse_reply(m.link.command("clock"))["trusted"] is True
    # the meter ran through the month (not only its RTC): it charged a fixed charge every midnight
    assert balance - st["balance_paise"] >= 29 * 500, (balance, st["balance_paise"])


# -- state across a restart ----------------------------------------------------------------------

def test_energy_and_balance_survive_a_restart(meter_factory, tmp_path, hil_target):
    need_sim(hil_target, "restart")
    state = tmp_path / "meter"
    m = meter_factory(config=CONFIG, state_dir=state)
    m.link.call("credit 100000 T-restart", key=m.key)
    m.bench.set_load(1500)
    m.bench.advance(3600)
    m.bench.set_load(0)
    m.bench.advance(10)
    before = status(m)
    assert before["energy_import_mwh"] > 1_400_000  # it really metered something to keep

    m2 = restart(m, state, meter_factory)
    after = status(m2)
    for k in ("energy_import_mwh", "energy_export_mwh", "balance_paise", "arrears_paise", "relay",
              "relay_reason", "emergency_active"):
        assert after[k] == before[k], (k, before[k], after[k])
    # the same credit is remembered as done (idempotent across the restart)
    again = m2.link.call("credit 100000 T-restart", key=m2.key)
    assert again["duplicate"] is True
    assert status(m2)["balance_paise"] == before["balance_paise"]

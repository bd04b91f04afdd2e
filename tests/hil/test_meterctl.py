"""meterctl against a meter's service port, run as a technician runs it: a separate process on
the port (the simulated meter's pty here, /dev/ttyUSB0 on a bench), readable output for people,
--json for scripts, exit codes 0 done / 1 refused / 2 usage or config / 3 port."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from host_tools import provisioning, toolchain
from host_tools.link import MeterError, mac

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "examples" / "meter.toml")
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


def meterctl(port, *argv, config=CONFIG, timeout=120):
    cmd = [PYTHON, "-m", "host_tools.meterctl", "--port", port]
    if config:
        cmd += ["--config", config]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("METERCTL_PORT", None)
    env.pop("METERCTL_CONFIG", None)
    return subprocess.run(cmd + [str(a) for a in argv], capture_output=True, text=True, cwd=str(ROOT),
                          env=env, timeout=timeout)


def ok_json(port, *argv, **kw):
    r = meterctl(port, "--json", *argv, **kw)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def with_key(tmp_path, key_hex, name="other.toml"):
    text = pathlib.Path(CONFIG).read_text()
    text = re.sub(r'(?m)^key = "[0-9a-f]{64}"', 'key = "%s"' % key_hex, text)
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.lg_feature("sim-bench")  # virtual time and load: the simulator's bench
def test_provision_a_fresh_meter_then_read_every_record(meter_factory):
    m = meter_factory()  # factory-fresh: no link key, no sections
    with m.port_released() as port:
        r = meterctl(port, "provision", CONFIG, config=None)
        assert r.returncode == 0, r.stderr
        assert "provisioned BR-SIM-000001" in r.stdout
        for section in ("key", "meter", "sts", "tariff", "account", "connection"):
            assert section in r.stderr  # one progress step per section
        assert "6/6" in r.stderr
        info = ok_json(port, "info")
        assert info["provisioned"] is True and info["serial"] == "BR-SIM-000001"
    m.key = provisioning.load(CONFIG).link_key
    m.bench.set_load(1000)
    m.bench.advance(3600)  # 1 kWh on Monday morning
    m.bench.set_load(0)
    m.bench.advance(22 * 3600)  # past midnight: Monday's day record is closed, and November's month
    with m.port_released() as port:
        st = ok_json(port, "status")
        assert st["energy_import_mwh"] == 1_000_000
        assert st["clock"].startswith("2026-12-01")
        assert st["arrears_paise"] == 200_000
        ev = ok_json(port, "events", "-n", "50")["events"]
        codes = [e["code"] for e in ev]
        assert codes.count("provisioned") >= 5
        daily = ok_json(port, "daily")
        assert [d["date"] for d in daily["daily"]] == ["2026-11-30"]
        assert daily["daily"][0]["import_mwh"] == 1_000_000
        assert daily["daily"][0]["energy_paise"] == 350  # 1 kWh in the first slab at Rs 3.50
        billing = ok_json(port, "billing")
        assert [b["month"] for b in billing["billing"]] == ["2026-11"]
        assert billing["billing"][0]["energy_paise"] == 350
        meas = ok_json(port, "measure")
        assert meas["volts_cv"] == 23000 and meas["power_w"] == 0
        # the same records as tables for people
        human = meterctl(port, "status")
        assert human.returncode == 0
        assert "1.000 kWh" in human.stdout and "Rs 2000.00" in human.stdout
        human = meterctl(port, "daily")
        assert "2026-11-30" in human.stdout and "Rs 3.50" in human.stdout
        human = meterctl(port, "events")
        assert "provisioned" in human.stdout
        human = meterctl(port, "measure")
        assert "230.00 V" in human.stdout and "50.00 Hz" in human.stdout


@pytest.mark.lg_feature("sim-bench")  # virtual time and load: the simulator's bench
def test_credit_reconnects_a_cut_meter_and_a_retried_transaction_credits_once(meter_factory):
    m = meter_factory(config=CONFIG)
    m.bench.advance(26 * 3600)  # grace ends Tuesday 09:00, the cut window opens at 10:00
    assert not m.bench.relay_closed()
    with m.port_released() as port:
        st = ok_json(port, "status")
        assert st["relay"] == "open" and st["relay_reason"] == "credit"
        r = meterctl(port, "credit", "500", "--txn", "HE-0001")
        assert r.returncode == 0, r.stderr
        assert "credited Rs 500.00" in r.stdout
    m.bench.advance(2)
    assert m.bench.relay_closed()
    with m.port_released() as port:
        st = ok_json(port, "status")
        assert st["relay"] == "closed"
        balance = st["balance_paise"]
        # the head end retries the same transaction: credited once, the reply says so
        again = ok_json(port, "credit", "500", "--txn", "HE-0001")
        assert again["duplicate"] is True and again["credited"] == 50_000
        assert ok_json(port, "status")["balance_paise"] == balance
        r = meterctl(port, "credit", "500.00", "--txn", "HE-0001")
        assert r.returncode == 0 and "duplicate" in r.stdout
        # rupees are converted exactly: Rs 0.29 is 29 paise (a float would make 28.999...)
        small = ok_json(port, "credit", "0.29", "--txn", "HE-0002")
        assert small["credited"] == 29 and small["duplicate"] is False
        bad = meterctl(port, "credit", "1.005", "--txn", "HE-0003")
        assert bad.returncode == 2 and "paisa" in bad.stderr
        # remote disconnect and back to automatic
        r = ok_json(port, "relay", "open")
        assert r["relay"] == "open" and r["relay_reason"] == "remote"
        r = ok_json(port, "relay", "auto")
        assert r["relay"] == "closed"


def test_replayed_forged_and_wrong_key_authentication_is_refused(meter_factory, tmp_path):
    m = meter_factory(config=CONFIG)
    link = m.link
    ch = json.loads(link.command("challenge")[3:])
    seq = ch["seq"] + 1
    line = "credit 1000 REPLAY-1"
    auth = "auth %d %s %s" % (seq, mac(m.key, ch["challenge"], seq, line), line)
    link.send_raw(auth.encode() + b"\n")
    assert link.read_line().startswith("OK")
    link.send_raw(auth.encode() + b"\n")  # a recorded exchange, sent again
    assert link.read_line().startswith("ERR 403")
    assert link.call("status")["balance_paise"] == 1000 - 250  # credited once (25 % to arrears)
    # a forged MAC
    ch = json.loads(link.command("challenge")[3:])
    seq = ch["seq"] + 1
    link.send_raw(("auth %d %s credit 99999 FORGED" % (seq, "0" * 64)).encode() + b"\n")
    assert link.read_line().startswith("ERR 403")
    link.call("relay auto", key=m.key)  # a good exchange ends the run of failures
    with m.port_released() as port:
        wrong = with_key(tmp_path, "11" * 32)
        r = meterctl(port, "credit", "100", "--txn", "WRONGKEY", config=wrong)
        assert r.returncode == 1
        assert "ERR 403" in r.stderr and "link key" in r.stderr
        r = meterctl(port, "--json", "credit", "100", "--txn", "WRONGKEY", config=wrong)
        assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == 403
        m_ok = meterctl(port, "relay", "auto")  # a good exchange before the lockout threshold
        assert m_ok.returncode == 0, m_ok.stderr
        assert ok_json(port, "status")["balance_paise"] == 750
        # an authenticated command without any config says what it needs
        r = meterctl(port, "relay", "open", config=None)
        assert r.returncode == 2 and "--config" in r.stderr


def test_port_missing_busy_or_not_a_meter_exit_3(meter_factory):
    r = meterctl("/dev/ttyUSB-nonexistent", "status")
    assert r.returncode == 3
    assert "no port /dev/ttyUSB-nonexistent" in r.stderr
    master, slave = os.openpty()  # a serial port with no meter behind it
    try:
        r = meterctl(os.ttyname(slave), "--timeout", "1", "status")
        assert r.returncode == 3
        assert "no meter answers" in r.stderr
    finally:
        os.close(master)
        os.close(slave)
    m = meter_factory()
    r = meterctl(m.port, "status")  # the bench still holds the port
    assert r.returncode == 3
    assert "busy" in r.stderr


def test_bad_config_file_exit_2_names_the_key(meter_factory, tmp_path):
    bad = with_key(tmp_path, "not-hex", "bad.toml")
    r = meterctl("/dev/ttyUSB-nonexistent", "credit", "10", "--txn", "A", config=bad)
    assert r.returncode == 2  # the file is checked before the port is touched
    assert "[link] key" in r.stderr
    text = pathlib.Path(CONFIG).read_text().replace("sanctioned_load_w = 2000", "sanctioned_load_w = -5")
    bad2 = tmp_path / "bad2.toml"
    bad2.write_text(text)
    r = meterctl("/dev/ttyUSB-nonexistent", "provision", bad2, config=None)
    assert r.returncode == 2
    assert "sanctioned_load_w" in r.stderr and "[connection]" in r.stderr
    r = meterctl("/dev/ttyUSB-nonexistent", "provision", tmp_path / "missing.toml", config=None)
    assert r.returncode == 2 and "no such file" in r.stderr


def _variant_build(tmp_path, version):
    """build/sim with firmware VERSION patched: what a developer's new build looks like."""
    src = ROOT / "build" / "sim" / "image"
    dst = tmp_path / "build"
    shutil.copytree(src, dst / "image")
    if (dst / "image" / "BUILD_ID").exists():  # a different build says so
        (dst / "image" / "BUILD_ID").write_text(version + "\n")
    text = (ROOT / "firmware" / "meter.py").read_text()
    patched, n = re.subn(r'(?m)^VERSION = "[^"]*"', 'VERSION = "%s"' % version, text)
    assert n == 1
    (tmp_path / "meter.py").write_text(patched)
    subprocess.run([toolchain.mpy_cross(), "-o", str(dst / "image" / "lib" / "meter.mpy"),
                    str(tmp_path / "meter.py")], check=True, cwd=str(tmp_path))
    return dst


@pytest.mark.lg_feature("sim-bench")  # virtual time and load: the simulator's bench
def test_deploy_copies_a_new_build_and_the_meter_comes_back_with_its_account_and_energy(
        meter_factory, tmp_path, hil_target, hil_interpreter):
    if hil_target != "sim":
        pytest.skip("deploys a variant of build/sim: simulator only (on a bench: meterctl deploy --board <board>)")
    m = meter_factory(config=CONFIG)
    old = m.link.call("info")["firmware"]
    m.link.call("credit 10000 BEFORE-DEPLOY", key=m.key)
    m.bench.set_load(1000)
    m.bench.advance(3600)
    m.bench.set_load(0)  # nothing is drawn while the technician works: the figures must not move
    m.bench.advance(120)
    before = m.link.call("status")
    assert before["energy_import_mwh"] == 1_000_000
    build = _variant_build(tmp_path, old + "-deploytest")
    with m.port_released() as port:  # nobody drives the bench: the meter runs on its own
        # on the frozen build (as on an ESP32 running the frozen image) the changed module alone
        # goes to the flash and overrides the frozen one: the whole .mpy image would not fit the heap
        only = ["--only", "meter"] if hil_interpreter == "mp32" else []
        r = meterctl(port, "deploy", "--build", build, *only, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        # a provisioned meter takes the image over its service port and resets itself into it
        # (no REPL: `update commit`, docs/link-protocol.md)
        assert "firmware %s-deploytest" % old in r.stdout
        assert "deploy" in r.stderr  # the progress bar
        info = ok_json(port, "info")
        st = ok_json(port, "status")
    assert info["firmware"] == old + "-deploytest"
    assert info["provisioned"] is True  # the meter's data survives a firmware update
    assert 3 in m.exits  # `update commit` reset the meter into the new firmware
    # only the fixed charge moved (Rs 5 a day, by the second: a paisa or two over the deploy)
    assert 0 <= before["balance_paise"] - st["balance_paise"] <= 2
    assert st["energy_import_mwh"] == before["energy_import_mwh"]
    assert st["relay"] == "closed"
    events = [e["code"] for e in m.link.call("events 50")["events"]]
    assert "update_started" in events and "firmware_update" in events
    assert "repl_unlocked" not in events  # no REPL on a provisioned meter
    # metering on: the new firmware bills the next kWh as the old one did the first
    m.bench.set_load(1000)
    m.bench.advance(3600)
    m.bench.set_load(0)
    m.bench.advance(120)  # the meter has read the chip's last counts
    after = m.link.call("status")
    assert after["energy_import_mwh"] == before["energy_import_mwh"] + 1_000_000
    assert after["balance_paise"] < before["balance_paise"]
    assert after["relay"] == "closed"


@pytest.mark.lg_feature("sim-bench")  # virtual time and load: the simulator's bench
def test_the_meter_runs_on_its_own_while_a_tool_has_its_port(meter_factory):
    m = meter_factory(config=CONFIG)
    m.bench.set_load(1000)
    m.bench.advance(60)
    with m.port_released() as port:
        r = meterctl(port, "--json", "monitor", "--count", "2", "--interval", "2")
        assert r.returncode == 0, r.stderr
        frames = [json.loads(line)["status"] for line in r.stdout.splitlines()]
        # virtual time follows wall time: the clock moves, energy is counted, as on a real board
        assert frames[1]["clock"] > frames[0]["clock"]
        assert frames[1]["energy_import_mwh"] >= frames[0]["energy_import_mwh"]
        r = meterctl(port, "--json", "status")
        assert r.returncode == 0, r.stderr
    # the bench drives again: lockstep, virtual time stands still between its requests
    t0 = m.bench.now()
    m.link.call("status")
    assert m.bench.now() == t0
    m.bench.advance(10)
    assert (m.bench.now() - t0).total_seconds() == 10


@pytest.mark.lg_feature("sim-bench")  # virtual time and load: the simulator's bench
def test_clock_calibrate_and_monitor(meter_factory):
    m = meter_factory(config=CONFIG)
    m.bench.set_load(1000)
    m.bench.advance(30)
    with m.port_released() as port:
        # weeks ahead of the meter's clock: more than clock_step_limit_s, refused without --force
        r = meterctl(port, "clock", "--set", "2026-12-24T18:30:00")
        assert r.returncode == 1 and "force" in r.stderr, (r.stdout, r.stderr)
        r = ok_json(port, "clock", "--set", "2026-12-24T18:30:00", "--force")
        assert r["clock"] == "2026-12-24T18:30:00"
        r = ok_json(port, "clock")
        assert r["clock"].startswith("2026-12-24T18:30") and r["trusted"] is True
        r = meterctl(port, "clock", "--set", "24/12/2026")
        assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr
        cal = ok_json(port, "calibrate", "--volts", "230", "--amps", "4.348", "--watts", "1000")
        assert cal["after"]["power_w"] == 1000 and cal["after"]["volts_cv"] == 23000
        r = meterctl(port, "calibrate", "--volts", "230.001", "--amps", "4.348", "--watts", "1000")
        assert r.returncode == 2 and "--volts" in r.stderr
        r = meterctl(port, "--json", "monitor", "--count", "2", "--interval", "0.1")
        assert r.returncode == 0, r.stderr
        frames = [json.loads(line) for line in r.stdout.splitlines()]
        assert len(frames) == 2 and frames[0]["status"]["power_w"] == 1000
        r = meterctl(port, "monitor", "--count", "1")
        assert "balance" in r.stdout and "1000 W" in r.stdout


def test_a_board_left_at_the_repl_is_named_and_deploy_restarts_it(meter_factory, hil_target, hil_interpreter):
    if hil_target != "sim":
        pytest.skip("copies build/sim: simulator only")
    m = meter_factory(config=CONFIG)
    # a provisioned meter never opens a REPL
    with pytest.raises(MeterError) as e:
        m.link.call("repl", key=m.key)
    assert e.value.code == 409 and "update" in e.value.message
    fresh = meter_factory()  # a meter before its first provisioning may (first deploy)
    key = provisioning.load(CONFIG).link_key
    fresh.link.call("setkey " + key.hex())
    assert fresh.link.call("repl", key=key)["repl"] is True  # as if a deploy had been interrupted
    with fresh.port_released() as port:
        r = meterctl(port, "--timeout", "2", "status")
        assert r.returncode == 3 and "MicroPython REPL" in r.stderr
        only = ["--only", "meter"] if hil_interpreter == "mp32" else []  # a frozen image: see above
        r = meterctl(port, "deploy", *only, config=None, timeout=180)  # no key needed at the REPL
        assert r.returncode == 0, r.stdout + r.stderr
        r = meterctl(port, "provision", CONFIG, config=None)
        assert r.returncode == 0, r.stderr
        assert ok_json(port, "status")["provisioned"] is True

"""HIL: issue #14's reproductions on the simulated meter, each answered with a clear 4xx and
nothing changed, and the meter still metering afterwards (docs/link-protocol.md, docs/provisioning.md).

- `provision tariff` with duty_percent 1e308 crashed the firmware (float overflow);
- `arrears` with a 31-digit number, `setclock 2026-11-30T-1:00:00` and a disconnection window
  "+9:00-10:00" were accepted;
- sending the same provisioning file again reset the running arrears to the file's opening figure;
- `setkey` on a keyed meter was accepted (the docs say 409).
"""
import json
import pathlib

import pytest

from host_tools import provisioning
from host_tools.link import MeterError
from tests.hil._helpers import status

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "examples" / "meter.toml")
CFG = provisioning.load(CONFIG)


def refused(m, line, code=422):
    """The reply's message, after checking it is ERR <code>."""
    with pytest.raises(MeterError) as e:
        m.link.call(line, key=m.key)
    assert e.value.code == code, (line, e.value)
    return e.value.message


def still_metering(m, before):
    """A 1 kW load for 6 minutes is counted and charged; the meter never restarted."""
    m.bench.set_load(1000)
    m.bench.advance(360)
    m.bench.set_load(0)
    m.bench.advance(5)
    after = status(m)
    rose = after["energy_import_mwh"] - before["energy_import_mwh"]
    assert 90_000 <= rose <= 101_000, rose
    assert after["balance_paise"] < before["balance_paise"]  # charged for it
    assert sum(n.startswith("# meter firmware") for n in m.link.notices) == 1, "the meter restarted"
    assert m.exits == []


def test_bad_numbers_and_times_are_refused_by_name_and_change_nothing(meter_factory):
    m = meter_factory(config=CONFIG)
    m.link.call("credit 100000 T-start", key=m.key)
    before = status(m)
    config_before = m.link.call("events 50")["events"]

    tariff = dict(CFG.sections["tariff"], duty_percent=1e308)
    msg = refused(m, "provision tariff " + json.dumps(tariff))
    assert "duty_percent" in msg and "0..100" in msg, msg

    msg = refused(m, "arrears " + "9" * 31)
    assert "arrears.paise" in msg and "0..10000000000" in msg, msg

    msg = refused(m, "setclock 2026-11-30T-1:00:00")
    assert "clock" in msg, msg

    conn = dict(CFG.sections["connection"], window="+9:00-10:00")
    msg = refused(m, "provision connection " + json.dumps(conn))
    assert "window" in msg, msg

    msg = refused(m, "credit 1000000000000 T-huge")
    assert "credit.paise" in msg, msg

    after = status(m)
    for k in ("balance_paise", "arrears_paise", "clock", "relay", "relay_reason", "energy_import_mwh"):
        assert after[k] == before[k], (k, before[k], after[k])
    assert m.link.call("events 50")["events"] == config_before  # nothing logged: nothing happened
    still_metering(m, after)


def test_sending_the_same_file_again_keeps_the_arrears_recovered(meter_factory):
    m = meter_factory(config=CONFIG)
    opening = CFG.sections["account"]["arrears_paise"]
    m.link.call("credit 100000 T-1", key=m.key)  # a quarter, at most Rs 200, goes to arrears
    m.link.call("credit 100000 T-2", key=m.key)
    before = status(m)
    assert before["arrears_paise"] == opening - 2 * 20000
    provisioning.provision(m.link, CFG)  # the technician sends the unchanged file again
    after = status(m)
    assert after["arrears_paise"] == before["arrears_paise"]
    assert after["balance_paise"] == before["balance_paise"]
    # the debt changes only by the explicit command, logged with old and new
    got = m.link.call("arrears 50000", key=m.key)
    assert got["arrears_paise"] == 50000 and got["previous_paise"] == before["arrears_paise"]
    ev = [e for e in m.link.call("events 20")["events"] if e["code"] == "arrears_set"]
    assert len(ev) == 1 and str(before["arrears_paise"]) in ev[0]["d"] and "50000" in ev[0]["d"]
    assert status(m)["arrears_paise"] == 50000
    still_metering(m, status(m))


def test_setkey_on_a_keyed_meter_is_409(meter_factory):
    m = meter_factory(config=CONFIG)
    reply = m.link.command("setkey " + "ab" * 32)
    assert reply.startswith("ERR 409"), reply
    assert refused(m, "setkey " + "ab" * 32, 409)
    # the old key still works
    assert m.link.call("credit 1000 T-key", key=m.key)["credited"] == 1000


def test_no_repl_on_a_provisioned_meter_and_an_update_keeps_it_metering(meter_factory, hil_target):
    """Item 6: `repl` is refused; an update in progress leaves metering, the relay and the
    watchdog running (5 minutes of virtual time between two chunks, the watchdog bites at 2)."""
    import base64
    import hashlib

    if hil_target != "sim":
        pytest.skip("sends a build/sim file: simulator only")
    m = meter_factory(config=CONFIG)
    m.link.call("credit 100000 T-upd", key=m.key)
    assert "update" in refused(m, "repl", 409)
    before = status(m)
    main = (ROOT / "build" / "sim" / "image" / "main.py").read_bytes()
    m.link.call("update begin", key=m.key)
    m.link.call("update file main.py %d %s" % (len(main), hashlib.sha256(main).hexdigest()), key=m.key)
    half = len(main) // 2
    m.link.call("update put 0 %s" % base64.b64encode(main[:half]).decode())
    m.bench.set_load(1000)
    m.bench.advance(300)
    assert m.link.call("update put %d %s" % (half, base64.b64encode(main[half:]).decode()))["received"] == len(main)
    assert m.link.call("update end")["verified"] is True
    # a chunk that does not match the authenticated hash is refused
    m.link.call("update file lib/x.mpy 3 %s" % ("00" * 32), key=m.key)
    m.link.call("update put 0 %s" % base64.b64encode(b"abc").decode())
    with pytest.raises(MeterError) as e:
        m.link.call("update end")
    assert e.value.code == 422 and "damaged" in e.value.message
    m.link.call("update abort", key=m.key)
    m.bench.set_load(0)
    m.bench.advance(5)
    after = status(m)
    assert 80_000 <= after["energy_import_mwh"] - before["energy_import_mwh"] <= 85_000  # 1 kW, 5 min
    assert after["relay"] == "closed"
    codes = [e["code"] for e in m.link.call("events 20")["events"]]
    assert "update_started" in codes and "update_aborted" in codes
    assert m.exits == [] and sum(n.startswith("# meter firmware") for n in m.link.notices) == 1

"""The saved state's format across firmware versions, on a flash image prepared on the host as
another firmware would have left it (host_tools.flashimage): the previous format is read and
rewritten in this one; a newer format is never read and never overwritten: the LCD and the link
say why and point to a firmware update.
"""
import pathlib
import sys

import pytest

from host_tools import flashimage, provisioning
from host_tools.link import MeterError, parse_reply

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "firmware"))
import domain  # noqa: E402
import store  # noqa: E402

CONFIG = str(ROOT / "examples" / "meter.toml")
SERIAL = provisioning.load(CONFIG).serial


@pytest.fixture
def sim_only(hil_target):
    if hil_target != "sim":
        pytest.skip("prepares the simulated board's flash image on the host")


def paid_meter(meter_factory, state):
    m = meter_factory(config=CONFIG, state_dir=state)
    m.link.call("credit 100000 T-format", key=m.key)
    m.bench.set_load(1000)
    m.bench.advance(600)
    m.bench.set_load(0)
    m.bench.advance(10)
    return m, m.link.call("status")


def rewrite_meter_record(state, change, work):
    """Stopped meter: change its "meter" record the way another firmware would have written it;
    returns the files as they now are on the flash image."""
    image = str(state / "flash.bin")
    flashimage.extract(image, str(work))
    st = store.Store(str(work / "data"))
    rec = st.load("meter")
    change(rec)
    st.save("meter", rec)
    files = {}
    for slot in ("a", "b"):
        p = work / "data" / ("meter." + slot)
        if p.exists():
            flashimage.write_file(image, "/data/meter." + slot, p.read_bytes())
            files[slot] = p.read_bytes()
    return files


def meter_files(state):
    image = str(state / "flash.bin")
    return {slot: flashimage.read_file(image, "/data/meter." + slot) for slot in ("a", "b")
            if "/data/meter." + slot in flashimage.list_files(image)}


def saved_format(state, work):
    flashimage.extract(str(state / "flash.bin"), str(work))
    return store.Store(str(work / "data")).load("meter")["v"]


def test_a_state_of_the_previous_format_is_read_and_rewritten(meter_factory, tmp_path, sim_only):
    state = tmp_path / "meter"
    m, before = paid_meter(meter_factory, state)
    key = m.key
    m.stop()
    rewrite_meter_record(state, lambda st: st.update(v=1), tmp_path / "x1")  # as 0.3.0 wrote it
    m2 = meter_factory(state_dir=state)
    m2.key = key
    assert "state_refused" not in m2.banner
    after = m2.link.call("status")
    for k in ("balance_paise", "energy_import_mwh", "arrears_paise", "relay"):
        assert after[k] == before[k], k
    m2.link.call("credit 100 T-format-2", key=key)  # the next save writes this firmware's format
    m2.stop()
    assert saved_format(state, tmp_path / "x2") == domain.STATE_FORMAT


def test_a_state_from_newer_firmware_is_refused_and_left_as_it_is(meter_factory, tmp_path, sim_only):
    state = tmp_path / "meter"
    m, before = paid_meter(meter_factory, state)
    key = m.key
    m.stop()
    newer = domain.STATE_FORMAT + 1
    written = rewrite_meter_record(state, lambda st: st.update(v=newer), tmp_path / "x1")
    m2 = meter_factory(state_dir=state)
    m2.key = key
    assert "serial=%s" % SERIAL in m2.banner and "state_refused=format_%d" % newer in m2.banner
    assert [line.strip() for line in m2.bench.lcd()] == ["State format %d" % newer, "Update firmware"]
    for cmd, authed in (("status", False), ("account", False), ("credit 5000 T-x", True), ("relay open", True)):
        with pytest.raises(MeterError) as e:
            if authed:
                m2.link.call(cmd, key=key)
            else:
                parse_reply(m2.link.command(cmd))
        assert e.value.code == 503 and "update the firmware" in e.value.message, cmd
    info = parse_reply(m2.link.command("info"))
    assert info["state_format"] == domain.STATE_FORMAT
    assert info["state_refused"] == "state format %d is not one this firmware reads (%d)" % (newer, domain.STATE_FORMAT)
    events = [e["code"] for e in parse_reply(m2.link.command("events 5"))["events"]]
    assert "state_refused" in events
    # a load, a save period, a key press, a power cut with warning: nothing writes over the record
    m2.bench.set_load(2000)
    m2.bench.press("MENU")
    m2.bench.advance(20 * 60)
    assert [line.strip() for line in m2.bench.lcd()] == ["State format %d" % newer, "Update firmware"]
    m2.bench.power_cut(warning=True)
    m2.stop()
    assert meter_files(state) == written

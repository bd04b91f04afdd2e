"""What many HIL tests do to a meter, written once so they all do it the same way: read its status
and events, credit it, type a token, move its clock, and open the meters they share."""
import contextlib
import itertools
import pathlib

import pytest

from host_tools.hil import SimulatedMeter
from host_tools.hil.bench import to_seconds

CONFIG = str(pathlib.Path(__file__).resolve().parents[2] / "examples" / "meter.toml")
FUZZ_ONLY_ON_SIM = "fuzzing needs the simulated meter (it must be safe to abuse)"

_txn = itertools.count(1)


@pytest.fixture
def pm(meter_factory):
    """A provisioned meter (balance 0, arrears Rs 2000), Monday 2026-11-30 09:00."""
    return meter_factory(config=CONFIG)


def sim_only(why):
    """An autouse fixture for a module that drives the simulated board: elsewhere it skips, saying why."""

    @pytest.fixture(autouse=True)
    def _sim_only(hil_target):
        if hil_target != "sim":
            pytest.skip(why)

    return _sim_only


@contextlib.contextmanager
def own_sim_meter(request, watts, why=FUZZ_ONLY_ON_SIM):
    """A simulated meter of the module's own, drawing `watts`: random input never goes to a real board."""
    if request.config.getoption("--target") != "sim":
        pytest.skip(why)
    with SimulatedMeter(config=CONFIG) as m:
        m.bench.set_load(watts)
        yield m


def status(m):
    return m.link.call("status")


def events(m, code=None, n=50):
    """The meter's last `n` events; only those of `code` when one is named."""
    got = m.link.call("events %d" % n)["events"]
    return got if code is None else [e for e in got if e["code"] == code]


def codes(m, n=50):
    return [e["code"] for e in events(m, n=n)]


def credit(m, paise, txn=None):
    """A remote credit; a fresh transaction id unless the test names one (to repeat it)."""
    if txn is None:
        txn = "T%d" % next(_txn)
    return m.link.call("credit %d %s" % (paise, txn), key=m.key)


def enter(m, token):
    """Type a token on the keypad as a consumer does; the LCD's two lines afterwards."""
    m.bench.type_keys(token)
    m.bench.press("ENTER")
    m.bench.advance(1)
    return " / ".join(line.strip() for line in m.bench.lcd())


def now_s(m):
    return to_seconds(m.bench.now())


def advance_to(m, when):
    """Let virtual time run up to `when` (the meter keeps running)."""
    left = (when - m.bench.now()).total_seconds()
    assert left >= 0, "already past %s" % when
    m.bench.advance(left)

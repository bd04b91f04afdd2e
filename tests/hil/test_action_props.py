"""Property test of the action path on the simulated meter (issue #14): random link lines, random
provisioning sections with random values and random arguments to every changing command, sent
authenticated, a few thousand of them. Whatever arrives:

- every line gets one reply, `OK <json>` or `ERR <4xx> ...`: never a 500 (an internal error),
  never silence, never a restart;
- money is conserved: the ledger's totals sum to the balance, its credits are exactly the
  remote credits the meter said it accepted, the arrears are the last figure set (by the opening
  balance or `arrears`) less what recharges recovered, and emergency credit owed is what was
  granted less what was repaid;
- energy is still counted afterwards.

Random tokens (valid CRC, random fields, from the vending code) are added through
`EXTRA_OPERATIONS`: a list of hypothesis strategies producing `Op`s, which tests/hil modules of the
token work may extend (see `token_op` in the docstring of `Op`).
"""
import json
import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_tools import provisioning
from host_tools.hil import MeterError, parse_reply
from tests.hil._helpers import own_sim_meter

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "examples" / "meter.toml")
CFG = provisioning.load(CONFIG)


class Op:
    """One input: `line` sent on the link (authenticated when `auth`), or `keys` typed on the
    keypad then ENTER (a token: `Op(keys="<20 digits>")`)."""

    def __init__(self, line=None, auth=False, keys=None):
        self.line, self.auth, self.keys = line, auth, keys

    def __repr__(self):
        return "Op(%r%s%s)" % (self.line or self.keys, ", auth" if self.auth else "", ", keys" if self.keys else "")


EXTRA_OPERATIONS = []  # more strategies of Op (random STS tokens: the token work's hook)

# -- random values -------------------------------------------------------------------------------
ints = st.one_of(st.integers(-10, 10 ** 6), st.integers(-(10 ** 40), 10 ** 40), st.sampled_from([0, 1, -1, 2 ** 31, 2 ** 63]))
floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1e308, -1e308, 0.5, 7.25]))
texts = st.one_of(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
                  st.sampled_from(["+9:00-10:00", "10:00-13:00", "25:00-26:00", "sun", "2026-12-25", "ab" * 8]))
scalars = st.one_of(ints, floats, texts, st.booleans(), st.none())
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.lists(st.dictionaries(st.sampled_from(["upto_kwh", "paise_per_kwh", "from", "to", "percent"]),
                                            scalars, max_size=3), max_size=3))


@st.composite
def sections(draw):
    """A provisioning section: the file's, some keys given random values, sometimes an unknown key."""
    name = draw(st.sampled_from(list(CFG.sections)))
    data = json.loads(json.dumps(CFG.sections[name]))
    keys = list(data) + ["unknown_key"]
    for k in draw(st.lists(st.sampled_from(keys), max_size=3)):
        data[k] = draw(values)
    return Op("provision %s %s" % (name, json.dumps(data, separators=(",", ":"))), auth=True)


def _num_text(draw):
    return draw(st.one_of(ints.map(str), floats.map(repr), texts, st.just("9" * 31)))


@st.composite
def changes(draw):
    """Every changing command with random arguments (no reboot, update, repl, setkey)."""
    kind = draw(st.sampled_from(["credit", "arrears", "setclock", "relay", "emergency", "overload", "tamper",
                                 "calibrate", "events", "daily", "billing"]))
    if kind == "credit":
        return Op("credit %s T%d" % (_num_text(draw), draw(st.integers(0, 40))), auth=True)
    if kind == "arrears":
        return Op("arrears %s" % _num_text(draw), auth=True)
    if kind == "setclock":
        day = draw(st.integers(1, 4))
        t = draw(st.one_of(st.just("2026-12-%02dT%02d:%02d:00" % (day, draw(st.integers(0, 23)), draw(st.integers(0, 59)))),
                           st.sampled_from(["2026-11-30T-1:00:00", "2026-11-30T+9:00:00", "1999-01-01", "2026-02-30",
                                            "2026-12-01T24:00:00", "x"]), texts))
        return Op("setclock %s" % t, auth=True)
    if kind == "relay":
        return Op("relay %s" % draw(st.sampled_from(["open", "close", "auto", "", "x"])), auth=True)
    if kind == "calibrate":
        return Op("calibrate %s %s %s" % (_num_text(draw), _num_text(draw), _num_text(draw)), auth=True)
    if kind in ("events", "daily", "billing"):
        return Op("%s %s" % (kind, _num_text(draw)))
    arg = {"overload": "reset", "tamper": "clear", "emergency": ""}[kind]
    return Op(("%s %s" % (kind, draw(st.one_of(st.just(arg), texts)))).strip(), auth=True)


lines = st.one_of(
    texts.map(lambda t: Op(t.strip() or "help")),
    st.builds(lambda c, a: Op(c + " " + a), st.sampled_from(["status", "info", "account", "relay", "clock",
                                                            "measure", "energy", "help", "challenge"]), texts),
)


def operations():
    return st.one_of(sections(), changes(), lines, *EXTRA_OPERATIONS)


# -- the model of the money ------------------------------------------------------------------------
class Books:
    """What the meter told us it did, to check its account against."""

    def __init__(self, acct):
        self.credits = acct["ledger"]["credit"]
        self.arrears_base = acct["arrears_paise"]
        self.recovered_base = acct["ledger"]["arrears"]  # negative: recovered from credits

    def saw(self, op, reply):
        if not reply.startswith("OK") or not op.line:
            return
        body = parse_reply(reply)
        if op.line.startswith("credit ") and body.get("duplicate") is False:
            self.credits += body["credited"]

    def check(self, acct, arrears_set):
        led = acct["ledger"]
        assert sum(led.values()) == acct["balance_paise"], led
        assert led["credit"] == self.credits, (led["credit"], self.credits)
        if arrears_set is not None:
            self.arrears_base, self.recovered_base = arrears_set, led["arrears"]
        assert acct["arrears_paise"] == self.arrears_base + (led["arrears"] - self.recovered_base), \
            (acct["arrears_paise"], self.arrears_base, led["arrears"], self.recovered_base)
        assert acct["emergency_owed_paise"] == led["emergency"] + led["emergency_repay"], led


@pytest.fixture(scope="module")
def prop_meter(request):
    with own_sim_meter(request, 800, "random provisioning and commands need the simulated meter "
                       "(it must be safe to abuse)") as m:
        m.books = Books(m.link.call("account"))
        yield m


def _send(m, op):
    if op.keys is not None:
        m.bench.type_keys(op.keys)
        m.bench.press("ENTER")
        m.bench.advance(1)
        return None
    return m.link.command(op.line, key=m.key if op.auth else None, timeout=20)


def _relay_auto(m):
    """`relay auto`, as a technician would get it through: random `challenge` lines replace the
    challenge the link client holds, so its next requests may fail their MAC, and three such
    failures lock the link for a while (423 "locked: retry in N s"): wait that out, then ask."""
    try:
        m.link.call("relay auto", key=m.key)
    except MeterError as e:
        if e.code != 423:
            raise
        m.bench.advance(int(e.message.split()[-2]) + 1)
        m.link.call("relay auto", key=m.key)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(st.lists(operations(), min_size=5, max_size=25))
def test_random_actions_never_crash_and_conserve_money(prop_meter, ops):
    m = prop_meter
    before = m.link.call("status")
    for op in ops:
        reply = _send(m, op)
        if reply is None:
            continue
        assert reply.startswith("OK") or reply[:5] == "ERR 4", (op, reply)  # never 500
        m.books.saw(op, reply)
        arrears_set = None
        if op.line.startswith("arrears ") and reply.startswith("OK"):
            arrears_set = parse_reply(reply)["arrears_paise"]
        if arrears_set is not None or op.line.startswith("credit ") or op.line.startswith("provision account"):
            m.books.check(m.link.call("account"), arrears_set)
    m.books.check(m.link.call("account"), None)
    # energy is still counted: the relay closed (this example's or an earlier one's ops may have
    # opened it, remotely or for credit, and the meter says why), 800 W for 30 s is ~6.7 Wh
    _relay_auto(m)
    before = m.link.call("status")
    m.bench.advance(30)
    after = m.link.call("status")
    if before["relay"] == "closed" and after["relay"] == "closed":
        assert after["energy_import_mwh"] > before["energy_import_mwh"], (before, after)
    else:
        assert after["relay_reason"] in ("credit", "overload", "overload_lockout", "tamper"), after
    assert sum(n.startswith("# meter firmware") for n in m.link.notices) == 1, "the meter restarted"
    assert m.exits == []

"""A meter's domain, action layer and command table over plain fakes (no simulator): for the
CPython/MicroPython unit tests of actions and commands. The store is the real one on a temp dir."""
import binascii
import os

import commands
from actions import Actions
from auth import LinkAuth
from domain import Domain, Journal
from link import Link
from store import Log, Store

from _clock import Clock
from _port import Port

KEY = b"k" * 32
T0 = 847357200  # 2026-11-30T09:00:00, seconds since 2000-01-01

SECTIONS = {
    "meter": {"serial": "UNIT-1"},
    "sts": {"decoder_key": "0123456789abcdef", "key_revision": 1, "key_type": 2, "supply_group": 123457,
            "tariff_index": 1, "base_date": 2014, "paise_per_unit": 100},
    "tariff": {"slabs": [{"upto_kwh": 100, "paise_per_kwh": 350}, {"paise_per_kwh": 650}],
               "fixed_paise_per_day": 500, "duty_percent": 5},
    "account": {"arrears_paise": 200000, "arrears_recovery_percent": 25, "arrears_cap_paise": 20000,
                "emergency_credit_paise": 5000},
    "connection": {"sanctioned_load_w": 2000, "grace_hours": 24},
}


class RTC:
    def __init__(self, s=T0):
        self.s = s
        self.mem = b""

    def seconds(self):
        return self.s

    def set_seconds(self, s):
        self.s = s

    def memory(self):
        return self.mem

    def set_memory(self, b):
        self.mem = bytes(b)


class Chip:
    """A metering IC that counts 1 mWh per count; `draw(mwh)` adds import energy."""
    NAME = "fake"
    MWH_PER_COUNT = (1, 1)
    COUNTER_MAX = 1 << 30
    read_errors = 0  # the health counter every metering IC keeps (drivers/meteringic.py)

    def __init__(self):
        self.imp = 0
        self.power_w = 0

    def draw(self, mwh):
        self.imp += mwh

    def begin(self, cal):
        return True

    def lost_configuration(self):
        return False

    def read_energy(self):
        imp, self.imp = self.imp, 0
        return imp, 0

    def read_measurements(self, m):
        m.power_w = self.power_w
        m.volts_cv = 23000

    def calibration(self):
        return {"gain": 1}

    def calibrate(self, v, i, w, meas):
        return {"gain": 2}

    def counter_state(self):
        return None

    def set_counter_state(self, v):
        pass


class Relay:
    def __init__(self):
        self._closed = True
        self.faults = 0
        self.fault = None
        self.events = []

    def closed(self):
        return self._closed

    def apply(self, want):
        self._closed = bool(want)

    def take_events(self):
        ev, self.events = self.events, []
        return ev


class Board:
    name = "unit"

    def __init__(self):
        self.clock = Clock()
        self.rtc = RTC()
        self.relay = Relay()
        self.metering = Chip()


class Service:
    board_name = "unit"
    board = None  # heap.figures() looks for the simulated board's share

    def __init__(self):
        self.reboots = 0

    def mwh_per_count(self):
        return (1, 1)

    def reboot(self):
        self.reboots += 1

    def repl(self):
        return {"repl": True}


def tmpdir():
    path = "/tmp/meterkit_" + binascii.hexlify(os.urandom(6)).decode()
    os.mkdir(path)
    return path


class Kit:
    """d (domain), act (actions), cmds (command table), link (a Link over a fake port)."""

    def __init__(self, provisioned=True, root=None, board=None):
        self.board = board or Board()
        self.root = root or tmpdir()
        store = Store(self.root)
        lk = store.load("linkkey")
        key = binascii.unhexlify(lk["key"]) if lk else None
        self.auth = LinkAuth(self.board.clock, os.urandom, key, lk["seq"] if lk else 0)
        if lk:
            self.auth.restore(lk)
        self.journal = Journal(Log(store, "events", 400), self.board.rtc.seconds, self.board.clock.ticks_ms)
        self.d = Domain(self.board, store, self.journal, self.auth)
        self.d.restore()
        self.act = Actions(self.d)
        self.service = Service()
        self.cmds = commands.table(self.d, self.act, self.service)
        self.port = Port()
        self.errors = []
        self.link = Link(self.port, self.auth, self.cmds, on_error=lambda w, e: self.errors.append((w, e)))
        if provisioned and self.auth.key is None:
            self.act.set_link_key(KEY)
            for name in ("meter", "sts", "tariff", "account", "connection"):
                self.act.provision(name, dict(SECTIONS[name]))

    def call(self, line, auth=True):
        """The reply line to `line` (authenticated with the kit's key when auth)."""
        if auth:
            ch = self.cmds["challenge"][0]("")["challenge"]
            seq = self.auth.seq + 1
            mac = binascii.hexlify(_hmac(ch, seq, line)).decode()
            line = "auth %d %s %s" % (seq, mac, line)
        return self.link.handle(line)

    def events(self, n=50):
        return self.journal.last(n)

    def codes(self, n=50):
        return [e["code"] for e in self.journal.last(n)]

    def saves(self):
        return self.d.saves

    def reopen(self):
        """The same flash, a new boot."""
        return Kit(provisioned=False, root=self.root, board=self.board)


def _hmac(challenge, seq, line):
    import auth

    return auth.hmac_sha256(KEY, ("%s\n%d\n%s" % (challenge, seq, line)).encode())

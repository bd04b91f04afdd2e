"""What the DLMS objects read from the running meter, and the secrets of the associations.

The only module of dlms/ that knows the meter's insides: the object model asks `MeterSource`
for energy, measurements, the account, the relay, events and profiles; `MeterKeys` holds the
[dlms] provisioning section's password and key and counts failures in the link's lockout.
"""
import binascii

import civiltime
from dlms.objects import event_id
from dlms.ring import BlockRing

MANUFACTURER = "OPEN PREPAID METER"
DEFAULT_PERIOD_S = 900


class MeterSource:
    """`meter`: what holds the meter's state (its metering, account, policy, clock, config);
    `actions`: the meter's action layer, when it has one (remote relay, clock), else None;
    `log`: the event log (store.Log); `relay`: the relay driver."""

    def __init__(self, meter, actions, log, relay, fs_root, version):
        self.m = meter
        self.actions = actions
        self.log = log
        self.relay = relay
        self.version = version
        self.ring = None
        self._ring_root = fs_root.rstrip("/") + "/data"
        self.configure()

    def configure(self):
        """A new capture period (provisioned) starts a new block load ring."""
        period = self.capture_period_s()
        if self.ring is None or self.ring.period != period:
            self.ring = BlockRing(self._ring_root, period)

    def _cfg(self):
        return self.m.config.get("dlms") or {}

    # nameplate and clock ------------------------------------------------------------------
    def serial(self):
        return self.m.section("meter")["serial"]

    def manufacturer(self):
        return MANUFACTURER

    def firmware(self):
        return self.version

    def rating(self):
        return "%dA" % (self.m.section("meter")["max_current_ma"] // 1000)

    def capture_period_s(self):
        return self._cfg().get("profile_period_min", DEFAULT_PERIOD_S // 60) * 60

    def now_s(self):
        return self.m.now_s()

    def clock_trusted(self):
        return self.m.clock_trusted and self.m.now_s() is not None

    def set_clock(self, secs):
        if self.actions is not None:
            # one event, one commit, like the link's setclock; the utility's HLS association is
            # the authority over the clock, so a step beyond the link's limit is its `force`
            _refusals(self.actions.set_clock, secs, force=True)
        else:
            self.m.set_clock(secs)

    # measurements ----------------------------------------------------------------------------
    def import_mwh(self):
        return self.m.metering.import_mwh

    def export_mwh(self):
        return self.m.metering.export_mwh

    def measurements(self):
        return self.m.metering.measurements

    def sample(self):
        """After a metering poll: feed the block load profile (whole kWh and mWh parts of the
        register: small ints on a 32-bit port)."""
        now = self.m.now_s()
        if now is None:
            return
        self.configure()  # the [dlms] section may have changed the period
        met = self.m.metering
        r = getattr(met, "register", None)
        if r is not None and hasattr(r, "import_kwh"):
            self.ring.sample(now, r.import_kwh, r.import_part, r.export_kwh, r.export_part,
                             met.measurements.volts_cv)
        else:
            self.ring.sample(now, 0, met.import_mwh, 0, met.export_mwh, met.measurements.volts_cv)

    def block_now(self):
        return self.ring.now()

    def block_rows(self):
        return self.ring.rows()

    def block_count(self):
        return self.ring.count

    def block_capacity(self):
        return self.ring.slots

    # account ---------------------------------------------------------------------------------
    def balance_paise(self):
        return self.m.account.balance_paise

    def arrears_paise(self):
        return self.m.account.arrears_paise

    def last_recharge(self):
        return self.m.account.last_credit

    def balance_at_recharge(self):
        """The balance the last recharge left, after its arrears and emergency repayment."""
        bal = 0
        t = None
        for e in self.m.account.ledger_tail():
            if e["kind"] == "credit":
                bal, t = e["balance"], e["time"]
            elif t is not None and e["time"] == t and e["kind"] in ("arrears", "emergency_repay"):
                bal = e["balance"]
            else:
                t = None
        return bal

    def daily(self):
        return self.m.account.daily_records()

    def daily_capacity(self):
        import account

        return account.DAILY_KEEP

    def billing(self):
        return self.m.account.billing_records()

    def billing_capacity(self):
        import account

        return account.BILLING_KEEP

    def daily_rows(self):
        """(midnight closing the day, cumulative import and export mWh then, balance), oldest
        first: the cumulative energy is the meter's billed total less what was counted after."""
        acct = self.m.account
        recs = acct.daily_records()
        today = acct.current_day()
        imp = self.m.billed_import - today["import_mwh"]
        exp = self.m.billed_export - today["export_mwh"]
        ends = []
        for r in reversed(recs):
            ends.append((imp, exp))
            imp -= r["import_mwh"]
            exp -= r["export_mwh"]
        ends.reverse()
        for k in range(len(recs)):
            r = recs[k]
            y, mo, d = (int(x) for x in r["date"].split("-"))
            yield civiltime.seconds(y, mo, d) + civiltime.SECONDS_PER_DAY, ends[k][0], ends[k][1], r["balance_paise"]

    def billing_rows(self):
        """(bill date: 00:00 on the 1st of the next month, cumulative import, export mWh)."""
        acct = self.m.account
        recs = acct.billing_records()
        month = acct.current_month()
        imp = self.m.billed_import - month["import_mwh"]
        exp = self.m.billed_export - month["export_mwh"]
        ends = []
        for r in reversed(recs):
            ends.append((imp, exp))
            imp -= r["import_mwh"]
            exp -= r["export_mwh"]
        ends.reverse()
        for k in range(len(recs)):
            y, mo = (int(x) for x in recs[k]["month"].split("-"))
            y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)
            yield civiltime.seconds(y, mo, 1), ends[k][0], ends[k][1]

    # events ----------------------------------------------------------------------------------
    def _records(self):
        log = self.log
        it = getattr(log, "iter_records", None)
        return it() if it else iter(log.records())

    def event_rows(self, group):
        for r in self._records():
            e = _event_id(r)
            if e is not None and e[0] == group:
                yield (r["t"] if r["t"] >= 0 else None), e[1]

    def event_count(self, group):
        n = 0
        for _ in self.event_rows(group):
            n += 1
        return n

    def event_capacity(self):
        return self.log.capacity

    def last_event_id(self, group):
        last = 0
        for _t, eid in self.event_rows(group):
            last = eid
        return last

    # relay -----------------------------------------------------------------------------------
    def relay_closed(self):
        return self.relay.closed()

    def remote_relay(self, disconnect):
        """Class 70 methods: the same remote override as the link's `relay open|auto`; the
        connection policy still decides (no credit keeps the relay open after a reconnect)."""
        if self.actions is not None:
            _refusals(self.actions.remote_relay, "open" if disconnect else "auto")
            return
        m = self.m
        m.policy.set_remote(disconnect)
        m.log("remote_relay", ("open" if disconnect else "auto") + " dlms")
        m.drive_relay()
        m.commit("remote_relay")

    def limiter(self):
        p = self.m.policy
        return (p.sanctioned_load_w, p.limit_w or 0, p.trip_ms // 1000, p.retry_ms // 1000)


def _refusals(fn, *args, **kw):
    """Run an action; a refusal of the action layer (an exception with a code and a message)
    becomes the DLMS result other-reason (250)."""
    from dlms.xdlms import OTHER, Refused

    try:
        return fn(*args, **kw)
    except Exception as e:
        if hasattr(e, "code") and hasattr(e, "message"):
            raise Refused(OTHER)
        raise


def _event_id(r):
    code = r.get("code")
    if code == "remote_relay":
        return None
    return event_id(code)


class MeterKeys:
    """The associations' secrets from the [dlms] section; failures go to the link's lockout."""

    def __init__(self, meter, urandom):
        self.m = meter
        seed = urandom(4)
        self._ic = (seed[0] << 16) | (seed[1] << 8) | seed[2]  # fresh each boot (RAM only)

    def _cfg(self):
        return self.m.config.get("dlms") or {}

    def lls_password(self):
        pw = self._cfg().get("lls_password")
        return pw.encode() if pw else None

    def hls_key(self):
        k = self._cfg().get("hls_key")
        return binascii.unhexlify(k) if k else None

    def hls_auth_key(self):
        k = self._cfg().get("hls_auth_key") or self._cfg().get("hls_key")
        return binascii.unhexlify(k) if k else b""

    def system_title(self):
        s = self.m.section("meter")["serial"].encode()
        s = (s + b"00000")[-5:] if len(s) < 5 else s[-5:]
        return b"OPM" + s

    def next_ic(self):
        self._ic = (self._ic + 1) & 0xFFFFFFFF
        return self._ic

    def locked(self):
        return self.m.auth.locked_for_s() > 0

    def failed(self, what):
        from auth import AuthError

        self.m.log("dlms_auth_failed", what)
        try:
            self.m.auth._fail(what)  # the link's growing lockout (auth.py), shared
        except AuthError:
            pass

    def succeeded(self):
        pass

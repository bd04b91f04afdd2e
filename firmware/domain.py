"""The meter's domain: what it measures, what the consumer owes and has paid, when the relay may
be closed, and the hot state that must survive a power cut.

It holds the services (metering, account, connection policy, token state) and their rules, but no
loop, no keypad and no service port: the loop (loop.py) says when things run, the action layer
(actions.py) is the only writer of anything a person or a timer changes, and the views
(display.py, commands.py) read it.

Persistence (docs/persistence.md): the hot state is one record saved every 15 minutes, on every
action, at midnight, and when the mains-sense input warns of a power cut. In between, the energy
counted since the last save is mirrored to the RTC RAM, which survives a watchdog or crash reset
but not a power cut.
"""
import binascii
import gc
import json

import civiltime
import provisioning
import ticks
from account import Account
from connection import ConnectionPolicy
from metering import Metering
from recharge import Recharge
from store import PageJournal
from tariff import Tariff

SAVE_PERIOD_MS = 15 * 60 * 1000
MAX_SLEEP_MS = 60 * 60 * 1000
CLOCK_JUMP_S = 120  # an RTC that moves this much more or less than the MCU's ticks jumped
# energy goes to the power-fail journal at least this often while it flows; with a poll every
# 5 s under load, a cut without warning loses at most one minute of energy
JOURNAL_PERIOD_MS = 60 * 1000 - 5000  # (metering.LOADED_POLL_MS is 5 s)
# The format of the "meter" record (docs/persistence.md). 1: written by firmware up to 0.3.0,
# never checked; its account and policy parts carry their own versions and convert themselves
# (an account of version 1 included). 2: the same layout, checked at boot. A record of a newer or
# unknown format is never read and never overwritten: the meter refuses to run (state_refused).
STATE_FORMAT = 2


class Journal:
    """The event log's one entry point: `log(code, detail)`. `on_event(code, detail)` lets the
    views react (the LCD wakes); other modules never write events another way."""

    def __init__(self, log, now_s, ticks_ms):
        self._log = log
        self.records = log  # the store's Log, for readers of whole segments (DLMS event profiles)
        self._now_s = now_s
        self._ticks_ms = ticks_ms
        self.on_event = None

    def log(self, code, detail=""):
        s = self._now_s()
        self._log.append({"t": s if s is not None else -1, "code": code, "d": detail})
        if self.on_event:
            self.on_event(code, detail)

    def last(self, n):
        return self._log.last(n)


class Domain:
    def __init__(self, board, store, journal, auth):
        self.rtc = board.rtc
        self.clock = board.clock
        self.relay = board.relay
        self.store = store
        self.journal = journal
        self.auth = auth  # LinkAuth: its key, sequence, failure count and lockout are persisted here
        self._saved_auth = store.load("linkkey")
        auth.persist = self.save_link_auth  # auth.verify() saves before the command runs
        self.config = store.load("config") or {}
        self.recharge = Recharge(self.clock)
        self.metering = Metering(board.metering, self.clock, self.section("meter")["max_current_ma"])
        self.account = None
        self.policy = None
        self._build_services(None)
        self.clock_trusted = False
        self.clock_estimated = False  # the clock was lost and runs from a token's issue time
        self.txns = []
        self.saves = 0
        self.dirty = False
        self.recovered = False
        self.pfail_journal = None  # the power-fail journal (store.PageJournal), where the board has one
        self.journal_error = None
        pfail = getattr(board, "pfail", None)
        if pfail is not None:
            try:
                self.pfail_journal = PageJournal(pfail)
            except (OSError, ValueError) as e:
                self.journal_error = str(e)
        self.gasp = False  # inside the power-fail save: nothing may erase
        self.refused = None  # why the saved state could not be read (the meter then refuses to run)
        self._hold = 0
        self._last_rtc = None
        self._last_ticks = 0
        self._day = None
        now = self.clock.ticks_ms()
        self.next_save = ticks.add(now, SAVE_PERIOD_MS)
        self.next_policy = now
        self.next_day = now
        self.next_journal = ticks.add(now, JOURNAL_PERIOD_MS)

    def log(self, code, detail=""):
        self.journal.log(code, detail)

    @property
    def billed_import(self):
        """Import register reading the account has been charged up to (saved as "bi")."""
        return self.metering.billed_totals()[0]

    @property
    def billed_export(self):
        return self.metering.billed_totals()[1]

    # -- configuration ------------------------------------------------------------------------
    def section(self, name):
        return provisioning.section(self.config, name)

    def provisioned(self):
        for s in provisioning.SECTIONS:
            if s not in self.config:
                return False
        return self.auth.key is not None

    def _new_account(self):
        acct = self.section("account")
        tariff = Tariff.from_config(self.section("tariff"))
        return Account(tariff, acct["arrears_paise"], acct["arrears_recovery_percent"],
                       acct["arrears_cap_paise"], acct["emergency_credit_paise"],
                       tuple(acct.get("alert_percents", (30, 10, 0))),
                       load_w=self.section("connection").get("sanctioned_load_w", 0))

    def _build_services(self, state):
        self.account = self._new_account()
        self.policy = ConnectionPolicy(self.section("connection"))
        self.recharge.configure(self.section("sts"))
        if state:
            self.account.restore(state["account"])
            self.policy.restore(state["policy"])

    def apply_section(self, name, clean):
        """Put one validated section into service without losing any running state."""
        first = name not in self.config
        self.config[name] = clean
        self.store.save("config", self.config)
        now = self.now_s()
        if name == "tariff":
            self.account.set_tariff(Tariff.from_config(clean), now)
        elif name == "account":
            keep = self.account.state()  # running state: balance, arrears so far, ledger, alerts
            self.account = self._new_account()
            self.account.restore(keep)
            if first:
                self.account.arrears_paise = clean["arrears_paise"]  # an opening balance, once
        elif name == "connection":
            keep = self.policy.state()
            self.policy = ConnectionPolicy(clean)
            self.policy.restore(keep)
            self.account.set_load(clean.get("sanctioned_load_w", 0), now)  # fixed charge per kW
        elif name == "sts":
            self.recharge.configure(clean)
        elif name == "meter":
            self.metering.max_current_ma = clean["max_current_ma"]

    def save_link_auth(self):
        """The link key with the sequence number, wrong-MAC count and lockout (auth.py calls this
        before a reply goes out); written only when something changed."""
        if self.auth.key is None:
            return
        rec = self.auth.state()
        rec["key"] = binascii.hexlify(self.auth.key).decode()
        if rec != self._saved_auth:
            self.store.save("linkkey", rec)
            self._saved_auth = rec

    # -- time ---------------------------------------------------------------------------------
    def now_s(self):
        return self.rtc.seconds()

    def set_clock(self, secs):
        """Set the RTC. Energy metered so far is billed at the old time first; the jump is not
        time in service (the account closes the day or month it leaves, never reopens one)."""
        old = self.now_s()
        if old is not None and self.provisioned():
            now_ms = self.clock.ticks_ms()
            self.metering.poll(now_ms)
            self.book_energy(now_ms)
            self.account.clock_changed(old, secs)
        self.rtc.set_seconds(secs)
        self.clock_trusted = True
        self.clock_estimated = False
        self._last_rtc = secs
        self._last_ticks = self.clock.ticks_ms()
        now = self.clock.ticks_ms()
        self.new_day(now)  # the account sees the new date at once, before any other request
        self.next_policy = now

    def clock_hint(self, secs):
        """An authenticated token was issued at secs, so the clock cannot be earlier. A lost or
        untrusted clock that reads earlier moves up to it, flagged as estimated until a
        technician sets the clock; a trusted clock is left alone."""
        now = self.now_s()
        if self.clock_trusted and now is not None:
            return
        if now is not None and now >= secs:
            return
        if now is not None and self.provisioned():
            self.account.clock_changed(now, secs)  # the step is not time in service
        self.rtc.set_seconds(secs)
        self.clock_estimated = True
        self.clock_trusted = False
        self._last_rtc = secs
        self._last_ticks = self.clock.ticks_ms()
        self.log("clock_estimated", civiltime.iso(secs))
        now_ms = self.clock.ticks_ms()
        self.new_day(now_ms)
        self.next_policy = now_ms

    def check_clock(self, now_ms):
        """An RTC that disagrees with the MCU's own ticks has been tampered with or failed."""
        s = self.now_s()
        if s is None:
            if self.clock_trusted:
                self.clock_trusted = False
                self.log("clock_lost", "")
            return None
        if self._last_rtc is not None:
            expect = self._last_rtc + ticks.diff(now_ms, self._last_ticks) // 1000
            if abs(s - expect) > CLOCK_JUMP_S:
                if self.provisioned():
                    self.account.clock_changed(expect, s)  # a jump is not time in service
                if self.clock_trusted:
                    self.clock_trusted = False
                    self.log("clock_jump", "%d s: %s -> %s" % (s - expect, civiltime.iso(expect),
                                                                 civiltime.iso(s)))
        self._last_rtc = s
        self._last_ticks = now_ms
        return s

    def start_clock(self, now_ms):
        self._last_rtc = self.now_s()
        self._last_ticks = now_ms

    def new_day(self, now):
        """Midnight: the account closes the day (fixed charge, daily record); save it."""
        now_s = self.now_s()
        if now_s is not None:
            day = now_s // civiltime.SECONDS_PER_DAY
            if day != self._day and self.provisioned():
                self.account.tick(now_s)
                if self._day is not None:
                    self.commit("midnight")
            self._day = day
        if now_s is None:
            self.next_day = ticks.add(now, MAX_SLEEP_MS)
        else:
            to_midnight = (civiltime.SECONDS_PER_DAY - now_s % civiltime.SECONDS_PER_DAY) * 1000
            self.next_day = ticks.add(now, to_midnight if to_midnight < MAX_SLEEP_MS else MAX_SLEEP_MS)

    # -- energy -------------------------------------------------------------------------------
    def book_energy(self, now_ms):
        """Charge the account for what the chip counted since the last booking."""
        now_s = self.check_clock(now_ms)
        # small ints however high the registers (energy.py): no big int on a 32-bit port's poll
        di = self.metering.unbilled_import
        de = self.metering.unbilled_export
        if (di or de) and now_s is not None and self.provisioned():
            if di:
                self.account.consume(di, now_s)
            if de:
                self.account.record_export(de, now_s)
            self.metering.billed(di, de)
            self.dirty = True
        elif now_s is not None and self.provisioned():
            self.account.tick(now_s)  # the fixed charge accrues by the second in service
        if di or de:
            self.mirror()

    def tariff_switches(self):
        """A scheduled tariff took effect: it becomes the provisioned [tariff] and an event."""
        sw = self.account.switched
        if not sw:
            return
        while sw:
            t, name = sw.pop(0)
            self.log("tariff_applied", "%s at %s" % (name or "tariff", civiltime.iso(t)))
        self.config["tariff"] = self.account.tariff.to_config()
        self.store.save("config", self.config)

    # -- relay --------------------------------------------------------------------------------
    def drive_relay(self):
        """Let the policy decide now and move the contacts at once (credit -> power within 2 s)."""
        now_s = self.now_s()
        now_ms = self.clock.ticks_ms()
        if not self.provisioned():
            self.next_policy = ticks.add(now_ms, MAX_SLEEP_MS)  # an unprovisioned meter never cuts
            return
        m = self.metering.measurements
        acct = self.account
        self.policy.update(now_s if now_s is not None else 0, acct.balance_paise,
                           acct.emergency_active and acct.balance_paise > 0,
                           self.clock_trusted and now_s is not None, m.power_w, now_ms)
        relay = self.relay
        was = relay.closed()
        relay.apply(self.policy.closed)
        if relay.closed() != was:
            self.log("relay_" + ("closed" if relay.closed() else "open"), self.policy.reason)
            self.commit("relay")
        wait_s = self.policy.next_check_s(now_s) if now_s is not None else None
        if wait_s is None or wait_s * 1000 > MAX_SLEEP_MS:
            self.next_policy = ticks.add(now_ms, MAX_SLEEP_MS)
        else:
            self.next_policy = ticks.add(now_ms, max(wait_s, 1) * 1000)

    def relay_word(self):
        return "closed" if self.relay.closed() else "open"

    def drain_events(self):
        """Log what the services noticed on their own; returns the account's balance alerts
        (percent left) for the views."""
        self.log_service_events()
        alerts = self.account.pop_alerts()
        for alert in alerts:
            self.log("low_balance", "%s%%" % alert.get("percent"))
        return alerts

    def log_service_events(self):
        """Log what metering, the policy and the relay noticed (an action calls this before its
        reply, so the reconnect its credit caused is in the log when the reply goes out)."""
        for code, detail in self.metering.events:
            self.log(code, detail)
        del self.metering.events[:]
        for code, detail in self.policy.take_events():
            self.log(code, detail)
        for code, detail in self.relay.take_events():
            self.log(code, detail)

    # -- persistence --------------------------------------------------------------------------
    def snapshot(self):
        return {"v": STATE_FORMAT, "n": self.saves, "energy": self.metering.state(), "bi": self.billed_import,
                "be": self.billed_export, "account": self.account.state(), "policy": self.policy.state(),
                "recharge": self.recharge.state(), "txns": self.txns, "trusted": self.clock_trusted,
                "est": self.clock_estimated, "last_s": self.now_s()}

    def hold_commits(self):
        """Defer commits (e.g. the relay's when a credit reconnects) until release_commits(); the
        action holding them commits once at its end, so a credit is never durable without its
        txn id or TID (a cut between two commits would let a retry or the same token in again)."""
        self._hold += 1

    def release_commits(self):
        self._hold -= 1

    def commit(self, reason):
        """Make the hot state durable now (returns only when it is on flash)."""
        if self.refused:
            return  # never overwrite a state this firmware could not read
        if self._hold:
            self.dirty = True  # the action holding commits saves everything at its end
            return
        if not self.gasp:
            # the journal first (one page program): a cut during the save below (45-400 ms of
            # erase) leaves the energy up to now, even when the mains-sense warning comes then
            self.journal_write()
        self.saves += 1
        self.store.save("meter", self.snapshot())
        self.dirty = False
        self.mirror()
        now = self.clock.ticks_ms()
        self.next_save = ticks.add(now, SAVE_PERIOD_MS)
        self.next_journal = ticks.add(now, JOURNAL_PERIOD_MS)

    def journal_write(self):
        """The energy booked since the last save, as one page program into flash erased in
        advance (no erase: it fits the 40 ms hold-up at worst-case timing). True if written."""
        j = self.pfail_journal
        if j is None or self.refused:
            return False
        try:
            return j.write({"n": self.saves, "energy": self.metering.state()})
        except OSError:
            return False

    def journal_prepare(self):
        """Erase ahead for the next journal writes (normal running only: an erase takes 45-400 ms)."""
        if self.pfail_journal is not None:
            try:
                self.pfail_journal.prepare()
            except OSError as e:
                self.log("journal_error", str(e))

    def periodic_save(self, now):
        if self.dirty:
            self.commit("periodic")
        else:
            self.next_save = ticks.add(now, SAVE_PERIOD_MS)

    def mirror(self):
        """Energy since the last flash save, in RTC RAM (survives resets, costs no flash wear)."""
        rec = {"n": self.saves, "energy": self.metering.state()}
        try:
            self.rtc.set_memory(json.dumps(rec).encode())
        except (OSError, ValueError):
            pass

    def _refuse(self, short, why):
        """The saved state cannot be read: keep it untouched on flash and refuse to run (billing a
        fresh, empty account would misread money and overwrite the real one at the next save)."""
        self.refused = why
        self.refused_short = short
        self.saves = 0
        self._build_services(None)
        self.log("state_refused", why)

    def restore(self):
        """Take back the saved state. Out of memory (a large record on a small, fragmented heap)
        it collects and tries once more, then refuses rather than run on an empty account: that
        would bill from zero and overwrite the real state at the next save."""
        for _ in range(2):
            try:
                self._restore()
                return
            except MemoryError:
                self._build_services(None)  # drop what the failed attempt built
                gc.collect()
        self._refuse("no memory", "state unreadable: out of memory")

    def _restore(self):
        st = self.store.load("meter")
        for name, slot, why in self.store.discarded():
            self.log("record_discarded", "%s.%s %s" % (name, slot, why))
        if not st:
            if self.now_s() is not None:
                self.clock_trusted = True  # a new meter whose RTC was set at the factory
            return
        fmt = st.get("v", 1)
        if fmt not in (1, STATE_FORMAT):
            self._refuse("format %s" % (fmt,), "state format %r is not one this firmware reads (%d)" % (fmt, STATE_FORMAT))
            return
        try:
            self.saves = st["n"]
            self.metering.restore(st["energy"])
            self.metering.set_billed_totals(st["bi"], st["be"])
            self._build_services(st)
            st["account"] = None  # the parsed copy can go while the rest is converted
            self.recharge.restore(st["recharge"])
            st["recharge"] = None
            self.txns = [tuple(t) for t in st.get("txns", [])]  # saved as lists; tuples in RAM
            st["txns"] = None
            self.clock_trusted = st.get("trusted", False)
            self.clock_estimated = st.get("est", False)
        except (KeyError, TypeError, ValueError, AttributeError) as err:  # AccountError is a ValueError
            self._refuse("unreadable", "state unreadable: %s %s" % (type(err).__name__, str(err)[:40]))
            return
        try:
            mem = json.loads(self.rtc.memory() or b"{}")
        except ValueError:
            mem = {}
        # energy counted after the last save: in RTC RAM (survives resets) and in the power-fail
        # journal on flash (survives cuts); the newer of the two that belong to this save
        jrec = self.pfail_journal.last() if self.pfail_journal is not None else None
        for rec in (mem, jrec):
            if not rec or rec.get("n") != st["n"] or not rec.get("energy"):
                continue
            e = rec["energy"]
            if (e.get("import_mwh", 0) >= self.metering.import_mwh
                    and e.get("export_mwh", 0) >= self.metering.export_mwh
                    and (e.get("import_mwh", 0), e.get("export_mwh", 0)) != (self.metering.import_mwh,
                                                                           self.metering.export_mwh)):
                self.metering.restore(e)
                self.recovered = True
        if self.recovered:
            self.log("energy_recovered", "%d mWh" % (self.metering.import_mwh - self.billed_import))
        now = self.now_s()
        last = st.get("last_s")
        if now is None or (last is not None and now < last - CLOCK_JUMP_S):
            if self.clock_trusted:
                self.log("clock_untrusted", "rtc %s, last saved %s" % (now, last))
            self.clock_trusted = False

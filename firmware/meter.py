"""The meter: every service wired together, one event loop, state that survives power cuts.

The loop serves the service port and the keypad, polls the metering IC when due, charges the
account, lets the connection policy decide the relay, refreshes the LCD, and then sleeps until
the earliest deadline any service asked for (`board.wait`). Nothing runs on a fixed tick.

Persistence (docs/persistence.md): the hot state is one record saved every 15 minutes, on every
credit or relay decision, at midnight, and when the mains-sense input warns of a power cut. In
between, the energy counted since the last save is mirrored to the RTC RAM, which survives a
watchdog or crash reset but not a power cut, so a reset loses nothing and a cut with warning
loses nothing.
"""
import binascii
import json

import civiltime
import commands
import provisioning
import ticks
from account import Account
from auth import LinkAuth
from connection import ConnectionPolicy
from link import Link
import metering
from metering import Metering
from recharge import Recharge
from store import Log, PageJournal, Store
import sts
from tariff import Tariff
from display import Display
from ui import UI, MeterView

VERSION = "0.3.0"
SAVE_PERIOD_MS = 15 * 60 * 1000
MAX_SLEEP_MS = 60 * 60 * 1000
WATCHDOG_MS = 120 * 1000
REPL_WATCHDOG_MS = 15 * 60 * 1000  # after `repl`: time for a deploy before the meter resets
CLOCK_JUMP_S = 120  # an RTC that moves this much more or less than the MCU's ticks jumped
TXN_MEMORY = 64  # remote-credit transaction ids remembered for idempotency
# energy goes to the power-fail journal at least this often while it flows; with a poll every
# 5 s under load, a cut without warning loses at most one minute of energy
JOURNAL_PERIOD_MS = 60 * 1000 - metering.LOADED_POLL_MS


def _txn_reply(t):
    """The credit reply remembered for a txn id: [txn, credited, arrears, emergency, to_balance,
    balance] (or [txn, reply dict] as saved by 0.3.0)."""
    if len(t) == 2:
        return dict(t[1])
    return {"credited": t[1], "arrears_recovered": t[2], "emergency_repaid": t[3], "to_balance": t[4],
            "balance_paise": t[5]}


class Meter:
    def __init__(self, board, urandom):
        self.board = board
        self.clock = board.clock
        self.reset_cause = "power_on"
        root = board.fs_root.rstrip("/") + "/data"
        self.store = Store(root)
        self.events = Log(self.store, "events", 400)
        self.journal = None
        self._journal_error = None
        if board.pfail is not None:
            try:
                self.journal = PageJournal(board.pfail)
            except (OSError, ValueError) as e:
                self._journal_error = str(e)
        self.config = self.store.load("config") or {}
        lk = self.store.load("linkkey")
        key = binascii.unhexlify(lk["key"]) if lk else None
        self.auth = LinkAuth(self.clock, urandom, key, lk["seq"] if lk else 0, self.save_auth_seq)
        self._saved_auth = lk
        if lk:
            self.auth.restore(lk)  # sequence, wrong-MAC count and lockout survive resets
        self.recharge = Recharge(self)
        self.metering = Metering(board.metering, self.clock, self.section("meter")["max_current_ma"])
        self.account = None
        self.policy = None
        self._build_services(None)
        self.view = MeterView()
        self.ui = UI(self.view)
        self.display = Display(self)
        self.link = Link(board.link, self.auth, commands.table(self), self._internal_error)
        self.dlms = None  # the DLMS/COSEM server on the optical port (firmware/dlms/)
        if getattr(board, "optical", None) is not None:
            from dlms.port import attach

            self.dlms = attach(self, None, self.events, board, VERSION, urandom, self._internal_error)
        self.clock_trusted = False
        self.clock_estimated = False  # the clock was lost and runs from a token's issue time
        self.txns = []
        self.saves = 0
        self._dirty = False
        self._hold = 0  # > 0: inside a credit/token operation that commits once, at its end
        self._power_failing = False
        self._gasp = False  # inside the power-fail save: nothing may erase
        self._pulse_seen = False
        self._listening = False
        self._recovered = False
        self._repl = False
        self._last_rtc = None
        self._last_ticks = 0
        now = self.clock.ticks_ms()
        self._next_meter = now
        self._next_save = ticks.add(now, SAVE_PERIOD_MS)
        self._next_journal = ticks.add(now, JOURNAL_PERIOD_MS)
        self._next_policy = now
        self._next_day = now
        self._day = None
        self._key_delay = None
        self._buzz_delay = None

    # -- configuration ------------------------------------------------------------------------
    def section(self, name):
        return provisioning.section(self.config, name)

    def provisioned(self):
        for s in provisioning.SECTIONS:
            if s not in self.config:
                return False
        return self.auth.key is not None

    def _build_services(self, state):
        acct = self.section("account")
        tariff = Tariff.from_config(self.section("tariff"))
        self.account = Account(tariff, acct["arrears_paise"], acct["arrears_recovery_percent"],
                               acct["arrears_cap_paise"], acct["emergency_credit_paise"],
                               tuple(acct.get("alert_percents", (30, 10, 0))),
                               load_w=self.section("connection").get("sanctioned_load_w", 0))
        self.policy = ConnectionPolicy(self.section("connection"))
        self.recharge.configure(self.section("sts"))
        if state:
            self.account.restore(state["account"])
            self.policy.restore(state["policy"])

    def provision(self, name, data):
        """Store one validated section and apply it without losing any running state."""
        clean = provisioning.validate(name, data)
        self.config[name] = clean
        self.store.save("config", self.config)
        now = self.now_s()
        if name == "tariff":
            self.account.set_tariff(Tariff.from_config(clean), now)
        elif name == "account":
            keep = self.account.state()
            self._build_services(None)
            self.account.restore(keep)
            self.account.arrears_paise = clean["arrears_paise"]
        elif name == "connection":
            keep = self.policy.state()
            self.policy = ConnectionPolicy(clean)
            self.policy.restore(keep)
            self.account.set_load(clean.get("sanctioned_load_w", 0), now)  # fixed charge per kW
        elif name == "sts":
            self.recharge.configure(clean)
        elif name == "meter":
            self.metering.max_current_ma = clean["max_current_ma"]
        self.log("provisioned", name)
        self.commit("provision")
        self.drive_relay()

    def set_link_key(self, key):
        self.auth.key = key
        self.save_auth_seq()

    def save_auth_seq(self):
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
        return self.board.rtc.seconds()

    def set_clock(self, secs):
        """Set the RTC. Energy metered so far is billed at the old time first; the jump is not
        time in service (the account closes the day or month it leaves, never reopens one)."""
        old = self.now_s()
        if old is not None and self.provisioned():
            self._poll_metering(self.clock.ticks_ms())
            self.account.clock_changed(old, secs)
        self.board.rtc.set_seconds(secs)
        self.clock_trusted = True
        self.clock_estimated = False
        self._last_rtc = secs
        self._last_ticks = self.clock.ticks_ms()
        self.log("clock_set", "%s -> %s" % (civiltime.iso(old) if old is not None else "unset",
                                            civiltime.iso(secs)))
        now = self.clock.ticks_ms()
        self._new_day(now)  # the account sees the new date at once, before any other request
        self.commit("clock")
        self._next_policy = now

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
        self.board.rtc.set_seconds(secs)
        self.clock_estimated = True
        self.clock_trusted = False
        self._last_rtc = secs
        self._last_ticks = self.clock.ticks_ms()
        self.log("clock_estimated", civiltime.iso(secs))
        now_ms = self.clock.ticks_ms()
        self._new_day(now_ms)
        self._next_policy = now_ms

    def _check_clock(self, now_ms):
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

    # -- events -------------------------------------------------------------------------------
    def log(self, code, detail=""):
        s = self.now_s()
        self.events.append({"t": s if s is not None else -1, "code": code, "d": detail})
        self.ui.wake(self.clock.ticks_ms())

    def _internal_error(self, where, exc):
        self.log("internal_error", "%s: %s" % (where, exc))

    def _drain_service_events(self):
        for code, detail in self.metering.events:
            self.log(code, detail)
        del self.metering.events[:]
        for code, detail in self.policy.take_events():
            self.log(code, detail)
        for code, detail in self.board.relay.take_events():
            self.log(code, detail)
        for alert in self.account.pop_alerts():
            pct = alert.get("percent")
            self.log("low_balance", "%s%%" % pct)
            self.ui.notify("Balance %d%% left" % pct if pct else "Balance used up", self.clock.ticks_ms())
            self.board.buzzer.play("alert_zero" if not pct else "alert_low", self.clock.ticks_ms())

    # -- money --------------------------------------------------------------------------------
    def apply_credit(self, paise, source, ref):
        """Credit the account, reconnect if the rules allow, commit to flash. Returns the split."""
        now = self.now_s()
        split = self.account.credit(paise, now if now is not None else 0, source, ref)
        self.log("credit", "%s %d paise %s" % (source, paise, ref))
        self.drive_relay()
        self.ui.result("accepted", self.clock.ticks_ms(), paise)
        return split

    def remote_credit(self, paise, txn):
        for t in self.txns:
            if t[0] == txn:
                out = _txn_reply(t)
                out["duplicate"] = True
                return out
        self.hold_commits()  # the credit and its txn id reach flash in one record, never apart
        try:
            split = self.apply_credit(paise, "remote", txn)
            t = [txn, split["credited"], split["arrears_recovered"], split["emergency_repaid"],
                 split["to_balance"], split["balance"]]  # compact: 64 of these are in every save
            self.txns.append(t)
            if len(self.txns) > TXN_MEMORY:
                self.txns.pop(0)
        finally:
            self.release_commits()
        self.commit("credit")  # committed before the reply goes out
        out = _txn_reply(t)
        out["duplicate"] = False
        return out

    def take_emergency(self):
        now = self.now_s()
        grant = self.account.take_emergency(now if now is not None else 0)
        self.log("emergency_credit", "%d paise" % grant["granted"])
        self.drive_relay()
        self.commit("emergency")
        return grant

    def clear_credit(self):
        now = self.now_s()
        if self.account.balance_paise > 0:
            self.account.adjust(-self.account.balance_paise, now or 0, "clear_credit")
        self.drive_relay()

    def _check_section(self, name, cfg):
        """None if the section would be accepted, else why not (nothing is changed)."""
        try:
            provisioning.validate(name, cfg)
        except ValueError as e:
            return str(e)
        return None

    def check_sanctioned_load(self, watts):
        cfg = dict(self.section("connection"))
        cfg["sanctioned_load_w"] = watts
        return self._check_section("connection", cfg)

    def check_flat_rate(self, paise_per_kwh):
        cfg = dict(self.section("tariff"))
        cfg["slabs"] = [{"paise_per_kwh": paise_per_kwh}]
        cfg.pop("tod", None)
        return self._check_section("tariff", cfg)

    def _sts_after_change(self, change):
        cfg = dict(self.section("sts"))
        cfg["decoder_key"] = binascii.hexlify(change["key"]).decode()
        cfg["key_revision"] = change["key_revision"]
        cfg["key_type"] = change["key_type"]
        cfg["tariff_index"] = change["tariff_index"]
        ken = change.get("ken", 255)
        cfg["expiry_tid"] = None if ken >= 255 else sts.ken_expiry_tid(ken)  # IEC 62055-41 KEN
        return cfg

    def check_decoder_key(self, change):
        return self._check_section("sts", self._sts_after_change(change))

    def set_sanctioned_load(self, watts):
        cfg = dict(self.section("connection"))
        cfg["sanctioned_load_w"] = watts
        self.provision("connection", cfg)

    def schedule_tariff(self, at_s, cfg):
        """The next tariff, in force from at_s (validated first; nothing changes on error)."""
        tariff = Tariff.from_config(cfg)
        self.account.schedule(tariff, at_s)
        self.log("tariff_scheduled", "%s from %s" % (tariff.name or "tariff", civiltime.iso(at_s)))
        self._tariff_switches()
        self.commit("tariff")

    def _tariff_switches(self):
        """A scheduled tariff took effect: it becomes the provisioned [tariff] and an event."""
        sw = self.account.switched
        if not sw:
            return
        while sw:
            t, name = sw.pop(0)
            self.log("tariff_applied", "%s at %s" % (name or "tariff", civiltime.iso(t)))
        self.config["tariff"] = self.account.tariff.to_config()
        self.store.save("config", self.config)

    def set_flat_rate(self, paise_per_kwh):
        cfg = dict(self.section("tariff"))
        cfg["slabs"] = [{"paise_per_kwh": paise_per_kwh}]
        cfg.pop("tod", None)
        self.provision("tariff", cfg)

    def change_decoder_key(self, change):
        self.provision("sts", self._sts_after_change(change))
        if change.get("rollover"):
            self.recharge.tids.clear()

    def self_test(self):
        self.board.buzzer.play("accept", self.clock.ticks_ms())
        self.log("self_test", "")

    # -- relay --------------------------------------------------------------------------------
    def drive_relay(self):
        """Let the policy decide now and move the contacts at once (credit -> power within 2 s)."""
        now_s = self.now_s()
        now_ms = self.clock.ticks_ms()
        if not self.provisioned():
            self._next_policy = ticks.add(now_ms, MAX_SLEEP_MS)  # an unprovisioned meter never cuts
            return
        m = self.metering.measurements
        acct = self.account
        self.policy.update(now_s if now_s is not None else 0, acct.balance_paise,
                           acct.emergency_active and acct.balance_paise > 0,
                           self.clock_trusted and now_s is not None, m.power_w, now_ms)
        relay = self.board.relay
        was = relay.closed()
        relay.apply(self.policy.closed)
        if relay.closed() != was:
            self.log("relay_" + ("closed" if relay.closed() else "open"), self.policy.reason)
            self.commit("relay")
        self._next_policy = self._policy_deadline(now_s, now_ms)

    def _policy_deadline(self, now_s, now_ms):
        wait_s = self.policy.next_check_s(now_s) if now_s is not None else None
        if wait_s is None or wait_s * 1000 > MAX_SLEEP_MS:
            return ticks.add(now_ms, MAX_SLEEP_MS)
        return ticks.add(now_ms, max(wait_s, 1) * 1000)

    # -- persistence --------------------------------------------------------------------------
    def snapshot(self):
        return {"v": 1, "n": self.saves, "energy": self.metering.state(), "bi": self.billed_import,
                "be": self.billed_export, "account": self.account.state(), "policy": self.policy.state(),
                "recharge": self.recharge.state(), "txns": self.txns, "trusted": self.clock_trusted,
                "est": self.clock_estimated,
                "last_s": self.now_s()}

    def hold_commits(self):
        """Defer commits (e.g. the relay's when a credit reconnects) until release_commits(); the
        caller commits once at the end, so a credit is never durable without its txn id or TID
        (a cut between two commits would let the head-end's retry or the same token in again)."""
        self._hold += 1

    def release_commits(self):
        self._hold -= 1

    def commit(self, reason):
        """Make the hot state durable now (returns only when it is on flash)."""
        if self._hold:
            self._dirty = True  # the operation holding commits saves everything at its end
            return
        if not self._gasp:
            # the journal first (one page program): a cut during the save below (45-400 ms of
            # erase) leaves the energy up to now, even when the mains-sense warning comes then
            self._journal_write()
        self.saves += 1
        self.store.save("meter", self.snapshot())
        self._dirty = False
        self._mirror()
        now = self.clock.ticks_ms()
        self._next_save = ticks.add(now, SAVE_PERIOD_MS)
        self._next_journal = ticks.add(now, JOURNAL_PERIOD_MS)

    def _journal_write(self):
        """The energy booked since the last save, as one page program into flash erased in
        advance (no erase: it fits the 40 ms hold-up at worst-case timing). True if written."""
        j = self.journal
        if j is None:
            return False
        try:
            return j.write({"n": self.saves, "energy": self.metering.state()})
        except OSError:
            return False

    def _journal_prepare(self):
        """Erase ahead for the next journal writes (normal running only: an erase takes 45-400 ms)."""
        if self.journal is not None:
            try:
                self.journal.prepare()
            except OSError as e:
                self.log("journal_error", str(e))

    def _mirror(self):
        """Energy since the last flash save, in RTC RAM (survives resets, costs no flash wear)."""
        rec = {"n": self.saves, "energy": self.metering.state()}
        try:
            self.board.rtc.set_memory(json.dumps(rec).encode())
        except (OSError, ValueError):
            pass

    @property
    def billed_import(self):
        """Import register reading the account has been charged up to (saved as "bi")."""
        return self.metering.billed_totals()[0]

    @property
    def billed_export(self):
        return self.metering.billed_totals()[1]

    def restore(self):
        st = self.store.load("meter")
        for name, slot, why in self.store.discarded():
            self.log("record_discarded", "%s.%s %s" % (name, slot, why))
        if not st:
            return
        self.saves = st["n"]
        self.metering.restore(st["energy"])
        self.metering.set_billed_totals(st["bi"], st["be"])
        self._build_services(st)
        self.recharge.restore(st["recharge"])
        self.txns = st.get("txns", [])
        self.clock_trusted = st.get("trusted", False)
        self.clock_estimated = st.get("est", False)
        try:
            mem = json.loads(self.board.rtc.memory() or b"{}")
        except ValueError:
            mem = {}
        # energy counted after the last save: in RTC RAM (survives resets) and in the power-fail
        # journal on flash (survives cuts); the newer of the two that belong to this save
        jrec = self.journal.last() if self.journal is not None else None
        for rec in (mem, jrec):
            if not rec or rec.get("n") != st["n"] or not rec.get("energy"):
                continue
            e = rec["energy"]
            if (e.get("import_mwh", 0) >= self.metering.import_mwh
                    and e.get("export_mwh", 0) >= self.metering.export_mwh
                    and (e.get("import_mwh", 0), e.get("export_mwh", 0)) != (self.metering.import_mwh,
                                                                           self.metering.export_mwh)):
                self.metering.restore(e)
                self._recovered = True
        if self._recovered:
            self.log("energy_recovered", "%d mWh" % (self.metering.import_mwh - self.billed_import))
        now = self.now_s()
        last = st.get("last_s")
        if now is None or (last is not None and now < last - CLOCK_JUMP_S):
            if self.clock_trusted:
                self.log("clock_untrusted", "rtc %s, last saved %s" % (now, last))
            self.clock_trusted = False

    # -- the loop -----------------------------------------------------------------------------
    def boot(self):
        b = self.board
        self.restore()
        if self.store.load("meter") is None and self.now_s() is not None:
            self.clock_trusted = True  # a new meter whose RTC was set at the factory
        try:
            self.metering.begin(self.store.load("calibration"))
        except OSError as e:
            self.log("metering_ic_error", str(e))
        b.power_fail.irq(self._on_power_fail, b.power_fail.IRQ_FALLING)
        self._last_rtc = self.now_s()
        self._last_ticks = self.clock.ticks_ms()
        # the date check runs before the banner invites the first request, so a technician's
        # first commands never race it
        self._new_day(self.clock.ticks_ms())
        self.log("boot", "%s %s" % (VERSION, self.reset_cause))
        self.link.notice("meter firmware %s board=%s serial=%s reset=%s" % (
            VERSION, b.name, self.section("meter")["serial"], self.reset_cause))
        self.drive_relay()
        if self._recovered:
            # charge what RTC RAM or the journal carried over, and put it on flash now: neither
            # is a full record, and a cut soon after could otherwise lose up to two save periods
            self._book(self.now_s())
            self.commit("recovered")
        if self._journal_error:
            self.log("journal_error", self._journal_error)
        self._journal_prepare()
        self.display.refresh(self.clock.ticks_ms())

    def _on_power_fail(self, pin):
        self._power_failing = True
        self.board.woken = True  # the device board's wait() returns at once: 40 ms are left

    def _listen_for_load(self, idle):
        """An idle meter polls the chip only once a minute; its energy pulse output wakes it as
        soon as a load draws power, so an overload is timed from its start, not from the poll."""
        pin = self.board.meter_pulse
        if pin is None or idle == self._listening:
            return
        self._listening = idle
        pin.irq(self._on_meter_pulse if idle else None, pin.IRQ_FALLING)

    def _on_meter_pulse(self, pin):
        self._pulse_seen = True
        self.board.woken = True

    def run(self):
        self.boot()
        wdt = self.board.watchdog(WATCHDOG_MS)
        while not self._repl:
            self.step()
            wdt.feed()
            self.board.wait(self._sleep_ms())
        # the REPL for a deploy: the watchdog cannot be stopped; fed from a timer for a while
        self.board.hand_over_watchdog(wdt, REPL_WATCHDOG_MS)

    def step(self):
        now = self.clock.ticks_ms()
        if self._pulse_seen:  # a load appeared on an idle meter: measure it now
            self._pulse_seen = False
            self._next_meter = now
        if self._power_failing:
            self._power_failing = False
            # 40 ms until the supply collapses. First what is booked, one page program into the
            # journal (3 ms at worst); then the chip's last counts (a BL0942 read, ~70 ms on its
            # UART, usually outlasts the hold-up) and the journal again; last the full record on
            # littlefs if the supply still holds (a sector erase, 45-400 ms: usually cut, which
            # leaves the previous A/B copy, and the journal holds the energy since)
            self._gasp = True  # no erase-ahead from here on
            try:
                self._journal_write()
                self._poll_metering(now)
                self._journal_write()
                self.commit("power_fail")
                self.log("power_fail", "")
            finally:
                self._gasp = False  # still alive (the mains came back): normal running again
        self.link.poll()
        if self.dlms:
            self.dlms.poll()
        self._poll_keys(now)
        if ticks.diff(now, self._next_meter) >= 0:
            self._poll_metering(now)
        if ticks.diff(now, self._next_day) >= 0:
            self._new_day(now)
        if ticks.diff(now, self._next_policy) >= 0:
            self.drive_relay()
        if ticks.diff(now, self._next_save) >= 0:
            self.commit("periodic") if self._dirty else self._push_save(now)
        self._tariff_switches()
        self._drain_service_events()
        self.display.refresh(now)

    def _new_day(self, now):
        """Midnight: the account closes the day (fixed charge, daily record); save it."""
        now_s = self.now_s()
        if now_s is not None:
            day = now_s // civiltime.SECONDS_PER_DAY
            if day != self._day and self.provisioned():
                self.account.tick(now_s)
                if self._day is not None:
                    self.commit("midnight")
            self._day = day
        self._next_day = self._day_deadline(now, now_s)

    def _day_deadline(self, now, now_s):
        if now_s is None:
            return ticks.add(now, MAX_SLEEP_MS)
        to_midnight = (civiltime.SECONDS_PER_DAY - now_s % civiltime.SECONDS_PER_DAY) * 1000
        return ticks.add(now, to_midnight if to_midnight < MAX_SLEEP_MS else MAX_SLEEP_MS)

    def _push_save(self, now):
        self._next_save = ticks.add(now, SAVE_PERIOD_MS)

    def _poll_metering(self, now):
        delay = self.metering.poll(now)
        self._next_meter = ticks.add(now, delay)
        self._listen_for_load(delay > metering.LOADED_POLL_MS)
        now_s = self._check_clock(now)
        if self._book(now_s):
            self._mirror()
            if not self._gasp and ticks.diff(now, self._next_journal) >= 0:
                self._next_journal = ticks.add(now, JOURNAL_PERIOD_MS)
                if self._journal_write():
                    self._journal_prepare()
        elif now_s is not None and self.provisioned():
            self.account.tick(now_s)  # the fixed charge accrues by the second in service
        if self.dlms:
            self.dlms.source.sample()  # the block load profile
        if self.provisioned():
            self.drive_relay()

    def _book(self, now_s):
        """Charge the account for the energy counted since it was last charged; True if any."""
        # small ints however high the registers (energy.py): no big int on a 32-bit port's poll
        di = self.metering.unbilled_import
        de = self.metering.unbilled_export
        if (di or de) and now_s is not None and self.provisioned():
            if di:
                self.account.consume(di, now_s)
            if de:
                self.account.record_export(de, now_s)
            self.metering.billed(di, de)
            self._dirty = True
        return bool(di or de)

    def _poll_keys(self, now):
        kp = self.board.keypad
        self._key_delay = kp.poll(now)
        while True:
            name = kp.get()
            if name is None:
                break
            self.board.buzzer.play("click", now)
            self._on_key(name, now)
        self._buzz_delay = self.board.buzzer.poll(now)

    def _on_key(self, name, now):
        action = self.ui.key(name, now)
        if action is None:
            return
        now_s = self.now_s()
        if action[0] == "token":
            self.enter_token(action[1], now)
        elif action[0] == "emergency":
            try:
                self.take_emergency()
                self.ui.result("emergency_granted", now, self.section("account")["emergency_credit_paise"])
            except ValueError as e:
                self.ui.result("emergency_refused", now, detail=str(e))
        elif action[0] == "ack_overload":
            if self.policy.acknowledge(now_s):  # logs overload_ack itself
                self.drive_relay()
                self.ui.result("ack_ok", now)

    def enter_token(self, digits, now_ms):
        """A token from the keypad or the link (`token`): one path, one lockout. Shows the result
        on the LCD and returns (kind, paise, detail) from recharge.enter()."""
        if not self.provisioned():  # no decoder key of its own: the default key is public
            self.ui.result("invalid", now_ms, detail="meter not set up")
            return "invalid", None, {"why": "meter not set up"}
        # a lost clock (now_s None) does not stop tokens: anti-replay runs on TIDs, and an
        # authenticated token's issue time becomes the clock's estimate (recharge.py)
        kind, paise, detail = self.recharge.enter(digits, self.now_s())
        self.board.buzzer.play("accept" if kind == "accepted" else "error", now_ms)
        if kind == "locked":
            shown = self.recharge.locked_s()
        elif kind == "invalid" and isinstance(detail, dict):
            shown = detail.get("why")
        else:
            shown = None
        self.ui.result(kind, now_ms, paise, shown)
        return kind, paise, detail

    def _sleep_ms(self):
        now = self.clock.ticks_ms()
        best = MAX_SLEEP_MS
        for deadline in (self._next_meter, self._next_policy, self._next_save, self._next_day):
            d = ticks.diff(deadline, now)
            if d < best:
                best = d
        for d in (self._key_delay, self._buzz_delay, self.ui.next_refresh_ms(now)):
            if d is not None and d < best:
                best = d
        if best > WATCHDOG_MS // 2:
            best = WATCHDOG_MS // 2
        return best if best > 0 else 0

    def enter_repl(self):
        self.commit("repl")
        self._repl = True

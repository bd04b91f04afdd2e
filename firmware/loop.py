"""The event loop: what runs when, and the one error boundary.

Each pass serves the service port and the keypad, polls the metering IC when due, closes the day
at midnight, asks the connection policy when it wanted to be asked, saves when due, and refreshes
the LCD; then it sleeps until the earliest deadline any part asked for (`board.wait`). Nothing
runs on a fixed tick.

Every stage runs inside `_guard`: an unexpected exception (MemoryError too) becomes an
`internal_error` event naming its type and place, "Error" on the LCD for a key, ERR 500 on the
link (link.py), and the loop goes on metering. Only BaseExceptions that are not Exceptions pass
(a reset, a power loss on the simulated board): they are the hardware's, not the firmware's.
"""
import gc

import ticks
import metering
from domain import JOURNAL_PERIOD_MS, MAX_SLEEP_MS

WATCHDOG_MS = 120 * 1000
REPL_WATCHDOG_MS = 15 * 60 * 1000  # after `repl`: time for a deploy before the meter resets


class Loop:
    def __init__(self, board, domain, actions, link, front, display):
        self.board = board
        self.clock = board.clock
        self.d = domain
        self.act = actions
        self.link = link
        self.front = front
        self.display = display
        self.running = True
        self.reset_pending = False
        self.dlms = None  # the DLMS/COSEM server on the optical port (firmware/dlms/), if any
        self.errors = 0
        self._power_failing = False
        self._pulse_seen = False
        self._listening = False
        self._next_meter = self.clock.ticks_ms()

    # -- the error boundary -------------------------------------------------------------------
    def internal_error(self, where, exc):
        """Log an unexpected exception as an event (type and place); never raises."""
        self.errors += 1
        if isinstance(exc, MemoryError):
            gc.collect()
        try:
            self.d.log("internal_error", "%s: %s %s" % (where, type(exc).__name__, str(exc)[:60]))
        except Exception:
            pass  # the log itself failed (flash?): the meter still meters

    def _guard(self, where, fn, *args):
        try:
            fn(*args)
            return True
        except Exception as e:
            self.internal_error(where, e)
            return False

    # -- start --------------------------------------------------------------------------------
    def boot(self, version, reset_cause):
        b = self.board
        d = self.d
        self._guard("restore", d.restore)
        if d.refused:
            self._refuse(version, reset_cause)
            return
        try:
            d.metering.begin(d.store.load("calibration"))
        except OSError as e:
            d.log("metering_ic_error", str(e))
        b.power_fail.irq(self._on_power_fail, b.power_fail.IRQ_FALLING)
        d.start_clock(self.clock.ticks_ms())
        # the date check runs before the banner invites the first request, so a technician's
        # first commands never race it
        self._guard("midnight", d.new_day, self.clock.ticks_ms())
        d.log("boot", "%s %s" % (version, reset_cause))
        self.link.notice("meter firmware %s board=%s serial=%s reset=%s" % (
            version, b.name, d.section("meter")["serial"], reset_cause))
        self._guard("policy", self.act.policy_timer)
        if d.recovered:
            # charge what RTC RAM or the journal carried over, and put it on flash now: neither
            # is a full record, and a cut soon after could otherwise lose up to two save periods
            self._guard("metering", d.book_energy, self.clock.ticks_ms())
            self._guard("save", d.commit, "recovered")
        if d.journal_error:
            d.log("journal_error", d.journal_error)
        self._guard("journal", d.journal_prepare)
        self._guard("display", self.display.refresh, self.clock.ticks_ms())

    def _refuse(self, version, reset_cause):
        """A saved state this firmware cannot read: say so on the LCD and the link, and serve only
        what lets a technician see why and update the firmware (commands.refusing)."""
        from commands import refusing

        b = self.board
        d = self.d
        self.link.commands = refusing(self.link.commands, d.refused)
        d.log("boot", "%s %s" % (version, reset_cause))
        try:
            b.lcd.show(("State " + d.refused_short)[:16], "Update firmware")
            b.lcd.backlight(True)
        except OSError:
            pass
        self.link.notice("meter firmware %s board=%s serial=%s reset=%s state_refused=%s" % (
            version, b.name, d.section("meter")["serial"], reset_cause, d.refused_short.replace(" ", "_")))

    def run(self, version, reset_cause):
        self.boot(version, reset_cause)
        wdt = self.board.watchdog(WATCHDOG_MS)
        while self.running:
            self.step()
            wdt.feed()
            try:
                ms = self._sleep_ms()
            except Exception as e:
                self.internal_error("sleep", e)
                ms = 1000  # look again soon, never a busy loop
            self.board.wait(ms)
        # the REPL for a deploy: the watchdog cannot be stopped; fed from a timer for a while
        hand_over = getattr(self.board, "hand_over_watchdog", None)
        if hand_over is not None:
            hand_over(wdt, REPL_WATCHDOG_MS)

    # -- one pass -----------------------------------------------------------------------------
    def step(self):
        d = self.d
        if d.refused:  # nothing meters, bills, cuts or saves: the link alone, for an update
            self._guard("link", self.link.poll)
            if self.reset_pending:
                self.board.reset()
            return
        now = self.clock.ticks_ms()
        if self._pulse_seen:  # a load appeared on an idle meter: measure it now
            self._pulse_seen = False
            self._next_meter = now
        if self._power_failing:
            self._power_failing = False
            self._guard("power_fail", self._power_fail, now)
        self._guard("link", self.link.poll)
        if self.reset_pending:  # a reboot or an installed update, after its reply went out
            self.board.reset()
        if self.dlms is not None:
            self._guard("dlms", self.dlms.poll)
        if not self._guard("keypad", self.front.poll, now):
            self._guard("display", self.front.error, now)
        if ticks.diff(now, self._next_meter) >= 0:
            self._guard("metering", self._poll_metering, now)
        if ticks.diff(now, d.next_day) >= 0:
            self._guard("midnight", d.new_day, now)
        if ticks.diff(now, d.next_policy) >= 0:
            self._guard("policy", self.act.policy_timer)
        if ticks.diff(now, d.next_save) >= 0:
            self._guard("save", d.periodic_save, now)
        self._guard("tariff", d.tariff_switches)
        self._guard("events", self._drain, now)
        self._guard("display", self.display.refresh, now)

    def _power_fail(self, now):
        d = self.d
        # 40 ms until the supply collapses. First what is booked, one page program into the
        # journal (3 ms at worst); then the chip's last counts (a BL0942 read, ~70 ms on its
        # UART, usually outlasts the hold-up) and the journal again; last the full record on
        # littlefs if the supply still holds (a sector erase, 45-400 ms: usually cut, which
        # leaves the previous A/B copy, and the journal holds the energy since)
        d.gasp = True  # no erase-ahead from here on
        try:
            d.journal_write()
            self._poll_metering(now)
            d.journal_write()
            d.commit("power_fail")
            d.log("power_fail", "")
        finally:
            d.gasp = False  # still alive (the mains came back): normal running again

    def _drain(self, now):
        self.front.alerts(self.d.drain_events(), now)

    def _poll_metering(self, now):
        d = self.d
        delay = d.metering.poll(now)
        self._next_meter = ticks.add(now, delay)
        self._listen_for_load(delay > metering.LOADED_POLL_MS)
        d.book_energy(now)
        if not d.gasp and ticks.diff(now, d.next_journal) >= 0 and d.dirty:
            d.next_journal = ticks.add(now, JOURNAL_PERIOD_MS)
            if d.journal_write():
                d.journal_prepare()
        if self.dlms is not None:
            self.dlms.source.sample()  # the block load profile
        if d.provisioned():
            self.act.policy_timer()

    # -- interrupts ---------------------------------------------------------------------------
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

    # -- sleep --------------------------------------------------------------------------------
    def _sleep_ms(self):
        now = self.clock.ticks_ms()
        d = self.d
        if d.refused:
            return WATCHDOG_MS // 2
        best = MAX_SLEEP_MS
        for deadline in (self._next_meter, d.next_policy, d.next_save, d.next_day):
            dt = ticks.diff(deadline, now)
            if dt < best:
                best = dt
        for dt in (self.front.key_delay, self.front.buzz_delay, self.front.ui.next_refresh_ms(now)):
            if dt is not None and dt < best:
                best = dt
        if best > WATCHDOG_MS // 2:
            best = WATCHDOG_MS // 2
        return best if best > 0 else 0


class Service:
    """What the link's service commands need from the board: its name, the chip's energy ratio,
    a reboot, a firmware update (update.py), and the REPL of an unprovisioned meter."""

    def __init__(self, board, loop, actions, domain):
        self.board = board
        self.board_name = board.name
        self._loop = loop
        self._act = actions
        self._d = domain
        self._updater = None

    @property
    def updater(self):
        """update.py, loaded only when an update starts (its code needs no heap until then)."""
        if self._updater is None:
            from update import Update

            self._updater = Update(self.board.fs_root)
        return self._updater

    def mwh_per_count(self):
        return self.board.metering.MWH_PER_COUNT

    def reboot(self):
        self._act.before_reset("reboot")
        self._loop.reset_pending = True  # the loop resets once the reply went out
        return {"rebooting": True}

    def enter_token(self, digits):
        """A token from the link: the keypad's path (front.py), same lockout, same LCD words."""
        return self._loop.front.enter_token(digits, self.board.clock.ticks_ms())

    def repl(self):
        self._act.before_reset("repl_unlocked")
        self._loop.running = False
        return {"repl": True}

    def update_begin(self):
        out = self.updater.begin()
        self._act.note("update_started", "")
        return out

    def update_abort(self):
        out = self.updater.abort()
        self._act.note("update_aborted", "")
        return out

    def update_commit(self):
        """Install the verified image and restart into it; the hot state is on flash first."""
        names = self.updater.ready()
        self._act.before_reset("firmware_update", "%d files" % len(names))
        self.updater.install()
        self._loop.reset_pending = True  # the loop resets into it once the reply went out
        return {"updated": True, "rebooting": True}

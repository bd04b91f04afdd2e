"""The metering service: polls the metering IC, books exact energy, keeps measurements.

`Metering(chip, clock, max_current_ma)` drives either driver (drivers/atm90e26.py,
drivers/bl0942.py) through the interface they share (drivers/meteringic.py) and never knows which
chip it has.

Each `poll()`:
1. asks the chip whether it lost its configuration (reset, checksum error); if so it logs
   ("chip_reset", name), re-initialises it with the calibration it holds, and remembers the
   gap since the last good read so the energy the chip could not count is estimated (below);
2. reads the energy counts since the last read and books them through `energy.EnergyRegister`
   (guarded: implausible steps are rejected and logged);
3. reads the measurements into the preallocated `Measurements`;
4. returns the delay until the next poll: LOADED_POLL_MS with any load, IDLE_POLL_MS without,
   never more than `max_poll_ms` (derived from the chip's counter capacity, see docs/metering.md).

Gap estimate after a chip reset: the counts between the last good read and the reset are gone
with the chip's registers. The next good poll books
    max(0, min(|P_before|, |P_after|) * gap_ms / 3600 - mWh the chip counted after the reset)
(same sign required, else nothing) as ("gap_filled", mWh): never more than either measured power
supports, so nothing is invented, and with a steady load the loss is within rounding.

Events: `events` is a list of (code, detail-string) for the integrator to log and clear; it is
capped at MAX_EVENTS (oldest dropped). Codes: chip_reset (re-initialised), chip_glitch (the
chip looked reset but was found configured: nothing lost), chip_error (bus/no answer; retried
after RETRY_POLL_MS), chip_read_errors (the chip's read_errors rose: "<chip> <count> (+<new>)",
logged by the next good poll, so a dead bus logs chip_error alone), step_rejected, gap_filled,
calibrated, calibration_failed, calibration_invalid (begin() got a dict that does not validate;
the driver's is used).
"""
import energy
import ticks

LOADED_POLL_MS = 5000  # overload seen within seconds
IDLE_POLL_MS = 60000  # no load: let the meter sleep (under the ATM90E26 overflow cap of 69.8 s)
RETRY_POLL_MS = 2000  # after a bus error
FIRST_STEP_MS = 15 * 60 * 1000  # guard allowance for the first read after begin()/restore()
IDLE_CURRENT_MA = 10  # at most this and no counts since the last poll: the meter is idle
MAX_EVENTS = 32
NEUTRAL_UNKNOWN = -1  # neutral_ma when the chip has no neutral channel (BL0942)


class Measurements:
    """Latest readings, all ints: cV, mA, W (signed, negative = export), milli-PF (signed),
    cHz, neutral mA (NEUTRAL_UNKNOWN if not measured); stamp_ms = ticks of the reading."""

    __slots__ = ("volts_cv", "current_ma", "power_w", "pf_milli", "freq_chz", "neutral_ma", "stamp_ms")

    def __init__(self):
        self.volts_cv = 0
        self.current_ma = 0
        self.power_w = 0
        self.pf_milli = 0
        self.freq_chz = 0
        self.neutral_ma = NEUTRAL_UNKNOWN
        self.stamp_ms = 0

    def as_dict(self):
        return {
            "volts_cv": self.volts_cv,
            "current_ma": self.current_ma,
            "power_w": self.power_w,
            "pf_milli": self.pf_milli,
            "freq_chz": self.freq_chz,
            "neutral_ma": self.neutral_ma,
        }


def poll_limit_ms(counter_max, mwh_per_count, max_current_ma, max_volts_cv):
    """Longest safe poll interval: a quarter of the time the chip's counter needs to overflow
    at the sanctioned maximum current and the highest credible voltage."""
    num, den = mwh_per_count
    p_max_mw = max_current_ma * max_volts_cv // 100
    # counter_max counts * num/den mWh / p_max_mw mW * 3.6e6 ms/h
    overflow_ms = counter_max * num * energy.MS_PER_HOUR // (den * p_max_mw)
    return overflow_ms // 4


class Metering:
    def __init__(self, chip, clock, max_current_ma=60000, max_volts_cv=energy.MAX_VOLTS_CV):
        self.chip = chip
        self.clock = clock
        self.max_current_ma = max_current_ma
        self.max_volts_cv = max_volts_cv
        self.measurements = Measurements()
        self.events = []
        self.register = energy.EnergyRegister(chip.MWH_PER_COUNT, max_current_ma, max_volts_cv, self.events)
        self.max_poll_ms = self._limit()
        self.begun = False
        self.warm = False  # begin() found the chip already configured (MCU-only restart)
        self._last_ok = 0  # ticks of the last good energy read
        self._first = True  # next step gets the FIRST_STEP_MS allowance
        self._gap = None  # (gap_ms, p_before_w, counted_mwh) waiting for an "after" power
        self._restored_counter = None
        self._read_errors = 0  # the chip's read_errors last logged
        self.polls = 0

    # -- helpers ----------------------------------------------------------------------------
    def _limit(self):
        return min(IDLE_POLL_MS, poll_limit_ms(self.chip.COUNTER_MAX, self.chip.MWH_PER_COUNT,
                                               self.max_current_ma, self.max_volts_cv))

    def _log(self, code, detail):
        ev = self.events
        if len(ev) >= MAX_EVENTS:
            ev.pop(0)
        ev.append((code, detail))

    def _now(self):
        return self.clock.ticks_ms()

    @property
    def import_mwh(self):
        return self.register.import_mwh

    @property
    def export_mwh(self):
        return self.register.export_mwh

    # -- billing: what the account has not been charged for yet ------------------------------
    @property
    def unbilled_import(self):
        """mWh imported since the account was last charged: a small int on every poll, where
        the totals pass 2**30 mWh (a 32-bit port's small int) after ~1,073 kWh."""
        return self.register.pending_import

    @property
    def unbilled_export(self):
        return self.register.pending_export

    def billed(self, imp, exp):
        """The account was charged `imp` mWh of unbilled_import and recorded `exp` of the export."""
        self.register.take_pending(imp, exp)

    def billed_totals(self):
        """(import, export) register readings the account has been charged up to (persisted)."""
        r = self.register
        imp, exp = r.totals()
        return imp - r.pending_import, exp - r.pending_export

    def set_billed_totals(self, imp, exp):
        """After restore(): the account was charged up to these register readings."""
        r = self.register
        ti, te = r.totals()
        r.pending_import, r.pending_export = ti - imp, te - exp

    # -- life cycle -------------------------------------------------------------------------
    def begin(self, calibration=None):
        """Initialise (or adopt an already configured) chip; returns the calibration in use.

        Raises OSError when the chip does not answer; poll() keeps retrying begin() then.
        A calibration dict that does not validate (corrupted, another chip's) is logged as
        ("calibration_invalid", reason) and the driver's current calibration is used: the
        meter keeps metering rather than stop.
        """
        try:
            cold = self.chip.begin(calibration)
        except ValueError as e:
            self._log("calibration_invalid", str(e))
            cold = self.chip.begin(None)
        self.warm = not cold
        if self.warm and self._restored_counter is not None:
            self.chip.set_counter_state(self._restored_counter)
        self._restored_counter = None
        self.register.set_ratio(self.chip.MWH_PER_COUNT)
        self.max_poll_ms = self._limit()
        self._last_ok = self._now()
        self._first = True
        self.begun = True
        return self.chip.calibration()

    def calibration(self):
        return self.chip.calibration()

    def poll(self, now_ms=None):
        """Read the chip, book energy, refresh measurements; returns ms until the next poll."""
        chip = self.chip
        m = self.measurements
        self.polls += 1
        reset = False
        gap_ms = 0
        p_before = m.power_w
        try:
            if not self.begun:
                self.begin(None)
            if chip.lost_configuration():
                gap_ms = ticks.diff(self._now(), self._last_ok)
                # begin() re-initialises with the calibration the driver holds; False means the
                # chip was fine after all (a glitched read): its counts are intact, no gap
                reset = chip.begin(None)
                self._log("chip_reset" if reset else "chip_glitch", chip.NAME)
            imp, exp = chip.read_energy()
            chip.read_measurements(m)
        except OSError as e:
            self._log("chip_error", "%s %s" % (chip.NAME, e.args[0] if e.args else ""))
            return RETRY_POLL_MS
        errors = chip.read_errors
        if errors != self._read_errors:
            self._log("chip_read_errors", "%s %d (+%d)" % (chip.NAME, errors, errors - self._read_errors))
            self._read_errors = errors
        now = self._now()
        m.stamp_ms = now
        elapsed = ticks.diff(now, self._last_ok)
        allowance = elapsed
        if self._first:
            allowance = max(elapsed, FIRST_STEP_MS)
            self._first = False
        self.register.add_counts(imp, exp, allowance)
        self._last_ok = now
        if self._gap is not None:
            self._settle_gap(m.power_w)
        if reset:
            counted = self.register.counts_to_mwh(imp + exp)
            self._gap = (max(gap_ms, elapsed), p_before, counted)
        ev = self.events
        while len(ev) > MAX_EVENTS:
            ev.pop(0)
        return self._interval(imp + exp)

    def _settle_gap(self, p_after):
        gap_ms, p_before, counted = self._gap
        self._gap = None
        if p_before == 0 or p_after == 0 or (p_before > 0) != (p_after > 0):
            return
        p = min(abs(p_before), abs(p_after))
        est = p * gap_ms // 3600  # W * ms / 3600 = mWh
        fill = est - counted
        if fill <= 0:
            return
        if p_before > 0:
            ok = self.register.add_mwh(fill, 0, gap_ms)
        else:
            ok = self.register.add_mwh(0, fill, gap_ms)
        if ok:
            self._log("gap_filled", "%d mWh over %d ms" % (fill if p_before > 0 else -fill, gap_ms))

    def _interval(self, counts):
        m = self.measurements
        if counts or m.current_ma > IDLE_CURRENT_MA:
            iv = LOADED_POLL_MS
        else:
            iv = IDLE_POLL_MS
        return min(iv, self.max_poll_ms)

    # -- calibration ------------------------------------------------------------------------
    def calibrate(self, ref):
        """A technician's reference reading of the applied load: (volts_cv, current_ma, power_w)
        or a dict with those keys. Writes and verifies new gains; returns the calibration dict
        (JSON-able ints) for the integrator to persist and hand back to begin() on boot."""
        if isinstance(ref, dict):
            v, i, w = ref["volts_cv"], ref["current_ma"], ref["power_w"]
        else:
            v, i, w = ref
        for x in (v, i, w):
            if not isinstance(x, int):
                raise ValueError("reference must be ints (cV, mA, W)")
        self.poll()  # book the energy counted so far under the old calibration
        try:
            cal = self.chip.calibrate(v, i, w, self.measurements)
        except (ValueError, OSError) as e:
            self._log("calibration_failed", str(e))
            raise
        self.register.set_ratio(self.chip.MWH_PER_COUNT)
        self.max_poll_ms = self._limit()
        try:
            self.chip.read_measurements(self.measurements)
        except OSError:
            pass
        self._log("calibrated", "V=%d I=%d P=%d" % (v, i, w))
        return cal

    # -- persistence ------------------------------------------------------------------------
    def state(self):
        d = self.register.state()
        d["counter"] = self.chip.counter_state()
        return d

    def restore(self, d):
        billed = self.billed_totals()  # a later restore (RTC RAM) adds energy still to be billed
        self.register.restore(d)
        self.set_billed_totals(*billed)
        c = d.get("counter")
        self._first = True
        if self.begun:
            if self.warm and c is not None:
                self.chip.set_counter_state(c)
        else:
            self._restored_counter = c

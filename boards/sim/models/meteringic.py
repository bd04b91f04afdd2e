"""What the simulated metering ICs share: the analog front end, the analog truth, time, and the
CF1 energy-pulse output.

A chip model subclasses MeteringICModel and keeps only what it counts, its registers and its bus;
it defines `_reset_registers()` (its power-on state), `_integrate(dt_ms)` and `next_cf_ms()`.
The base is a line observer that integrates lazily: every access calls `sync()`, which brings the
model from its last sync up to `world.now_ms` with the line's values that held meanwhile (the line
syncs its observers before anything on it changes). `sync()` adds the line's exact energy to the
truth and, while the mains is on, hands the interval to the chip's `_integrate(dt_ms)`, which
counts dt ms of the line's present power. Mains off unpowers the chip: when the mains returns it
starts again from power-on values.

Analog truth: `true_import_mwh()` / `true_export_mwh()` are the exact integrals of the line's
power over virtual time (floored mWh); `true_mw_ms()` gives the exact mW*ms pair.

Front end: hardware tolerances `v_error_ppm`, `i_error_ppm` make an uncalibrated board read off
(`_front_end_mw()` is the line's power as the chip senses it, in mW / HW_DEN); `offset_mw` is a
sensing offset (what makes an uncalibrated meter creep).

CF1 (`attach_cf(pin)`): both chips pulse CF1 once per unit of energy (the ATM90E26 per 10 register
counts, the BL0942 per CF_CNT count), on a pin the board wires to an MCU interrupt. The chip says
in `next_cf_ms()` when its count in progress completes; pulses are produced only while the MCU
listens (an IRQ armed on the pin), so a loaded simulation does not step through every pulse for
nothing.
"""

HW_DEN = 1000000 * 1000000  # (1e6 + v_error_ppm) * (1e6 + i_error_ppm) / HW_DEN: the front end's gain
MW_MS_PER_MWH = 3600000


def div_round(n, d):
    """n / d to the nearest int, halves away from zero (d > 0)."""
    if n < 0:
        return -((-n + d // 2) // d)
    return (n + d // 2) // d


class MeteringICModel:
    cf_pin = None
    _cf_level = 1
    cf_pulses = 0

    def __init__(self, world, line, v_error_ppm=0, i_error_ppm=0, offset_mw=0):
        self.world = world
        self.line = line
        self.v_error_ppm = v_error_ppm
        self.i_error_ppm = i_error_ppm
        self.offset_mw = offset_mw
        self.true_import_mw_ms = 0
        self.true_export_mw_ms = 0
        self.resets = 0
        self._t = world.now_ms
        self._dead = False
        self._reset_registers()
        line.observers.append(self)

    def inject_reset(self):
        """The chip resets (brown-out, ESD): registers back to power-on values, its counts lost."""
        self.sync()
        self._reset_registers()
        self.resets += 1

    def _front_end_mw(self):
        """The line's power as the chip senses it through the front end, in mW / HW_DEN."""
        hw = (1000000 + self.v_error_ppm) * (1000000 + self.i_error_ppm)
        return self.line.power_mw() * hw + self.offset_mw * HW_DEN

    # -- time -------------------------------------------------------------------------------
    def _power_check(self):
        if self._dead and self.line.mains:
            self._dead = False
            self._reset_registers()
            self.resets += 1

    def sync(self):
        """Integrate from the last sync up to world.now_ms with the values that held."""
        now = self.world.now_ms
        self._power_check()
        dt = now - self._t
        if dt > 0:
            line = self.line
            p = line.power_mw()
            if p > 0:
                self.true_import_mw_ms += p * dt
            elif p < 0:
                self.true_export_mw_ms -= p * dt
            if line.mains:
                self._integrate(dt)
            self._t = now
        if not self.line.mains:
            self._dead = True

    # -- truth ------------------------------------------------------------------------------
    def true_mw_ms(self):
        self.sync()
        return self.true_import_mw_ms, self.true_export_mw_ms

    def true_import_mwh(self):
        self.sync()
        return self.true_import_mw_ms // MW_MS_PER_MWH

    def true_export_mwh(self):
        self.sync()
        return self.true_export_mw_ms // MW_MS_PER_MWH

    # -- CF1 output -------------------------------------------------------------------------
    def attach_cf(self, pin):
        self.cf_pin = pin
        self.world.drive_from(pin, lambda: self._cf_level)
        self.world.sleepers.append(self)
        return self

    def next_event_ms(self):
        net = self.world.nets.get(self.cf_pin)
        if net is None or net.irq is None or not self.line.mains:
            return None
        return self.next_cf_ms()

    def run_event(self, now_ms):
        self.sync()
        self.cf_pulses += 1
        self._cf_level = 0  # a short active-low pulse: the falling edge is what the MCU sees
        self.world.inputs_changed()
        self._cf_level = 1
        self.world.inputs_changed()

"""What the simulated metering ICs share: the analog front end, the analog truth, and time.

A chip model subclasses MeteringICModel and keeps only what it counts. The base is a line
observer that integrates lazily: every access calls `sync()`, which brings the model from its
last sync up to `world.now_ms` with the line's values that held meanwhile (the line syncs its
observers before anything on it changes). `sync()` adds the line's exact energy to the truth and,
while the mains is on, hands the interval to the chip's `_integrate(dt_ms)`; the chip's
`_reset_registers()` sets its power-on state. Mains off unpowers the chip: when the mains
returns it starts again from power-on values.

Analog truth: `true_import_mwh()` / `true_export_mwh()` are the exact integrals of the line's
power over virtual time (floored mWh); `true_mw_ms()` gives the exact mW*ms pair.

Front end: hardware tolerances `v_error_ppm`, `i_error_ppm` make an uncalibrated board read off
(`_front_end_mw()` is the line's power as the chip senses it, in mW / HW_DEN); `offset_mw` is a
sensing offset (what makes an uncalibrated meter creep).
"""

HW_DEN = 1000000 * 1000000  # (1e6 + v_error_ppm) * (1e6 + i_error_ppm) / HW_DEN: the front end's gain
MW_MS_PER_MWH = 3600000


def div_round(n, d):
    """n / d to the nearest int, halves away from zero (d > 0)."""
    if n < 0:
        return -((-n + d // 2) // d)
    return (n + d // 2) // d


class MeteringICModel:
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

    def _reset_registers(self):
        raise NotImplementedError

    def _integrate(self, dt):
        """Count dt ms of the line's present power (only called while the chip has power)."""
        raise NotImplementedError

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

"""Exact energy accounting from metering-chip counts: pure logic, no hardware, no float.

A metering IC reports energy as whole counts (ATM90E26: tenths of a CF pulse; BL0942: CF
pulses). One count is an exact rational number of mWh, `num / den` (the driver's
MWH_PER_COUNT). `EnergyRegister` turns counts into integer mWh for import and export
separately and carries the fraction of a mWh (`rem`, in units of 1/den mWh, 0 <= rem < den)
so nothing is ever rounded away: after any sequence of accepted steps

    import_mwh * den + rem_import == num * (sum of accepted import counts)   (exactly)

Guards, all pure arithmetic so they can be tested without a chip:
- a step larger than the sanctioned maximum current could deliver at the highest credible
  line voltage (MAX_VOLTS_CV) in the elapsed time (plus a small margin for timing and the
  chip's count granularity) is rejected and reported as ("step_rejected", detail);
- negative counts and non-integers are rejected the same way (a wrap or reset is never read
  as a huge or negative step: see CumulativeCounter);
- `add_mwh` (energy estimated for a gap, e.g. while the chip was resetting) has the same bound.

Small integers on the poll path: a 32-bit MicroPython (the ESP32) keeps ints below 2**30 in the
object word and allocates anything larger on the heap. A meter passes 2**30 mWh after about
1,073 kWh, so the totals are kept as whole kWh plus the mWh below a kWh (`import_kwh`,
`import_part`; the same for export), and the plausibility bound uses the limits reduced to a small
fraction once: booking a poll's counts never allocates. `import_mwh` / `export_mwh` (read-outs,
persistence) are computed from the two parts and may be big ints; no limit ever overflows.
1 kWh = 1_000_000 mWh.
"""

MAX_VOLTS_CV = 44000  # 440 V: phase-to-phase on a lost neutral; the guard's voltage ceiling
MARGIN_NUM = 9  # guard bound = P_max * elapsed * 9/8 ...
MARGIN_DEN = 8
SLACK_COUNTS = 2  # ... + 2 counts (chip quantisation: a count may complete just after a read)
MS_PER_HOUR = 3600000
MWH_PER_KWH = 1000000


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def reduce(ratio):
    """(num, den) in lowest terms; both must be positive ints."""
    num, den = ratio
    if not (isinstance(num, int) and isinstance(den, int)) or num <= 0 or den <= 0:
        raise ValueError("ratio must be two positive ints")
    g = gcd(num, den)
    return num // g, den // g


class CumulativeCounter:
    """Turns readings of a free-running hardware counter (BL0942 CF_CNT, 24 bit) into steps.

    A wrap (raw < last after passing 2**bits - 1) is an ordinary step: the modular difference.
    A chip reset restarts the counter from zero; the driver, which sees the reset in its mode
    register, calls `restart()` so the next reading counts from 0 instead of from `last`.
    An unflagged restart shows up as an implausibly large modular step, which the
    EnergyRegister guard rejects (bounded loss: the counts since that reset).
    """

    def __init__(self, bits):
        self.bits = bits
        self.mask = (1 << bits) - 1
        self.last = None  # None: no baseline yet; the first reading only sets it

    def restart(self):
        self.last = 0

    def rebase(self, raw):
        self.last = raw & self.mask

    def delta(self, raw):
        raw &= self.mask
        last = self.last
        self.last = raw
        if last is None:
            return 0
        return (raw - last) & self.mask


class EnergyRegister:
    """Import and export energy in integer mWh with exactly carried fractions."""

    def __init__(self, mwh_per_count=(1, 1), max_current_ma=60000, max_volts_cv=MAX_VOLTS_CV, events=None):
        self.num, self.den = reduce(mwh_per_count)
        if max_current_ma <= 0 or max_volts_cv <= 0:
            raise ValueError("limits must be positive")
        self.max_power_mw = max_current_ma * max_volts_cv // 100  # mA * V = mW
        self._limits()
        self.import_kwh = 0
        self.import_part = 0  # mWh, 0 <= part < MWH_PER_KWH
        self.export_kwh = 0
        self.export_part = 0
        self.rem_import = 0  # 1/den mWh
        self.rem_export = 0
        # mWh booked since the integrator last billed them (take_pending), small whatever the totals
        self.pending_import = 0
        self.pending_export = 0
        self._totals = None  # (import_mwh, export_mwh) computed since the last booking
        self.rejected = 0
        self.events = events if events is not None else []

    # -- totals -----------------------------------------------------------------------------
    def totals(self):
        """(import_mwh, export_mwh), computed once per change (they may be big ints)."""
        t = self._totals
        if t is None:
            t = self._totals = (self.import_kwh * MWH_PER_KWH + self.import_part,
                                self.export_kwh * MWH_PER_KWH + self.export_part)
        return t

    @property
    def import_mwh(self):
        return self.totals()[0]

    @property
    def export_mwh(self):
        return self.totals()[1]

    def take_pending(self, imp, exp):
        """The integrator billed `imp`/`exp` mWh of the pending energy."""
        self.pending_import -= imp
        self.pending_export -= exp

    def _book(self, imp, exp):
        """Add whole mWh to the totals, carrying into kWh (all small ints)."""
        if imp or exp:
            self._totals = None
            self.pending_import += imp
            self.pending_export += exp
        if imp:
            part = self.import_part + imp
            if part >= MWH_PER_KWH:
                self.import_kwh += part // MWH_PER_KWH
                part %= MWH_PER_KWH
            self.import_part = part
        if exp:
            part = self.export_part + exp
            if part >= MWH_PER_KWH:
                self.export_kwh += part // MWH_PER_KWH
                part %= MWH_PER_KWH
            self.export_part = part

    # -- limits -----------------------------------------------------------------------------
    def _limits(self):
        """The bounds' rates as reduced fractions, so a poll's bound is a small product:
        mWh per ms = max_power_mw * MARGIN / MS_PER_HOUR, counts per ms = that * den / num."""
        n, d = self.max_power_mw * MARGIN_NUM, MS_PER_HOUR * MARGIN_DEN
        g = gcd(n, d)
        self._mwh_rate = (n // g, d // g)
        n, d = n // g * self.den, d // g * self.num
        g = gcd(n, d)
        self._count_rate = (n // g, d // g)

    def max_mwh(self, elapsed_ms):
        """Most energy (mWh, rounded up) the sanctioned maximum could deliver in elapsed_ms."""
        if elapsed_ms < 0:
            elapsed_ms = 0
        n, d = self._mwh_rate
        return (n * elapsed_ms + d - 1) // d

    def max_counts(self, elapsed_ms):
        """Most counts a plausible step may hold after elapsed_ms."""
        if elapsed_ms < 0:
            elapsed_ms = 0
        n, d = self._count_rate
        return n * elapsed_ms // d + SLACK_COUNTS

    # -- steps ------------------------------------------------------------------------------
    def _reject(self, what, imp, exp, elapsed_ms, limit):
        self.rejected += 1
        self.events.append(("step_rejected", "%s imp=%r exp=%r ms=%d max=%d" % (what, imp, exp, elapsed_ms, limit)))
        return False

    def add_counts(self, import_counts, export_counts, elapsed_ms):
        """Book one poll's counts; False (and an event) when the step is implausible."""
        limit = self.max_counts(elapsed_ms)
        if not (isinstance(import_counts, int) and isinstance(export_counts, int)):
            return self._reject("type", import_counts, export_counts, elapsed_ms, limit)
        if import_counts < 0 or export_counts < 0 or import_counts + export_counts > limit:
            return self._reject("counts", import_counts, export_counts, elapsed_ms, limit)
        imp = exp = 0
        if import_counts:
            t = self.rem_import + import_counts * self.num
            imp = t // self.den
            self.rem_import = t % self.den
        if export_counts:
            t = self.rem_export + export_counts * self.num
            exp = t // self.den
            self.rem_export = t % self.den
        self._book(imp, exp)
        return True

    def add_mwh(self, import_mwh, export_mwh, elapsed_ms):
        """Book whole mWh (a gap estimate); same plausibility bound as counts."""
        limit = self.max_mwh(elapsed_ms)
        if not (isinstance(import_mwh, int) and isinstance(export_mwh, int)):
            return self._reject("type", import_mwh, export_mwh, elapsed_ms, limit)
        if import_mwh < 0 or export_mwh < 0 or import_mwh + export_mwh > limit:
            return self._reject("mwh", import_mwh, export_mwh, elapsed_ms, limit)
        self._book(import_mwh, export_mwh)
        return True

    def counts_to_mwh(self, counts):
        """Whole mWh in `counts` (floor), for estimates only; booking goes through add_counts."""
        return counts * self.num // self.den

    def set_ratio(self, mwh_per_count):
        """New count value (after a calibration changed it): carried fractions are rescaled.

        The rescale floors, losing less than 1/den_new mWh per direction, once.
        """
        num, den = reduce(mwh_per_count)
        if (num, den) == (self.num, self.den):
            return
        self.rem_import = self.rem_import * den // self.den
        self.rem_export = self.rem_export * den // self.den
        self.num, self.den = num, den
        self._limits()

    # -- persistence ------------------------------------------------------------------------
    def state(self):
        return {
            "import_mwh": self.import_mwh,
            "export_mwh": self.export_mwh,
            "rem_import": self.rem_import,
            "rem_export": self.rem_export,
            "ratio": [self.num, self.den],
        }

    def restore(self, d):
        imp = d.get("import_mwh", 0)
        exp = d.get("export_mwh", 0)
        ri = d.get("rem_import", 0)
        re_ = d.get("rem_export", 0)
        for v in (imp, exp, ri, re_):
            if not isinstance(v, int) or v < 0:
                raise ValueError("bad energy state")
        ratio = d.get("ratio")
        if ratio is not None:
            num, den = reduce((ratio[0], ratio[1]))
        else:
            num, den = self.num, self.den
        if ri >= den or re_ >= den:
            raise ValueError("bad energy remainder")
        # // and %, not divmod: MicroPython's divmod of a big int returns big-int objects even for
        # small results, and every later sum with them would allocate again
        self.import_kwh, self.import_part = imp // MWH_PER_KWH, imp % MWH_PER_KWH
        self.export_kwh, self.export_part = exp // MWH_PER_KWH, exp % MWH_PER_KWH
        self._totals = None
        self.rem_import = ri
        self.rem_export = re_
        # the stored fractions are in the stored ratio's units; bring them to ours
        cur = (self.num, self.den)
        self.num, self.den = num, den
        self.set_ratio(cur)

"""The supply line and the household load as the metering IC sees them.

Voltage, frequency, load power and power factor are set by the bench. Current flows only while
mains is present and the relay's contacts are closed. Models that integrate over time (the
metering ICs) register as observers and are synced up to the present before anything changes,
so each stretch of time is integrated with the values that held during it.

Units: centivolts, centihertz, milliwatts (signed: negative is export), milli power factor.
"""


class Line:
    def __init__(self, world):
        self.world = world
        self.volts_cv = 23000
        self.freq_chz = 5000
        self.load_mw = 0
        self.pf_milli = 1000
        self.neutral_percent = 100  # neutral current as % of line current (tamper tests)
        self.mains = True
        self.relay = None  # model with .closed()
        self.observers = []

    def before_change(self):
        for o in self.observers:
            o.sync()

    def set_mains(self, volts_cv, freq_chz, on=True):
        self.before_change()
        self.volts_cv = volts_cv
        self.freq_chz = freq_chz
        self.mains = on and volts_cv > 0

    def set_load(self, load_mw, pf_milli=1000):
        self.before_change()
        self.load_mw = load_mw
        self.pf_milli = pf_milli

    def set_neutral_percent(self, percent):
        self.before_change()
        self.neutral_percent = percent

    def conducting(self):
        return self.mains and (self.relay is None or self.relay.closed())

    def voltage_cv(self):
        return self.volts_cv if self.mains else 0

    def power_mw(self):
        """Active power actually flowing now (0 with the relay open)."""
        return self.load_mw if self.conducting() else 0

    def current_ua(self):
        """RMS line current in microamps: |P| / (V * PF)."""
        p = self.power_mw()
        if p == 0 or self.volts_cv == 0:
            return 0
        pf = abs(self.pf_milli) or 1
        # I[uA] = P[mW] * 1e3 / V[V] / PF = P_mw * 1e3 * 100 / V_cv * 1000 / pf
        return abs(p) * 100_000_000 // (self.volts_cv * pf)

    def neutral_ua(self):
        return self.current_ua() * self.neutral_percent // 100

"""The metering-IC interface: what firmware/metering.py asks of a chip, and all it asks.

Each chip's driver (drivers/atm90e26.py, drivers/bl0942.py) subclasses MeteringIC, takes the bus
the board wired and keeps its register-level logic; only the interface and what every chip does
alike live here, so the service never knows which chip a board has (docs/metering.md).

MWH_PER_COUNT depends on the calibration (the meter constant, the shunt and divider, a power
correction): the class value is the one for the driver's DEFAULT_CALIBRATION, and an instance
sets its own with every calibration it takes, so read it from the instance after begin() or
calibrate().

Calibration takes a known load of at least 100 V, 1 A and 1 kW (integer readings then resolve
0.05 %); a reading more than 20 % off the reference means the reference is wrong, not the board;
afterwards every reading must be within 0.3 % of it. Those rules are the same for every chip.
"""
from errno import EIO

from drivers import const

_MIN_CAL_CV = const(10000)
_MIN_CAL_MA = const(1000)
_MIN_CAL_W = const(1000)
_MAX_CAL_OFF = const(5)  # a reading off by more than 1/5 of the reference
_VERIFY_PERMILLE = const(3)


class MeteringIC:
    NAME = "?"  # the chip as `info` and the event log name it
    COUNTER_MAX = 0  # counts the chip holds between two reads without losing any
    MWH_PER_COUNT = (1, 1)  # (num, den) in lowest terms: one energy count is exactly num/den mWh

    def __init__(self, clock):
        self._clock = clock
        # reads whose reply failed its check or never came (each retry counts): the bus's health
        self.read_errors = 0

    def begin(self, calibration=None):
        """Configure the chip, or adopt it if it already runs with this calibration. True =
        configured from scratch (cold: its counters restarted), False = already running (warm
        MCU restart). OSError(ENODEV): no chip or the wrong one; OSError(EIO): not verified."""
        raise NotImplementedError

    def read_energy(self):
        """(import_counts, export_counts) since the previous call."""
        raise NotImplementedError

    def read_measurements(self, m):
        """Fill a preallocated metering.Measurements with ints."""
        raise NotImplementedError

    def lost_configuration(self):
        """True after a chip reset or a checksum error: begin() must configure it again."""
        raise NotImplementedError

    def calibrate(self, ref_volts_cv, ref_current_ma, ref_power_w, measured):
        """New calibration from a known load, written and verified (the old one is put back on
        failure); returns the new calibration dict."""
        raise NotImplementedError

    def calibration(self):
        """A copy of the calibration dict (JSON-able ints), to persist and hand to begin(); the
        driver keeps the validated one it runs with in `_cal`."""
        return dict(self._cal)

    def counter_state(self):
        """The cumulative counter's baseline to carry over a warm MCU restart (None: the chip's
        counters clear on read and keep their counts themselves)."""
        return None

    def set_counter_state(self, value):
        """Take back what counter_state() returned before the restart."""

    # -- for calibrate() ---------------------------------------------------------------------
    def _near(self, meas, ref):
        """A reading within 20 % of the reference (a wrong reference is farther off)."""
        return meas > 0 and abs(meas - ref) * _MAX_CAL_OFF <= ref

    def _check_reference(self, ref_volts_cv, ref_current_ma, ref_w, measured):
        """ValueError unless the reference is a load to calibrate with and `measured` near it."""
        if ref_volts_cv < _MIN_CAL_CV or ref_current_ma < _MIN_CAL_MA or ref_w < _MIN_CAL_W:
            raise ValueError("calibration load too small")
        for meas, ref in ((measured.volts_cv, ref_volts_cv), (measured.current_ma, ref_current_ma),
                          (abs(measured.power_w), ref_w)):
            if not self._near(meas, ref):
                raise ValueError("reading too far from the reference")

    def _verify(self, measured, ref_volts_cv, ref_current_ma, ref_w):
        """After the chip's SETTLE_MS, fresh readings within 0.3 % of the reference, or OSError(EIO)."""
        self._clock.sleep_ms(self.SETTLE_MS)
        m = measured.__class__()
        self.read_measurements(m)
        for meas, ref in ((m.volts_cv, ref_volts_cv), (m.current_ma, ref_current_ma), (abs(m.power_w), ref_w)):
            if abs(meas - ref) * 1000 > ref * _VERIFY_PERMILLE:
                raise OSError(EIO)

"""ATM90E26 (Microchip M90E26) single-phase metering IC on SPI.

Bus: SPI mode 3 (CPOL=1, CPHA=1), MSB first, at most 200 kHz; the board creates the bus and
the chip-select Pin. One access is 24 clocks with CS low: address byte (bit 7 set = read,
clear = write), then 16 data bits MSB first. The driver never reconfigures the bus.

Implements drivers/meteringic.py (NAME "atm90e26"; counter_state() is None: the energy
registers clear on read and keep unread counts across an MCU restart). read_errors counts the
transfers whose LastData echo disagreed.

Energy: APenergy (0x40, forward) and ANenergy (0x41, reverse) count tenths of a CF pulse and
clear on read; each read is cross-checked against LastData (0x06), the chip's echo of the
last value it shifted out, so a corrupted transfer is caught (OSError(EIO)) and a value the
chip did send is recovered from the echo. With meter constant MC imp/kWh one count is
1e6 / (10 * MC) mWh: MC = 3200 gives 31.25 mWh = (125, 4).

Measurements: Urms 0x49 (0.01 V = cV), Irms 0x48 (mA), Pmean 0x4A (W, two's complement),
Freq 0x4C (cHz), PowerF 0x4D (sign + magnitude, 0.001), Irms2 0x68 (N-line mA).

Start-up (cold): soft reset (0x00 <- 0x789A), FuncEn, then the metering calibration block
(CalStart 0x20 <- 0x5678; 0x21..0x2B; CS1 0x2C) and the measurement calibration block
(AdjStart 0x30 <- 0x5678; 0x31..0x3A; CS2 0x3B), then 0x8765 to CalStart and AdjStart so the
chip checks both checksums; every register is read back and SysStatus (0x01) must show no
CalErr (bits 15:14) / AdjErr (bits 13:12). Checksums: low byte = sum of the block's bytes mod
256, high byte = XOR of them. A chip reset leaves CalStart/AdjStart at 0x6886 (metering off);
a corrupted register sets CalErr/AdjErr: either is `lost_configuration()`.

Calibration dict (all raw register values, unsigned 16-bit except plconst 32-bit):
    chip="atm90e26", mc (imp/kWh, not a register), plconst, lgain (two's complement: energy
    and power scale by 1 + lgain/32768), lphi, ngain, nphi, pstartth, pnolth, qstartth, qnolth,
    mmode, ugain (Urms scales with it), igainl (Irms), igainn (Irms2), uoffset, ioffsetl,
    ioffsetn, poffsetl, qoffsetl, poffsetn, qoffsetn.
"""
from errno import EIO, ENODEV

import energy
from drivers import const
from drivers.meteringic import MeteringIC


_SOFTRESET = const(0x00)
_SYSSTATUS = const(0x01)
_FUNCEN = const(0x02)
_LASTDATA = const(0x06)
_CALSTART = const(0x20)
_CS1 = const(0x2C)
_ADJSTART = const(0x30)
_CS2 = const(0x3B)
_APENERGY = const(0x40)
_ANENERGY = const(0x41)
_IRMS = const(0x48)
_URMS = const(0x49)
_PMEAN = const(0x4A)
_FREQ = const(0x4C)
_POWERF = const(0x4D)
_IRMS2 = const(0x68)

_RESET_CODE = const(0x789A)
_START_CAL = const(0x5678)  # calibration mode: blocks writable, no checksum check
_START_RUN = const(0x8765)  # check the checksum, then meter normally
_ERR_BITS = const(0xF000)  # SysStatus CalErr[1:0] | AdjErr[1:0]
_FUNCEN_VALUE = const(0x0030)  # SagEn | SagWo: voltage sag reported on WarnOut

_READ = const(0x80)

METER_KEYS = ("lgain", "lphi", "ngain", "nphi", "pstartth", "pnolth", "qstartth", "qnolth", "mmode")
MEASURE_KEYS = ("ugain", "igainl", "igainn", "uoffset", "ioffsetl", "ioffsetn", "poffsetl", "qoffsetl",
                "poffsetn", "qoffsetn")

# The board's design values: power-on defaults of the datasheet except the thresholds (a
# no-load threshold so nothing creeps) and FuncEn. PLconst 0x0015D174 with this front end gives
# MC = 3200 imp/kWh. (key, value) pairs, dict(DEFAULT_CALIBRATION) when used: a constant tuple
# stays in the frozen image, a dict would hold ~200 bytes of heap for the meter's life.
DEFAULT_CALIBRATION = (
    ("chip", "atm90e26"),
    ("mc", 3200),
    ("plconst", 0x0015D174),
    ("lgain", 0x0000),
    ("lphi", 0x0000),
    ("ngain", 0x0000),
    ("nphi", 0x0000),
    ("pstartth", 0x08BD),
    ("pnolth", 0x0700),
    ("qstartth", 0x0AEC),
    ("qnolth", 0x0700),
    ("mmode", 0x9422),
    ("ugain", 0x6720),
    ("igainl", 0x7A13),
    ("igainn", 0x7530),
    ("uoffset", 0),
    ("ioffsetl", 0),
    ("ioffsetn", 0),
    ("poffsetl", 0),
    ("qoffsetl", 0),
    ("poffsetn", 0),
    ("qoffsetn", 0),
)


def checksum(words):
    """CS1/CS2 of a block of 16-bit words: low byte sum of bytes mod 256, high byte XOR."""
    s = 0
    x = 0
    for w in words:
        hi = (w >> 8) & 0xFF
        lo = w & 0xFF
        s += hi + lo
        x ^= hi ^ lo
    return (x << 8) | (s & 0xFF)


def _scaled(old, ref, measured):
    """old * ref / measured rounded to nearest (all positive ints)."""
    return (2 * old * ref + measured) // (2 * measured)


def check_calibration(cal):
    """A validated copy of a calibration dict (ValueError if it is not one for this chip)."""
    if cal.get("chip") != "atm90e26":
        raise ValueError("not an atm90e26 calibration")
    out = {"chip": "atm90e26"}
    for k in ("mc", "plconst") + METER_KEYS + MEASURE_KEYS:
        v = cal.get(k)
        if not isinstance(v, int) or v < 0:
            raise ValueError("calibration %s missing or negative" % k)
        limit = 0xFFFFFFFF if k == "plconst" else 0xFFFF
        if k != "mc" and v > limit:
            raise ValueError("calibration %s out of range" % k)
        out[k] = v
    if out["mc"] == 0 or out["plconst"] == 0:
        raise ValueError("calibration mc/plconst must be > 0")
    return out


class ATM90E26(MeteringIC):
    NAME = "atm90e26"
    COUNTER_MAX = 0xFFFF  # 16-bit energy registers, cleared on read
    MWH_PER_COUNT = (125, 4)  # DEFAULT_CALIBRATION's: mc 3200 (an instance's follows its calibration)
    RESET_MS = 5
    SETTLE_MS = 1000  # Urms/Irms/Pmean settle after new gains

    def __init__(self, spi, cs_pin, clock, calibration=None):
        super().__init__(clock)
        self._spi = spi
        self._cs = cs_pin
        self._buf = bytearray(3)
        self._meter_words = [0] * 11
        self._measure_words = [0] * 10
        self._cs1 = 0
        self._cs2 = 0
        cs_pin.init(cs_pin.OUT, value=1)
        self._set_calibration(dict(DEFAULT_CALIBRATION) if calibration is None else calibration)

    # -- register access --------------------------------------------------------------------
    def _read_reg(self, reg):
        b = self._buf
        b[0] = reg | _READ
        b[1] = 0
        b[2] = 0
        self._cs(0)
        try:
            self._spi.write_readinto(b, b)
        finally:
            self._cs(1)
        return (b[1] << 8) | b[2]

    def _write_reg(self, reg, value):
        b = self._buf
        b[0] = reg & 0x7F
        b[1] = (value >> 8) & 0xFF
        b[2] = value & 0xFF
        self._cs(0)
        try:
            self._spi.write(b)
        finally:
            self._cs(1)

    def _read_checked(self, reg):
        """Read a clear-on-read register and confirm it against the LastData echo."""
        v = self._read_reg(reg)
        echo = self._read_reg(_LASTDATA)
        if echo == v:
            return v
        self.read_errors += 1
        if self._read_reg(_LASTDATA) == echo:
            return echo  # the value the chip sent, garbled on the way
        raise OSError(EIO)

    # -- calibration state ------------------------------------------------------------------
    def _set_calibration(self, cal):
        cal = check_calibration(cal)
        self._cal = cal
        pl = cal["plconst"]
        mw = self._meter_words
        mw[0] = pl >> 16
        mw[1] = pl & 0xFFFF
        for i, k in enumerate(METER_KEYS):
            mw[i + 2] = cal[k]
        aw = self._measure_words
        for i, k in enumerate(MEASURE_KEYS):
            aw[i] = cal[k]
        self._cs1 = checksum(mw)
        self._cs2 = checksum(aw)
        # one count = 0.1 CF pulse = 1 kWh / (10 * mc) = 1e6 / (10 * mc) mWh
        self.MWH_PER_COUNT = energy.reduce((100000, cal["mc"]))

    # -- life cycle -------------------------------------------------------------------------
    def _configured(self):
        """Does the chip run with exactly our calibration (a warm MCU restart)?"""
        if self._read_reg(_SYSSTATUS) & _ERR_BITS:
            return False
        if self._read_reg(_CALSTART) != _START_RUN or self._read_reg(_ADJSTART) != _START_RUN:
            return False
        if self._read_reg(_FUNCEN) != _FUNCEN_VALUE:
            return False
        return self._verify_blocks()

    def _verify_blocks(self):
        reg = 0x21
        for w in self._meter_words:
            if self._read_reg(reg) != w:
                return False
            reg += 1
        if self._read_reg(_CS1) != self._cs1:
            return False
        reg = 0x31
        for w in self._measure_words:
            if self._read_reg(reg) != w:
                return False
            reg += 1
        return self._read_reg(_CS2) == self._cs2

    def _write_blocks(self):
        self._write_reg(_CALSTART, _START_CAL)
        reg = 0x21
        for w in self._meter_words:
            self._write_reg(reg, w)
            reg += 1
        self._write_reg(_CS1, self._cs1)
        self._write_reg(_ADJSTART, _START_CAL)
        reg = 0x31
        for w in self._measure_words:
            self._write_reg(reg, w)
            reg += 1
        self._write_reg(_CS2, self._cs2)
        self._write_reg(_CALSTART, _START_RUN)
        self._write_reg(_ADJSTART, _START_RUN)
        if self._read_reg(_SYSSTATUS) & _ERR_BITS:
            raise OSError(EIO)  # the chip rejected a checksum
        if (not self._verify_blocks() or self._read_reg(_CALSTART) != _START_RUN
                or self._read_reg(_ADJSTART) != _START_RUN):
            raise OSError(EIO)

    def begin(self, calibration=None):
        if calibration is not None:
            self._set_calibration(calibration)
        if self._configured():
            return False
        self._write_reg(_SOFTRESET, _RESET_CODE)
        self._clock.sleep_ms(self.RESET_MS)
        self._write_reg(_FUNCEN, _FUNCEN_VALUE)
        # LastData echoes the value just written: silence, a dead bus or the wrong SPI mode
        # (bits sampled on the wrong edge) all fail here
        if self._read_reg(_LASTDATA) != _FUNCEN_VALUE or self._read_reg(_FUNCEN) != _FUNCEN_VALUE:
            raise OSError(ENODEV)
        self._write_blocks()
        self._read_reg(_APENERGY)  # start counting from zero
        self._read_reg(_ANENERGY)
        return True

    def lost_configuration(self):
        if self._read_reg(_SYSSTATUS) & _ERR_BITS:
            return True
        return self._read_reg(_CALSTART) != _START_RUN or self._read_reg(_ADJSTART) != _START_RUN

    # -- readings ---------------------------------------------------------------------------
    def read_energy(self):
        return self._read_checked(_APENERGY), self._read_checked(_ANENERGY)

    def read_measurements(self, m):
        r = self._read_reg
        m.volts_cv = r(_URMS)
        m.current_ma = r(_IRMS)
        p = r(_PMEAN)
        m.power_w = p - 0x10000 if p & 0x8000 else p
        pf = r(_POWERF)
        m.pf_milli = -(pf & 0x7FFF) if pf & 0x8000 else pf
        m.freq_chz = r(_FREQ)
        m.neutral_ma = r(_IRMS2)

    # -- calibration ------------------------------------------------------------------------
    def calibrate(self, ref_volts_cv, ref_current_ma, ref_power_w, measured):
        """New gains from a known load: Ugain, IgainL (and IgainN when the neutral carries
        the same current) scale with ref/measured; Lgain so that (1 + Lgain/32768) scales the
        same way for power. Written with fresh checksums, read back, then the readings are
        checked against the reference. On failure the old calibration is put back."""
        ref_w = abs(ref_power_w)
        self._check_reference(ref_volts_cv, ref_current_ma, ref_w, measured)
        mv = measured.volts_cv
        mi = measured.current_ma
        mp = abs(measured.power_w)
        old = self._cal
        cal = dict(old)
        cal["ugain"] = _scaled(old["ugain"], ref_volts_cv, mv)
        cal["igainl"] = _scaled(old["igainl"], ref_current_ma, mi)
        mn = measured.neutral_ma
        if self._near(mn, ref_current_ma):
            cal["igainn"] = _scaled(old["igainn"], ref_current_ma, mn)
        lg = old["lgain"]
        g = 32768 + (lg - 0x10000 if lg & 0x8000 else lg)
        g = _scaled(g, ref_w, mp) - 32768
        if not -32768 <= g <= 32767:
            raise ValueError("power gain out of range")
        cal["lgain"] = g & 0xFFFF
        for k in ("ugain", "igainl", "igainn"):
            if not 0 < cal[k] <= 0xFFFF:
                raise ValueError("gain %s out of range" % k)
        try:
            self._set_calibration(cal)
            self._write_blocks()
            self._verify(measured, ref_volts_cv, ref_current_ma, ref_w)
        except OSError:
            self._set_calibration(old)
            self._write_blocks()
            raise
        return self.calibration()

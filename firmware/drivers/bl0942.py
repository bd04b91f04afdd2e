"""BL0942 (Belling) calibration-free single-phase metering IC, on its UART or its SPI interface.

The SEL pin picks the interface; the board passes the bus it wired.

UART (SEL low): 4800 baud 8N1 (SCLK_BPS pin low), device address 0..3 (A1/A2 pins); the board
creates the UART. Frames: read = 0x58|addr, reg -> 3 data bytes LSB first + checksum
~((0x58|addr) + reg + data) & 0xFF; full packet = 0x58|addr, 0xAA -> 23 bytes headed 0x55:
I_RMS, V_RMS, I_FAST_RMS, WATT (signed), CF_CNT, FREQ, STATUS (3 bytes each, LSB first),
checksum ~((0x58|addr) + sum(bytes[0..21])) & 0xFF; write = 0xA8|addr, reg, 3 data bytes,
checksum. Stale or partial input is dropped before every request; a reply that does not
arrive within its line time + TIMEOUT_MS counts as a bad one.

SPI (SEL high, `cs` given): slave, mode 1 (CPOL 0, CPHA 1), at most 900 kHz (the board runs
800 kHz), one 48-bit frame per chip-select: read = MOSI 0x58, reg, then MISO 3 data bytes MSB
first + checksum ~(0x58 + reg + data) & 0xFF; write = 0xA8, reg, 3 data bytes MSB first,
~(0xA8 + reg + data) & 0xFF. No full packet: a reading is five register reads (I_RMS, V_RMS,
WATT, CF_CNT, FREQ), microseconds each. A MISO that only reads 0xFF is nobody answering.

Either bus: writes are accepted only after USR_WRPROT (0x1D) <- 0x55 (the driver locks it again
after); a reply with a bad header or checksum, or none in time, is discarded (counted in
read_errors) and the request repeated, at most ATTEMPTS times, after which OSError(EIO)
(OSError(ENODEV) if the chip never answered at all).

Implements drivers/meteringic.py (NAME "bl0942"; counter_state() is the CF_CNT baseline below).

Energy: CF_CNT is a free-running 24-bit counter of CF pulses (MODE CF_CNT_ADD_SEL = 1, the
default: it counts |energy| whatever the direction). read_energy() returns the pulses since the
last call, via energy.CumulativeCounter (wrap = modular difference; after a chip reset, seen as
MODE back at its default 0x87, the baseline restarts at 0 so the pulses counted since the reset
are kept). The direction is the sign of WATT in the same packet (the last non-zero sign if WATT
reads 0): a direction change inside one poll interval books that interval's pulses to the
direction seen at its end. counter_state() is the baseline so a warm MCU restart recovers the
pulses counted while the MCU was down.

Conversions (datasheet, Vref = 1.218 V, current gain 16): I_RMS = 305978 * I_pin[mV] / Vref,
V_RMS = 73989 * V_pin[mV] / Vref, WATT = 3537 * I_pin * V_pin * cos(phi) / Vref^2, one CF pulse
every 1638.4 * 256 / WATT s. With the front end in the calibration (shunt_uohm, divider_milli =
line V / pin V * 1000) the driver converts exactly with integers and applies its own correction
factors (v_corr, i_corr, p_corr, 2**20 = 1.0): the BL0942 has no gain registers, so calibration
lives in the MCU. One CF count = 4 * D * 1483524 * 16 * p_corr / (127332 * S * 10**9 * gain) mWh
(D = divider_milli, S = shunt_uohm, gain 16 from GAIN_CR 2): 293.2 mWh for 500 uOhm, 3000:1.

Calibration dict: chip="bl0942", shunt_uohm, divider_milli, v_corr, i_corr, p_corr, mode
(MODE register: 0x8F = defaults + RMS_UPDATE_SEL 800 ms; differs from the reset value 0x87 so a
reset is visible), wa_creep (anti-creep threshold: WATT < wa_creep * 3125 / 256 reads 0 and
counts nothing), gain (GAIN_CR, 2 = x16), i_rmsos.
"""
from errno import EIO, ENODEV

import energy
from drivers import const
from drivers.meteringic import MeteringIC


_READ = const(0x58)
_WRITE = const(0xA8)
_FULL = const(0xAA)
_HEAD = const(0x55)
_FRAME_LEN = const(23)
_SILENT = const(-2)  # a read nobody answered
_GARBLED = const(-1)  # an answer that failed its checks

_I_RMSOS = const(0x12)
_WA_CREEP = const(0x14)
_MODE = const(0x19)
_GAIN_CR = const(0x1A)
_USR_WRPROT = const(0x1D)
_UNLOCK = const(0x55)
_MODE_DEFAULT = const(0x87)
# where each register sits in the UART's full packet; an SPI reading is laid out the same way
_PACKET = ((0x03, 1), (0x04, 4), (0x06, 10), (0x07, 13), (0x08, 16))  # I_RMS V_RMS WATT CF_CNT FREQ

_ONE = const(1 << 20)  # correction factor 1.0
_GAINS = (1, 4, 16, 24)

# (key, value) pairs, dict(DEFAULT_CALIBRATION) when used: a constant tuple stays in the frozen
# image, a dict would hold heap for the meter's life
DEFAULT_CALIBRATION = (
    ("chip", "bl0942"),
    ("shunt_uohm", 500),
    ("divider_milli", 3000000),
    ("v_corr", 1 << 20),
    ("i_corr", 1 << 20),
    ("p_corr", 1 << 20),
    ("mode", 0x8F),
    ("wa_creep", 0x0B),
    ("gain", 2),
    ("i_rmsos", 0),
)


def check_calibration(cal):
    if cal.get("chip") != "bl0942":
        raise ValueError("not a bl0942 calibration")
    out = {"chip": "bl0942"}
    for k in ("shunt_uohm", "divider_milli", "v_corr", "i_corr", "p_corr", "mode", "wa_creep", "gain", "i_rmsos"):
        v = cal.get(k)
        if not isinstance(v, int) or v < 0:
            raise ValueError("calibration %s missing or negative" % k)
        out[k] = v
    for k in ("shunt_uohm", "divider_milli"):
        if out[k] == 0:
            raise ValueError("calibration %s must be > 0" % k)
    for k in ("v_corr", "i_corr", "p_corr"):
        if not _ONE // 2 <= out[k] <= 2 * _ONE:
            raise ValueError("calibration %s out of range" % k)
    if out["gain"] > 3 or out["mode"] > 0x3FF or out["wa_creep"] > 0xFF or out["i_rmsos"] > 0xFF:
        raise ValueError("calibration register out of range")
    return out


def _div_round(n, d):
    if n < 0:
        return -((-n + d // 2) // d)
    return (n + d // 2) // d


def _u24(b, i):
    return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)


def _s24(b, i):
    v = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)
    return v - 0x1000000 if v & 0x800000 else v


class BL0942(MeteringIC):
    NAME = "bl0942"
    COUNTER_BITS = 24
    COUNTER_MAX = 1 << 23  # modular differences are unambiguous below half the modulus
    # DEFAULT_CALIBRATION's: 293.2 mWh for 500 uOhm, 3000:1 (an instance's follows its calibration)
    MWH_PER_COUNT = (5401346048, 18421875)
    BAUD = 4800
    ATTEMPTS = 3
    TIMEOUT_MS = 20  # beyond the reply's line time
    FRESH_MS = 500  # read_measurements() reuses the packet read_energy() just fetched
    SETTLE_MS = 1000

    def __init__(self, bus, clock, calibration=None, addr=0, cs=None):
        """`bus` is the UART, or with `cs` (the chip-select Pin, idle high) the SPI bus."""
        super().__init__(clock)
        self._bus = bus
        self._cs = cs
        self._uart = None if cs else bus
        self._addr = 0 if cs else addr & 3
        self._cmd = bytearray(2)
        self._wbuf = bytearray(6)
        self._rbuf = bytearray(4 if cs is None else 6)  # a register's reply (SPI: the whole frame)
        self._frame = bytearray(_FRAME_LEN)
        self._frame_ms = None
        self._counter = energy.CumulativeCounter(24)
        self._export = False
        self._set_calibration(dict(DEFAULT_CALIBRATION) if calibration is None else calibration)

    # -- calibration state ------------------------------------------------------------------
    def _set_calibration(self, cal):
        cal = check_calibration(cal)
        self._cal = cal
        s = cal["shunt_uohm"]
        d = cal["divider_milli"]
        g = _GAINS[cal["gain"]]
        # cV = V_RMS * _kv_num / _kv_den, mA = I_RMS * ..., mW = WATT * ...
        self._kv_num = d * 1218 * cal["v_corr"]
        self._kv_den = 739890000000 * _ONE
        self._ki_num = 1000 * 1218 * 16 * cal["i_corr"]
        self._ki_den = 305978 * s * g * _ONE
        self._kp_num = d * 1483524 * 16 * cal["p_corr"]
        self._kp_den = 3537 * s * 1000000 * g * _ONE
        num = 4 * d * 1483524 * 16 * cal["p_corr"]
        den = 127332 * s * 1000000000 * g
        self.MWH_PER_COUNT = energy.reduce((num, den))

    # -- bus --------------------------------------------------------------------------------
    def _line_ms(self, nbytes):
        return nbytes * 10000 // self.BAUD + 1

    def _drain(self):
        uart = self._uart
        n = uart.any()
        while n:
            uart.read(n)
            n = uart.any()

    def _request(self, reg, buf):
        """UART: send a read request; True when len(buf) bytes arrived in time (not yet checked)."""
        uart = self._uart
        clock = self._clock
        self._drain()
        c = self._cmd
        c[0] = _READ | self._addr
        c[1] = reg
        uart.write(c)
        n = len(buf)
        clock.sleep_ms(self._line_ms(n + 2))
        waited = 0
        while uart.any() < n:
            if waited >= self.TIMEOUT_MS:
                return False
            clock.sleep_ms(2)
            waited += 2
        uart.readinto(buf)
        return True

    def _uart_get(self, reg):
        b = self._rbuf
        if not self._request(reg, b):
            return _GARBLED if self._uart.any() else _SILENT
        if (~((_READ | self._addr) + reg + b[0] + b[1] + b[2])) & 0xFF != b[3]:
            return _GARBLED
        return b[0] | (b[1] << 8) | (b[2] << 16)

    def _spi_get(self, reg):
        b = self._rbuf
        b[0] = _READ
        b[1] = reg
        for i in range(2, 6):
            b[i] = 0
        self._cs(0)
        try:
            self._bus.write_readinto(b, b)
        finally:
            self._cs(1)
        if (~(_READ + reg + b[2] + b[3] + b[4])) & 0xFF != b[5]:
            return _SILENT if b[2] & b[3] & b[4] & b[5] == 0xFF else _GARBLED
        return (b[2] << 16) | (b[3] << 8) | b[4]

    def _failed(self):
        """A bad or missing reply: on the UART, let the rest of it pass, then throw it away."""
        self.read_errors += 1
        if self._uart is not None:
            self._clock.sleep_ms(self._line_ms(_FRAME_LEN))
            self._drain()

    def _read_reg(self, reg):
        get = self._uart_get if self._uart is not None else self._spi_get
        heard = False
        for _ in range(self.ATTEMPTS):
            v = get(reg)
            if v >= 0:
                return v
            if v == _GARBLED:
                heard = True
            self._failed()
        raise OSError(EIO if heard else ENODEV)

    def _read_frame(self):
        """One reading in the full packet's layout: the packet itself on the UART, five register
        reads on SPI."""
        self._frame_ms = None
        f = self._uart_frame() if self._uart is not None else self._spi_frame()
        self._frame_ms = self._clock.ticks_ms()
        return f

    def _spi_frame(self):
        f = self._frame
        for reg, at in _PACKET:
            v = self._read_reg(reg)
            f[at] = v & 0xFF
            f[at + 1] = (v >> 8) & 0xFF
            f[at + 2] = v >> 16
        return f

    def _uart_frame(self):
        f = self._frame
        heard = False
        for _ in range(self.ATTEMPTS):
            if self._request(_FULL, f):
                heard = True
                s = _READ | self._addr
                for i in range(_FRAME_LEN - 1):
                    s += f[i]
                if f[0] == _HEAD and (~s) & 0xFF == f[_FRAME_LEN - 1]:
                    return f
            elif self._uart.any():
                heard = True
            self._failed()
        raise OSError(EIO if heard else ENODEV)

    def _write_reg(self, reg, value):
        w = self._wbuf
        w[0] = _WRITE | self._addr
        w[1] = reg
        if self._uart is not None:
            w[2] = value & 0xFF
            w[3] = (value >> 8) & 0xFF
            w[4] = (value >> 16) & 0xFF
        else:
            w[2] = (value >> 16) & 0xFF
            w[3] = (value >> 8) & 0xFF
            w[4] = value & 0xFF
        w[5] = (~(w[0] + w[1] + w[2] + w[3] + w[4])) & 0xFF
        if self._uart is not None:
            self._uart.write(w)
            self._clock.sleep_ms(self._line_ms(6))
            return
        self._cs(0)
        try:
            self._bus.write(w)
        finally:
            self._cs(1)

    # -- life cycle -------------------------------------------------------------------------
    def _settings(self):
        c = self._cal
        return ((_MODE, c["mode"]), (_WA_CREEP, c["wa_creep"]), (_GAIN_CR, c["gain"]), (_I_RMSOS, c["i_rmsos"]))

    def _matches(self):
        for reg, value in self._settings():
            if self._read_reg(reg) != value:
                return False
        return True

    def _configure(self):
        self._write_reg(_USR_WRPROT, _UNLOCK)
        for reg, value in self._settings():
            self._write_reg(reg, value)
        self._write_reg(_USR_WRPROT, 0)
        if not self._matches():
            raise OSError(EIO)

    def begin(self, calibration=None):
        if calibration is not None:
            self._set_calibration(calibration)
        mode = self._read_reg(_MODE)  # OSError(ENODEV) if nobody answers
        if mode == self._cal["mode"] and self._matches():
            if self._counter.last is None:
                self._counter.rebase(_u24(self._read_frame(), 13))
            return False
        if mode == _MODE_DEFAULT:
            self._counter.restart()  # reset or power-up: CF_CNT counted from 0 since then
        else:
            self._counter.rebase(_u24(self._read_frame(), 13))
        self._configure()
        return True

    def lost_configuration(self):
        return self._read_reg(_MODE) != self._cal["mode"]

    def counter_state(self):
        return self._counter.last

    def set_counter_state(self, value):
        if value is not None:
            self._counter.rebase(value)

    # -- readings ---------------------------------------------------------------------------
    def read_energy(self):
        f = self._read_frame()
        d = self._counter.delta(_u24(f, 13))
        w = _s24(f, 10)
        if w < 0:
            self._export = True
        elif w > 0:
            self._export = False
        if self._export:
            return 0, d
        return d, 0

    def _fresh_frame(self):
        t = self._frame_ms
        if t is not None:
            dt = (self._clock.ticks_ms() - t) & 0x3FFFFFFF
            if dt <= self.FRESH_MS:
                return self._frame
        return self._read_frame()

    def read_measurements(self, m):
        f = self._fresh_frame()
        cv = _div_round(_u24(f, 4) * self._kv_num, self._kv_den)
        ma = _div_round(_u24(f, 1) * self._ki_num, self._ki_den)
        mw = _div_round(_s24(f, 10) * self._kp_num, self._kp_den)
        m.volts_cv = cv
        m.current_ma = ma
        m.power_w = _div_round(mw, 1000)
        if cv and ma:
            pf = _div_round(mw * 100000, cv * ma)
            m.pf_milli = max(-1000, min(1000, pf))
        else:
            m.pf_milli = 0
        period = f[16] | (f[17] << 8)
        m.freq_chz = _div_round(100000000, period) if period else 0
        m.neutral_ma = -1  # no neutral channel

    # -- calibration ------------------------------------------------------------------------
    def calibrate(self, ref_volts_cv, ref_current_ma, ref_power_w, measured):
        """New correction factors from a known load, computed from the raw registers (not the
        rounded readings) so they resolve 1 ppm; applied, registers rewritten and read back,
        then a fresh packet must read within 0.3 % of the reference (else the old calibration
        is put back and OSError(EIO) raised)."""
        ref_w = abs(ref_power_w)
        self._check_reference(ref_volts_cv, ref_current_ma, ref_w, measured)
        f = self._read_frame()
        v_raw = _u24(f, 4)
        i_raw = _u24(f, 1)
        p_raw = abs(_s24(f, 10))
        if not (v_raw and i_raw and p_raw):
            raise ValueError("no load on the chip")
        old = self._cal
        cal = dict(old)
        # new_corr = ref / (raw * k_num_without_corr / k_den)
        cal["v_corr"] = _div_round(ref_volts_cv * self._kv_den * old["v_corr"], v_raw * self._kv_num)
        cal["i_corr"] = _div_round(ref_current_ma * self._ki_den * old["i_corr"], i_raw * self._ki_num)
        cal["p_corr"] = _div_round(ref_w * 1000 * self._kp_den * old["p_corr"], p_raw * self._kp_num)
        try:
            self._set_calibration(cal)  # ValueError if a factor left its range
        except ValueError:
            self._set_calibration(old)
            raise
        try:
            self._configure()
            self._frame_ms = None  # verify with a fresh reading
            self._verify(measured, ref_volts_cv, ref_current_ma, ref_w)
        except OSError:
            self._set_calibration(old)
            raise
        return self.calibration()

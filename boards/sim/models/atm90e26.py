"""ATM90E26 metering IC as the simulated board's SPI device: register map, checksum diagnosis,
start/no-load thresholds and exact energy integration from the line.

SPI (mode 3): CS low, address byte (bit 7 = read), 16 data bits MSB first. A read latches the
register when the address byte arrives (energy registers clear then); a write takes effect
with the last data bit. LastData (0x06) holds the last value shifted in or out.

Power-on state (datasheet): CalStart/AdjStart 0x6886 (metering and measurement off), PLconst
0x0015D174, Lgain..Nphi 0, PStartTh 0x08BD, PNolTh 0, QStartTh 0x0AEC, QNolTh 0, MMode 0x9422,
Ugain 0x6720, IgainL 0x7A13, IgainN 0x7530, offsets 0, FuncEn 0x000C, SagTh 0x1D6A.
CalStart <- 0x5678: 0x21..0x2B back to power-on values and writable, metering runs unchecked;
CalStart <- 0x8765: CS1 checked against 0x21..0x2B (low byte sum of bytes, high byte XOR):
match = normal metering, mismatch = metering off and SysStatus CalErr (bits 15:14) = 11;
any other value = metering off, CalErr = 11. AdjStart/0x31..0x3A/CS2/AdjErr (bits 13:12) alike
for the measurement registers. The chip keeps diagnosing: a register corrupted later
(`inject_checksum_error`) is caught at once. `inject_bad_transfer` garbles energy-register reads
on the way to the MCU (LastData keeps what the chip sent).

The simulated front end: with the power-on gains and PLconst and no hardware error the chip
reads true cV, mA and W and counts MC_NOM = 3200 imp/kWh (energy registers count 0.1 pulse).
Pulse rate scales with (1 + Lgain/32768) * PL_NOM/PLconst; Pmean with (1 + Lgain/32768);
Urms/Irms/Irms2 with Ugain/IgainL/IgainN over their power-on values. Model simplification:
PStartTh/PNolTh are compared with |calibrated active power| in mW (1 LSB = 1 mW on this front end).
Energy accumulates only while metering runs and |P| has risen to PStartTh and not fallen below
PNolTh. Energy registers are 16 bit and wrap (counts lost) if not read in time.

Time, power, the front end's tolerances and offset, the analog truth (`true_import_mwh()` ...) and
`inject_reset()`, the CF1 output: models/meteringic.py.
"""
from models.meteringic import HW_DEN, MeteringICModel, div_round


SPI_MODE_3 = 3

MC_NOM = 3200
PL_NOM = 0x0015D174
UGAIN_NOM = 0x6720
IGAINL_NOM = 0x7A13
IGAINN_NOM = 0x7530
# counts = |P_cal scaled| * ms * MC_NOM * 10 * PL_NOM / (3.6e12 * HW_DEN * 32768 * PLconst)
_COUNT_NUM = MC_NOM * 10 * PL_NOM
_COUNT_DEN_BASE = 3600000000000 * HW_DEN * 32768

POWER_ON = 0x6886
START_CAL = 0x5678
START_RUN = 0x8765
RESET_CODE = 0x789A

# power-on values as (register, value) pairs: a constant tuple stays in the frozen image
DEFAULTS = (
    (0x00, 0x0000),  # SoftReset
    (0x01, 0x0000),  # SysStatus
    (0x02, 0x000C),  # FuncEn: RevQEn | RevPEn
    (0x03, 0x1D6A),  # SagTh
    (0x04, 0x0000),  # SmallPMod
    (0x06, 0x0000),  # LastData
    (0x08, 0x0000),  # LSB
    (0x20, 0x6886),  # CalStart (POWER_ON)
    (0x21, 0x0015),  # PLconstH
    (0x22, 0xD174),  # PLconstL
    (0x23, 0x0000),  # Lgain
    (0x24, 0x0000),  # Lphi
    (0x25, 0x0000),  # Ngain
    (0x26, 0x0000),  # Nphi
    (0x27, 0x08BD),  # PStartTh
    (0x28, 0x0000),  # PNolTh
    (0x29, 0x0AEC),  # QStartTh
    (0x2A, 0x0000),  # QNolTh
    (0x2B, 0x9422),  # MMode
    (0x2C, 0x0000),  # CS1
    (0x30, 0x6886),  # AdjStart (POWER_ON)
    (0x31, 0x6720),  # Ugain (UGAIN_NOM)
    (0x32, 0x7A13),  # IgainL (IGAINL_NOM)
    (0x33, 0x7530),  # IgainN (IGAINN_NOM)
    (0x34, 0), (0x35, 0), (0x36, 0), (0x37, 0), (0x38, 0), (0x39, 0), (0x3A, 0),  # offsets
    (0x3B, 0x0000),  # CS2
)

APENERGY = 0x40
ANENERGY = 0x41
ATENERGY = 0x42
ENSTATUS = 0x46
IRMS = 0x48
URMS = 0x49
PMEAN = 0x4A
FREQ = 0x4C
POWERF = 0x4D
IRMS2 = 0x68


def block_checksum(words):
    s = 0
    x = 0
    for w in words:
        hi = (w >> 8) & 0xFF
        lo = w & 0xFF
        s += hi + lo
        x ^= hi ^ lo
    return (x << 8) | (s & 0xFF)


def _signed16(v):
    return v - 0x10000 if v & 0x8000 else v


class ATM90E26Model(MeteringICModel):
    SPI_MODE = SPI_MODE_3

    def __init__(self, world, line, v_error_ppm=0, i_error_ppm=0, offset_mw=0):
        self.frames = 0
        self._n = 0
        self._addr = 0
        self._rd = False
        self._out = 0
        self._hi = 0
        self._cf_counts = 0
        self._bad_reads = 0
        super().__init__(world, line, v_error_ppm, i_error_ppm, offset_mw)

    def next_cf_ms(self):
        """When the tenth register count in progress completes (the next CF1 pulse)."""
        if not self._metering:
            return None
        self.sync()
        mag = self._sensed_power()
        mag = -mag if mag < 0 else mag
        if mag == 0 or (self._noload and mag < self.regs[0x27] * HW_DEN * 32768):
            return None
        pl = (self.regs[0x21] << 16) | self.regs[0x22]
        if pl == 0:
            return None
        need = (10 - self._cf_counts % 10) * _COUNT_DEN_BASE * pl - self._acc_t
        rate = mag * _COUNT_NUM
        return self._t + max(1, -(-need // rate))

    def attach(self, bus_id, cs_pin):
        self.world.attach_spi(bus_id, cs_pin, self)
        return self

    # -- state ------------------------------------------------------------------------------
    def _reset_registers(self):
        self.regs = dict(DEFAULTS)
        self.energy = {APENERGY: 0, ANENERGY: 0, ATENERGY: 0}
        self._acc_p = 0  # partial count, units of 1/(_COUNT_DEN_BASE * PLconst)
        self._acc_n = 0
        self._acc_t = 0
        self._metering = False
        self._measuring = False
        self._noload = True
        self._last_dir = 0

    def inject_checksum_error(self, block=1):
        """A calibration register flips a bit: the chip's diagnosis sets CalErr (block 1,
        Lgain corrupted) or AdjErr (block 2, Ugain corrupted) and stops that function."""
        self.sync()
        reg = 0x23 if block == 1 else 0x31
        self.regs[reg] ^= 0x0001
        self._diagnose()

    def inject_bad_transfer(self, count=1):
        """The next `count` energy-register reads arrive with a bit flipped on MISO (noise on the
        bus); LastData still holds what the chip sent, which the driver's echo check recovers."""
        self._bad_reads += count

    def preset_energy(self, reg, counts):
        """Test hook: load an energy register (to exercise its 16-bit wrap)."""
        self.sync()
        self.energy[reg] = counts & 0xFFFF

    # -- checksums --------------------------------------------------------------------------
    def _cs_ok(self, first, last, cs_reg):
        return block_checksum([self.regs[r] for r in range(first, last + 1)]) == self.regs[cs_reg]

    def _diagnose(self):
        st = self.regs[0x01]
        if self.regs[0x20] == START_RUN and not self._cs_ok(0x21, 0x2B, 0x2C):
            st |= 0xC000
            self._metering = False
        if self.regs[0x30] == START_RUN and not self._cs_ok(0x31, 0x3A, 0x3B):
            st |= 0x3000
            self._measuring = False
        self.regs[0x01] = st

    def _start(self, reg, value):
        """CalStart/AdjStart written."""
        cal = reg == 0x20
        first, last, cs_reg = (0x21, 0x2B, 0x2C) if cal else (0x31, 0x3A, 0x3B)
        errbits = 0xC000 if cal else 0x3000
        self.regs[reg] = value
        if value == START_CAL:
            for r, v in DEFAULTS:
                if first <= r <= last:
                    self.regs[r] = v
            ok = True
        elif value == START_RUN:
            ok = self._cs_ok(first, last, cs_reg)
        else:
            ok = False
        if ok:
            self.regs[0x01] &= ~errbits & 0xFFFF
        else:
            self.regs[0x01] |= errbits
        if cal:
            self._metering = ok
        else:
            self._measuring = ok

    # -- counting ---------------------------------------------------------------------------
    def _sensed_power(self):
        """Calibrated active power as the chip sees it, in mW / (HW_DEN * 32768)."""
        return self._front_end_mw() * (32768 + _signed16(self.regs[0x23]))

    def _integrate(self, dt):
        if not self._metering:
            return
        sp = self._sensed_power()
        mag = -sp if sp < 0 else sp
        unit = HW_DEN * 32768
        if self._noload:
            if mag >= self.regs[0x27] * unit and mag > 0:
                self._noload = False
        elif mag < self.regs[0x28] * unit or mag == 0:
            self._noload = True
        if self._noload:
            return
        pl = (self.regs[0x21] << 16) | self.regs[0x22]
        if pl == 0:
            return
        den = _COUNT_DEN_BASE * pl
        inc = mag * dt * _COUNT_NUM
        e = self.energy
        if sp > 0:
            self._acc_p += inc
            n, self._acc_p = divmod(self._acc_p, den)
            e[APENERGY] = (e[APENERGY] + n) & 0xFFFF
            self._last_dir = 0
        else:
            self._acc_n += inc
            n, self._acc_n = divmod(self._acc_n, den)
            e[ANENERGY] = (e[ANENERGY] + n) & 0xFFFF
            self._last_dir = 1
        self._acc_t += inc
        n, self._acc_t = divmod(self._acc_t, den)
        e[ATENERGY] = (e[ATENERGY] + n) & 0xFFFF
        self._cf_counts += n

    # -- registers --------------------------------------------------------------------------
    def _measure(self, reg):
        line = self.line
        if not line.mains:
            return 0
        if reg == FREQ:
            return line.freq_chz if self._measuring else 0
        if reg == PMEAN:
            if not self._metering:
                return 0
            w = div_round(self._sensed_power(), HW_DEN * 32768 * 1000)
            w = max(-32767, min(32767, w))
            return w & 0xFFFF
        if reg == POWERF:
            if not self._measuring or line.current_ua() == 0:
                return 0
            mag = min(1000, abs(line.pf_milli))
            return (0x8000 | mag) if line.power_mw() < 0 else mag
        if reg == ENSTATUS:
            return (0x4000 if self._noload else 0) | (0x1000 if self._last_dir else 0)
        if not self._measuring:
            return 0
        if reg == URMS:
            v = div_round(line.voltage_cv() * (1000000 + self.v_error_ppm) * self.regs[0x31],
                           1000000 * UGAIN_NOM)
        elif reg == IRMS:
            v = div_round(line.current_ua() * (1000000 + self.i_error_ppm) * self.regs[0x32],
                           1000 * 1000000 * IGAINL_NOM)
        elif reg == IRMS2:
            v = div_round(line.neutral_ua() * (1000000 + self.i_error_ppm) * self.regs[0x33],
                           1000 * 1000000 * IGAINN_NOM)
        else:
            return 0
        return min(v, 0xFFFF)

    def _read_value(self, reg):
        if reg in self.energy:
            v = self.energy[reg]
            self.energy[reg] = 0  # cleared on read
            return v
        if reg in self.regs:
            return self.regs[reg]
        return self._measure(reg)

    def _write_value(self, reg, value):
        self.regs[0x06] = value
        if reg == 0x00:
            if value == RESET_CODE:
                self._reset_registers()
                self.regs[0x06] = value
            return
        if reg in (0x20, 0x30):
            self._start(reg, value)
            return
        if 0x21 <= reg <= 0x2C:
            if self.regs[0x20] == START_CAL:
                self.regs[reg] = value
            return
        if 0x31 <= reg <= 0x3B:
            if self.regs[0x30] == START_CAL:
                self.regs[reg] = value
            return
        if reg in (0x02, 0x03, 0x04):
            self.regs[reg] = value

    # -- SPI device -------------------------------------------------------------------------
    def spi_select(self):
        self.sync()
        self._n = 0

    def spi_exchange(self, b):
        if self._dead or not self.line.mains:
            return 0xFF  # unpowered: MISO floats
        n = self._n
        self._n = n + 1
        if n == 0:
            self._addr = b & 0x7F
            self._rd = bool(b & 0x80)
            if self._rd:
                self._out = self._read_value(self._addr)
            return 0x00
        if self._rd:
            if n == 1:
                return (self._out >> 8) & 0xFF
            if n == 2:
                self.regs[0x06] = self._out
                self.frames += 1
                if self._bad_reads and self._addr in self.energy:
                    self._bad_reads -= 1
                    return (self._out & 0xFF) ^ 0x01
                return self._out & 0xFF
            return 0x00
        if n == 1:
            self._hi = b
        elif n == 2:
            self._write_value(self._addr, (self._hi << 8) | b)
            self.frames += 1
        return 0x00

    def spi_deselect(self):
        self._n = 0

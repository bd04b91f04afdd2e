"""BL0942 metering IC as the simulated board's UART or SPI device: byte protocol, register map,
anti-creep, CF pulse counting integrated exactly from the line.

The SEL pin picks the interface: `uart_id` given, UART (SEL low); None, SPI (SEL high: the
board attaches the model to its SPI bus and chip select; its UART pins are then SPI pins).

SPI: mode 1 (CPOL 0, CPHA 1; another mode reads garbage), one frame per chip select:
  read      MOSI: 0x58, reg, 4 x dummy  MISO: 0, 0, d2 d1 d0 (MSB first), ~(0x58+reg+d2+d1+d0)
  write     MOSI: 0xA8, reg, d2 d1 d0, ~(0xA8+reg+d2+d1+d0)   same rules as on the UART.

UART (4800 baud 8N1 with SCLK_BPS low; other rates are not understood). Device address
`addr` (A1/A2 pins, 0..3). Frames (datasheet):
  read      MCU: 0x58|addr, reg          chip: d0 d1 d2 (LSB first), ~(0x58|addr+reg+d0+d1+d2)
  full      MCU: 0x58|addr, 0xAA         chip: 0x55, I_RMS, V_RMS, I_FAST_RMS, WATT, CF_CNT,
            FREQ, STATUS (3 bytes each, LSB first), ~((0x58|addr) + sum of the 22 bytes before)
  write     MCU: 0xA8|addr, reg, d0 d1 d2, ~(0xA8|addr+reg+d0+d1+d2)   no reply; ignored if
            the checksum is wrong or USR_WRPROT (0x1D) does not hold 0x55 (except USR_WRPROT).
A byte gap over 20 ms restarts the receive state machine.

Registers: I_RMS 0x03, V_RMS 0x04, I_FAST_RMS 0x05 (24-bit unsigned), WATT 0x06 (24-bit two's
complement), CF_CNT 0x07 (24-bit, wraps), FREQ 0x08 (line period in us, default 0x4E20),
STATUS 0x09 (bit0 CF_REVP reverse, bit1 CREEP, bit8/9 I/V zero-cross invalid); user registers
I_RMSOS 0x12 (0), WA_CREEP 0x14 (0x0B), I_FAST_RMS_TH 0x15 (0xFFFF), I_FAST_RMS_CYC 0x16 (1),
FREQ_CYC 0x17 (3), OT_FUNX 0x18 (0x24), MODE 0x19 (0x87: CF_EN, CF_CNT_ADD_SEL absolute),
GAIN_CR 0x1A (2 = x16), SOFT_RESET 0x1C (0x5A5A5A resets), USR_WRPROT 0x1D (0x55 unlocks).

Conversions (datasheet, Vref = 1.218 V, gain 16, pin voltages in mV):
  I_RMS = 305978 * I_pin / Vref, V_RMS = 73989 * V_pin / Vref,
  WATT = 3537 * I_pin * V_pin * cos(phi) / Vref^2, one CF pulse per 1638.4 * 256 / WATT seconds;
  |WATT| < WA_CREEP * 3125 / 256 reads 0 and counts nothing (anti-creep).
The front end: shunt `shunt_uohm` (I_pin = I * shunt), divider `divider_milli` (line V / pin V,
times 1000). Defaults 500 uOhm and 3000: 397.37 WATT LSB per W, 293.2 mWh per CF count.
MODE bit7 CF_CNT_ADD_SEL: 1 (default) counts |energy|, 0 counts signed (reverse decrements);
MODE bit6 CF_CNT_CLR_SEL clears CF_CNT after it is read. WATT's sign gives the direction.

Failure injection: `inject_reset()` (registers to defaults, CF_CNT to 0), `inject_garbage_frame`
(next reply corrupted: "checksum", "header", "truncated" or "noise" before the frame; on SPI,
which has no header or framing, each kind flips a bit of the reply).
CF1 (`attach_cf`): a short pulse per CF_CNT count, on a pin the board wires to an MCU interrupt.
Time, power, the front end's tolerances and offset, the analog truth (`true_import_mwh()` ...) and
`inject_reset()`, the CF1 output: models/meteringic.py.
"""

from models.meteringic import HW_DEN, MeteringICModel, div_round

READ = 0x58
WRITE = 0xA8
FULL = 0xAA
HEAD = 0x55

I_RMS = 0x03
V_RMS = 0x04
I_FAST_RMS = 0x05
WATT = 0x06
CF_CNT = 0x07
FREQ = 0x08
STATUS = 0x09
WA_CREEP = 0x14
MODE = 0x19
GAIN_CR = 0x1A
SOFT_RESET = 0x1C
USR_WRPROT = 0x1D

MODE_CLR = 0x40
MODE_ABS = 0x80

# power-on values as (register, value) pairs: a constant tuple stays in the frozen image
DEFAULTS = (
    (0x12, 0x000000),  # I_RMSOS
    (0x14, 0x00000B),  # WA_CREEP
    (0x15, 0x00FFFF),  # I_FAST_RMS_TH
    (0x16, 0x000001),  # I_FAST_RMS_CYC
    (0x17, 0x000003),  # FREQ_CYC
    (0x18, 0x000024),  # OT_FUNX
    (0x19, 0x000087),  # MODE
    (0x1A, 0x000002),  # GAIN_CR
    (0x1C, 0x000000),  # SOFT_RESET
    (0x1D, 0x000000),  # USR_WRPROT
)
_GAINS = (1, 4, 16, 24)
BYTE_GAP_MS = 20


class BL0942Model(MeteringICModel):
    SPI_MODE = 1  # CPOL 0, CPHA 1

    def __init__(self, world, line, uart_id=None, addr=0, shunt_uohm=500, divider_milli=3000000,
                 v_error_ppm=0, i_error_ppm=0, offset_mw=0, baudrate=4800):
        self.uart_id = uart_id
        self.addr = addr
        self.shunt_uohm = shunt_uohm
        self.divider_milli = divider_milli
        self.baudrate = baudrate
        self.replies = 0
        self._garbage = []
        self._rx = []
        self._rx_ms = 0
        self._spi_in = []
        self._spi_out = b""
        super().__init__(world, line, v_error_ppm, i_error_ppm, offset_mw)
        if uart_id is not None:
            world.attach_uart(uart_id, self)

    def next_cf_ms(self):
        """When the CF_CNT count in progress completes (the next CF1 pulse)."""
        self.sync()
        wn = self._watt_num()
        if wn == 0 or self._creeping(wn):
            return None
        step = (-wn if wn < 0 else wn) * 10  # _acc units per ms (see _integrate)
        need = self._watt_den() * 4194304 * 1000 - self._acc
        return self._t + max(1, -(-need // step))

    # -- state ------------------------------------------------------------------------------
    def _reset_registers(self):
        self.regs = dict(DEFAULTS)
        self.cf_cnt = 0
        self._acc = 0  # partial CF count, units of 1/_cf_den()
        self._creep = True
        self._revp = False

    def inject_garbage_frame(self, kind="checksum", count=1):
        """The next `count` replies arrive corrupted ("checksum", "header", "truncated", "noise")."""
        for _ in range(count):
            self._garbage.append(kind)

    def preset_cf_cnt(self, value):
        """Test hook: load CF_CNT (to exercise its 24-bit wrap)."""
        self.sync()
        self.cf_cnt = value & 0xFFFFFF

    # -- physics ----------------------------------------------------------------------------
    def _gain(self):
        return _GAINS[self.regs[GAIN_CR] & 3]

    def _watt_num(self):
        """WATT as a fraction _watt_num() / _watt_den() of register LSBs (unrounded)."""
        return self._front_end_mw() * 3537 * self.shunt_uohm * 1000000000 * self._gain()

    def _watt_den(self):
        return 1000 * self.divider_milli * 1483524 * HW_DEN * 16

    def _creeping(self, wn):
        mag = -wn if wn < 0 else wn
        return mag * 256 < self.regs[WA_CREEP] * 3125 * self._watt_den()

    def _integrate(self, dt):
        wn = self._watt_num()
        self._creep = self._creeping(wn)
        if self._creep:
            return
        self._revp = wn < 0
        # counts = |WATT| * s / 419430.4 = |wn| / wd * dt_ms * 10 / (4194304 * 1000)
        self._acc += (-wn if wn < 0 else wn) * dt * 10
        n, self._acc = divmod(self._acc, self._watt_den() * 4194304 * 1000)
        if n:
            if self._revp and not self.regs[MODE] & MODE_ABS:
                n = -n
            self.cf_cnt = (self.cf_cnt + n) & 0xFFFFFF

    # -- registers --------------------------------------------------------------------------
    def _reg(self, reg):
        """Value of a register (24 bit) as the chip would send it now."""
        line = self.line
        if reg in (I_RMS, I_FAST_RMS):
            v = div_round(line.current_ua() * 305978 * self.shunt_uohm * (1000000 + self.i_error_ppm) * self._gain(),
                           1000000 * 1218 * 1000000 * 16)
            return min(v, 0xFFFFFF)
        if reg == V_RMS:
            v = div_round(line.voltage_cv() * 73989000000000 * (1000000 + self.v_error_ppm),
                           100 * self.divider_milli * 1218 * 1000000)
            return min(v, 0xFFFFFF)
        if reg == WATT:
            wn = self._watt_num()
            if self._creeping(wn):
                return 0
            w = div_round(wn, self._watt_den())
            w = max(-0x7FFFFF, min(0x7FFFFF, w))
            return w & 0xFFFFFF
        if reg == CF_CNT:
            v = self.cf_cnt
            if self.regs[MODE] & MODE_CLR:
                self.cf_cnt = 0
            return v
        if reg == FREQ:
            f = line.freq_chz if line.mains else 0
            return div_round(100000000, f) if f else 0x4E20
        if reg == STATUS:
            st = (1 if self._revp else 0) | (2 if self._creep else 0)
            if line.current_ua() == 0:
                st |= 0x100
            if line.voltage_cv() == 0:
                st |= 0x200
            return st
        return self.regs.get(reg, 0)

    def _write(self, reg, value):
        if reg == USR_WRPROT:
            self.regs[USR_WRPROT] = value & 0xFF
            return
        if self.regs[USR_WRPROT] != 0x55:
            return
        if reg == SOFT_RESET:
            if value == 0x5A5A5A:
                self._reset_registers()
                self.resets += 1
            return
        if reg in self.regs:
            self.sync()
            self.regs[reg] = value

    # -- UART device ------------------------------------------------------------------------
    def _send(self, frame, baudrate):
        if self._garbage:
            kind = self._garbage.pop(0)
            frame = bytearray(frame)
            if kind == "checksum":
                frame[len(frame) // 2] ^= 0x10
            elif kind == "header":
                frame[0] ^= 0x01
            elif kind == "truncated":
                frame = frame[: len(frame) // 2]
            else:  # noise on the line before the frame
                frame = bytearray(b"\x55\x00\x13\xAA\x58") + frame
        self.replies += 1
        self.world.uart_feed(self.uart_id, bytes(frame), baudrate)

    def uart_receive(self, data, baudrate):
        if self._dead or not self.line.mains or self.uart_id is None:
            return
        if baudrate != self.baudrate:
            self._rx = []  # framing errors: nothing understood
            return
        self.sync()
        now = self.world.now_ms
        if self._rx and now - self._rx_ms > BYTE_GAP_MS:
            self._rx = []
        self._rx_ms = now
        rd = READ | self.addr
        wr = WRITE | self.addr
        for b in data:
            rx = self._rx
            if not rx and b != rd and b != wr:
                continue
            rx.append(b)
            if rx[0] == rd and len(rx) == 2:
                self._rx = []
                self._answer(rx[1], baudrate)
            elif rx[0] == wr and len(rx) == 6:
                self._rx = []
                if (~sum(rx[:5])) & 0xFF == rx[5]:
                    self._write(rx[1], rx[2] | (rx[3] << 8) | (rx[4] << 16))

    # -- SPI device -------------------------------------------------------------------------
    def spi_select(self):
        self.sync()
        self._spi_in = []
        self._spi_out = b""

    def spi_deselect(self):
        self._spi_in = []

    def spi_exchange(self, b):
        if self._dead or not self.line.mains or self.uart_id is not None:
            return 0xFF  # unpowered, or SEL low (its SDO pin is the UART's TX): MISO floats
        rx = self._spi_in
        n = len(rx)
        rx.append(b)
        if rx[0] == READ:
            if n == 1:
                v = self._reg(b)
                out = bytearray(((v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF, 0))
                out[3] = (~(READ + b + out[0] + out[1] + out[2])) & 0xFF
                if self._garbage:
                    self._garbage.pop(0)
                    out[1] ^= 0x10
                self.replies += 1
                self._spi_out = out
            elif 2 <= n <= 5:
                return self._spi_out[n - 2]
        elif rx[0] == WRITE and n == 5:
            if (~sum(rx[:5])) & 0xFF == b:
                self._write(rx[1], (rx[2] << 16) | (rx[3] << 8) | rx[4])
        return 0x00

    def _answer(self, reg, baudrate):
        rd = READ | self.addr
        if reg == FULL:
            out = bytearray(23)
            out[0] = HEAD
            i = 1
            for r in (I_RMS, V_RMS, I_FAST_RMS, WATT, CF_CNT, FREQ, STATUS):
                v = self._reg(r)
                out[i] = v & 0xFF
                out[i + 1] = (v >> 8) & 0xFF
                out[i + 2] = (v >> 16) & 0xFF
                i += 3
            out[22] = (~(rd + sum(out[:22]))) & 0xFF
        else:
            v = self._reg(reg)
            out = bytearray(4)
            out[0] = v & 0xFF
            out[1] = (v >> 8) & 0xFF
            out[2] = (v >> 16) & 0xFF
            out[3] = (~(rd + reg + out[0] + out[1] + out[2])) & 0xFF
        self._send(out, baudrate)

"""Board assembly: builds the meter's buses and drivers from a board's pin map.

Firmware logic never imports `machine`; each board's board.py passes its `machine` module (the
real one on ESP32, the simulator's shim on the sim board) and its pin map here, so every board
wires the same drivers the same way and differs only in pins, clock and service port.
"""
import select

import civiltime

RTC_VALID_FROM = civiltime.seconds(2020, 1, 1)  # an RTC reading earlier than this was never set
KEY_LONG_MS = 1500  # holding a key this long adds "LONG_<key>" (LONG_BACK clears a typed token)


class Board:
    """What the firmware receives; see docs/architecture.md for each attribute."""

    name = "?"
    clock = None
    rtc = None
    link = None
    metering = None
    lcd = None
    keypad = None
    buzzer = None
    relay = None
    power_fail = None
    meter_pulse = None
    pfail = None  # block device of the power-fail journal (firmware/store.py PageJournal), or None
    woken = False  # set by IRQ handlers of the firmware so wait() returns at once
    fs_root = "/"
    optical = None  # the optical port (DLMS), where the board has one

    def wait(self, timeout_ms):
        raise NotImplementedError

    def watchdog(self, timeout_ms):
        raise NotImplementedError

    def hand_over_watchdog(self, wdt, for_ms):
        """The main loop stops feeding `wdt` (the REPL after `repl`): keep it fed for `for_ms`,
        then let it reset the meter back into service. The simulated board's virtual time stands
        still in the REPL, so its watchdog cannot fire there: nothing to do."""

    def reset(self):
        raise NotImplementedError


class ServicePort:
    """The serial service port over a pair of byte streams (UART/USB console, or a pty)."""

    def __init__(self, stream_in, stream_out):
        self._in = stream_in
        self._out = stream_out
        self._poll = select.poll()
        self._poll.register(stream_in, select.POLLIN)

    def readable(self):
        for _obj, ev in self._poll.poll(0):
            if ev & select.POLLIN:
                return True
        return False

    def readinto(self, buf):
        """Read what is waiting, without blocking; returns the byte count (0: nothing)."""
        n = 0
        while n < len(buf) and self.readable():
            b = self._in.read(1)
            if not b:
                break
            buf[n] = b[0]
            n += 1
        return n

    def write(self, data):
        self._out.write(data)
        flush = getattr(self._out, "flush", None)
        if flush:
            flush()


class UartPort:
    """A machine.UART as a port like ServicePort: readinto never blocks and returns 0 when
    nothing waits (the UART returns None), readable() for the board's wait."""

    def __init__(self, uart):
        self._uart = uart

    def readable(self):
        return self._uart.any() > 0

    def readinto(self, buf):
        if not self._uart.any():
            return 0
        n = self._uart.readinto(buf)
        return n or 0

    def write(self, data):
        self._uart.write(data)


def optical_port(machine, pins):
    """The optical port (IEC 62056-21 head, 9600 8N1) where the board has one, else None."""
    uid = getattr(pins, "OPTICAL_UART_ID", None)
    if uid is None:
        return None
    return UartPort(machine.UART(uid, baudrate=9600, bits=8, parity=None, stop=1, tx=pins.OPTICAL_TX,
                                 rx=pins.OPTICAL_RX, timeout=0))


class RtcClock:
    """Wall time in seconds since 2000-01-01 local, from the battery-backed RTC chip (DS3231).

    The ESP32's own RTC has no battery: it restarts at 2000-01-01 at every power cut. It is kept
    in step with the chip (at boot and whenever the clock is set) and answers only when the chip
    cannot: not fitted or not answering on the bus. Its RAM is the meter's reset-surviving memory.
    seconds() is None when the time is not to be trusted: the chip's oscillator stopped (its
    battery was out during a cut: OSF), or no chip and the MCU's clock was never set since power-up.
    """

    def __init__(self, chip, mcu_rtc):
        self._chip = chip
        self._rtc = mcu_rtc
        self.errors = 0  # chip reads that failed (the MCU's clock answered instead)
        s = self._chip_seconds()
        if s is not None and s is not False:
            self._set_mcu(s)

    def _chip_seconds(self):
        """Seconds from the chip; None: its time is invalid (OSF); False: no chip or a bus error."""
        if self._chip is None:
            return False
        try:
            dt = self._chip.datetime()
        except OSError:
            self.errors += 1
            return False
        if dt is None:
            return None
        y, mo, d, _wd, hh, mm, ss = dt
        return civiltime.seconds(y, mo, d, hh, mm, ss)

    def seconds(self):
        s = self._chip_seconds()
        if s is False:
            y, mo, d, _wd, hh, mm, ss, _sub = self._rtc.datetime()
            s = civiltime.seconds(y, mo, d, hh, mm, ss)
        if s is None or s < RTC_VALID_FROM:
            return None
        return s

    def state(self):
        """"ok", "lost" (the chip's oscillator stopped: set the clock), "missing" (no chip)."""
        if self._chip is None:
            return "missing"
        try:
            return "lost" if self._chip.lost() else "ok"
        except OSError:
            return "error"

    def _set_mcu(self, secs):
        y, mo, d, hh, mm, ss, wd = civiltime.civil(secs)
        self._rtc.datetime((y, mo, d, wd, hh, mm, ss, 0))

    def set_seconds(self, secs):
        if self._chip is not None:
            y, mo, d, hh, mm, ss, wd = civiltime.civil(secs)
            self._chip.set_datetime(y, mo, d, wd, hh, mm, ss)
        self._set_mcu(secs)

    def memory(self):
        return self._rtc.memory()

    def set_memory(self, data):
        self._rtc.memory(data)


def _rtc_chip(i2c, pins):
    """The battery-backed RTC, or None when it does not answer (the MCU's clock stands in)."""
    from drivers.ds3231 import DS3231

    try:
        return DS3231(i2c, pins.RTC_ADDR)
    except OSError:
        return None


def assemble(board, machine, pins, clock, metering_chip):
    """Create buses and drivers on `board` from the pin map `pins`."""
    from drivers.buzzer import Buzzer
    from drivers.hd44780 import HD44780_PCF8574
    from drivers.keypad import Keypad
    from drivers.pcf8574 import PCF8574
    from drivers.relay import LatchingRelay

    Pin = machine.Pin
    board.clock = clock
    i2c = machine.I2C(pins.I2C_ID, scl=Pin(pins.I2C_SCL), sda=Pin(pins.I2C_SDA), freq=100000)
    board.rtc = RtcClock(_rtc_chip(i2c, pins), machine.RTC())
    board.lcd = HD44780_PCF8574(i2c, pins.LCD_ADDR, clock)
    # the keypad matrix behind a PCF8574 on the same bus: one interrupt pin instead of eight
    expander = PCF8574(i2c, pins.KEYPAD_ADDR, Pin(pins.KEY_INT, Pin.IN))
    board.keypad = Keypad([expander.pin(p) for p in pins.KEY_ROWS], [expander.pin(p) for p in pins.KEY_COLS],
                          clock, long_ms=KEY_LONG_MS)
    board.buzzer = Buzzer(Pin(pins.BUZZER, Pin.OUT, value=0), clock)
    board.relay = LatchingRelay(
        Pin(pins.RELAY_SET, Pin.OUT, value=0),
        Pin(pins.RELAY_RESET, Pin.OUT, value=0),
        Pin(pins.RELAY_SENSE, Pin.IN),
        clock,
    )
    board.power_fail = Pin(pins.MAINS_SENSE, Pin.IN)
    # the metering IC's energy pulse output, where the board wires it: wakes an idle meter
    cf = getattr(pins, "METER_CF", None)
    board.meter_pulse = Pin(cf, Pin.IN) if cf is not None else None
    if metering_chip == "atm90e26":
        from drivers.atm90e26 import ATM90E26

        spi = machine.SPI(pins.SPI_ID, baudrate=200000, polarity=1, phase=1,
                          sck=Pin(pins.SPI_SCK), mosi=Pin(pins.SPI_MOSI), miso=Pin(pins.SPI_MISO))
        board.metering = ATM90E26(spi, Pin(pins.METER_CS, Pin.OUT, value=1), clock)
    elif metering_chip == "bl0942":
        from drivers.bl0942 import BL0942

        # SEL tied high: SPI mode 1 at 800 kHz (datasheet maximum 900 kHz), which leaves the
        # third UART to the optical port
        spi = machine.SPI(pins.SPI_ID, baudrate=800000, polarity=0, phase=1,
                          sck=Pin(pins.SPI_SCK), mosi=Pin(pins.SPI_MOSI), miso=Pin(pins.SPI_MISO))
        board.metering = BL0942(spi, clock, cs=Pin(pins.METER_CS, Pin.OUT, value=1))
    else:
        raise ValueError("unknown metering chip %r" % metering_chip)
    return board


class DeviceClock:
    """The MCU's own tick counter and delays (real boards)."""

    def __init__(self):
        import time

        self._time = time

    def ticks_ms(self):
        return self._time.ticks_ms() & 0x3FFFFFFF

    def sleep_ms(self, ms):
        self._time.sleep_ms(ms)

    def sleep_us(self, us):
        self._time.sleep_us(us)


class DeviceBoard(Board):
    """A real board: waits in short slices so a key IRQ or serial input is served at once."""

    def __init__(self, machine):
        self._machine = machine

    def wait(self, timeout_ms):
        import ticks

        clock = self.clock
        end = ticks.add(clock.ticks_ms(), timeout_ms)
        optical = self.optical
        while (not self.link.readable() and not self.keypad.irq_pending and not self.woken
               and not (optical is not None and optical.readable())):
            left = ticks.diff(end, clock.ticks_ms())
            if left <= 0:
                return
            clock.sleep_ms(left if left < 10 else 10)
        self.woken = False

    def watchdog(self, timeout_ms):
        return self._machine.WDT(timeout=timeout_ms)

    def hand_over_watchdog(self, wdt, for_ms):
        """The ESP32's WDT cannot be stopped: a hardware timer feeds it every 10 s for `for_ms`
        (a deploy over the REPL takes minutes, the WDT allows 120 s), then stops, so a REPL left
        open resets the meter back into service."""
        m = self._machine
        timer = m.Timer(0)
        left = [for_ms // 10000]

        def feed(_t):
            if left[0] > 0:
                left[0] -= 1
                wdt.feed()
            else:
                timer.deinit()

        wdt.feed()
        timer.init(period=10000, mode=m.Timer.PERIODIC, callback=feed)

    def reset(self):
        self._machine.reset()

    def reset_cause(self):
        m = self._machine
        names = {getattr(m, "PWRON_RESET", -1): "power_on", getattr(m, "HARD_RESET", -2): "hard_reset",
                 getattr(m, "WDT_RESET", -3): "watchdog", getattr(m, "DEEPSLEEP_RESET", -4): "deep_sleep",
                 getattr(m, "SOFT_RESET", -5): "soft_reset"}
        return names.get(m.reset_cause(), "unknown")


def make_device_board(machine, pins, name, chip):
    b = DeviceBoard(machine)
    b.name = name
    assemble(b, machine, pins, DeviceClock(), chip)
    # the service link has a UART of its own, off the console (UART0: boot ROM, logs, REPL), with
    # an rx buffer that holds a whole request of the link's maximum length
    uart = machine.UART(pins.LINK_UART_ID, baudrate=pins.LINK_BAUD, tx=pins.LINK_TX, rx=pins.LINK_RX,
                        rxbuf=pins.LINK_RXBUF, timeout=0)
    b.link = ServicePort(uart, uart)
    b.optical = optical_port(machine, pins)
    b.pfail = _pfail_partition()
    return b


def _pfail_partition():
    """The "pfail" data partition of the image's partition table (docs/persistence.md), or None."""
    try:
        import esp32
    except ImportError:
        return None
    found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="pfail")
    return found[0] if found else None

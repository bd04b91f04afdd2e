"""DS3231 driver against the simulated chip (register level), the ESP32's own RTC model, and the
board's clock over both (firmware/hal.py RtcClock)."""
from _sim import machine, reset, world  # noqa: F401  (boards/sim first: the shim `machine`)

from models.ds3231 import DS3231Model  # noqa: E402
from models.rtc import McuRtc  # noqa: E402

import civiltime  # noqa: E402
from drivers.ds3231 import DS3231  # noqa: E402
from _check import raises  # noqa: E402

BUS = 0
ADDR = 0x68
T0 = civiltime.seconds(2026, 11, 30, 9, 0, 0)  # a Monday


def board(seconds=T0):
    reset()
    model = DS3231Model(world, BUS, ADDR, seconds)
    world.mcu_rtc = McuRtc(world, model, True)
    return model, machine.I2C(BUS)


class NotAnRtc:
    """Another chip answering at 0x68 (an IMU's register file: bits a DS3231 never sets)."""

    def i2c_write(self, data):
        pass

    def i2c_read(self, n):
        return bytes([0xFF] * n)


def test_no_chip_raises_enodev():
    reset()
    with raises(OSError) as e:
        DS3231(machine.I2C(BUS))
    assert e.value.args[0] == 19


def test_another_chip_at_the_address_raises():
    reset()
    world.attach_i2c(BUS, ADDR, NotAnRtc())
    with raises(OSError):
        DS3231(machine.I2C(BUS))


def test_fresh_chip_reports_its_time_invalid():
    model, i2c = board(None)  # first power, no valid time: OSF set (datasheet)
    rtc = DS3231(i2c)
    assert rtc.lost()
    assert rtc.datetime() is None


def test_set_writes_bcd_registers_and_clears_osf():
    model, i2c = board(None)
    rtc = DS3231(i2c)
    rtc.set_datetime(2026, 11, 30, 0, 9, 5, 7)  # Monday 2026-11-30 09:05:07
    # the datasheet's register table: BCD, 24-hour mode, day 1..7 (1 = Monday here)
    assert bytes(model.regs[0:7]) == bytes([0x07, 0x05, 0x09, 0x01, 0x30, 0x11, 0x26])
    assert not rtc.lost() and not model.lost()
    assert rtc.datetime() == (2026, 11, 30, 0, 9, 5, 7)


def test_registers_written_by_another_tool_are_read_back():
    model, i2c = board()
    rtc = DS3231(i2c)
    i2c.writeto(ADDR, bytes([0x00, 0x45, 0x59, 0x23, 0x04, 0x31, 0x12, 0x26]))  # Thu 2026-12-31 23:59:45
    assert rtc.datetime() == (2026, 12, 31, 3, 23, 59, 45)
    world.advance_to(world.now_ms + 20000)  # over midnight into the new year
    assert rtc.datetime() == (2027, 1, 1, 4, 0, 0, 5)


def test_twelve_hour_mode_is_read_as_24_hour():
    model, i2c = board()
    rtc = DS3231(i2c)
    i2c.writeto(ADDR, bytes([0x02, 0x40 | 0x20 | 0x11]))  # 12-hour mode, PM, 11 o'clock
    assert rtc.datetime()[4] == 23
    i2c.writeto(ADDR, bytes([0x02, 0x40 | 0x12]))  # 12 AM is midnight
    assert rtc.datetime()[4] == 0


def test_counts_across_a_leap_day():
    model, i2c = board()
    rtc = DS3231(i2c)
    rtc.set_datetime(2028, 2, 28, 0, 23, 59, 30)
    world.advance_to(world.now_ms + 40000)
    assert rtc.datetime() == (2028, 2, 29, 1, 0, 0, 10)


def test_oscillator_kept_running_on_battery():
    model, i2c = board()
    i2c.writeto(ADDR, bytes([0x0E, 0x9C]))  # /EOSC set: the clock would stop on battery
    DS3231(i2c)
    assert model.regs[0x0E] & 0x80 == 0


def test_osf_is_cleared_only_by_writing_zero():
    model, i2c = board(None)
    i2c.writeto(ADDR, bytes([0x0F, 0xFF]))
    assert model.lost()
    i2c.writeto(ADDR, bytes([0x0F, 0x08]))
    assert not model.lost()


def test_temperature_in_quarter_degrees():
    model, i2c = board()
    model.regs[0x11] = 0xE7  # -25
    model.regs[0x12] = 0x40  # +0.25
    assert DS3231(i2c).temperature_q() == -25 * 4 + 1


def test_mcu_rtc_restarts_at_2000_on_power_up_and_keeps_time_over_a_reset():
    model, i2c = board()
    mcu = McuRtc(world, model, power_on=True)
    assert mcu.seconds() == 0  # 2000-01-01 00:00:00
    mcu.set_seconds(T0)
    world.advance_to(world.now_ms + 5000)
    model.set_seconds(T0 + 3600)  # setting the chip does not move the MCU's own clock
    assert mcu.seconds() == T0 + 5


def test_board_clock_reads_the_chip_and_sets_both():
    import hal

    model, i2c = board()
    clock = hal.RtcClock(DS3231(i2c), machine.RTC())
    assert clock.seconds() == T0
    assert world.mcu_rtc.seconds() == T0  # the MCU's clock follows the chip at boot
    clock.set_seconds(T0 + 100)
    assert model.seconds() == T0 + 100 and world.mcu_rtc.seconds() == T0 + 100
    assert clock.state() == "ok"


def test_board_clock_with_a_stopped_oscillator_has_no_time():
    import hal

    model, i2c = board(None)
    clock = hal.RtcClock(DS3231(i2c), machine.RTC())
    assert clock.seconds() is None and clock.state() == "lost"
    clock.set_seconds(T0)
    assert clock.seconds() == T0 and clock.state() == "ok"


def test_board_clock_without_chip_uses_the_mcu_clock():
    import hal

    model, i2c = board()
    clock = hal.RtcClock(None, machine.RTC())
    assert clock.seconds() is None  # the MCU's clock restarted at 2000-01-01: not a date
    clock.set_seconds(T0)
    assert clock.seconds() == T0 and clock.state() == "missing"

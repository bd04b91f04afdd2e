"""HD44780/PCF8574 LCD driver against the simulated LCD model, through the `machine` shim."""
from _sim import machine, reset, world  # noqa: F401  (boards/sim first: the shim `machine`)

from models.hd44780 import LCDModel  # noqa: E402

from drivers.hd44780 import HD44780_PCF8574, RUPEE, RELAY_CLOSED, RELAY_OPEN, SIGNAL, BELL, GLYPHS  # noqa: E402
from _check import raises  # noqa: E402
from _clock import WorldClock  # noqa: E402

BUS = 0
ADDR = 0x27


class NoSleepClock(WorldClock):
    def sleep_ms(self, ms):
        pass

    def sleep_us(self, us):
        pass


class ShortClock(WorldClock):
    """Every millisecond sleep one ms short (a driver that trims its waits too far)."""

    def sleep_ms(self, ms):
        WorldClock.sleep_ms(self, ms - 1)


def pad(s):
    return s + " " * (16 - len(s))


def bench(clock=None, **kw):
    reset()  # a fresh world for every test
    model = LCDModel(world, BUS, ADDR)
    lcd = HD44780_PCF8574(machine.I2C(BUS), ADDR, clock or WorldClock(world), **kw)
    return model, lcd


def test_init_leaves_blank_display_on():
    model, lcd = bench()
    assert lcd.ok
    assert model.display_on and model.two_lines and not model.eight_bit
    assert not model.cursor_on and not model.blink_on
    assert model.increment and not model.entry_shift
    assert model.text() == [" " * 16, " " * 16]
    assert model.ignored == 0
    assert model.setup_violations == 0
    assert world.now_ms >= 50 + 5  # power-on and 4.1 ms waits were kept


def test_show_two_lines():
    model, lcd = bench()
    lcd.show("Balance", "Rs 1234.56")
    assert model.text() == [pad("Balance"), pad("Rs 1234.56")]
    assert lcd.text() == model.text()
    lcd.show("A long line that is cut", "")
    assert model.text() == ["A long line that", " " * 16]
    assert model.setup_violations == 0 and model.ignored == 0


def test_show_sends_only_changes():
    model, lcd = bench()
    lcd.show("Bal 100.00", "Units 12")
    w, b = model.i2c_writes, model.i2c_bytes
    lcd.show("Bal 100.00", "Units 12")  # unchanged: no traffic at all
    assert (model.i2c_writes, model.i2c_bytes) == (w, b)
    lcd.show("Bal 100.01", "Units 12")  # one character: address + data in one write
    assert model.i2c_writes == w + 1
    assert model.i2c_bytes - b <= 10
    assert model.text()[0] == pad("Bal 100.01")
    w, b = model.i2c_writes, model.i2c_bytes
    lcd.show("Bal 199.91", "Units 12")  # two changes one apart: the gap is rewritten
    assert model.i2c_bytes - b == (1 + 4) + 1 + 4 * 4  # address, RS set-up, 5 6 7(gap) 8
    assert model.text()[0] == pad("Bal 199.91")
    model2, lcd2 = bench()
    b = model2.i2c_bytes
    lcd2.show("0123456789abcdef", "ghijklmnopqrstuv")
    full = model2.i2c_bytes - b
    assert model2.text() == ["0123456789abcdef", "ghijklmnopqrstuv"]
    assert full <= 2 * (4 + 2) + 32 * 4 + 2


def test_second_line_addressing_and_move_to():
    model, lcd = bench()
    lcd.move_to(3, 1)
    lcd.write("xyz")
    lcd.write("!")
    assert model.text() == [" " * 16, pad("   xyz!")]
    assert model.ddram[0x43:0x47] == bytearray(b"xyz!")
    lcd.move_to(14, 0)
    lcd.write("abcdef")  # cut at the end of the row
    assert model.text() == ["              ab", pad("   xyz!")]
    lcd.show("", "")
    assert model.text() == [" " * 16, " " * 16]


def test_clear_and_home():
    model, lcd = bench()
    lcd.show("hello", "world")
    t = world.now_ms
    lcd.clear()
    assert world.now_ms - t >= 2
    assert model.text() == [" " * 16, " " * 16]
    lcd.write("again")
    assert model.text()[0] == pad("again")
    assert model.ignored == 0


def test_custom_glyphs():
    model, lcd = bench()
    assert model.glyph(0) == GLYPHS[0]
    assert model.glyph(ord(RELAY_CLOSED)) == GLYPHS[1]
    assert model.glyph(ord(RELAY_OPEN)) == GLYPHS[2]
    for code in range(len(GLYPHS)):
        assert model.glyph(code) == GLYPHS[code]
    assert (ord(SIGNAL), ord(BELL)) == (3, 4)
    lcd.show(RUPEE + "12.50 " + RELAY_CLOSED, "\u20b9" + "3 " + RELAY_OPEN)
    assert model.text()[0] == pad("\x0012.50 \x01")
    assert model.text()[1] == pad("\x003 \x02")
    names = {GLYPHS[0]: "\u20b9"}
    assert model.text(names)[0].startswith("\u20b912.50")
    bolt = (0x02, 0x04, 0x08, 0x1F, 0x02, 0x04, 0x08, 0x00)
    lcd.define_glyph(5, bolt)
    assert model.glyph(5) == bolt
    lcd.write("\x05")
    assert model.text()[0][0] == "\x05"  # write() went to the cursor (0,0) after define_glyph
    with raises(ValueError):
        lcd.define_glyph(8, bolt)


def test_glyphs_survive_reinit():
    model, lcd = bench()
    bolt = (1, 2, 3, 4, 5, 6, 7, 8)
    lcd.define_glyph(6, bolt)
    lcd.show("keep me", "\x06")
    model.power_on()  # the LCD browned out; the MCU did not
    assert model.text() == [" " * 16, " " * 16]
    assert lcd.reinit()
    assert model.text() == [pad("keep me"), "\x06" + " " * 15]
    assert model.glyph(6) == bolt and model.glyph(0) == GLYPHS[0]


def test_backlight():
    model, lcd = bench()
    assert model.backlight() and lcd.backlight()
    lcd.show("lit", "")
    lcd.backlight(False)
    assert not model.backlight() and not lcd.backlight()
    lcd.show("dark", "")
    assert not model.backlight()
    assert model.text()[0] == pad("dark")
    lcd.backlight(True)
    assert model.backlight()
    model2, lcd2 = bench(backlight=False)
    assert not model2.backlight()


def test_display_off_and_cursor():
    model, lcd = bench()
    lcd.show("abc", "")
    lcd.display(False)
    assert model.text() == [" " * 16, " " * 16]
    lcd.display(True)
    assert model.text()[0] == pad("abc")
    lcd.move_to(2, 1)
    lcd.cursor(show=True, blink=True)
    assert model.cursor() == (2, 1)
    lcd.write("Z")
    assert model.cursor() == (3, 1)
    lcd.define_glyph(7, (0x1F,) * 8)  # the address counter visits CGRAM and comes back
    assert model.cursor() == (3, 1)
    lcd.show("abc", "xy")  # after the diff, the cursor goes back where the UI put it
    assert model.cursor() == (3, 1)
    lcd.cursor()
    assert model.cursor() is None


def test_text_mapping_never_raises():
    model, lcd = bench()
    lcd.show("caf\u00e9 \\~", "25\u00b0 \u2192ok\u2190")
    assert model.text()[0] == pad("caf? ??")
    assert model.text()[1] == pad("25\u00b0 \u2192ok\u2190")
    lcd.show(b"bytes\xff", 12345)
    assert model.text() == [pad("bytes?"), pad("12345")]
    lcd.show(None, "\x07\x08\x1f\x7f")
    assert model.text() == [" " * 16, pad("\x07???")]
    lcd.write("\ud7ff\u4e2d")
    assert model.setup_violations == 0


def test_pin_mapping_argument():
    pins = (4, 5, 6, 7, 0, 1, 2, 3)  # RS, RW, E, BL on the high half; data on the low half
    reset()
    model = LCDModel(world, BUS, 0x3F, pins=pins)
    lcd = HD44780_PCF8574(machine.I2C(BUS), 0x3F, WorldClock(world), pins=pins)
    lcd.show("mapped", "pins")
    assert model.text() == [pad("mapped"), pad("pins")]
    assert model.backlight()


def test_init_resyncs_a_chip_left_in_4bit_mode_mid_byte():
    model, lcd = bench()
    lcd.show("before", "")
    i2c = machine.I2C(BUS)
    i2c.writeto(ADDR, bytes([0x58 | 0x04, 0x58]))  # half a byte: the MCU reset mid-transfer
    assert model._phase == 1
    world.advance_to(world.now_ms + 100)
    lcd2 = HD44780_PCF8574(i2c, ADDR, WorldClock(world))
    lcd2.show("after", "reset")
    assert model.text() == [pad("after"), pad("reset")]


def test_wrong_timings_show_garbage():
    model, lcd = bench(clock=NoSleepClock(world))
    lcd.show("Balance", "Rs 12")
    assert model.text() != [pad("Balance"), pad("Rs 12")]
    assert model.ignored > 0
    # powered long before: only the 4.1 ms wait is skipped
    reset()
    model = LCDModel(world, BUS, ADDR)
    world.advance_to(1000)
    lcd = HD44780_PCF8574(machine.I2C(BUS), ADDR, NoSleepClock(world))
    world.advance_to(2000)
    lcd.show("Balance", "Rs 12")
    assert model.text() != [pad("Balance"), pad("Rs 12")]
    # every wait a millisecond short: the 4.1 ms and clear waits are too short
    model, lcd = bench(clock=ShortClock(world))
    lcd.show("Balance", "Rs 12")
    assert model.text() != [pad("Balance"), pad("Rs 12")]
    assert model.ignored > 0


def test_missing_lcd_does_not_raise():
    reset()
    lcd = HD44780_PCF8574(machine.I2C(BUS), ADDR, WorldClock(world))
    assert not lcd.ok and lcd.errors == 1
    for _ in range(100):
        lcd.show("nobody", "home")
    assert lcd.text()[0] == pad("nobody")
    assert 1 < lcd.errors < 10  # retried now and then, not on every call
    model = LCDModel(world, BUS, ADDR)  # plugged in (powered) later
    world.advance_to(world.now_ms + 100)
    for _ in range(40):
        lcd.show("nobody", "home")
    assert lcd.ok
    assert model.text() == [pad("nobody"), pad("home")]


def test_clock_is_required():
    reset()
    LCDModel(world, BUS, ADDR)
    with raises(TypeError):
        HD44780_PCF8574(machine.I2C(BUS), ADDR)


def test_model_entry_shift_and_reads():
    """The model's own instruction set, driven byte by byte through the expander."""
    model, lcd = bench()
    i2c = machine.I2C(BUS)

    def send(v, rs):
        out = []
        for nib in (v >> 4, v & 0xF):
            x = (nib << 4) | 0x08 | (1 if rs else 0)
            out += [x, x | 0x04, x]
        i2c.writeto(ADDR, bytes(out))

    send(0x01, 0)
    world.advance_to(world.now_ms + 2)
    send(0x80 | 0x0F, 0)  # DDRAM 0x0F
    send(0x07, 0)  # entry: increment and shift the display
    for ch in b"AB":
        send(ch, 1)
    assert model.shift == 2
    assert model.text()[0][13:] == "AB "
    send(0x18, 0)  # display shift left
    assert model.shift == 3
    send(0x02, 0)  # home
    world.advance_to(world.now_ms + 2)
    assert model.shift == 0 and model.ac == 0
    send(0x06, 0)
    # read the address counter: R/W high, data pins released (written 1)
    send(0x80 | 0x45, 0)
    vals = []
    for _ in range(2):
        i2c.writeto(ADDR, bytes([0xF8 | 0x02, 0xF8 | 0x02 | 0x04]))
        vals.append(i2c.readfrom(ADDR, 1)[0] >> 4)
        i2c.writeto(ADDR, bytes([0xF8 | 0x02]))
    assert (vals[0] << 4) | vals[1] == 0x45  # busy flag clear, AC 0x45


def test_random_screens_match_the_model():
    model, lcd = bench()
    x = [7]

    def rnd(n):
        x[0] = (x[0] * 1103515245 + 12345) & 0x7FFFFFFF
        return (x[0] >> 8) % n

    alphabet = "0123456789 .:-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + RUPEE + RELAY_OPEN
    lines = ["", ""]
    for _ in range(300):
        for r in range(2):
            if rnd(3) == 0:
                continue
            line = list(lines[r]) + [" "] * (16 - len(lines[r]))
            for _ in range(rnd(5)):  # a few characters change, as a live reading does
                line[rnd(16)] = alphabet[rnd(len(alphabet))]
            lines[r] = "".join(line)
        lcd.show(lines[0], lines[1])
        assert model.text() == [pad(lines[0]), pad(lines[1])]
    assert model.ignored == 0 and model.setup_violations == 0
    assert lcd.text() == model.text()

"""The simulated meter PCB: which device model sits on which bus and pin.

Reads like the schematic: the metering IC on SPI (ATM90E26, or BL0942 with SEL high), the LCD
backpack on I2C, keypad matrix, latching relay coils and contact sense, mains sense, buzzer,
battery-backed RTC and the SPI NOR flash. `bench_op` is the lab equipment: mains, load, clock,
keys, power cuts, and reading the LCD and the relay contacts.
"""
import pins
from models.buzzer import BuzzerModel
import json

from models.flash import PROFILES, FlashChip
from models.hd44780 import LCDModel
from models.keypad import KeypadModel
from models.line import Line
from models.pcf8574 import PCF8574Model
from models.relay import RelayModel
from models.ds3231 import DS3231Model
from models.rtc import McuRtc
from models.supply import Supply, Watchdog


PFAIL_SECTORS = 16  # 64 KiB: the "pfail" data partition of the ESP32 image
DEFAULT_TIMING = "typical"


class Hardware:
    def __init__(self, world, variant, flash_path, rtc_seconds, rtc_memory, reset_cause="power_on"):
        self.world = world
        self.variant = variant
        state = flash_path.rsplit("/", 1)[0] if flash_path and "/" in flash_path else None
        # the battery-backed DS3231 on the I2C bus (the bench reads its count as "rtc"), and the
        # ESP32's own RTC: its clock restarts at 2000-01-01 at every power-up, its RAM is kept
        # across resets
        world.rtc = self.rtc_chip = DS3231Model(world, pins.I2C_ID, pins.RTC_ADDR, rtc_seconds,
                                                state and state + "/ds3231.bin")
        world.mcu_rtc = self.rtc = McuRtc(world, self.rtc_chip, reset_cause == "power_on", rtc_memory,
                                          state and state + "/mcu_rtc.txt")
        world.watchdog = self.watchdog = Watchdog(world)
        self.line = Line(world)
        self.supply = Supply(world, pins.MAINS_SENSE)
        self.relay = RelayModel(world, self.line, pins.RELAY_SET, pins.RELAY_RESET, pins.RELAY_SENSE)
        self.lcd = LCDModel(world, pins.I2C_ID, pins.LCD_ADDR)
        self.expander = PCF8574Model(world, pins.I2C_ID, pins.KEYPAD_ADDR, pins.KEY_INT)
        x = self.expander.names
        self.keypad = KeypadModel(world, [x[n] for n in pins.KEY_ROWS], [x[n] for n in pins.KEY_COLS])
        self.buzzer = BuzzerModel(world, pins.BUZZER)
        # the module's SPI NOR: littlefs on the first 2 MiB, the power-fail journal's partition in
        # PFAIL_SECTORS more (its own file); datasheet timing from the boot ROM's hand-over on
        world.flash = self.flash = FlashChip(flash_path, spare_path=state and state + "/pfail.bin",
                                             spare_blocks=PFAIL_SECTORS, wait_ms=world.busy)
        self._state = state
        if variant == "sim_bl0942":
            from models.bl0942 import BL0942Model

            self.meter_ic = BL0942Model(world, self.line)  # SEL high: on SPI, like the ATM90E26
            world.attach_spi(pins.SPI_ID, pins.METER_CS, self.meter_ic)
            self.meter_ic.attach_cf(pins.METER_CF)
        else:
            from models.atm90e26 import ATM90E26Model

            self.meter_ic = ATM90E26Model(world, self.line)
            world.attach_spi(pins.SPI_ID, pins.METER_CS, self.meter_ic)
            self.meter_ic.attach_cf(pins.METER_CF)

    def state_moved(self, state_dir):
        """The host's state folder is now reachable as `state_dir` (the flash became "/"); the
        boot ROM is done with the flash, so from here on its operations take their time."""
        self.rtc.memory_path = state_dir + "/rtc_memory.bin"
        self.rtc.offset_path = state_dir + "/mcu_rtc.txt"
        self.rtc_chip.state_path = state_dir + "/ds3231.bin"
        self.relay.load_position(state_dir + "/relay_position")  # a latching relay stays put
        self._state = state_dir
        self.flash.set_timing(self._load_timing())

    def _timing_path(self):
        return self._state + "/flash_timing.json" if self._state else None

    def _load_timing(self):
        name = DEFAULT_TIMING
        path = self._timing_path()
        if path:
            try:
                with open(path) as f:
                    t = json.loads(f.read())
                return PROFILES[t] if isinstance(t, str) else t
            except (OSError, ValueError, KeyError):
                pass
        return PROFILES[name]

    def _set_timing(self, req):
        if "profile" in req:
            t = req["profile"]
            if t not in PROFILES:
                raise ValueError("profile is one of %s" % ", ".join(sorted(PROFILES)))
            timing = PROFILES[t]
        else:
            t = timing = {"page_program_us": int(req["page_program_us"]),
                          "sector_erase_us": int(req["sector_erase_us"])}
        self.flash.set_timing(timing)
        path = self._timing_path()
        if path:
            with open(path, "w") as f:
                f.write(json.dumps(t))
        return {"timing": timing}

    # -- the bench's instruments -----------------------------------------------------------
    def bench_op(self, op, req):
        w = self.world
        if op == "set_mains":
            self.line.set_mains(int(round(req["volts"] * 100)), int(round(req.get("hz", 50.0) * 100)))
            return None
        if op == "set_load":
            self.line.set_load(int(round(req["watts"] * 1000)), int(round(req.get("pf", 1.0) * 1000)))
            return None
        if op == "set_neutral":
            self.line.set_neutral_percent(int(req["percent"]))
            return None
        if op == "key":
            if req["down"]:
                self.keypad.press(req["key"])
            else:
                self.keypad.release(req["key"])
            return None
        if op == "lcd":
            return {"lines": self.lcd.text(), "backlight": self.lcd.backlight()}
        if op == "relay":
            return {"closed": self.relay.closed()}
        if op == "now":
            return {"now_ms": w.now_ms, "rtc": self.rtc_chip.seconds(), "rtc_lost": self.rtc_chip.lost(),
                    "mcu_rtc": self.rtc.seconds(), "mcu_rtc_at_boot": self.rtc.at_boot}
        if op == "set_clock":
            self.rtc_chip.set_seconds(int(req["seconds"]))
            return None
        if op == "arm_flash":
            self.flash.arm(int(req["after_ops"]), bool(req.get("tear", False)), int(req.get("seed", 0)))
            return None
        if op == "disarm_flash":
            self.flash.disarm()
            return None
        if op == "inject":
            target = {"meter_ic": self.meter_ic, "relay": self.relay}[req["device"]]
            name = req["fault"]
            if not name.startswith(("inject_", "weld", "fail_open", "repair")):
                raise ValueError("no such fault")
            getattr(target, name)()
            return None
        if op == "set_tolerance":  # the front end's hardware error: an uncalibrated board reads off
            ic = self.meter_ic
            ic.sync()  # what was counted so far was counted with the old error
            ic.v_error_ppm = int(req.get("v_ppm", 0))
            ic.i_error_ppm = int(req.get("i_ppm", 0))
            return None
        if op == "truth":
            ic = self.meter_ic
            ic.sync()
            return {"import_mw_ms": ic.true_import_mw_ms, "export_mw_ms": ic.true_export_mw_ms}
        if op == "buzzer":
            return {"beeps": self.buzzer.beeps()}
        if op == "flash_timing":
            return self._set_timing(req)
        if op == "stats":
            c = self.flash.counts()
            c["busy_ms"] = self.flash.busy_ms
            return {"flash": c, "now_ms": w.now_ms, "flash_timing": self.flash.timing}
        raise ValueError("unknown op")

"""Bench abstraction: what a test can do to a meter besides talking on its serial link.

`SimBench` drives the simulated board's control channel (virtual time, mains, load, keys, power
cuts, LCD and relay read-back). A real board gets lab equipment in place of this; until a lab
bench driver exists, `SerialBench` says which actions it cannot do, so tests skip with a reason.
"""
import datetime
import json
import os
import select

EPOCH_2000 = datetime.datetime(2000, 1, 1)

KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "ENTER", "BACK", "MENU", "UP", "DOWN", "FN")


class BenchUnsupported(Exception):
    """This bench cannot do that (e.g. virtual time on a real board)."""


class BenchError(Exception):
    pass


class _Restarted(Exception):
    """The meter reset (watchdog, reset command) during a bench request and has booted again."""


def to_seconds(dt):
    return int((dt - EPOCH_2000).total_seconds())


def from_seconds(s):
    return EPOCH_2000 + datetime.timedelta(seconds=s)


class SimBench:
    """The simulated board's lab bench. Owned by a SimulatedMeter, which restarts the process."""

    KEY_HOLD_S = 0.12
    KEY_GAP_S = 0.08

    def __init__(self, meter):
        self._meter = meter
        self.rtc_seconds = None  # the battery-backed clock's reading, kept while powered off
        self.rtc_battery_in = True  # the RTC's coin cell; out during a power cut, the time is lost
        self._load = (0.0, 1.0)
        self._mains = (230.0, 50.0)

    # -- channel ------------------------------------------------------------------------------
    def _request(self, op, **kw):
        m = self._meter
        m.take_control()  # the bench drives: lockstep again if the meter was running free
        if not m.powered:
            raise BenchError("the meter is powered off: %s needs power" % op)
        msg = dict(kw, op=op)
        try:
            os.write(m._ctl_w, (json.dumps(msg) + "\n").encode())
        except BrokenPipeError:  # the meter stopped since the last request (e.g. an armed flash cut)
            code = m._proc.wait()
            m._exited(code)  # PowerLost for a power cut; a reset restarts the meter
            return self._request(op, **kw)  # the meter rebooted: the bench carries on with it
        try:
            return self._reply(op)
        except _Restarted:
            return self._request(op, **kw)

    def _reply(self, op, timeout=120.0):
        m = self._meter
        buf = m._ctl_buf
        while b"\n" not in buf:
            r, _, _ = select.select([m._ctl_r], [], [], timeout)
            if not r:
                raise BenchError("the simulator did not answer %s within %.0f s" % (op, timeout))
            chunk = os.read(m._ctl_r, 65536)
            if not chunk:
                code = m._proc.wait()
                m._exited(code)  # raises unless the meter was reset and has booted again
                raise _Restarted()
            buf.extend(chunk)
        line, _, rest = bytes(buf).partition(b"\n")
        buf[:] = rest
        reply = json.loads(line)
        if not reply.get("ok"):
            raise BenchError("%s: %s" % (op, reply.get("error")))
        if "rtc" in reply:
            self.rtc_seconds = reply["rtc"]
            m._rtc_stale = False
        return reply

    def replay_line(self):
        """After the meter restarts (power restored, a reset), the household's appliances and the
        mains are as they were: apply the last load and mains the bench set to the new process."""
        if self._mains != (230.0, 50.0):
            self._request("set_mains", volts=self._mains[0], hz=self._mains[1])
        if self._load != (0.0, 1.0):
            self._request("set_load", watts=self._load[0], pf=self._load[1])

    # -- the API tests use --------------------------------------------------------------------
    def set_mains(self, volts=230.0, hz=50.0):
        """The supply's voltage; with the meter off, what the mains will be when it returns."""
        self._mains = (volts, hz)
        if self._meter.powered:
            self._request("set_mains", volts=volts, hz=hz)

    def set_load(self, watts, pf=1.0):
        """The household's load; switched with the meter off, it draws once mains returns."""
        self._load = (watts, pf)
        if self._meter.powered:
            self._request("set_load", watts=watts, pf=pf)

    def advance(self, seconds):
        """Let `seconds` of virtual time pass (powered: the meter runs; off: only the RTC)."""
        ms = int(round(seconds * 1000))
        if ms < 0:
            raise ValueError("time only moves forward")
        m = self._meter
        if not m.powered:
            if self.rtc_seconds is not None:
                self.rtc_seconds += ms // 1000
            m._off_ms += ms
            return
        # long spans go in day-sized steps so a crash shows up near where it happened
        while ms > 0:
            step = min(ms, 86_400_000)
            self._request("advance", ms=step)
            ms -= step

    def set_clock(self, dt):
        """Set the meter's clock. A technician does it with the authenticated `setclock`; a meter
        without a link key yet gets its RTC set directly, as at the factory."""
        secs = to_seconds(dt)
        m = self._meter
        if m.key is not None and m.powered:
            m.link.call("setclock %s force" % dt.strftime("%Y-%m-%dT%H:%M:%S"), key=m.key)
            self.rtc_seconds = secs
            return
        if m.powered:
            self._request("set_clock", seconds=secs)
        self.rtc_seconds = secs

    def now(self):
        if self._meter.powered:
            r = self._request("now")
            return from_seconds(r["rtc"])
        return from_seconds(self.rtc_seconds or 0)

    def clocks(self):
        """Both clocks on the board: `rtc` the battery-backed DS3231 (datetime), `rtc_lost` its
        oscillator-stop flag, `mcu_rtc` the ESP32's own RTC (datetime) and `mcu_rtc_at_boot` what it
        read when the MCU last started (2000-01-01 after a power cut, before the firmware set it)."""
        r = self._request("now")
        return {"rtc": from_seconds(r["rtc"]), "rtc_lost": r["rtc_lost"], "mcu_rtc": from_seconds(r["mcu_rtc"]),
                "mcu_rtc_at_boot": from_seconds(r["mcu_rtc_at_boot"])}

    def rtc_battery(self, present):
        """Take the RTC's coin cell out (False) or put it back: while the board has no power and
        no cell the DS3231 stops; at the next power-up it reads 2000-01-01 with its OSF flag set."""
        self.rtc_battery_in = bool(present)
        if not present and not self._meter.powered:
            self.rtc_seconds = None

    def key_down(self, key):
        self._request("key", key=key, down=True)

    def key_up(self, key):
        self._request("key", key=key, down=False)

    def press(self, key):
        if key not in KEYS:
            raise ValueError("no key %r on the keypad (keys: %s)" % (key, " ".join(KEYS)))
        self.key_down(key)
        self.advance(self.KEY_HOLD_S)
        self.key_up(key)
        self.advance(self.KEY_GAP_S)

    def type_keys(self, text):
        for ch in text:
            if ch in " -":
                continue
            self.press(ch)

    def lcd(self):
        return self._request("lcd")["lines"]

    def backlight(self):
        return self._request("lcd")["backlight"]

    def relay_closed(self):
        return self._request("relay")["closed"]

    def power_cut(self, warning=True, after_flash_ops=None, tear=False, seed=0):
        """Cut the mains. With warning the meter's mains-sense gives it the hold-up time to save;
        without, the supply dies at once. after_flash_ops=N cuts during the Nth flash write."""
        self._meter._power_cut(warning, after_flash_ops, tear, seed)

    def power_restore(self):
        self._meter._power_restore()

    def inject(self, device, fault):
        self._request("inject", device=device, fault=fault)

    def flash_timing(self, profile=None, page_program_us=None, sector_erase_us=None):
        """How long the flash chip's operations take (kept for this meter across restarts):
        profile "typical" (the default: W25Q32FV page program 0.7 ms, 4 KB sector erase 45 ms),
        "worst" (3 ms, 400 ms), "none" (instant), or explicit times in microseconds."""
        if profile is not None:
            return self._request("flash_timing", profile=profile)["timing"]
        return self._request("flash_timing", page_program_us=int(page_program_us),
                             sector_erase_us=int(sector_erase_us))["timing"]

    def set_meter_error(self, v_ppm=0, i_ppm=0):
        """Tolerance of the metering front end (divider, shunt) in ppm: the board reads voltage
        and current this much high (negative: low) until it is calibrated. Lost at power off."""
        self._request("set_tolerance", v_ppm=v_ppm, i_ppm=i_ppm)

    def truth(self):
        """What the metering IC model really saw: exact import/export integrals in mWh (float)."""
        r = self._request("truth")
        return r["import_mw_ms"] / 3_600_000, r["export_mw_ms"] / 3_600_000

    def beeps(self):
        return self._request("buzzer")["beeps"]

    def stats(self):
        return self._request("stats")


class SerialBench:
    """A real board on a serial port, no lab equipment attached: only what the link can do."""

    def __init__(self, meter):
        self._meter = meter

    def _no(self, what):
        raise BenchUnsupported("%s needs lab equipment (a real board has no simulator bench)" % what)

    def set_mains(self, volts=230.0, hz=50.0):
        self._no("set_mains")

    def set_load(self, watts, pf=1.0):
        self._no("set_load")

    def advance(self, seconds):
        self._no("advance (virtual time)")

    def set_clock(self, dt):
        m = self._meter
        if m.key is None:
            self._no("set_clock without a link key")
        m.link.call("setclock %s force" % dt.strftime("%Y-%m-%dT%H:%M:%S"), key=m.key)

    def now(self):
        from host_tools.link import parse_reply

        s = parse_reply(self._meter.link.command("clock"))["seconds"]
        return from_seconds(s)

    def press(self, key):
        self._no("press")

    def type_keys(self, text):
        self._no("type_keys")

    def lcd(self):
        self._no("lcd")

    def relay_closed(self):
        from host_tools.link import parse_reply

        return parse_reply(self._meter.link.command("relay"))["relay"] == "closed"

    def set_meter_error(self, v_ppm=0, i_ppm=0):
        self._no("set_meter_error")

    def rtc_battery(self, present):
        self._no("rtc_battery")

    def flash_timing(self, profile=None, **kw):
        self._no("flash_timing")

    def power_cut(self, **kw):
        self._no("power_cut")

    def power_restore(self):
        self._no("power_restore")

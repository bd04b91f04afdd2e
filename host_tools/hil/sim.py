"""SimulatedMeter: the compiled firmware on the simulated board, in the real MicroPython unix port.

    with SimulatedMeter(state_dir=None, board="sim", config=None) as m:
        m.link.command("status"); m.bench.advance(3600); m.bench.lcd()

The interpreter: "micropython" (default), the pinned 64-bit unix port running the .mpy build from
the simulated flash; or "mp32", the 32-bit unix port with the firmware and the simulated board
frozen in through the board's manifest.py (build/mp32/<board>/, built on first use), which has an
ESP32's object size and, like the ESP32 image, runs its bytecode from "flash", not the heap.
`heap` is the interpreter's whole heap (-X heapsize); `info` tells the simulated board's share
(heap_sim) from the firmware's. Both default from $HIL_INTERPRETER and $HIL_HEAP.

The meter's service port is a pseudo-terminal (`m.port`): pyserial, meterctl and mpremote open it
exactly as they open /dev/ttyUSB0. The bench's control channel is a separate pair of pipes. The
flash image, RTC RAM and the RTC's time live in `state_dir`, so the same state_dir restarts the
same meter. A watchdog or software reset restarts the process, as the MCU restarts; a power cut
ends it until `power_restore()`.
"""
import contextlib
import datetime
import json
import os
import pathlib
import signal
import subprocess
import tempfile
import time
import tty

from host_tools import toolchain
from host_tools.hil.bench import BenchError, SimBench, to_seconds
from host_tools.hil.link import Link, LinkError, parse_reply

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_CLOCK = datetime.datetime(2026, 11, 30, 9, 0, 0)  # a Monday morning at the factory
EXIT_NAMES = {0: "soft reset", 3: "hard reset", 4: "watchdog reset", 5: "power lost"}
RESTARTS = (0, 3, 4)
RESET_CAUSES = {0: "soft_reset", 3: "hard_reset", 4: "watchdog"}
INTERPRETERS = ("micropython", "mp32")
DEFAULT_HEAP = {"micropython": "512K", "mp32": "96K"}  # mp32: the memory budget's heap


class PowerLost(BenchError):
    """The meter lost power during a bench action (an armed flash cut fired)."""


class SimulatedMeter:
    def __init__(self, state_dir=None, board="sim", config=None, heap=None, clock=DEFAULT_CLOCK,
                 boot_timeout=60.0, interpreter=None):
        self.board = board
        self.interpreter = interpreter or os.environ.get("HIL_INTERPRETER") or "micropython"
        if self.interpreter not in INTERPRETERS:
            raise ValueError("interpreter must be one of %s, not %r" % (INTERPRETERS, self.interpreter))
        heap = heap or os.environ.get("HIL_HEAP") or DEFAULT_HEAP[self.interpreter]
        self._tmp = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="meter-")
            state_dir = self._tmp.name
        self.state_dir = pathlib.Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.heap = heap
        self.boot_timeout = boot_timeout
        self.key = None
        self.bench = SimBench(self)
        self.link = None
        self.port = None
        self.powered = False
        self.exits = []
        self._proc = None
        self._off_ms = 0
        self._ctl_buf = bytearray()
        saved = self._load_rtc()
        self.bench.rtc_seconds = saved if saved is not None else (to_seconds(clock) if clock else None)

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        from host_tools import build

        if self.interpreter == "mp32":
            build.build_mp32(self.board, quiet=True)  # rebuilt only if what it freezes changed
        elif not (ROOT / "build" / self.board / "hw" / "simboot.py").exists():
            build.build(self.board)
        master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        self._master, self._slave = master, slave
        self.port = os.ttyname(slave)
        self._launch()
        self.link = Link(self.port)
        self.wait_boot()
        if self.config:
            from host_tools import provisioning

            cfg = provisioning.load(self.config)
            self.key = cfg.link_key
            # a meter already in service keeps its running account (arrears recovered so far):
            # provisioning it again would reset the arrears to the file's opening figure
            if not parse_reply(self.link.command("info"))["provisioned"]:
                provisioning.provision(self.link, cfg, progress=None)

    def _command(self):
        """The interpreter command line that boots the simulated board, its environment and cwd."""
        if self.interpreter == "mp32":
            from host_tools import build as builder

            build = builder.mp32_dir(self.board)
            env = dict(os.environ, MICROPYPATH=".frozen")  # every module is frozen in, as on an ESP32
            return [str(builder.mp32_binary(self.board)), "-X", "heapsize=" + self.heap, "-m", "simboot"], env, build
        build = ROOT / "build" / self.board
        hw = build / "hw"
        env = dict(os.environ, MICROPYPATH=str(hw))
        return [toolchain.micropython(), "-X", "heapsize=" + self.heap, str(hw / "simboot.py")], env, build

    def _launch(self, cause="power_on"):
        cmd, env, build = self._command()
        rtc = "unset" if self.bench.rtc_seconds is None else str(self.bench.rtc_seconds)
        c2s_r, c2s_w = os.pipe()
        s2c_r, s2c_w = os.pipe()

        log = open(self.state_dir / "meter.log", "ab")
        self._proc = subprocess.Popen(
            cmd + [str(self.state_dir.resolve()), self.board, rtc, str(c2s_r), str(s2c_w), cause],
            stdin=self._master, stdout=self._master, stderr=log, env=env,
            start_new_session=True, pass_fds=(c2s_r, s2c_w), cwd=str(build),
        )
        log.close()
        os.close(c2s_r)
        os.close(s2c_w)
        self._ctl_w, self._ctl_r = c2s_w, s2c_r
        self._ctl_buf = bytearray()
        self.powered = True

    def wait_boot(self):
        """Wait for the boot banner on the service port."""
        deadline = time.monotonic() + self.boot_timeout
        start = len(self.link.notices)
        while time.monotonic() < deadline:
            try:
                self.link.read_line(timeout=min(1.0, max(0.1, deadline - time.monotonic())), notices=True)
            except LinkError:
                pass
            for n in self.link.notices[start:]:
                if n.startswith("# meter firmware"):
                    self.banner = n
                    return n
            if self._proc.poll() is not None:
                raise BenchError("the meter did not boot (exit %s)%s" % (self._proc.returncode, self.crash_text()))
        raise BenchError("no boot banner within %.0f s%s" % (self.boot_timeout, self.crash_text()))

    def crash_text(self):
        try:
            tail = (self.state_dir / "meter.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""
        return ("\n--- meter.log ---\n" + tail) if tail.strip() else ""

    def stop(self):
        if self.powered and self._proc and self._proc.poll() is None:
            try:
                self._power_cut(True, None, False, 0)  # a clean power-down: the meter saves
            except (BenchError, OSError):
                self._kill()
        self._kill()
        self._save_rtc()
        if self.link:
            self.link.close()
            self.link = None
        for fd in (getattr(self, "_master", None), getattr(self, "_slave", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None
        if self._tmp:
            self._tmp.cleanup()

    def _kill(self):
        p = self._proc
        if p and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
        for fd in ("_ctl_w", "_ctl_r"):
            v = getattr(self, fd, None)
            if v is not None:
                try:
                    os.close(v)
                except OSError:
                    pass
                setattr(self, fd, None)
        self.powered = False

    # -- resets and power ---------------------------------------------------------------------
    def _exited(self, code):
        """The MicroPython process ended by itself: a reset restarts it, power loss leaves it off."""
        self.exits.append(code)
        self._kill()
        if code == 5:
            self._power_gone()
            raise PowerLost("power lost (flash cut fired)")
        if code in RESTARTS:
            self._launch(RESET_CAUSES[code])
            self.wait_boot()
            return
        raise BenchError("the meter crashed (exit %s)%s" % (code, self.crash_text()))

    def _power_cut(self, warning, after_flash_ops, tear, seed):
        if not self.powered:
            return
        self.bench._request("now")  # the RTC keeps counting on its battery from here
        if after_flash_ops is not None:
            self.bench._request("arm_flash", after_ops=after_flash_ops, tear=tear, seed=seed)
            return  # it fires during the meter's Nth flash operation from now
        if warning:
            os.write(self._ctl_w, b'{"op": "power_cut"}\n')
            try:
                code = self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                code = None
        else:
            code = None
        self._kill()
        self.exits.append(code if code is not None else -9)
        self._power_gone()

    def _power_restore(self):
        if self.powered:
            return
        self._launch()
        self.wait_boot()

    def wait_reboot(self, timeout=60.0):
        """Wait for the meter to restart by itself (a soft reset from the REPL after a deploy),
        restart the process as the MCU restarts, and wait until the firmware runs again: for the
        boot banner when the bench holds the link, else (another program has the port, see
        `port_released`) for the firmware to serve the bench. Returns the exit code."""
        try:
            code = self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError("the meter did not restart within %.0f s%s" % (timeout, self.crash_text())) from None
        self.exits.append(code)
        self._kill()
        if code not in RESTARTS:
            raise BenchError("the meter crashed (exit %s)%s" % (code, self.crash_text()))
        self._launch(RESET_CAUSES[code])
        if self.link is not None:
            self.wait_boot()
        else:
            self.bench._request("now")  # answered from the firmware's main loop, after boot
        return code

    @contextlib.contextmanager
    def port_released(self):
        """Close the bench's link so another program (meterctl, mpremote) can open `self.port`,
        as a technician's tool opens /dev/ttyUSB0; the link is reopened afterwards."""
        if self.link is not None:
            self.link.close()
            self.link = None
        try:
            yield self.port
        finally:
            if self.link is None and self._master is not None:
                self.link = Link(self.port)

    def reset(self):
        """Press the reset button (RTC RAM kept, as on a warm reset)."""
        self._kill()
        self._launch("reset_button")
        self.wait_boot()

    def _power_gone(self):
        """The board lost power: RTC RAM is gone; so is the RTC's time if its cell is out."""
        self._drop_rtc_ram()
        if not self.bench.rtc_battery_in:
            self.bench.rtc_seconds = None

    def _drop_rtc_ram(self):
        try:
            (self.state_dir / "rtc_memory.bin").unlink()
        except FileNotFoundError:
            pass

    def _load_rtc(self):
        try:
            return json.loads((self.state_dir / "rtc.json").read_text())["seconds"]
        except (OSError, ValueError, KeyError):
            return None

    def _save_rtc(self):
        (self.state_dir / "rtc.json").write_text(json.dumps({"seconds": self.bench.rtc_seconds}))

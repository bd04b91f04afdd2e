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
exactly as they open /dev/ttyUSB0. The optical port (DLMS/COSEM, 9600 8N1 HDLC) is a second one,
`m.optical_port`, served by the firmware like the service port: a client there gets answers
while the bench does not advance virtual time. The bench's control channel is a separate pair of pipes. The
flash image, RTC RAM and the RTC's time live in `state_dir`, so the same state_dir restarts the
same meter. A watchdog or software reset restarts the process, as the MCU restarts; a power cut
ends it until `power_restore()`.

Lockstep and free-running: while the bench drives it, virtual time moves only when the bench says
(deterministic tests). While another program has the port (`port_released`, or `run_free()`), the
meter runs on its own as a real board does: virtual time follows wall time and a supervisor thread
restarts the process when the meter resets (a `reboot`, the soft reset that ends a deploy). The
next bench request takes lockstep control back.
"""
import datetime
import json
import os
import pathlib
import signal
import subprocess
import tempfile
import threading
import time
import tty

from host_tools import toolchain
from host_tools.hil.bench import BenchError, SimBench, to_seconds
from host_tools.hil.released import ReleasesPort
from host_tools.link import Link, LinkError, parse_reply

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_CLOCK = datetime.datetime(2026, 11, 30, 9, 0, 0)  # a Monday morning at the factory
EXIT_NAMES = {0: "soft reset", 3: "hard reset", 4: "watchdog reset", 5: "power lost"}
RESTARTS = (0, 3, 4)
RESET_CAUSES = {0: "soft_reset", 3: "hard_reset", 4: "watchdog"}
INTERPRETERS = ("micropython", "mp32")
# mp32: the ESP32's heap: 110 KB for the firmware, what a plain ESP32-WROOM-32 leaves it, plus the
# ~26 KB the simulated hardware holds in the same heap (heap_sim; a real board spends none of it).
DEFAULT_HEAP = {"micropython": "1M", "mp32": "136K"}


class PowerLost(BenchError):
    """The meter lost power during a bench action (an armed flash cut fired)."""


class SimulatedMeter(ReleasesPort):
    def __init__(self, state_dir=None, board="sim", config=None, heap=None, clock=DEFAULT_CLOCK,
                 boot_timeout=60.0, interpreter=None, pty=None, hold_port=True, optical_pty=None):
        """pty: a (master, slave) pair to use as the service port, kept open after stop (a rack
        keeps one port per place while meters come and go); hold_port=False: the bench never
        opens the port (another program, e.g. ser2net, has it): it waits for the boot on the
        bench channel instead of the banner, and provisioning is that program's business.
        optical_pty: the same for the optical port."""
        self.board = board
        self._pty = pty
        self._optical_pty = optical_pty
        self._hold_port = hold_port
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
        self.optical_port = None
        self.powered = False
        self.exits = []
        self._proc = None
        self._off_ms = 0
        self._ctl_buf = bytearray()
        self._lock = threading.RLock()  # the process's state: the supervisor vs. the bench
        self._restarted = threading.Condition(self._lock)
        self._supervisor = None
        self._stop_free = threading.Event()
        self._free_error = None  # what happened while running free, told at the next bench request
        self._rtc_stale = False  # the meter ran free since the bench last read its RTC
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
        if self._pty is None:
            master, slave = os.openpty()
            tty.setraw(slave)
            tty.setraw(master)
        else:
            master, slave = self._pty
        self._master, self._slave = master, slave
        self.port = os.ttyname(slave)
        # the optical port; the bench keeps its slave end open, so a client that closes it
        # never leaves the meter polling a hung-up pty
        if self._optical_pty is None:
            omaster, oslave = os.openpty()
            tty.setraw(oslave)
            tty.setraw(omaster)
        else:
            omaster, oslave = self._optical_pty
        self._opt_master, self._opt_slave = omaster, oslave
        self.optical_port = os.ttyname(oslave)
        self._launch()
        if not self._hold_port:
            self.bench._request("now")  # answered from the firmware's main loop, after boot
            return
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

    def _launch(self, cause="power_on", free=False):
        cmd, env, build = self._command()
        env["SIM_OPTICAL_FD"] = str(self._opt_master)  # the optical port's pty, for simboot
        rtc = "unset" if self.bench.rtc_seconds is None else str(self.bench.rtc_seconds)
        c2s_r, c2s_w = os.pipe()
        s2c_r, s2c_w = os.pipe()

        log = open(self.state_dir / "meter.log", "ab")
        self._proc = subprocess.Popen(
            cmd + [str(self.state_dir.resolve()), self.board, rtc, str(c2s_r), str(s2c_w), cause]
            + (["free"] if free else []),
            stdin=self._master, stdout=self._master, stderr=log, env=env,
            start_new_session=True, pass_fds=(c2s_r, s2c_w, self._opt_master), cwd=str(build),
        )
        log.close()
        os.close(c2s_r)
        os.close(s2c_w)
        self._ctl_w, self._ctl_r = c2s_w, s2c_r
        self._ctl_buf = bytearray()
        self.powered = True

    def wait_boot(self):
        """Wait for the boot banner on the service port (without the port, hold_port=False: until
        the firmware's main loop serves the bench)."""
        if self.link is None:
            self.bench._request("now")
            return None
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
                    self.bench.replay_line()  # the appliances stayed switched on
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
        self._halt_supervisor()
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
        own = [] if self._pty is not None else [getattr(self, "_master", None), getattr(self, "_slave", None)]
        if self._optical_pty is None:
            own += [getattr(self, "_opt_master", None), getattr(self, "_opt_slave", None)]
        for fd in own:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None
        self._opt_master = self._opt_slave = None
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
        self._take_rtc_at_exit()

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
            if self.link is not None:
                self.wait_boot()
            return
        raise BenchError("the meter crashed (exit %s)%s" % (code, self.crash_text()))

    # -- free-running -------------------------------------------------------------------------
    def run_free(self):
        """Let the meter run on its own, virtual time following wall time, until the bench acts
        again (any bench request takes lockstep control back). Resets restart it meanwhile."""
        with self._lock:
            if self._supervisor is not None:
                return
            self._rtc_stale = True
            if self.powered:
                try:
                    os.write(self._ctl_w, b'{"op": "run_free"}\n')  # served at the firmware's next wait
                except BrokenPipeError:
                    pass  # it just stopped: the supervisor sees the exit
            self._stop_free.clear()
            self._supervisor = threading.Thread(target=self._supervise, name="sim-free-run", daemon=True)
            self._supervisor.start()

    def take_control(self):
        """Lockstep from here: stop the supervisor; a meter that reset meanwhile is restarted in
        lockstep. Raises what went wrong while the meter ran free (a crash)."""
        if self._supervisor is None:
            return
        self._halt_supervisor()
        with self._lock:
            if self.powered and self._proc.poll() is not None:
                self._after_free_exit(self._proc.returncode, free=False)
                if self.powered and self.link is not None:
                    self.wait_boot()
            elif self.powered:
                try:  # no reply: a meter at the REPL (an unfinished deploy) never reads it
                    os.write(self._ctl_w, b'{"op": "lockstep"}\n')
                except BrokenPipeError:
                    pass
            err, self._free_error = self._free_error, None
        if err is not None:
            raise err

    def _halt_supervisor(self):
        sup = self._supervisor
        if sup is None:
            return
        self._stop_free.set()
        if sup is not threading.current_thread():
            sup.join()
        self._supervisor = None

    def _supervise(self):
        while not self._stop_free.wait(0.05):
            with self._lock:
                p = self._proc
                if self._stop_free.is_set() or not self.powered or p is None or p.poll() is None:
                    continue
                self._after_free_exit(p.returncode, free=True)

    def _after_free_exit(self, code, free):
        """The process ended while nobody drove the bench: restart it as the MCU restarts."""
        self.exits.append(code)
        self._kill()
        if code == 5:
            self._power_gone()
            self._free_error = PowerLost("power lost (flash cut fired) while the meter ran free")
        elif code in RESTARTS:
            self._launch(RESET_CAUSES[code], free=free)
        else:
            self._free_error = BenchError("the meter crashed (exit %s)%s" % (code, self.crash_text()))
        self._restarted.notify_all()

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
        self.take_control()
        if self.powered:
            return
        self._launch()
        self.wait_boot()

    def wait_reboot(self, timeout=60.0):
        """Wait for the meter to restart by itself (a soft reset from the REPL after a deploy) and
        run again. Running free (another program has the port), the supervisor restarts it;
        else this restarts the process and waits for the boot banner when the bench holds the
        link, or for the firmware to serve the bench. Returns the exit code."""
        if self._supervisor is not None:
            with self._lock:
                seen = len(self.exits)
                end = time.monotonic() + timeout
                while len(self.exits) == seen:
                    left = end - time.monotonic()
                    if left <= 0:
                        raise BenchError("the meter did not restart within %.0f s%s" % (timeout, self.crash_text()))
                    self._restarted.wait(left)
                code = self.exits[seen]
            if code not in RESTARTS:
                raise BenchError("the meter stopped (exit %s)%s" % (code, self.crash_text()))
            return code
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
            self.bench.replay_line()
        return code

    # port_released() (released.py): while another program has the port the meter runs free
    # (virtual time follows wall time; a reset restarts it, as a board restarts); afterwards the
    # link is reopened and the bench is back in lockstep control
    def _released(self):
        self.run_free()

    def _retaken(self):
        self.take_control()

    def _reopen(self):
        return Link(self.port) if self._master is not None and self._hold_port else None

    def reset(self):
        """Press the reset button (RTC RAM kept, as on a warm reset)."""
        self.take_control()
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

    def _take_rtc_at_exit(self):
        """After the meter ran free the bench's reading is old: take the clock the simulator
        left when the MCU stopped (boards/sim/simboot.py)."""
        path = self.state_dir / "rtc_at_exit"
        try:
            secs = int(path.read_text())
            path.unlink()
        except (OSError, ValueError):
            return
        if self._rtc_stale:
            self.bench.rtc_seconds = secs

    def _load_rtc(self):
        try:
            return json.loads((self.state_dir / "rtc.json").read_text())["seconds"]
        except (OSError, ValueError, KeyError):
            return None

    def _save_rtc(self):
        (self.state_dir / "rtc.json").write_text(json.dumps({"seconds": self.bench.rtc_seconds}))

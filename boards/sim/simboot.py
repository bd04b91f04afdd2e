"""The simulated board's boot ROM, run by the MicroPython unix port.

    micropython -X heapsize=1M simboot.py STATE_DIR BOARD RTC_SECONDS|unset CTL_IN CTL_OUT CAUSE [free]
    MICROPYPATH=.frozen micropython-mp32 -X heapsize=96K -m simboot STATE_DIR BOARD ...  (frozen)

stdin/stdout are the pty master (the meter's service port); the file descriptors CTL_IN and
CTL_OUT are the bench's control channel. It builds the simulated hardware, mounts the flash as the root filesystem (as the ESP32
port does), programs the factory image onto an empty flash, and runs /main.py from the flash like
the real boot ROM. In a frozen build (mp32: firmware and simulated board frozen into the interpreter,
as the ESP32 image freezes the firmware) there is no factory image: it runs the frozen main.py as
the ESP32 port does, found ahead of a main.py on the flash. How the process ends tells the bench what happened to the meter:
exit 0 soft reset, 1 firmware crash, 3 hard reset, 4 watchdog reset, 5 power lost. The RTC's
reading when the MCU stops is left in STATE_DIR/rtc_at_exit, for the next start. `free` starts it
free-running (virtual time follows wall time until the bench sends a request: simhost.py).
"""
import gc
import sys
import vfs

FROZEN = ".frozen" in sys.path  # started from a frozen build (MICROPYPATH=.frozen)

from world import world  # noqa: E402  (hw modules load from the host build before the remount)
import machine  # noqa: F401  the shim, now cached in sys.modules for board code on the flash
import hardware
import simhost
from models.flash import PowerCut
from models.supply import PowerLoss, WatchdogReset

EXIT_SOFT, EXIT_CRASH, EXIT_HARD, EXIT_WDT, EXIT_POWER = 0, 1, 3, 4, 5


def _copy_tree(src, dst):
    import os

    for name, kind, *_ in os.ilistdir(src):
        s = src + "/" + name
        d = dst + "/" + name
        if kind == 0x4000:
            try:
                os.mkdir(d)
            except OSError:
                pass
            _copy_tree(s, d)
        else:
            with open(s, "rb") as fi, open(d, "wb") as fo:
                while True:
                    chunk = fi.read(512)
                    if not chunk:
                        break
                    fo.write(chunk)


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def mount_flash(flash, hw_dir, image_dir, state_dir):
    try:
        fs = vfs.VfsLfs2(flash)
    except OSError:
        vfs.VfsLfs2.mkfs(flash)  # a blank chip: format it, as MicroPython does on first boot
        fs = vfs.VfsLfs2(flash)
    vfs.umount("/")
    vfs.mount(fs, "/")
    if FROZEN:
        # the ESP32 port's search path, frozen modules found first for main.py (see run_main)
        sys.path[:] = [".frozen", "", "/lib"]
        vfs.mount(vfs.VfsPosix(state_dir), "/sim_state")
        return
    vfs.mount(vfs.VfsPosix(hw_dir), "/hw")
    sys.path[:] = ["", "/lib", "/hw"]
    import os

    vfs.mount(vfs.VfsPosix(image_dir), "/factory")
    vfs.mount(vfs.VfsPosix(state_dir), "/sim_state")
    # Program the factory image onto a blank flash, and again whenever the host build changed
    # since the bench last programmed it -- unless a technician deployed other firmware since.
    build_id = _read("/factory/BUILD_ID")
    on_flash = _read("/BUILD_ID")
    programmed = _read("/sim_state/factory_build")
    if "main.py" not in os.listdir("/") or (on_flash != build_id and on_flash == programmed):
        _copy_tree("/factory", "")
        with open("/sim_state/factory_build", "w") as f:
            f.write(build_id or "")
    vfs.umount("/factory")


def run_main():
    """Run main.py as the boot ROM does: the frozen one if the build has it (the ESP32 port runs a
    frozen main.py in preference to the flash's), else /main.py from the flash."""
    if FROZEN:
        import main  # noqa: F401  sys.path starts with .frozen (mount_flash); main.py reorders it
        return
    with open("/main.py") as f:
        src = f.read()
    exec(src, {"__name__": "__main__"})


def main():
    state_dir, variant, rtc_arg = sys.argv[1], sys.argv[2], sys.argv[3]
    ctl_in, ctl_out = int(sys.argv[4]), int(sys.argv[5])
    simhost.reset_cause = sys.argv[6] if len(sys.argv) > 6 else "power_on"
    hw_dir = image_dir = None
    if not FROZEN:
        hw_dir = sys.path[1] if sys.path[0] == "" else sys.path[0]
        for p in sys.path:
            if p.endswith("/hw"):
                hw_dir = p
        image_dir = hw_dir[: -len("/hw")] + "/image"
    memory = b""
    try:
        with open(state_dir + "/rtc_memory.bin", "rb") as f:
            memory = f.read()
    except OSError:
        pass
    rtc = None if rtc_arg == "unset" else int(rtc_arg)
    hw = hardware.Hardware(world, variant, state_dir + "/flash.bin", rtc, memory, simhost.reset_cause)
    bench = simhost.BenchServer(ctl_in, ctl_out, hw)
    optical = None
    import os

    opt_fd = os.getenv("SIM_OPTICAL_FD")  # the optical port's pty master, from the bench
    if opt_fd:
        optical = (open(int(opt_fd), "rb"), open(int(opt_fd), "wb"))
    simhost.runtime = simhost.Runtime(sys.stdin.buffer, bench, machine._pins, optical)
    simhost.runtime.run_free(len(sys.argv) > 7 and sys.argv[7] == "free")
    simhost.hardware = hw
    mount_flash(hw.flash, hw_dir, image_dir, state_dir)
    # the host's state dir, for the RTC RAM (after the remount "/" is the flash): written on every
    # change, so it survives a reset by the bench's reset button (which kills the process)
    hw.state_moved("/sim_state")
    # what the simulated board holds before the firmware starts (interpreter, boot ROM, device
    # models, mounts): `info` reports it as heap_sim so the firmware's own share can be told apart
    gc.collect()
    simhost.heap_sim = gc.mem_alloc()
    code = EXIT_SOFT
    try:
        run_main()
        # main.py returned: the technician unlocked the REPL. The unix port reads this variable
        # after the script: set, it keeps the process in the REPL (as -i would, but -i also
        # turns every sys.exit below into the REPL, so resets and power cuts never ended).
        import os

        os.putenv("MICROPYINSPECT", "1")
        _save_clock(hw)  # no virtual time passes at the REPL
        return
    except PowerLoss:
        code = EXIT_POWER
    except PowerCut:
        code = EXIT_POWER
    except WatchdogReset:
        code = EXIT_WDT
    except SystemExit as e:
        code = e.args[0] if e.args else EXIT_SOFT
    except Exception as e:  # a firmware crash: report it and end as the MCU's panic handler would
        sys.print_exception(e, sys.stderr)
        code = EXIT_CRASH
    if code != EXIT_POWER:
        with open(hw.rtc.memory_path, "wb") as f:  # RTC RAM survives a reset
            f.write(hw.rtc.memory())
    _save_clock(hw)
    sys.exit(code)


def _save_clock(hw):
    """The battery-backed clock keeps counting over a reset: the bench restarts it from here."""
    with open("/sim_state/rtc_at_exit", "w") as f:
        f.write("%d\n" % world.rtc.seconds())


main()

"""Meters in a labgrid board farm: the resource, driver and meter class the HIL harness uses when
pytest gets a labgrid environment (`--lg-env`, docs/board-farm.md).

- `SimBenchPort` (resource) and `SimBenchDriver`: the bench port of a simulated meter in a
  rack (host_tools/hil/simrack.py), reached over the network like any exported resource.
- `LabgridMeter`: the same shape as SimulatedMeter and SerialMeter (`link`, `bench`, `key`,
  `port`, `port_released()`, `wait_reboot()`), on the place the target's RemotePlace names. Its
  link goes to the place's NetworkSerialPort (ser2net, RFC 2217). Its bench is `RemoteSimBench`
  on a simulated meter, else `RackBench`: mains through the place's power driver, reset through
  the reset driver (DTR/RTS), and what a rack cannot do (load, virtual time) BenchUnsupported.
- `reserve_place()` / `release_place()`: a pytest worker takes a place of its own through the
  coordinator (a labgrid reservation with tags, then acquire), so `pytest -n N` spreads a suite
  over the farm; LG_PLACE then names it in the environment file.
"""
import datetime
import json
import logging
import os
import re
import socket
import subprocess
import sys

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.resource.common import NetworkResource
from labgrid.step import step

from host_tools.hil.bench import EPOCH_2000, BenchError, BenchUnsupported, SerialBench, from_seconds, to_seconds
from host_tools.hil.released import ReleasesPort
from host_tools.link import Link, parse_reply

log = logging.getLogger("host_tools.farm")


@target_factory.reg_resource
@attr.s(eq=False)
class SimBenchPort(NetworkResource):
    """The bench port of a simulated meter in a rack: JSON lines over TCP (simrack.py)."""

    port = attr.ib(validator=attr.validators.instance_of(int))


@target_factory.reg_driver
@attr.s(eq=False)
class SimBenchDriver(Driver):
    """Talks to a rack place's bench port: a fresh meter, bench calls, free-running, resets."""

    bindings = {"port": "SimBenchPort"}

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self._sock = None
        self._rfile = None

    def on_activate(self):
        self._sock = socket.create_connection((self.port.host, self.port.port), timeout=600)
        self._rfile = self._sock.makefile("rb")

    def on_deactivate(self):
        if self._sock is not None:
            self._rfile.close()
            self._sock.close()
        self._sock = self._rfile = None

    @Driver.check_active
    @step(args=["op"])
    def request(self, op, **kw):
        try:
            self._sock.sendall(json.dumps(dict(kw, op=op)).encode() + b"\n")
            line = self._rfile.readline()
        except OSError as e:
            line, why = b"", e
        else:
            why = "connection closed"
        if not line:
            self.on_deactivate()
            self.on_activate()  # the next request gets a new connection
            raise BenchError("the rack's bench port %s:%d failed (%s)" % (self.port.host, self.port.port, why))
        reply = json.loads(line)
        if not reply.get("ok"):
            kind = reply.get("kind")
            if kind == "BenchUnsupported":
                raise BenchUnsupported(reply.get("error"))
            if kind == "PowerLost":
                from host_tools.hil.sim import PowerLost

                raise PowerLost(reply.get("error"))
            raise BenchError(reply.get("error"))
        return reply.get("result")


class RemoteSimBench:
    """SimBench's API on a rack's simulated meter, over SimBenchDriver."""

    KEY_HOLD_S = 0.12
    KEY_GAP_S = 0.08

    def __init__(self, meter, driver):
        self._meter = meter
        self._driver = driver

    def _call(self, name, *args, **kw):
        return self._driver.request("bench", call=name, args=list(args), kwargs=kw)

    def set_mains(self, volts=230.0, hz=50.0):
        self._call("set_mains", volts, hz)

    def set_load(self, watts, pf=1.0):
        self._call("set_load", watts, pf)

    def advance(self, seconds):
        self._call("advance", seconds)

    def set_clock(self, dt):
        m = self._meter
        if m.key is not None:  # as SimBench: a technician sets the clock over the link
            m.link.call("setclock %s force" % dt.strftime("%Y-%m-%dT%H:%M:%S"), key=m.key)
            return
        self._call("set_clock_seconds", to_seconds(dt))

    def now(self):
        return from_seconds(self._call("now_seconds"))

    def key_down(self, key):
        self._call("key_down", key)

    def key_up(self, key):
        self._call("key_up", key)

    def press(self, key):
        self._call("press", key)

    def type_keys(self, text):
        self._call("type_keys", text)

    def lcd(self):
        return self._call("lcd")

    def backlight(self):
        return self._call("backlight")

    def relay_closed(self):
        return self._call("relay_closed")

    def power_cut(self, warning=True, after_flash_ops=None, tear=False, seed=0):
        self._call("power_cut", warning=warning, after_flash_ops=after_flash_ops, tear=tear, seed=seed)

    def power_restore(self):
        self._call("power_restore")

    def inject(self, device, fault):
        self._call("inject", device, fault)

    def set_meter_error(self, v_ppm=0, i_ppm=0):
        self._call("set_meter_error", v_ppm=v_ppm, i_ppm=i_ppm)

    def truth(self):
        return tuple(self._call("truth"))

    def beeps(self):
        return self._call("beeps")

    def stats(self):
        return self._call("stats")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        raise BenchUnsupported("%s: not offered by a farm place's bench port (host_tools/hil/simrack.py)" % name)


class RackBench(SerialBench):
    """A real meter in a rack: the link, plus the mains through labgrid's power driver."""

    def __init__(self, meter, power=None):
        super().__init__(meter)
        self._power = power

    def _no(self, what):
        raise BenchUnsupported("%s needs the simulator's bench (a meter in a rack has mains power and "
                               "a serial port, not a settable load or virtual time)" % what)

    def power_cut(self, **kw):
        if self._power is None:
            self._no("power_cut")
        self._power.off()

    def power_restore(self):
        if self._power is None:
            self._no("power_restore")
        self._power.on()


class LabgridMeter(ReleasesPort):
    """A meter on the labgrid target `target` (the place this worker holds)."""

    def __init__(self, target, config=None, board="sim", state_dir=None, **_ignored):
        self.target = target
        self.config = config
        self.board = board
        self.key = None
        self.link = None
        self.exits = []
        from labgrid.resource.serialport import NetworkSerialPort

        self.port = _url(target.get_resource(NetworkSerialPort, name="service"))
        try:
            self.optical_port = _url(target.get_resource(NetworkSerialPort, name="optical"))
        except Exception:  # noqa: BLE001  NoResourceFoundError: a place without an optical head
            self.optical_port = None
        try:
            self._bench_driver = target.get_driver(SimBenchDriver, activate=False)
        except Exception:  # noqa: BLE001  labgrid's NoDriverFoundError: a rack without a bench port
            self._bench_driver = None
        if self._bench_driver is not None:
            self.simulated = True
            self.bench = RemoteSimBench(self, self._bench_driver)
        else:
            self.simulated = False
            from labgrid.protocol import PowerProtocol

            self.bench = RackBench(self, _optional_driver(target, PowerProtocol))

    def __enter__(self):
        if self.simulated:
            self.target.activate(self._bench_driver)
            self._bench_driver.request("fresh", board=self.board)  # factory-new, as SimulatedMeter
        self.link = Link(self.port, timeout=20)
        if self.config:
            from host_tools import provisioning

            cfg = provisioning.load(self.config)
            self.key = cfg.link_key
            if not parse_reply(self.link.command("info"))["provisioned"]:
                provisioning.provision(self.link, cfg, progress=None)
        return self

    def __exit__(self, *exc):
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.simulated:
            try:
                self._bench_driver.request("stop")
            finally:
                self.target.deactivate(self._bench_driver)

    # port_released() (released.py): another program opens the port at its network address
    def _released(self):
        if self.simulated:
            self._bench_driver.request("run_free")

    def _retaken(self):
        if self.simulated:
            self._bench_driver.request("take_control")

    def _reopen(self):
        return Link(self.port, timeout=20)

    def wait_reboot(self, timeout=60.0):
        if self.simulated:
            return self._bench_driver.request("wait_reboot", timeout=timeout)
        return None

    def reset(self):
        if self.simulated:
            self._bench_driver.request("reset")
            return
        from labgrid.protocol import ResetProtocol

        reset = _optional_driver(self.target, ResetProtocol)
        if reset is None:
            raise BenchUnsupported("reset: this place has no reset driver")
        reset.reset()


def _url(res):
    """A NetworkSerialPort as a pyserial URL."""
    if res.protocol == "rfc2217":  # ser2net does not answer SET_CONTROL on every port: as labgrid does
        return "rfc2217://%s:%d?ign_set_control" % (res.host, res.port)
    return "socket://%s:%d" % (res.host, res.port)


def _optional_driver(target, protocol):
    try:
        return target.get_driver(protocol)
    except Exception:  # noqa: BLE001  NoDriverFoundError
        return None


# -- places for pytest workers ------------------------------------------------------------------
def _client(coordinator, *argv, env=None):
    cmd = [os.path.join(os.path.dirname(sys.executable), "labgrid-client"), "-x", coordinator] + list(argv)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def reserve_place(coordinator, tags):
    """Reserve a place whose tags match (waiting while all are taken), acquire it; its name and
    the reservation token."""
    r = _client(coordinator, "reserve", "--wait", "--shell", *("%s=%s" % kv for kv in sorted(tags.items())))
    m = re.search(r"LG_TOKEN=(\S+)", r.stdout)
    if r.returncode or not m:
        raise BenchError("labgrid-client reserve failed: %s%s" % (r.stdout, r.stderr))
    token = m.group(1)
    env = dict(os.environ, LG_TOKEN=token)
    r = _client(coordinator, "-p", "+", "acquire", env=env)
    if r.returncode:
        _client(coordinator, "cancel-reservation", token)
        raise BenchError("labgrid-client acquire failed: %s%s" % (r.stdout, r.stderr))
    r = _client(coordinator, "-p", "+", "show", env=env)
    m = re.search(r"Place '([^']+)'", r.stdout)
    if not m:
        raise BenchError("cannot tell which place reservation %s got: %s%s" % (token, r.stdout, r.stderr))
    log.info("acquired place %s (reservation %s)", m.group(1), token)
    _record("acquired %s %s" % (m.group(1), os.environ.get("PYTEST_XDIST_WORKER", "main")))
    return m.group(1), token


def release_place(coordinator, place, token=None):
    r = _client(coordinator, "-p", place, "release")
    if token:
        _client(coordinator, "cancel-reservation", token)
    log.info("released place %s", place)
    if r.returncode == 0:
        _record("released %s %s" % (place, os.environ.get("PYTEST_XDIST_WORKER", "main")))
    else:
        _record("failed to release %s: %s" % (place, (r.stdout + r.stderr).strip().replace("\n", " | ")))
    return r.returncode == 0


def _record(line):
    """HIL_FARM_LOG: a file where each worker notes the places it took and gave back (CI checks)."""
    path = os.environ.get("HIL_FARM_LOG")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")

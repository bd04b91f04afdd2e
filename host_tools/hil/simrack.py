"""A rack of simulated meters for a labgrid board farm (docs/board-farm.md).

    python -m host_tools.hil.simrack --meters 2 --dir /tmp/rack --host 127.0.0.1 \\
        --exporter-config /tmp/rack/exporter.yaml

Each place of the rack has a service port and an optical port (ptys that stay while meters come
and go, exported by labgrid's exporter through ser2net as the RawSerialPorts `service` and
`optical`) and a bench port: a TCP socket on --host
that speaks one JSON object per line, the simulated bench's controls for whoever holds the place
(host_tools/hil/labgrid_farm.py, SimBenchDriver). Requests:

    {"op": "fresh", "board": "sim"}            a factory-new meter on this place (flash, clock)
    {"op": "bench", "call": NAME, "args": [...], "kwargs": {...}}   SimBench.NAME(...)
    {"op": "run_free"} / {"op": "take_control"} / {"op": "reset"} / {"op": "wait_reboot"}
    {"op": "stop"}                             the meter is switched off and removed

Replies: {"ok": true, "result": ...} or {"ok": false, "error": "...", "kind": "BenchError"|...}.
The rack writes the exporter's resource file for its places and runs until SIGTERM/SIGINT.
"""
import argparse
import datetime
import json
import os
import pathlib
import signal
import socketserver
import sys
import tempfile
import threading
import tty

from host_tools.hil.bench import BenchError, BenchUnsupported
from host_tools.hil.sim import PowerLost, SimulatedMeter

# what a remote bench may call on SimBench (the API the HIL tests use)
BENCH_CALLS = ("set_mains", "set_load", "advance", "set_clock_seconds", "now_seconds", "key_down", "key_up",
               "press", "type_keys", "lcd", "backlight", "relay_closed", "power_cut", "power_restore",
               "inject", "set_meter_error", "truth", "beeps", "stats")
BOARDS = ("sim", "sim_bl0942")


def _pty():
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    return master, slave


class Place:
    """One slot of the rack: a lasting service port, and the meter on it now (or none)."""

    def __init__(self, name, state_root):
        self.name = name
        self.pty = _pty()
        self.port = os.ttyname(self.pty[1])
        self.optical_pty = _pty()
        self.optical_port = os.ttyname(self.optical_pty[1])
        self.state_root = state_root
        self.meter = None
        self.lock = threading.Lock()
        self.server = None

    def fresh(self, board="sim"):
        if board not in BOARDS:
            raise ValueError("board must be one of %s" % ", ".join(BOARDS))
        self.stop()
        state = tempfile.mkdtemp(prefix=self.name + "-", dir=self.state_root)
        m = SimulatedMeter(state_dir=state, board=board, pty=self.pty, hold_port=False,
                           optical_pty=self.optical_pty)
        m.start()
        self.meter = m
        return {"port": self.port, "optical_port": self.optical_port, "state_dir": state}

    def stop(self):
        if self.meter is not None:
            m, self.meter = self.meter, None
            m.stop()

    def handle(self, req):
        op = req.get("op")
        if op == "fresh":
            return self.fresh(req.get("board", "sim"))
        if op == "stop":
            return self.stop()
        m = self.meter
        if m is None:
            raise BenchError("no meter on %s: ask for a fresh one first" % self.name)
        if op == "bench":
            name = req.get("call")
            if name not in BENCH_CALLS:
                raise ValueError("no bench call %r" % name)
            b = m.bench
            if name == "set_clock_seconds":
                return b.set_clock(datetime.datetime(2000, 1, 1) + datetime.timedelta(seconds=req["args"][0]))
            if name == "now_seconds":
                return int((b.now() - datetime.datetime(2000, 1, 1)).total_seconds())
            return getattr(b, name)(*req.get("args", ()), **req.get("kwargs", {}))
        if op == "run_free":
            return m.run_free()
        if op == "take_control":
            return m.take_control()
        if op == "reset":
            return m.reset()
        if op == "wait_reboot":
            return m.wait_reboot(timeout=float(req.get("timeout", 60)))
        if op == "exits":
            return list(m.exits)
        raise ValueError("unknown op %r" % op)


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        place = self.server.place
        for line in self.rfile:
            try:
                req = json.loads(line)
                with place.lock:
                    out = {"ok": True, "result": place.handle(req)}
            except Exception as e:  # noqa: BLE001  told to the client; the rack serves on
                kind = type(e).__name__ if isinstance(e, (PowerLost, BenchUnsupported, BenchError)) else "BenchError"
                out = {"ok": False, "kind": kind, "error": "%s: %s" % (type(e).__name__, e)}
            self.wfile.write(json.dumps(out).encode() + b"\n")
            self.wfile.flush()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Rack:
    def __init__(self, count, state_root, host="127.0.0.1", prefix="sim-meter-"):
        self.host = host
        self.places = []
        for i in range(1, count + 1):
            p = Place("%s%d" % (prefix, i), state_root)
            p.server = _Server((host, 0), _Handler)
            p.server.place = p
            threading.Thread(target=p.server.serve_forever, daemon=True, name=p.name).start()
            self.places.append(p)

    def exporter_config(self):
        """The labgrid exporter's resource file: one group (a place's resources) per meter."""
        lines = ["## written by host_tools.hil.simrack: a rack of simulated meters (jinja2: ## comments)"]
        for p in self.places:
            lines += [
                "%s:" % p.name,
                "  location: simulated meter rack on %s" % self.host,
                "  service:",
                "    cls: RawSerialPort",
                "    port: %s" % p.port,
                "    speed: 115200",
                "  optical:",
                "    cls: RawSerialPort",
                "    port: %s" % p.optical_port,
                "    speed: 9600",
                "  SimBenchPort:",
                "    host: %s" % self.host,
                "    port: %d" % p.server.server_address[1],
            ]
        return "\n".join(lines) + "\n"

    def close(self):
        for p in self.places:
            p.server.shutdown()
            with p.lock:
                p.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meters", type=int, default=2)
    ap.add_argument("--dir", required=True, help="state of the rack's meters")
    ap.add_argument("--host", default="127.0.0.1", help="address the bench ports listen on")
    ap.add_argument("--prefix", default="sim-meter-", help="place names: PREFIX1, PREFIX2, ...")
    ap.add_argument("--exporter-config", required=True, help="write labgrid's exporter resource file here")
    args = ap.parse_args(argv)
    root = pathlib.Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    rack = Rack(args.meters, str(root), args.host, args.prefix)
    tmp = args.exporter_config + ".tmp"
    with open(tmp, "w") as f:
        f.write(rack.exporter_config())
    os.replace(tmp, args.exporter_config)
    print("simrack: %d places, exporter config %s" % (len(rack.places), args.exporter_config), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    rack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CI's board farm run: a labgrid coordinator and an exporter on this machine (loopback only), a
rack of simulated meters exported through ser2net, and a subset of the HIL suite run through
labgrid on every place in parallel, then the same subset on `--target sim` (docs/board-farm.md).

    python -m host_tools.hil.farm_ci [--meters 2] [--workers 2] [TEST ...]

Checks besides the tests passing: each worker held a place of its own (acquired, then released),
and no place is left acquired at the end. Exit status 0 when all of it holds.
"""
import argparse
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
HOST = "127.0.0.1"
SUBSET = ["tests/hil/test_link_ids.py",
          "tests/hil/test_meterctl.py::test_credit_reconnects_a_cut_meter_and_a_retried_transaction_credits_once",
          "tests/hil/test_connection.py::test_remote_credit_reconnects_within_2s_and_shows_balance",
          "tests/hil/test_connection.py::test_remote_disconnect_and_auto",
          "tests/hil/test_connection.py::test_grace_keeps_counting_without_power",
          "tests/hil/test_connection.py::test_runs_out_monday_morning_cut_tuesday"]


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def client(coordinator, *argv):
    r = subprocess.run([str(BIN / "labgrid-client"), "-x", coordinator] + list(argv),
                       capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise SystemExit("labgrid-client %s failed: %s%s" % (" ".join(argv), r.stdout, r.stderr))
    return r.stdout


def wait_for(what, check, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.3)
    raise SystemExit("farm: %s did not happen within %.0f s" % (what, timeout))


def pytest(args, env, log):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"] + args
    print("farm: " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=str(ROOT), env=env).returncode


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meters", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("tests", nargs="*", default=SUBSET)
    args = ap.parse_args(argv)
    procs = []
    work = tempfile.TemporaryDirectory(prefix="farm-")
    d = pathlib.Path(work.name)
    coordinator = "%s:%d" % (HOST, free_port())
    env = dict(os.environ, LG_COORDINATOR=coordinator, PYTHONPATH=str(ROOT), HIL_FARM_LOG=str(d / "places.log"))
    env.pop("LG_PLACE", None)
    try:
        def start(name, cmd, **kw):
            out = open(d / (name + ".log"), "w")
            procs.append((name, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, **kw)))

        start("coordinator", [str(BIN / "labgrid-coordinator"), "-l", coordinator], cwd=str(d))
        exporter_cfg = d / "exporter.yaml"
        start("simrack", [sys.executable, "-m", "host_tools.hil.simrack", "--meters", str(args.meters),
                          "--dir", str(d / "rack"), "--host", HOST, "--exporter-config", str(exporter_cfg)],
              cwd=str(ROOT))
        wait_for("the rack's exporter file", exporter_cfg.exists)
        wait_for("the coordinator", lambda: _listening(coordinator))
        start("exporter", [str(BIN / "labgrid-exporter"), "-c", coordinator, "--hostname", HOST, "-n", "simrack",
                           str(exporter_cfg)], cwd=str(d))
        places = ["sim-meter-%d" % i for i in range(1, args.meters + 1)]
        wait_for("the exporter's resources", lambda: all(p in client(coordinator, "resources") for p in places))
        for p in places:
            client(coordinator, "-p", p, "create")
            client(coordinator, "-p", p, "add-match", "simrack/%s/*" % p)
            client(coordinator, "-p", p, "set-tags", "meter=sim")
        print("farm: coordinator %s, places %s" % (coordinator, ", ".join(places)), flush=True)
        rc = pytest(["-n", str(args.workers), "--lg-env", "labgrid/sim-meter.yaml", "--lg-coordinator", coordinator]
                    + args.tests, env, d)
        held = (d / "places.log").read_text().splitlines() if (d / "places.log").exists() else []
        print("farm: " + "\n farm: ".join(held), flush=True)
        problems = []
        if rc:
            problems.append("the HIL subset failed through labgrid (exit %d)" % rc)
        acquired = {line.split()[1] for line in held if line.startswith("acquired ")}
        released = {line.split()[1] for line in held if line.startswith("released ")}
        if len(acquired) < min(args.workers, args.meters):
            problems.append("workers did not each take their own place: %s" % sorted(acquired))
        if acquired != released:
            problems.append("places acquired but not released: %s" % sorted(acquired - released))
        still = client(coordinator, "who")
        if any(p in still for p in places):
            problems.append("a place is still acquired after the run:\n" + still)
        rc2 = pytest(["-n", str(args.workers), "--target", "sim"] + args.tests, dict(os.environ), d)
        if rc2:
            problems.append("the same subset failed on --target sim (exit %d)" % rc2)
        if problems:
            for name, _ in procs:
                tail = (d / (name + ".log")).read_text(errors="replace")[-3000:]
                print("--- %s.log ---\n%s" % (name, tail))
            print("farm: FAILED: " + "; ".join(problems), flush=True)
            return 1
        print("farm: passed through labgrid on %s and on --target sim" % ", ".join(sorted(acquired)), flush=True)
        return 0
    finally:
        for name, p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        work.cleanup()


def _listening(addr):
    host, port = addr.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())

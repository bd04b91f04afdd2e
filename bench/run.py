"""Run every benchmark and print its figures (`make bench`). No pass/fail: regressions show as numbers.

MicroPython benchmarks run in the unix port with the device heap limit; host benchmarks drive a
simulated meter. A benchmark that is missing or fails is reported and the others still run.
"""
import os
import pathlib
import subprocess
import sys

from host_tools import toolchain

ROOT = pathlib.Path(__file__).resolve().parent.parent
MICROPYTHON = ["flash_wear.py", "sts_decode.py"]
HOST = ["idle_speed", "busy_month", "flash_budget", "memory"]


def main():
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([str(ROOT / "firmware"), str(ROOT / "boards" / "sim")]))
    for script in MICROPYTHON:
        print("== %s (MicroPython unix port, 512K heap)" % script, flush=True)
        subprocess.run([toolchain.micropython(), "-X", "heapsize=512K", str(ROOT / "bench" / script)],
                       env=env, cwd=str(ROOT))
    for mod in HOST:
        if not (ROOT / "bench" / (mod + ".py")).exists():
            print("== %s: not present" % mod)
            continue
        print("== %s (simulated meter)" % mod, flush=True)
        subprocess.run([sys.executable, "-m", "bench." + mod], cwd=str(ROOT))


if __name__ == "__main__":
    main()

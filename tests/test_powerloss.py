"""Power-loss campaign: firmware/store.py on MicroPython's real littlefs (VfsLfs2) over the NOR
flash model, with a power cut at every flash operation of the workload (clean, torn, double).

Runs tests/powerloss_campaign.py under the MicroPython unix port with the meter's heap; a failing
cut point is printed as `replay: N=.. tear=.. seed=.. M=..` for
`micropython tests/powerloss_campaign.py --replay N TEAR SEED M`.
"""
import os
import pathlib
import re
import subprocess

from host_tools import toolchain

ROOT = pathlib.Path(__file__).resolve().parent.parent
CAMPAIGN = ROOT / "tests" / "powerloss_campaign.py"


def _run(*args, timeout=300):
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([str(ROOT / "firmware"), str(ROOT / "boards" / "sim")]))
    return subprocess.run(
        [toolchain.micropython(), "-X", "heapsize=512K", str(CAMPAIGN)] + list(args),
        env=env, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT),
    )


def test_powerloss_campaign():
    proc = _run()
    out = proc.stdout + proc.stderr
    replays = [line for line in out.splitlines() if line.startswith("replay:")]
    assert proc.returncode == 0 and not replays, out[-6000:]
    m = re.search(r"campaign: (.*)", proc.stdout)
    assert m, out[-2000:]
    figures = dict(kv.split("=") for kv in m.group(1).split())
    ops = int(figures["workload_ops"])
    assert ops > 200  # the workload is big enough to compact metadata and wrap the allocator
    assert int(figures["runs"]) == 3 * ops  # every cut point: clean, torn and double fault
    assert int(figures["failures"]) == 0
    print(m.group(0))


def test_replay_reruns_one_cut_point():
    proc = _run("--replay", "40", "1", "40", "5", timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cut 1 fired=True" in proc.stdout and "replay passed" in proc.stdout

"""The pure-firmware unit tests again, on the MicroPython unix port with the device heap limit."""
import os
import pathlib
import subprocess

import pytest

from host_tools import toolchain

ROOT = pathlib.Path(__file__).resolve().parent.parent
UNIT = ROOT / "tests" / "unit"
MODULES = sorted(p.stem for p in UNIT.glob("test_*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_unit_module_on_micropython(module):
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([str(UNIT), str(ROOT / "firmware"), ".frozen"]))
    proc = subprocess.run(
        [toolchain.micropython(), "-X", "heapsize=512K", str(ROOT / "tests" / "mp_run.py"), module],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
